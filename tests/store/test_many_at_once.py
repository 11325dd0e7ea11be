"""Many executions' rows in one statement: read as runs start together (`get_many`,
`of_executions`, `read_many`), read and written as the runtime's writer applies a round
of status reports (`lock_many`, deferred updates)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from tests.store.rows import AT, insert_executions, resource_row
from treadle.store import JournalEntry, Store
from treadle.store._repositories import StaleUpdate


def _statements(store: Store) -> list[str]:
    seen: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split()[0].upper())

    return seen


def _bodies(store: Store, *ids: str) -> dict[str, tuple[int, Any]]:
    with store.begin(write=False) as tx:
        rows = [tx.executions.get(id) for id in ids]
    return {row["id"]: (row["version"], row["body"].get("n")) for row in rows if row is not None}


def test_a_round_of_updates_is_one_read_and_one_write(store: Store) -> None:
    ids = [f"wex-{i}" for i in range(5)]
    insert_executions(store, *ids)
    seen = _statements(store)
    with store.begin() as tx:
        tx.executions.lock_many(ids)
        tx.executions.defer_updates()
        for n, id in enumerate(ids):
            row = tx.executions.get(id, for_update=True, document=False)  # as the status writer reads
            assert row is not None
            assert tx.executions.update(id, row["version"], {"version": row["version"] + 1, "body": {"n": n}})
        tx.executions.flush_updates()
    kinds = [kind for kind in seen if kind in ("SELECT", "UPDATE")]
    assert kinds == ["SELECT", "UPDATE"]
    assert _bodies(store, *ids) == {id: (2, n) for n, id in enumerate(ids)}


def test_a_row_updated_twice_in_a_round_keeps_both_in_order(store: Store) -> None:
    insert_executions(store, "wex-a", "wex-b")
    with store.begin() as tx:
        tx.executions.lock_many(["wex-a", "wex-b"])
        tx.executions.defer_updates()
        for n in (1, 2):
            row = tx.executions.get("wex-a")
            assert row is not None
            assert tx.executions.update(
                "wex-a", row["version"], {"version": row["version"] + 1, "body": {"n": n}}
            )
        # A stale version is refused at once, as an immediate update would be.
        assert not tx.executions.update("wex-b", 7, {"version": 8, "body": {"n": 0}})
        tx.executions.flush_updates()
    assert _bodies(store, "wex-a", "wex-b") == {"wex-a": (3, 2), "wex-b": (1, None)}


def test_a_deferred_update_that_finds_its_row_changed_fails_the_flush(store: Store) -> None:
    insert_executions(store, "wex-a")
    with pytest.raises(StaleUpdate), store.begin() as tx:
        tx.executions.lock_many(["wex-a"])
        tx.executions.defer_updates()
        assert tx.executions.update("wex-a", 1, {"version": 2, "body": {"n": 1}})
        # Behind the repository's back (nothing else can, the row being locked).
        tx.connection.exec_driver_sql("UPDATE workflow_executions SET version = 5 WHERE id = 'wex-a'")
        tx.executions.flush_updates()
    assert _bodies(store, "wex-a") == {"wex-a": (1, None)}  # rolled back


def test_rows_not_locked_are_read_and_updated_at_once(store: Store) -> None:
    insert_executions(store, "wex-a", "wex-b")
    with store.begin() as tx:
        tx.executions.lock_many(["wex-a"])
        tx.executions.defer_updates()
        row = tx.executions.get("wex-b")
        assert row is not None and row["version"] == 1
        assert tx.executions.update("wex-b", 1, {"version": 2, "body": {"n": 9}})
        assert tx.executions.get("wex-b", for_update=True)["body"] == {"n": 9}  # type: ignore[index]
        tx.executions.flush_updates()
    assert _bodies(store, "wex-b") == {"wex-b": (2, 9)}


def test_rows_of_many_runs_are_read_with_one_statement_a_table(store: Store) -> None:
    insert_executions(store, "wex-a", "wex-b", "wex-c")
    with store.begin() as tx:
        tx.journal.append("wex-a", [JournalEntry("phase", {"n": 1}), JournalEntry("phase", {"n": 2})])
        tx.journal.append("wex-c", [JournalEntry("phase", {"n": 3})])
        for n, execution_id in enumerate(["wex-a", "wex-a", "wex-b"]):
            created_at = AT.replace(hour=n)
            tx.contexts.insert(
                resource_row("ExecutionContext", f"ctx-{n}", execution_id=execution_id, created_at=created_at)
            )
    seen = _statements(store)
    with store.begin(write=False) as tx:
        executions = tx.executions.get_many(["wex-a", "wex-c", "wex-gone", "wex-a"])
        contexts = tx.contexts.of_executions(["wex-a", "wex-b", "wex-c"])
        journals = tx.journal.read_many(["wex-a", "wex-b", "wex-c"])
        assert tx.contexts.of_execution("wex-a") == contexts["wex-a"]
        assert tx.journal.read("wex-a") == journals["wex-a"]
    assert sorted(executions) == ["wex-a", "wex-c"]
    assert {id: [row["id"] for row in rows] for id, rows in contexts.items()} == {
        "wex-a": ["ctx-1", "ctx-0"],  # newest first, as the list shows them
        "wex-b": ["ctx-2"],
    }
    assert {id: [(e.seq, e.data) for e in events] for id, events in journals.items()} == {
        "wex-a": [(1, {"n": 1}), (2, {"n": 2})],
        "wex-c": [(1, {"n": 3})],
    }
    assert [kind for kind in seen if kind == "SELECT"] == ["SELECT"] * 5


def test_last_seqs_of_many_journals(store: Store) -> None:
    insert_executions(store, "wex-a", "wex-b", "wex-none")
    with store.begin() as tx:
        tx.journal.append("wex-a", [JournalEntry("phase", {}), JournalEntry("phase", {})])
        tx.journal.append("wex-b", [JournalEntry("phase", {})])
    with store.begin(write=False) as tx:
        assert tx.journal.last_seqs(["wex-a", "wex-b", "wex-none"]) == {"wex-a": 2, "wex-b": 1}
        assert tx.journal.last_seqs([]) == {}
