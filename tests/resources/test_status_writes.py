"""Status reports are merged in their stored form: what they do not touch stays as stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select

from treadle.resources import ResourceService, Workflow, WorkflowExecution
from treadle.resources.kinds import RECORD_EXECUTION_STATUS
from treadle.resources.pipeline import Operation, run
from treadle.store import ListQuery, Transaction
from treadle.store._tables import EXECUTIONS


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


def _record(service: ResourceService, tx: Transaction, id: str, update: dict[str, Any]) -> Operation:
    """A status report through the runtime writer's pipeline."""
    op = Operation(
        kind=service.kinds["WorkflowExecution"],
        tx=tx,
        kinds=service.kinds,
        cipher=service.cipher,
        canceller=None,
        actor="runtime",
        now=service.clock(),
        input=update,
        id=id,
    )
    run(RECORD_EXECUTION_STATUS, op)
    return op


def test_the_runtime_pipeline_writes_without_reading_back(
    service: ResourceService, workflow: Workflow
) -> None:
    id = _start(service, workflow)
    with service.store.begin() as tx:
        update = {"phase": "running", "tasks": [{"name": "a", "path": "/do/0/a", "phase": "completed"}]}
        assert _record(service, tx, id, update).result is None
    execution = service.get(WorkflowExecution, id)
    assert execution.status.phase == "running"
    assert [(t.path, t.phase, t.attempt) for t in execution.status.tasks] == [("/do/0/a", "completed", 1)]


def _columns(service: ResourceService, id: str) -> tuple[dict[str, Any], Any]:
    """The `body` and `document` columns of an execution as the database holds them."""
    with service.store.begin(write=False) as tx:
        row = tx.connection.execute(
            select(EXECUTIONS.c.body, EXECUTIONS.c.document).where(EXECUTIONS.c.id == id)
        ).one()
    return row.body, row.document


def test_the_document_snapshot_reads_back_through_every_operation(
    service: ResourceService, workflow: Workflow
) -> None:
    id = _start(service, workflow)
    snapshot = workflow.spec.document
    assert service.get(WorkflowExecution, id).status.document == snapshot
    listed = service.list(WorkflowExecution, ListQuery()).items
    assert [e.status.document for e in listed] == [snapshot]
    assert service.update_execution_status(id, {"phase": "running"}).status.document == snapshot
    renamed = service.update(
        {"kind": "WorkflowExecution", "metadata": {"id": id, "name": "renamed", "labels": {"team": "dev"}}}
    )
    assert renamed.status.document == snapshot
    with service.store.begin() as tx:
        _record(service, tx, id, {"phase": "completed", "output": {"ok": True}})
    done = service.get(WorkflowExecution, id)
    assert (done.metadata.name, done.status.phase, done.status.document) == ("renamed", "completed", snapshot)
    body, document = _columns(service, id)
    assert "document" not in body["status"] and document == snapshot


def test_status_reports_never_read_or_write_the_document_column(
    service: ResourceService, workflow: Workflow
) -> None:
    ids = [_start(service, workflow) for _ in range(3)]
    seen: list[str] = []

    @event.listens_for(service.store.engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    with service.store.begin() as tx:
        _record(service, tx, ids[0], {"phase": "running"})  # alone: read by id
        tx.executions.lock_many(ids[1:])  # as the writer applies a round of reports
        tx.executions.defer_updates()
        for id in ids[1:]:
            _record(service, tx, id, {"phase": "running"})
        tx.executions.flush_updates()
    assert any(statement.startswith("UPDATE workflow_executions") for statement in seen)
    assert [statement for statement in seen if "document" in statement] == []
    for id in ids:
        body, document = _columns(service, id)
        assert body["status"]["phase"] == "running" and "document" not in body["status"]
        assert document == workflow.spec.document
