"""A transaction's batched inserts: queued, then one executemany per table; a savepoint
sends the queue first and inserts at once inside it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from tests.store.rows import AT, insert_executions, resource_row
from treadle.store import Store


def _inserts_into(store: Store) -> list[str]:
    """The table of each INSERT sent to the database from now on."""
    seen: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        words = statement.split()
        if words[0].upper() == "INSERT":
            seen.append(words[words.index("INTO") + 1])

    return seen


def _execution(id: str, **labels: str) -> dict[str, Any]:
    return resource_row(
        "WorkflowExecution", id, instance_id="win-1", workflow_id="wfl-1", phase="running", labels=labels
    )


def test_a_batch_sends_each_table_once_in_the_order_its_rows_refer_to_each_other(store: Store) -> None:
    insert_executions(store)  # the workflow and instance
    ids = [f"wex-{i}" for i in range(50)]
    seen = _inserts_into(store)
    with store.begin() as tx, tx.batched_inserts():
        for id in ids:
            # Rows of three tables per item, each referring to the one before.
            tx.executions.insert(_execution(id, team="a"))
            tx.runtime.lease_new(id, "wfl-1", "worker-1", until=AT + timedelta(minutes=1), now=AT)
            tx.runtime.append_journal([{"execution_id": id, "seq": 1, "type": "phase", "data": {}, "at": AT}])
    assert seen == [
        "workflow_executions",
        "workflow_executions_labels",
        "execution_runs",
        "execution_journal",
    ]
    with store.begin(write=False) as tx:
        assert sorted(tx.executions.get_many(ids)) == sorted(ids)
        assert tx.journal.last_seqs(ids) == dict.fromkeys(ids, 1)
        assert {run["execution_id"] for run in tx.runtime.held("worker-1")} == set(ids)


def test_queued_rows_are_sent_when_the_batch_ends_not_before(store: Store) -> None:
    insert_executions(store)
    with store.begin() as tx:
        with tx.batched_inserts():
            tx.executions.insert(_execution("wex-1"))
            assert tx.executions.get("wex-1") is None
        assert tx.executions.get("wex-1") is not None


def test_rows_of_other_shapes_go_in_their_own_statement(store: Store) -> None:
    insert_executions(store)
    with store.begin() as tx, tx.batched_inserts():
        tx.executions.insert(_execution("wex-1"))
        tx.executions.insert({**_execution("wex-2"), "completed_at": AT})
    with store.begin(write=False) as tx:
        first, second = tx.executions.get("wex-1"), tx.executions.get("wex-2")
    assert first is not None and first["completed_at"] is None
    assert second is not None and second["completed_at"] == AT


def test_a_savepoint_sends_the_queue_first_and_raises_inside_itself(store: Store) -> None:
    insert_executions(store, "wex-taken")
    with store.begin() as tx, tx.batched_inserts():
        tx.executions.insert(_execution("wex-1"))
        with pytest.raises(IntegrityError):
            with tx.savepoint():
                assert tx.executions.get("wex-1") is not None  # sent before the savepoint
                tx.executions.insert(_execution("wex-taken"))
        tx.executions.insert(_execution("wex-2"))  # queued again after it
        assert tx.executions.get("wex-2") is None
    with store.begin(write=False) as tx:
        assert set(tx.executions.get_many(["wex-1", "wex-2", "wex-taken"])) == {
            "wex-1",
            "wex-2",
            "wex-taken",
        }


def test_a_broken_row_fails_the_batch_at_its_end_and_nothing_is_written(store: Store) -> None:
    insert_executions(store, "wex-taken")
    with pytest.raises(IntegrityError):
        with store.begin() as tx, tx.batched_inserts():
            tx.executions.insert(_execution("wex-1"))
            tx.executions.insert(_execution("wex-taken"))
    with store.begin(write=False) as tx:
        assert tx.executions.get("wex-1") is None


def test_outside_a_batch_inserts_are_sent_at_once(store: Store) -> None:
    insert_executions(store)
    with store.begin() as tx:
        tx.executions.insert(_execution("wex-1"))
        assert tx.executions.get("wex-1") is not None


def test_a_batch_within_a_batch_joins_it(store: Store) -> None:
    insert_executions(store)
    with store.begin() as tx, tx.batched_inserts():
        tx.executions.insert(_execution("wex-1"))
        with tx.batched_inserts():
            tx.runtime.lease_new("wex-1", "wfl-1", "worker-1", until=AT + timedelta(minutes=1), now=AT)
        assert tx.executions.get("wex-1") is None  # still queued, with its run row after it
    with store.begin(write=False) as tx:
        assert [run["execution_id"] for run in tx.runtime.held("worker-1")] == ["wex-1"]
