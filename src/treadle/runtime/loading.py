"""What a durable run reads before its engine starts, the same for both runtimes.

The execution (its document snapshot and input, secrets revealed) and the `$secrets` it
runs with: its instance's `env`, then its own `runtime_env`, then its execution contexts
(later ones win), plus every secret string, so the run's records can redact them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from treadle.resources import (
    ExecutionContext,
    ResourceService,
    SecretValue,
    WorkflowExecution,
    WorkflowInstance,
)
from treadle.resources.steps import from_row
from treadle.store import JournalEvent, Row, Transaction

__all__ = ["LoadedRun", "RunRows", "build_run", "load_run", "loaded_run", "read_runs"]


@dataclass
class LoadedRun:
    """An execution as a run starts it."""

    execution: WorkflowExecution
    secrets: dict[str, Any]
    #: The values of its `is_secret` entries, whose leaves are redacted from its records.
    secret_values: list[Any]


@dataclass
class RunRows:
    """The rows some runs start from, read together: executions, their instances, their
    contexts, and their journals when asked for."""

    executions: dict[str, Row]
    instances: dict[str, Row]
    contexts: dict[str, list[Row]]
    journals: dict[str, list[JournalEvent]] = field(default_factory=dict)


def read_runs(tx: Transaction, execution_ids: Sequence[str], *, journals: bool = False) -> RunRows:
    """The rows of many runs in one statement per table (runs claimed together start together)."""
    executions = tx.executions.get_many(execution_ids)
    instances = tx.instances.get_many(list({row["instance_id"] for row in executions.values()}))
    return RunRows(
        executions,
        instances,
        tx.contexts.of_executions(list(executions)),
        tx.journal.read_many(list(executions)) if journals else {},
    )


def build_run(service: ResourceService, rows: RunRows, execution_id: str) -> LoadedRun | None:
    """The execution of `rows` with its secrets; None if it does not exist.

    Raises:
        what decoding it raises (a secret that does not open, a body that is not valid):
            the other runs of `rows` are not concerned.
    """
    row = rows.executions.get(execution_id)
    if row is None:
        return None
    kinds, cipher = service.kinds, service.cipher
    execution: WorkflowExecution = from_row(kinds["WorkflowExecution"], row, cipher, reveal=True)
    contexts: list[ExecutionContext] = [
        from_row(kinds["ExecutionContext"], context_row, cipher, reveal=True)
        for context_row in rows.contexts.get(execution_id, [])
    ]
    return loaded_run(service, execution, rows.instances.get(row["instance_id"]), contexts)


def loaded_run(
    service: ResourceService,
    execution: WorkflowExecution,
    instance_row: Row | None,
    contexts: Sequence[ExecutionContext] = (),
) -> LoadedRun:
    """The execution (secrets revealed) with the `$secrets` of its instance's row, its own
    `runtime_env` and its contexts.

    Raises:
        what opening the instance's secrets raises.
    """
    maps: list[Mapping[str, SecretValue]] = []
    if instance_row is not None:
        instance: WorkflowInstance = from_row(
            service.kinds["WorkflowInstance"], instance_row, service.cipher, reveal=True
        )
        maps.append(instance.spec.env)
    maps.append(execution.spec.runtime_env)
    maps.extend(context.spec.data for context in contexts)
    values: dict[str, Any] = {}
    secret_values: list[Any] = []
    for entries in maps:
        for name, entry in entries.items():
            values[name] = entry.value
            if entry.is_secret:
                secret_values.append(entry.value)
    return LoadedRun(execution, values, secret_values)


def load_run(service: ResourceService, tx: Transaction, execution_id: str) -> LoadedRun | None:
    """The execution with its secrets, read in `tx`; None if it does not exist."""
    return build_run(service, read_runs(tx, [execution_id]), execution_id)
