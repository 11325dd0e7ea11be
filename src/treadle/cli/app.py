"""The Typer application and its commands; each command lives in its own module."""

from __future__ import annotations

import typer

from treadle.cli import run, validate

app = typer.Typer(
    name="treadle",
    help="Run Serverless Workflow (DSL 1.0) documents durably.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("validate")(validate.validate_command)
app.command("run")(run.run_command)


def main() -> None:
    """Entry point of the `treadle` console script."""
    app()
