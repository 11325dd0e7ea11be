"""Control-plane operations run inside the runtime's own transactions.

The runtime writes an execution's status, creates scheduled executions and ends
executions that are not loaded anywhere, each in the same transaction as its own
bookkeeping (journal entries, run rows, schedule ticks), so a crash never leaves one done
without the other. Each goes through the control plane's pipelines
(`UPDATE_EXECUTION_STATUS`, the execution `create` pipeline), never around their rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import orjson

from treadle.resources import ResourceService, WorkflowExecution
from treadle.resources.kinds import RECORD_EXECUTION_STATUS, UPDATE_EXECUTION_STATUS
from treadle.resources.phases import TRANSITIONS, Phase
from treadle.resources.pipeline import Operation, run
from treadle.resources.steps import from_row
from treadle.store import JournalEntry, Row, Transaction

__all__ = [
    "apply_status",
    "create_execution",
    "end_offline",
    "journal_running",
    "load_execution",
    "mark_running",
    "move_to",
    "record_status",
    "record_statuses",
]


def _operation(service: ResourceService, tx: Transaction, kind: str, actor: str, **fields: Any) -> Operation:
    return Operation(
        kind=service.kinds[kind],
        tx=tx,
        kinds=service.kinds,
        cipher=service.cipher,
        canceller=None,
        actor=actor,
        now=service.clock(),
        **fields,
    )


def apply_status(
    service: ResourceService, tx: Transaction, execution_id: str, update: Mapping[str, Any]
) -> WorkflowExecution:
    """Merge a status report through the control plane's UpdateStatus pipeline.

    Raises:
        NotFound, FailedPrecondition (an impossible transition), InvalidArgument.
    """
    op = _operation(service, tx, "WorkflowExecution", "runtime", input=dict(update), id=execution_id)
    run(UPDATE_EXECUTION_STATUS, op)
    return cast(WorkflowExecution, op.result)


def record_status(
    service: ResourceService, tx: Transaction, execution_id: str, update: Mapping[str, Any]
) -> Row:
    """`apply_status` for the runtime's writer: without reading the execution back as a
    model (it would cost as much as the write), and with `tasks[]`
    (`treadle.runtime.records.task_status` entries) stored as they are, not validated.

    Returns the execution's row as written (as it was, for a no-op), its body without the
    document snapshot (see `treadle.store.with_document`).

    Raises:
        NotFound, FailedPrecondition (an impossible transition), InvalidArgument.
    """
    report = dict(update)
    if report.get("tasks"):
        report["tasks"] = _stored_form(report["tasks"])
    op = _operation(service, tx, "WorkflowExecution", "runtime", input=report, id=execution_id)
    run(RECORD_EXECUTION_STATUS, op)
    assert op.current is not None
    return op.current


def _stored_form(tasks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The tasks as JSON types, their times as ISO 8601 text: one orjson round trip (a
    third of the models' validation and dump)."""
    stored: list[dict[str, Any]] = orjson.loads(orjson.dumps(tasks))
    return stored


def record_statuses(
    service: ResourceService, tx: Transaction, reports: Sequence[tuple[str, Mapping[str, Any]]]
) -> dict[str, Row]:
    """`record_status` for many executions: their rows read and locked in one statement
    (in id order), written in one executemany. Returns the rows as written, by id.

    Raises:
        NotFound, FailedPrecondition, InvalidArgument: as `record_status`, for any of them.
    """
    if len(reports) > 1:
        tx.executions.lock_many([execution_id for execution_id, _ in reports])
        tx.executions.defer_updates()
    written = {
        execution_id: record_status(service, tx, execution_id, update) for execution_id, update in reports
    }
    tx.executions.flush_updates()
    return written


def mark_running(service: ResourceService, tx: Transaction, execution_ids: list[str], now: datetime) -> None:
    """Executions a worker just claimed for the first time are `running` from the claim:
    status and `phase` journal entry, for all of them in a few statements.

    Written here, the run's first step commits on its own (on SQLite, on the event loop)
    instead of waiting for a writer round that carries the status report.

    Raises:
        NotFound, FailedPrecondition, InvalidArgument: as `record_status`.
    """
    record_statuses(service, tx, [(execution_id, {"phase": "running"}) for execution_id in execution_ids])
    last = tx.journal.last_seqs(execution_ids)
    journal_running(tx, {execution_id: last.get(execution_id, 0) + 1 for execution_id in execution_ids}, now)


def journal_running(tx: Transaction, seqs: Mapping[str, int], now: datetime) -> None:
    """The `running` phase entry of each execution, at the journal seq given for it."""
    entry = {"type": "phase", "data": {"phase": "running"}, "at": now}
    tx.runtime.append_journal(
        [{"execution_id": execution_id, "seq": seq, **entry} for execution_id, seq in seqs.items()]
    )


def load_execution(service: ResourceService, tx: Transaction, execution_id: str) -> WorkflowExecution | None:
    """The execution (secrets redacted), locked for update (PostgreSQL)."""
    row = tx.executions.get(execution_id, for_update=True)
    if row is None:
        return None
    return cast(WorkflowExecution, from_row(service.kinds["WorkflowExecution"], row, service.cipher))


def move_to(
    service: ResourceService, tx: Transaction, execution: WorkflowExecution, target: Phase
) -> WorkflowExecution:
    """Move to `target`, through `running` when the lifecycle needs a step in between
    (a pending or waiting execution is suspended by way of running)."""
    current = execution.status.phase
    if current != target and target not in TRANSITIONS[current] and "running" in TRANSITIONS[current]:
        execution = apply_status(service, tx, _id(execution), {"phase": "running"})
    return apply_status(service, tx, _id(execution), {"phase": target})


def end_offline(
    service: ResourceService, tx: Transaction, execution: WorkflowExecution, phase: Phase
) -> WorkflowExecution:
    """End an execution no worker holds: status, journal, run bookkeeping, contexts."""
    now = datetime.now(UTC)
    tasks = [
        {**task.model_dump(), "phase": "cancelled", "completed_at": now}
        for task in execution.status.tasks
        if task.phase == "running"
    ]
    update: dict[str, Any] = {"phase": phase}
    if tasks:
        update["tasks"] = tasks
    ended = apply_status(service, tx, _id(execution), update)
    tx.journal.append(_id(execution), [JournalEntry("phase", {"phase": phase})])
    tx.runtime.end_run(_id(execution))
    return ended


def create_execution(
    service: ResourceService,
    tx: Transaction,
    workflow_id: str,
    input: Any,
    labels: Mapping[str, str],
    actor: str = "scheduler",
) -> WorkflowExecution:
    """Create an execution of a workflow (its default instance) through the create pipeline."""
    kind = service.kinds["WorkflowExecution"]
    body = {"spec": {"workflow_id": workflow_id, "input": input, "labels": dict(labels)}}
    op = _operation(service, tx, "WorkflowExecution", actor, input=body)
    run(kind.create, op)
    return cast(WorkflowExecution, op.result)


def _id(execution: WorkflowExecution) -> str:
    assert execution.metadata.id is not None
    return execution.metadata.id
