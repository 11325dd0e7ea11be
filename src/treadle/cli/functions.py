"""The `--functions` option every command that runs workflows shares."""

from __future__ import annotations

from typing import Annotated

import typer

from treadle.effects.modules import FunctionModuleError, load_function_module

FunctionsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--functions",
        help="A .py file or module whose @treadle.effects.function functions workflows call; repeatable.",
    ),
]


def load_functions(specs: list[str] | None, command: str) -> None:
    """Import each functions module, or exit 2 saying which one failed and why."""
    for spec in specs or []:
        try:
            load_function_module(spec)
        except FunctionModuleError as error:
            typer.echo(f"treadle {command}: --functions {error}", err=True)
            raise typer.Exit(2) from None
