"""Listing: paging, sorting and every filter of every kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.resources.conftest import workflow_body
from treadle.resources import InvalidArgument, ResourceService, Workflow, WorkflowExecution
from treadle.store import ListQuery

T0 = datetime(2025, 3, 1, tzinfo=UTC)


class Clock:
    """A clock that ticks one minute per call."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def clock(service: ResourceService) -> Clock:
    clock = Clock()
    service.clock = clock
    return clock


def test_workflows_by_org_and_label(service: ResourceService, clock: Clock) -> None:
    service.create(workflow_body("a", org="acme", labels={"team": "ops"}))
    service.create(workflow_body("b", org="acme", labels={"team": "dev", "tier": "1"}))
    service.create(workflow_body("c", org="globex", labels={"team": "ops", "tier": "1"}))

    def slugs(query: ListQuery) -> list[str | None]:
        return [w.metadata.slug for w in service.list(Workflow, query).items]

    assert slugs(ListQuery(org="acme", sort="name")) == ["a", "b"]
    assert slugs(ListQuery(labels={"team": "ops"}, sort="name")) == ["a", "c"]
    assert slugs(ListQuery(labels={"team": "ops", "tier": "1"})) == ["c"]
    assert slugs(ListQuery(org="acme", labels={"tier": "1"})) == ["b"]
    assert slugs(ListQuery()) == ["c", "b", "a"]  # newest first by default


def test_executions_by_every_filter(service: ResourceService, clock: Clock) -> None:
    wf1 = service.create(workflow_body("one"))
    wf2 = service.create(workflow_body("two"))
    made: list[WorkflowExecution] = []
    for i in range(6):
        wf = wf1 if i % 2 == 0 else wf2
        body = {
            "kind": "WorkflowExecution",
            "metadata": {"labels": {"batch": str(i % 3)}},
            "spec": {"workflow_id": wf.metadata.id},
        }
        created = service.create(body)
        assert isinstance(created, WorkflowExecution)
        made.append(created)
    for execution in made[:3]:
        service.update_execution_status(execution.metadata.id or "", {"phase": "running"})
    service.update_execution_status(made[0].metadata.id or "", {"phase": "completed"})

    def ids(query: ListQuery) -> list[str | None]:
        return [e.metadata.id for e in service.list(WorkflowExecution, query).items]

    m = [e.metadata.id for e in made]
    instance1 = wf1.status.default_instance_id  # type: ignore[union-attr]
    assert ids(ListQuery(workflow_id=wf1.metadata.id, sort="created_at")) == [m[0], m[2], m[4]]
    assert ids(ListQuery(instance_id=instance1, sort="created_at")) == [m[0], m[2], m[4]]
    assert ids(ListQuery(phase="running", sort="created_at")) == [m[1], m[2]]
    assert ids(ListQuery(phase=["running", "completed"], workflow_id=wf1.metadata.id, sort="created_at")) == [
        m[0],
        m[2],
    ]
    assert ids(ListQuery(labels={"batch": "1"}, sort="created_at")) == [m[1], m[4]]
    created_at = [e.status.audit.created_at for e in made]
    assert ids(ListQuery(created_after=created_at[2], created_before=created_at[4], sort="created_at")) == [
        m[2],
        m[3],
    ]
    done = service.get(WorkflowExecution, m[0] or "").status.completed_at
    assert done is not None
    assert ids(ListQuery(completed_after=done)) == [m[0]]
    assert ids(ListQuery(completed_before=done)) == []
    by_completion = ids(ListQuery(sort="-completed_at,created_at"))
    assert by_completion[0] == m[0] and by_completion[1:] == m[1:]  # NULLs last on both databases


def test_paging_reports_the_total(service: ResourceService, clock: Clock) -> None:
    for i in range(5):
        service.create(workflow_body(f"w{i}"))
    pages = [service.list(Workflow, ListQuery(page=p, page_size=2, sort="name")) for p in (1, 2, 3, 4)]
    assert [[w.metadata.slug for w in page.items] for page in pages] == [
        ["w0", "w1"],
        ["w2", "w3"],
        ["w4"],
        [],
    ]
    assert {page.total for page in pages} == {5}


@pytest.mark.parametrize(
    ("query", "pointer"),
    [
        (ListQuery(sort="colour"), "/sort"),
        (ListQuery(phase="running"), "/phase"),
        (ListQuery(page_size=0), "/page_size"),
    ],
)
def test_bad_queries_are_invalid_arguments(service: ResourceService, query: ListQuery, pointer: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        service.list(Workflow, query)
    assert caught.value.pointers == [pointer]
