"""WorkflowExecution steps: resolve what runs, snapshot the document, merge the runtime's status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from treadle.resources.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound, Violation
from treadle.resources.models import ExecutionStatusUpdate, TaskStatus
from treadle.resources.phases import TERMINAL, Phase, can_transition
from treadle.resources.pipeline import Operation
from treadle.resources.steps import from_row, pointer
from treadle.resources.workflows import ensure_default_instance
from treadle.store import Row

__all__ = [
    "check_transition",
    "execution_columns",
    "hand_to_runtime",
    "inherit_durability",
    "inherit_scope",
    "keep_spec",
    "load_for_status",
    "merge_spec_labels",
    "merge_status",
    "offer_to_runtime",
    "parse_runtime_report",
    "parse_status_update",
    "persist_status",
    "resolve_instance",
    "snapshot_document",
    "status_result",
]


def execution_columns(resource: Any) -> dict[str, Any]:
    """The indexed columns of an execution."""
    return {
        "instance_id": resource.spec.workflow_instance_id,
        "workflow_id": resource.spec.workflow_id,
        "phase": resource.status.phase,
        "completed_at": resource.status.completed_at,
    }


# -- create ----------------------------------------------------------------------------------


def resolve_instance(op: Operation) -> None:
    """Find the instance to run: the one named, or the workflow's default (made if missing).

    The items of a batch mostly run the same one: it is read once per transaction.
    """
    spec = op.resource.spec
    if spec.workflow_instance_id is None and spec.workflow_id is None:
        raise InvalidArgument.at(
            "/spec/workflow_instance_id",
            "missing",
            "give workflow_instance_id or workflow_id",
            kind="WorkflowExecution",
        )
    key = ("instance", spec.workflow_instance_id, spec.workflow_id)
    if key not in op.shared:
        op.shared[key] = _instance_and_workflow(op)
    instance, workflow = op.shared[key]
    spec.workflow_instance_id, spec.workflow_id = instance["id"], workflow["id"]
    op.scratch["instance"], op.scratch["workflow"] = instance, workflow


def _instance_and_workflow(op: Operation) -> tuple[Row, Row]:
    spec = op.resource.spec
    if spec.workflow_instance_id is not None:
        instance = op.tx.instances.get(spec.workflow_instance_id)
        if instance is None:
            raise NotFound("WorkflowInstance", spec.workflow_instance_id)
        if spec.workflow_id is not None and spec.workflow_id != instance["workflow_id"]:
            raise InvalidArgument.at(
                "/spec/workflow_id",
                "mismatch",
                f"instance {instance['id']} runs workflow {instance['workflow_id']}, not {spec.workflow_id}",
                kind="WorkflowExecution",
            )
        workflow = op.tx.workflows.get(instance["workflow_id"])
        assert workflow is not None, "instances cascade with their workflow"
        return instance, workflow
    workflow = op.tx.workflows.get(spec.workflow_id)
    if workflow is None:
        raise NotFound("Workflow", spec.workflow_id)
    return ensure_default_instance(op, workflow), workflow


def inherit_scope(op: Operation) -> None:
    """An execution lives in its instance's owner scope."""
    md, instance = op.resource.metadata, op.scratch["instance"]
    faults = [
        Violation(f"/metadata/{name}", "scope", f"an execution takes its instance's {name} ({stored!r})")
        for name, sent, stored in (
            ("org", md.org, instance["org"] or None),
            ("owner", md.owner, instance["owner"] or None),
        )
        if sent is not None and sent != stored
    ]
    if faults:
        raise InvalidArgument(faults, kind="WorkflowExecution")
    md.org, md.owner = instance["org"] or None, instance["owner"] or None


def merge_spec_labels(op: Operation) -> None:
    """`spec.labels` become labels of the execution (`metadata.labels` win a conflict)."""
    md = op.resource.metadata
    md.labels = {**op.resource.spec.labels, **md.labels}


def snapshot_document(op: Operation) -> None:
    """Start `pending` with a copy of the exact document to run: later edits do not reach it."""
    workflow = op.scratch["workflow"]
    op.resource.status.phase = "pending"
    # The row was decoded from the database for this operation (or the executions of
    # this batch) alone: its document is already a private copy (a deep copy of a
    # 100-task document cost half of `create`); nothing changes a snapshot in place.
    op.resource.status.document = workflow["body"]["spec"]["document"]


