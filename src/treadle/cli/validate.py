"""`treadle validate FILE...`: every problem of every file, one line each."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from treadle.cli.output import problem_lines, read_document_text
from treadle.dsl import InvalidDocument, validate_text


def validate_command(
    files: Annotated[list[Path], typer.Argument(help="Workflow documents (YAML or JSON).")],
) -> None:
    """Check workflow documents against the DSL schema and its semantic rules.

    Exit 0 when all are valid; otherwise exit 1 and print one line per problem,
    `FILE: POINTER: message`.

    Example: treadle validate flows/*.yaml
    """
    failed = False
    for path in files:
        try:
            _, problems = validate_text(read_document_text(path), str(path))
        except InvalidDocument as error:
            problems = list(error.problems)
        if problems:
            failed = True
            for line in problem_lines(str(path), problems):
                typer.echo(line)
    raise typer.Exit(1 if failed else 0)
