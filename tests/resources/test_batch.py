"""`create_many`: many resources in one transaction, all or none, errors pointing at the item."""

from __future__ import annotations

from typing import Any

import pytest

from tests.resources.conftest import workflow_body
from treadle.resources import (
    AlreadyExists,
    InvalidArgument,
    ListQuery,
    NotFound,
    ResourceService,
    Workflow,
    WorkflowExecution,
)
from treadle.resources.service import MAX_BATCH


def run_body(workflow: Workflow, **spec: Any) -> dict[str, Any]:
    return {"kind": "WorkflowExecution", "spec": {"workflow_id": workflow.metadata.id, **spec}}


def executions(service: ResourceService) -> list[WorkflowExecution]:
    return service.list(WorkflowExecution, ListQuery(page_size=1000, sort="created_at")).items


def test_creates_every_execution_in_order(service: ResourceService, workflow: Workflow) -> None:
    bodies = [run_body(workflow, input={"n": n}) for n in range(5)]
    created = service.create_many(bodies, actor="alice")
    assert [e.spec.input for e in created] == [{"n": n} for n in range(5)]
    assert all(isinstance(e, WorkflowExecution) and e.status.phase == "pending" for e in created)
    assert len({e.metadata.id for e in created}) == 5
    stored = {e.metadata.id: e for e in executions(service)}
    assert set(stored) == {e.metadata.id for e in created}
    assert {e.status.audit.created_by for e in stored.values()} == {"alice"}


def test_the_kind_comes_from_the_first_item_or_the_argument(
    service: ResourceService, workflow: Workflow
) -> None:
    bare = {"spec": {"workflow_id": workflow.metadata.id}}
    with pytest.raises(InvalidArgument) as caught:
        service.create_many([bare])
    assert caught.value.pointers == ["/items/0/kind"]
    assert len(service.create_many([bare, bare], kind="WorkflowExecution")) == 2


def test_a_bad_item_creates_nothing_and_says_which(service: ResourceService, workflow: Workflow) -> None:
    bodies = [run_body(workflow), run_body(workflow), {"kind": "WorkflowExecution", "spec": {"input": 1}}]
    with pytest.raises(InvalidArgument) as caught:
        service.create_many(bodies)
    assert caught.value.pointers[0].startswith("/items/2/spec/")
    assert "/items/2/spec/" in str(caught.value)
    assert executions(service) == []


def test_a_missing_parent_points_at_its_item(service: ResourceService, workflow: Workflow) -> None:
    bodies = [run_body(workflow), {"kind": "WorkflowExecution", "spec": {"workflow_id": "wfl-nope"}}]
    with pytest.raises(NotFound) as caught:
        service.create_many(bodies)
    assert caught.value.pointer == "/items/1"
    assert executions(service) == []


def test_a_taken_slug_within_the_batch_is_refused(service: ResourceService) -> None:
    with pytest.raises(AlreadyExists) as caught:
        service.create_many([workflow_body("Twice"), workflow_body("Once"), workflow_body("Twice")])
    assert caught.value.pointer == "/items/2"
    assert service.list(Workflow).total == 0


def test_workflows_get_their_default_instances(service: ResourceService) -> None:
    created = service.create_many([workflow_body("First"), workflow_body("Second")])
    assert [w.metadata.slug for w in created] == ["first", "second"]
    assert all(w.status.default_instance_id for w in created)


@pytest.mark.parametrize("count", [0, MAX_BATCH + 1])
def test_an_empty_or_oversized_batch_is_refused(
    service: ResourceService, workflow: Workflow, count: int
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        service.create_many([run_body(workflow)] * count)
    assert caught.value.pointers == ["/items"]
    assert executions(service) == []