def inherit_durability(op: Operation) -> None:
    """Run as durably as the execution asks, else as its workflow says, else `sync`."""
    spec = op.resource.spec
    if spec.durability is None:
        spec.durability = op.scratch["workflow"]["body"]["spec"].get("durability") or "sync"


_RESERVATION = "runtime_reservation"


def offer_to_runtime(op: Operation) -> None:
    """A runtime in this process with room runs the execution from its creation: it is
    written `running` and leased to that runtime, not `pending` until a worker looks."""
    if op.starter is None:
        return
    reservation = op.starter.reserve(op.resource)
    if reservation is None:
        return
    status = op.resource.status
    status.phase, status.started_at = "running", op.now
    op.scratch[_RESERVATION] = reservation
    op.after_rollback.append(reservation.release)
    op.after_commit.append(reservation.start)


def hand_to_runtime(op: Operation) -> None:
    """The runtime that took the execution leases it, in the same transaction (after
    `persist`: its row exists)."""
    reservation = op.scratch.get(_RESERVATION)
    if reservation is not None:
        reservation.claim(op.tx, op.resource, op.scratch["instance"])


# -- update ----------------------------------------------------------------------------------


def keep_spec(op: Operation) -> None:
    """What an execution runs is fixed at creation: only metadata may change."""
    assert op.current is not None
    stored = op.current["body"]["spec"]
    sent = op.resource.spec
    faults = []
    for name in sorted(sent.model_fields_set):
        value = getattr(sent, name)
        if name == "runtime_env":  # values may come back redacted: compare the names
            same = set(value) == set(stored.get(name) or {})
        else:
            same = value == stored.get(name)
        if not same:
            faults.append(Violation(pointer("spec", name), "immutable", "an execution's spec cannot change"))
    if faults:
        raise InvalidArgument(faults, kind="WorkflowExecution")
    # The stored spec, secrets redacted: sealing hands the stored tokens back unchanged.
    op.resource.spec = from_row(op.kind, op.current, op.cipher).spec


# -- update status ---------------------------------------------------------------------------


def parse_status_update(op: Operation) -> None:
    """Validate the runtime's report."""
    data = op.input
    try:
        update = (
            data if isinstance(data, ExecutionStatusUpdate) else ExecutionStatusUpdate.model_validate(data)
        )
    except ValidationError as error:
        raise InvalidArgument(
            [Violation(pointer(*p["loc"]), p["type"], p["msg"]) for p in error.errors(include_url=False)],
            kind="WorkflowExecution",
        ) from error
    op.scratch["update"] = update


def parse_runtime_report(op: Operation) -> None:
    """Validate the runtime's own report as `parse_status_update` does, but its `tasks[]`:
    the runtime hands them in their stored form (JSON types, times as ISO 8601 text), and
    they are stored as they are.

    A run's last report carries every task it ran: validating a hundred entries as models
    and dumping them back to JSON cost a third of that write.
    """
    data = dict(op.input)
    op.scratch["tasks"] = data.pop("tasks", None)
    op.input = data
    parse_status_update(op)


def load_for_status(op: Operation) -> None:
    """Load the execution with a row lock (PostgreSQL; SQLite holds the write lock already).

    The status is merged in its stored JSON form, not as a model: validating and copying
    a status with thousands of `tasks[]` (and the document snapshot beside it) on every
    report made each write cost milliseconds and grow with the run. Only what the report
    touches is validated (`parse_status_update`) and converted. The document snapshot is
    not read at all: the store keeps it apart from the status, which is all this writes.
    """
    assert op.id is not None
    op.current = op.tx.executions.get(op.id, for_update=True, document=False)
    if op.current is None:
        raise NotFound("WorkflowExecution", op.id)
    op.scratch["before"] = op.current["body"].get("status") or {}


