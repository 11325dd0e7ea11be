"""Executions: creation both ways, the document snapshot, and UpdateStatus."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from tests.resources.conftest import workflow_body
from treadle.resources import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceService,
    Workflow,
    WorkflowExecution,
    WorkflowInstance,
    steps,
)


def run_body(**spec: Any) -> dict[str, Any]:
    return {"kind": "WorkflowExecution", "spec": {"input": {"name": "world"}, **spec}}


def start(service: ResourceService, workflow: Workflow, **spec: Any) -> WorkflowExecution:
    created = service.create(run_body(workflow_id=workflow.metadata.id, **spec))
    assert isinstance(created, WorkflowExecution)
    return created


def test_needs_an_instance_or_a_workflow(service: ResourceService) -> None:
    with pytest.raises(InvalidArgument) as caught:
        service.create(run_body())
    assert caught.value.pointers == ["/spec/workflow_instance_id"]


def test_by_workflow_runs_its_default_instance(service: ResourceService, workflow: Workflow) -> None:
    execution = start(service, workflow)
    assert execution.metadata.id is not None and execution.metadata.id.startswith("wex-")
    assert execution.spec.workflow_instance_id == workflow.status.default_instance_id
    assert execution.status.phase == "pending"
    assert execution.spec.input == {"name": "world"}
    assert execution.status.document == workflow.spec.document
    assert execution.metadata.org == "acme"


def test_by_workflow_recreates_a_missing_default_instance(
    service: ResourceService, workflow: Workflow
) -> None:
    service.delete(WorkflowInstance, workflow.status.default_instance_id or "")
    execution = start(service, workflow)
    instance = service.get(WorkflowInstance, execution.spec.workflow_instance_id or "")
    assert instance.metadata.slug == "order-fulfillment-default"
    assert (
        service.get(Workflow, workflow.metadata.id or "").status.default_instance_id == instance.metadata.id
    )


def test_by_instance(service: ResourceService, workflow: Workflow) -> None:
    execution = service.create(run_body(workflow_instance_id=workflow.status.default_instance_id))
    assert isinstance(execution, WorkflowExecution)
    assert execution.spec.workflow_id == workflow.metadata.id
    with pytest.raises(NotFound):
        service.create(run_body(workflow_instance_id="win-01JAAAAAAAAAAAAAAAAAAAAAAA"))
    with pytest.raises(NotFound):
        service.create(run_body(workflow_id="wfl-01JAAAAAAAAAAAAAAAAAAAAAAA"))
    other = service.create(workflow_body("other"))
    with pytest.raises(InvalidArgument):
        service.create(
            run_body(workflow_instance_id=workflow.status.default_instance_id, workflow_id=other.metadata.id)
        )


def test_the_snapshot_does_not_follow_later_edits(service: ResourceService, workflow: Workflow) -> None:
    execution = start(service, workflow)
    edited = workflow.model_copy(deep=True)
    edited.spec.document["do"].append({"extra": {"set": {"x": 1}}})
    service.update(edited)
    again = service.get(WorkflowExecution, execution.metadata.id or "")
    assert again.status.document == workflow.spec.document
    assert len(again.status.document["do"]) == 1


def test_spec_labels_become_labels(service: ResourceService, workflow: Workflow) -> None:
    execution = service.create(
        {
            **run_body(workflow_id=workflow.metadata.id, labels={"batch": "7"}),
            "metadata": {"labels": {"env": "ci"}},
        }
    )
    assert execution.metadata.labels == {"batch": "7", "env": "ci"}


def test_update_status_merges_fields_and_tasks(service: ResourceService, workflow: Workflow) -> None:
    execution = start(service, workflow)
    id = execution.metadata.id or ""
    running = service.update_execution_status(
        id,
        {
            "phase": "running",
            "temporal_workflow_id": "tw-1",
            "tasks": [{"name": "greet", "path": "/do/0/greet", "phase": "running"}],
        },
    )
    assert running.status.phase == "running" and running.status.started_at is not None
    assert running.metadata.version == 2
    done = service.update_execution_status(
        id,
        {
            "phase": "completed",
            "output": {"greeting": "hello world"},
            "tasks": [
                {"name": "greet", "path": "/do/0/greet", "phase": "completed"},
                {"name": "next", "path": "/do/1/next", "phase": "completed", "attempt": 2},
            ],
        },
    )
    assert done.status.phase == "completed" and done.status.completed_at is not None
    assert done.status.output == {"greeting": "hello world"}
    assert done.status.temporal_workflow_id == "tw-1"
    assert [(t.path, t.phase, t.attempt) for t in done.status.tasks] == [
        ("/do/0/greet", "completed", 1),
        ("/do/1/next", "completed", 2),
    ]
    assert service.get(WorkflowExecution, id) == done


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        (["running", "completed", "running"], "running"),
        (["faulted", "running"], "running"),
        (["pending", "waiting"], "waiting"),
        (["running", "cancelled", "completed"], "completed"),
    ],
)
def test_impossible_transitions_are_refused(
    service: ResourceService, workflow: Workflow, path: list[str], refused: str
) -> None:
    id = start(service, workflow).metadata.id or ""
    for phase in path[:-1]:
        service.update_execution_status(id, {"phase": phase})
    with pytest.raises(FailedPrecondition):
        service.update_execution_status(id, {"phase": refused})
    assert service.get(WorkflowExecution, id).status.phase == path[-2]


def test_allowed_round_trips(service: ResourceService, workflow: Workflow) -> None:
    id = start(service, workflow).metadata.id or ""
    for phase in ["running", "waiting", "running", "suspended", "running", "completed"]:
        assert service.update_execution_status(id, {"phase": phase}).status.phase == phase
    # A repeated final report changes nothing and is accepted.
    before = service.get(WorkflowExecution, id)
    assert service.update_execution_status(id, {"phase": "completed"}) == before


def test_a_bad_report_points_at_its_fault(service: ResourceService, workflow: Workflow) -> None:
    id = start(service, workflow).metadata.id or ""
    with pytest.raises(InvalidArgument) as caught:
        service.update_execution_status(id, {"phase": "sleeping"})
    assert caught.value.pointers == ["/phase"]
    with pytest.raises(NotFound):
        service.update_execution_status("wex-01JAAAAAAAAAAAAAAAAAAAAAAA", {"phase": "running"})


def test_runtime_env_secrets_and_immutable_spec(service: ResourceService, workflow: Workflow) -> None:
    execution = start(service, workflow, runtime_env={"key": {"value": "k3y", "is_secret": True}})
    assert execution.spec.runtime_env["key"].value == "***"
    assert (
        service.reveal(WorkflowExecution, execution.metadata.id or "").spec.runtime_env["key"].value == "k3y"
    )
    execution.metadata.labels = {"seen": "yes"}
    relabelled = service.update(execution)
    assert relabelled.metadata.labels == {"seen": "yes"}
    assert (
        service.reveal(WorkflowExecution, execution.metadata.id or "").spec.runtime_env["key"].value == "k3y"
    )
    relabelled.spec.input = {"name": "mars"}
    with pytest.raises(InvalidArgument) as caught:
        service.update(relabelled)
    assert caught.value.pointers == ["/spec/input"]


@contextmanager
def statements(service: ResourceService) -> Iterator[list[str]]:
    """The SQL statements the service sends while the block runs."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    engine = service.store.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_nameless_execution_is_inserted_without_a_savepoint(
    service: ResourceService, workflow: Workflow
) -> None:
    start(service, workflow)  # the default instance exists from here on
    with statements(service) as sent:
        start(service, workflow)
    assert not [s for s in sent if "SAVEPOINT" in s.upper()]


def test_a_named_execution_whose_slug_is_taken_already_exists(
    service: ResourceService, workflow: Workflow
) -> None:
    body = {**run_body(workflow_id=workflow.metadata.id), "metadata": {"name": "nightly"}}
    service.create(body)
    with pytest.raises(AlreadyExists):
        service.create(body)
    assert service.get_by_ref(WorkflowExecution, "nightly", org="acme").metadata.name == "nightly"


def test_an_id_slug_that_collides_is_refused_and_writes_nothing(
    service: ResourceService, workflow: Workflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only a slug someone chose could collide with a new id's. The insert has no savepoint
    # then (a chosen slug's has): the whole create is refused and rolled back.
    service.create(
        {**run_body(workflow_id=workflow.metadata.id), "metadata": {"slug": "wex-01jaaaaaaaaaaaaaaaaaaaaaaa"}}
    )
    monkeypatch.setattr(steps, "ULID", lambda: "01JAAAAAAAAAAAAAAAAAAAAAAA")
    with pytest.raises((Aborted, AlreadyExists)) as caught:
        start(service, workflow)
    assert caught.value.http_status == 409
    assert service.list(WorkflowExecution).total == 1
    monkeypatch.undo()
    assert start(service, workflow).status.phase == "pending"
