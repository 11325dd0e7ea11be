"""Status reports are merged in their stored form: what they do not touch stays as stored."""

from __future__ import annotations

from treadle.resources import ResourceService, Workflow, WorkflowExecution
from treadle.resources.kinds import RECORD_EXECUTION_STATUS
from treadle.resources.pipeline import Operation, run


def _start(service: ResourceService, workflow: Workflow) -> str:
    created = service.create(
        {
            "kind": "WorkflowExecution",
            "metadata": {"labels": {"team": "ops"}},
            "spec": {
                "workflow_id": workflow.metadata.id,
                "runtime_env": {"token": {"value": "s3cret", "is_secret": True}},
            },
        }
    )
    assert isinstance(created, WorkflowExecution) and created.metadata.id is not None
    return created.metadata.id


def test_a_report_leaves_spec_secrets_and_labels_as_stored(
    service: ResourceService, workflow: Workflow
) -> None:
    id = _start(service, workflow)
    with service.store.begin(write=False) as tx:
        before = tx.executions.get(id)
    assert before is not None
    service.update_execution_status(id, {"phase": "running"})
    with service.store.begin(write=False) as tx:
        after = tx.executions.get(id)
    assert after is not None
    assert after["body"]["spec"] == before["body"]["spec"]  # the sealed token, not re-encrypted
    assert after["labels"] == {"team": "ops"}
    assert after["version"] == before["version"] + 1 == after["body"]["metadata"]["version"]
    assert after["phase"] == "running"


def test_the_same_instant_in_another_offset_is_no_change(
    service: ResourceService, workflow: Workflow
) -> None:
    id = _start(service, workflow)
    task = {"name": "a", "path": "/do/0/a", "phase": "running", "started_at": "2026-01-01T00:00:00Z"}
    first = service.update_execution_status(id, {"phase": "running", "tasks": [task]})
    again = service.update_execution_status(
        id, {"tasks": [{**task, "started_at": "2026-01-01T01:00:00+01:00"}]}
    )
    assert again.metadata.version == first.metadata.version


def test_the_runtime_pipeline_writes_without_reading_back(
    service: ResourceService, workflow: Workflow
) -> None:
    id = _start(service, workflow)
    with service.store.begin() as tx:
        op = Operation(
            kind=service.kinds["WorkflowExecution"],
            tx=tx,
            kinds=service.kinds,
            cipher=service.cipher,
            canceller=None,
            actor="runtime",
            now=service.clock(),
            input={"phase": "running", "tasks": [{"name": "a", "path": "/do/0/a", "phase": "completed"}]},
            id=id,
        )
        run(RECORD_EXECUTION_STATUS, op)
        assert op.result is None
    execution = service.get(WorkflowExecution, id)
    assert execution.status.phase == "running"
    assert [(t.path, t.phase, t.attempt) for t in execution.status.tasks] == [("/do/0/a", "completed", 1)]