def merge_status(op: Operation) -> None:
    """Merge every field the report sets; tasks by `path`; stamp start and end times."""
    update: ExecutionStatusUpdate = op.scratch["update"]
    before: dict[str, Any] = op.scratch["before"]
    status = dict(before)
    given = update.model_fields_set
    changed = False
    if update.phase is not None:
        changed = update.phase != _phase(before)
        status["phase"] = update.phase
    for name in ("output", "error", "started_at", "completed_at", "temporal_workflow_id"):
        if name in given:
            value = to_jsonable_python(getattr(update, name))
            changed = changed or not _same(name, before.get(name), value)
            status[name] = value
    reported = _reported_tasks(op, update)
    if reported:
        stored: list[dict[str, Any]] = before.get("tasks") or []
        by_path: dict[str, dict[str, Any]] = {task["path"]: task for task in stored}
        tasks_changed = len(by_path) != len(stored)
        for whole, model in reported:
            path = whole["path"]
            previous = by_path.get(path)
            if previous is None:
                by_path[path] = whole
                tasks_changed = True
            else:
                given_fields = whole if model is None else model.model_dump(mode="json", exclude_unset=True)
                merged = {**previous, **given_fields}
                tasks_changed = tasks_changed or not _same_task(previous, merged)
                by_path[path] = merged
        status["tasks"] = list(by_path.values())
        changed = changed or tasks_changed
    phase = _phase(status)
    now = to_jsonable_python(op.now)
    if phase != "pending" and status.get("started_at") is None:
        status["started_at"] = now
        changed = True
    if phase in TERMINAL and status.get("completed_at") is None:
        status["completed_at"] = now
        changed = True
    op.scratch["after"] = status
    op.scratch["unchanged"] = not changed


def _reported_tasks(
    op: Operation, update: ExecutionStatusUpdate
) -> list[tuple[dict[str, Any], TaskStatus | None]]:
    """Each reported task in its stored form, with its model when a reporter's was
    validated (a stored task takes only the fields the model sets)."""
    runtime_tasks: list[dict[str, Any]] | None = op.scratch.get("tasks")
    if runtime_tasks is not None:
        return [(task, None) for task in runtime_tasks]
    if not update.tasks:
        return []
    # In one call: a report may carry every task of a run (100 calls cost ~1.6x).
    dumped = _TASKS.dump_python(update.tasks, mode="json")
    return list(zip(dumped, update.tasks, strict=True))


def check_transition(op: Operation) -> None:
    """Refuse impossible phase changes; a report that changes nothing is accepted as a no-op."""
    if op.scratch["unchanged"]:
        return
    assert op.current is not None
    id = op.current["id"]
    before, after = _phase(op.scratch["before"]), _phase(op.scratch["after"])
    if before in TERMINAL:
        raise FailedPrecondition("WorkflowExecution", id, f"the execution is {before}: it is final")
    if not can_transition(before, after):
        raise FailedPrecondition("WorkflowExecution", id, f"cannot go from {before} to {after}")


def persist_status(op: Operation) -> None:
    """Write the merged status as the next version (nothing to write for a no-op).

    Only the status and the columns derived from it change: the spec (its sealed
    secrets), metadata and labels are the stored ones, written back untouched.
    """
    current = op.current
    assert current is not None
    if op.scratch["unchanged"]:
        return
    status: dict[str, Any] = op.scratch["after"]
    status["audit"] = {
        **(status.get("audit") or {}),
        "updated_at": to_jsonable_python(op.now),
        "updated_by": op.actor,
    }
    version = current["version"] + 1
    body = {**current["body"], "status": status}
    body["metadata"] = {**(body.get("metadata") or {}), "version": version}
    completed_at = status.get("completed_at")
    values = {
        "version": version,
        "updated_at": op.now,
        "body": body,
        "phase": _phase(status),
        "completed_at": datetime.fromisoformat(completed_at) if completed_at is not None else None,
    }
    if not op.repository.update(current["id"], current["version"], values):
        raise Aborted(op.kind.name, current["id"])
    op.current = {**current, **values}


def status_result(op: Operation) -> None:
    """The execution as written (or as it was, for a no-op), secrets redacted, with the
    document snapshot `load_for_status` left out."""
    assert op.current is not None
    op.result = from_row(op.kind, op.tx.executions.with_document(op.current), op.cipher)


def _phase(status: dict[str, Any]) -> Phase:
    phase: Phase = status.get("phase") or "pending"
    return phase


_DATETIMES = frozenset({"started_at", "completed_at"})
_TASKS = TypeAdapter(list[TaskStatus])


def _same(name: str, stored: Any, reported: Any) -> bool:
    """Whether a reported value equals the stored one as the models compare them (the same
    instant written with another offset is the same datetime)."""
    if stored == reported:
        return True
    if name in _DATETIMES and isinstance(stored, str) and isinstance(reported, str):
        try:
            return datetime.fromisoformat(stored) == datetime.fromisoformat(reported)
        except ValueError:
            return False
    return False


def _same_task(stored: dict[str, Any], merged: dict[str, Any]) -> bool:
    if stored == merged:
        return True
    if stored.keys() != merged.keys():
        return False
    return all(_same(name, value, merged[name]) for name, value in stored.items())
