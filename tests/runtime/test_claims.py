"""A pending execution is `running` from the tick that claims it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.runtime.conftest import create_execution, create_workflow, document
from treadle.resources import FailedPrecondition, ResourceService, WorkflowExecution
from treadle.runtime.transitions import mark_running, record_status
from treadle.store import Store


def _journal(store: Store, execution_id: str) -> list[tuple[int, str, object]]:
    with store.begin(write=False) as tx:
        return [(e.seq, e.type, e.data) for e in tx.journal.read(execution_id)]


@pytest.mark.parametrize("count", [1, 3])
def test_claimed_executions_are_marked_running_with_their_journal_entry(
    service: ResourceService, store: Store, count: int
) -> None:
    workflow_id = create_workflow(service, document([{"a": {"set": {"x": 1}}}]))
    ids = [create_execution(service, workflow_id) for _ in range(count)]
    now = datetime.now(UTC)
    with store.begin() as tx:
        mark_running(service, tx, ids, now)
    for id in ids:
        execution = service.get(WorkflowExecution, id)
        assert execution.status.phase == "running"
        assert execution.status.started_at is not None
        assert execution.metadata.version == 2
        assert _journal(store, id) == [(1, "phase", {"phase": "running"})]


def test_a_refused_report_marks_none_of_them(service: ResourceService, store: Store) -> None:
    workflow_id = create_workflow(service, document([{"a": {"set": {"x": 1}}}]))
    ended, fresh = create_execution(service, workflow_id), create_execution(service, workflow_id)
    with store.begin() as tx:
        record_status(service, tx, ended, {"phase": "cancelled"})
    with pytest.raises(FailedPrecondition), store.begin() as tx:
        mark_running(service, tx, [fresh, ended], datetime.now(UTC))
    assert service.get(WorkflowExecution, fresh).status.phase == "pending"
    assert _journal(store, fresh) == []
