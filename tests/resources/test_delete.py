"""Delete: cascades, refusal while executions run, force, and the canceller."""

from __future__ import annotations

import pytest

from tests.resources.conftest import RecordingCanceller
from treadle.resources import (
    ExecutionContext,
    FailedPrecondition,
    NotFound,
    ResourceService,
    Workflow,
    WorkflowExecution,
    WorkflowInstance,
)
from treadle.store import ListQuery, Store


def _execution(service: ResourceService, workflow: Workflow, phase: str | None = None) -> str:
    created = service.create({"kind": "WorkflowExecution", "spec": {"workflow_id": workflow.metadata.id}})
    id = created.metadata.id or ""
    service.create({"kind": "ExecutionContext", "spec": {"execution_id": id, "data": {"k": {"value": 1}}}})
    if phase is not None:
        service.update_execution_status(id, {"phase": phase})
    return id


def test_deleting_a_workflow_cascades_and_returns_it(
    service: ResourceService, workflow: Workflow, store: Store
) -> None:
    _execution(service, workflow, "running")
    service.update_execution_status(_execution(service, workflow, "running"), {"phase": "completed"})
    with pytest.raises(FailedPrecondition):
        service.delete(Workflow, workflow.metadata.id or "")
    for execution in service.list(WorkflowExecution).items:
        if execution.status.phase == "running":
            service.update_execution_status(execution.metadata.id or "", {"phase": "faulted"})
    deleted = service.delete(Workflow, workflow.metadata.id or "")
    assert deleted.metadata.id == workflow.metadata.id
    for kind in (Workflow, WorkflowInstance, WorkflowExecution, ExecutionContext):
        assert service.list(kind).total == 0
    with pytest.raises(NotFound):
        service.get(Workflow, workflow.metadata.id or "")


def test_running_executions_block_deletion_unless_forced(
    service: ResourceService, workflow: Workflow, canceller: RecordingCanceller
) -> None:
    running = _execution(service, workflow, "running")
    pending = _execution(service, workflow)
    done = _execution(service, workflow, "cancelled")
    instance_id = workflow.status.default_instance_id or ""
    with pytest.raises(FailedPrecondition) as caught:
        service.delete(WorkflowInstance, instance_id)
    assert set(caught.value.blocking) == {running, pending}
    with pytest.raises(FailedPrecondition):
        service.delete(WorkflowExecution, running)
    assert canceller.cancelled == []
    service.delete(WorkflowExecution, done)
    deleted = service.delete(WorkflowInstance, instance_id, force=True)
    assert deleted.metadata.id == instance_id
    assert sorted(canceller.cancelled) == sorted([running, pending])
    assert service.list(WorkflowExecution, ListQuery(workflow_id=workflow.metadata.id)).total == 0
    assert service.list(ExecutionContext).total == 0
    assert service.get(Workflow, workflow.metadata.id or "").metadata.id == workflow.metadata.id


def test_deleting_an_execution_takes_its_records(
    service: ResourceService, workflow: Workflow, store: Store
) -> None:
    from treadle.store import JournalEntry

    id = _execution(service, workflow, "cancelled")
    with store.begin() as tx:
        tx.journal.append(id, [JournalEntry("started")])
    assert service.delete(WorkflowExecution, id).status.phase == "cancelled"
    with store.begin(write=False) as tx:
        assert tx.journal.read(id) == []


def test_deleting_a_missing_resource_is_not_found(service: ResourceService) -> None:
    with pytest.raises(NotFound):
        service.delete(ExecutionContext, "ctx-01JAAAAAAAAAAAAAAAAAAAAAAA")
