"""WorkflowExecution steps: resolve what runs, snapshot the document, merge the runtime's status."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from treadle.resources.errors import FailedPrecondition, InvalidArgument, NotFound, Violation
from treadle.resources.models import ExecutionStatusUpdate, TaskStatus
from treadle.resources.phases import TERMINAL, can_transition
from treadle.resources.pipeline import Operation
from treadle.resources.steps import from_row, persist_update, pointer
from treadle.resources.workflows import ensure_default_instance

__all__ = [
    "check_transition",
    "execution_columns",
    "inherit_scope",
    "keep_spec",
    "load_for_status",
    "merge_spec_labels",
    "merge_status",
    "parse_status_update",
    "persist_status",
    "resolve_instance",
    "snapshot_document",
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
    """Find the instance to run: the one named, or the workflow's default (made if missing)."""
    spec = op.resource.spec
    if spec.workflow_instance_id is None and spec.workflow_id is None:
        raise InvalidArgument.at(
            "/spec/workflow_instance_id",
            "missing",
            "give workflow_instance_id or workflow_id",
            kind="WorkflowExecution",
        )
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
    else:
        workflow = op.tx.workflows.get(spec.workflow_id)
        if workflow is None:
            raise NotFound("Workflow", spec.workflow_id)
        instance = ensure_default_instance(op, workflow)
    spec.workflow_instance_id, spec.workflow_id = instance["id"], workflow["id"]
    op.scratch["instance"], op.scratch["workflow"] = instance, workflow


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
    op.resource.status.document = copy.deepcopy(workflow["body"]["spec"]["document"])


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


def load_for_status(op: Operation) -> None:
    """Load the execution with a row lock (PostgreSQL; SQLite holds the write lock already)."""
    assert op.id is not None
    op.current = op.tx.executions.get(op.id, for_update=True)
    if op.current is None:
        raise NotFound("WorkflowExecution", op.id)
    op.resource = from_row(op.kind, op.current, op.cipher)
    op.scratch["before"] = op.resource.status.model_copy(deep=True)


def merge_status(op: Operation) -> None:
    """Merge every field the report sets; tasks by `path`; stamp start and end times."""
    update: ExecutionStatusUpdate = op.scratch["update"]
    status = op.resource.status
    given = update.model_fields_set
    if update.phase is not None:
        status.phase = update.phase
    for name in ("output", "error", "started_at", "completed_at", "temporal_workflow_id"):
        if name in given:
            setattr(status, name, getattr(update, name))
    if update.tasks:
        by_path: dict[str, TaskStatus] = {task.path: task for task in status.tasks}
        for task in update.tasks:
            previous = by_path.get(task.path)
            by_path[task.path] = (
                previous.model_copy(update=task.model_dump(exclude_unset=True)) if previous else task
            )
        status.tasks = list(by_path.values())
    if status.phase != "pending" and status.started_at is None:
        status.started_at = op.now
    if status.phase in TERMINAL and status.completed_at is None:
        status.completed_at = op.now


def check_transition(op: Operation) -> None:
    """Refuse impossible phase changes; a report that changes nothing is accepted as a no-op."""
    before = op.scratch["before"]
    after = op.resource.status
    if after == before:
        op.scratch["unchanged"] = True
        return
    if before.phase in TERMINAL:
        raise FailedPrecondition(
            "WorkflowExecution", op.resource.metadata.id, f"the execution is {before.phase}: it is final"
        )
    if not can_transition(before.phase, after.phase):
        raise FailedPrecondition(
            "WorkflowExecution",
            op.resource.metadata.id,
            f"cannot go from {before.phase} to {after.phase}",
        )


def persist_status(op: Operation) -> None:
    """Write the merged status as the next version (nothing to write for a no-op)."""
    assert op.current is not None
    if op.scratch.get("unchanged"):
        op.result = op.resource
        return
    op.resource.metadata.version = op.current["version"] + 1
    op.resource.status.audit.updated_at = op.now
    op.resource.status.audit.updated_by = op.actor
    persist_update(op)
