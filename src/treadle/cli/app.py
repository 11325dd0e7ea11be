"""The Typer application and its commands; each command lives in its own module."""

from __future__ import annotations

import typer

from treadle.cli import executions, resources, run, server, validate, worker

app = typer.Typer(
    name="treadle",
    help="Run Serverless Workflow (DSL 1.0) documents durably.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("validate")(validate.validate_command)
app.command("run")(run.run_command)
app.command("server")(server.server_command)
app.command("worker")(worker.worker_command)
app.command("apply")(resources.apply_command)
app.command("get")(resources.get_command)
app.command("delete")(resources.delete_command)
app.command("start")(executions.start_command)
app.command("wait")(executions.wait_command)
app.command("logs")(executions.logs_command)
app.command("cancel")(executions.cancel_command)
app.command("suspend")(executions.suspend_command)
app.command("resume")(executions.resume_command)


def main() -> None:
    """Entry point of the `treadle` console script."""
    app()
