"""The runtime's bookkeeping statements that are not exercised end to end elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from tests.store.rows import AT, insert_executions, resource_row
from treadle.store import Store
from treadle.store._runtime_tables import EVENT_SUBSCRIPTIONS, EXECUTION_INBOX, EXECUTION_RUNS
from treadle.store._tables import CONTEXTS

NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)


def _bookkeeping(store: Store, execution_id: str) -> None:
    """A run row, a subscription, an inbox event and a context, as a listening run has."""
    with store.begin() as tx:
        tx.runtime.insert_run(
            {"execution_id": execution_id, "workflow_id": "wfl-1", "state": "waiting", "updated_at": NOW}
        )
        tx.runtime.subscribe(execution_id, "/do/0/hear#0", "com.example", [], NOW)
        tx.runtime.subscribe(execution_id, "/do/1/hear#0", "com.example", [], NOW)
        assert tx.runtime.deliver(execution_id, "/do/1/hear#0", {"type": "com.example"}, NOW)
        tx.contexts.insert(
            resource_row("ExecutionContext", f"ctx-{execution_id}", execution_id=execution_id, created_at=AT)
        )


def _left(store: Store, execution_id: str) -> dict[str, int]:
    with store.begin(write=False) as tx:
        return {
            table.name: tx.connection.execute(
                select(func.count()).select_from(table).where(table.c.execution_id == execution_id)
            ).scalar_one()
            for table in (EXECUTION_RUNS, EVENT_SUBSCRIPTIONS, EXECUTION_INBOX, CONTEXTS)
        }


def test_end_run_forgets_the_run_and_nothing_of_other_runs(store: Store) -> None:
    insert_executions(store, "wex-ended", "wex-other")
    _bookkeeping(store, "wex-ended")
    _bookkeeping(store, "wex-other")
    assert set(_left(store, "wex-ended").values()) == {1}
    with store.begin() as tx:
        tx.runtime.end_run("wex-ended")
    assert set(_left(store, "wex-ended").values()) == {0}
    assert set(_left(store, "wex-other").values()) == {1}


def test_end_runs_forgets_many_runs_at_once(store: Store) -> None:
    insert_executions(store, "wex-a", "wex-b", "wex-kept")
    for id in ("wex-a", "wex-b", "wex-kept"):
        _bookkeeping(store, id)
    with store.begin() as tx:
        tx.runtime.end_runs(["wex-a", "wex-b"])
        tx.runtime.end_runs([])
    assert set(_left(store, "wex-a").values()) == set(_left(store, "wex-b").values()) == {0}
    assert set(_left(store, "wex-kept").values()) == {1}


def test_end_held_runs_ends_them_only_if_every_lease_is_still_held(store: Store) -> None:
    insert_executions(store, "wex-a", "wex-b", "wex-kept")
    for id in ("wex-a", "wex-b", "wex-kept"):
        _bookkeeping(store, id)
    with store.begin() as tx:
        tx.runtime.set_run("wex-a", state="leased", lease_owner="w1", epoch=2)
        tx.runtime.set_run("wex-b", state="leased", lease_owner="w2", epoch=5)
    with store.begin() as tx:  # wex-b was taken by another worker (w2), or in a later epoch
        assert tx.runtime.end_held_runs([("wex-a", "w1", 2), ("wex-b", "w1", 5)]) == ["wex-b"]
        assert tx.runtime.end_held_runs([("wex-b", "w2", 4), ("wex-none", "w2", 1)]) == ["wex-b", "wex-none"]
    assert set(_left(store, "wex-a").values()) == set(_left(store, "wex-b").values()) == {1}
    with store.begin() as tx:
        assert tx.runtime.end_held_runs([("wex-b", "w2", 5), ("wex-a", "w1", 2)]) == []
        assert tx.runtime.end_held_runs([]) == []
    assert set(_left(store, "wex-a").values()) == set(_left(store, "wex-b").values()) == {0}
    assert set(_left(store, "wex-kept").values()) == {1}


def test_runs_for_update_reads_the_runs_asked_for(store: Store) -> None:
    insert_executions(store, "wex-a", "wex-b", "wex-none")
    _bookkeeping(store, "wex-a")
    _bookkeeping(store, "wex-b")
    with store.begin() as tx:
        runs = tx.runtime.runs_for_update(["wex-b", "wex-none", "wex-a", "wex-a"])
    assert sorted(runs) == ["wex-a", "wex-b"]
    assert runs["wex-a"]["state"] == "waiting"
