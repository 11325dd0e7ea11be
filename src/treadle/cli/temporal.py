"""The options that point a command at Temporal, shared by `treadle run` and `treadle worker`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


class Runtime(StrEnum):
    """Where a command runs workflows."""

    local = "local"
    temporal = "temporal"


RuntimeOption = Annotated[
    Runtime,
    typer.Option("--runtime", help="local: treadle's own runtime; temporal: a Temporal cluster."),
]
TemporalAddressOption = Annotated[
    str | None,
    typer.Option("--temporal-address", help="HOST:PORT of the Temporal frontend (with --runtime temporal)."),
]
NamespaceOption = Annotated[str, typer.Option("--namespace", help="The Temporal namespace.")]
TaskQueueOption = Annotated[str, typer.Option("--task-queue", help="The Temporal task queue.")]


def require_temporal_address(runtime: Runtime, address: str | None, command: str) -> str | None:
    """The address when running on Temporal (exit 2 when it is missing), else None."""
    if runtime is not Runtime.temporal:
        return None
    if not address:
        typer.echo(f"treadle {command}: --runtime temporal needs --temporal-address HOST:PORT", err=True)
        raise typer.Exit(2)
    return address
