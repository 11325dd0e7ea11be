"""Run records: journal append/read with seqs; stages and decisions read from the journal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.store.rows import insert_executions
from treadle.store import Decision, JournalConflict, JournalEntry, Store


@pytest.fixture
def execution_id(store: Store) -> str:
    insert_executions(store, "wex-1", phase="pending")
    return "wex-1"


def test_journal_appends_a_batch_and_reads_from_a_seq(store: Store, execution_id: str) -> None:
    with store.begin() as tx:
        assert tx.journal.last_seq(execution_id) == 0
        last = tx.journal.append(execution_id, [JournalEntry("started"), JournalEntry("effect", {"n": 1})])
        assert last == 2
    with store.begin() as tx:
        assert tx.journal.append(execution_id, [JournalEntry("effect", {"n": 2})], after=2) == 3
    with store.begin(write=False) as tx:
        events = tx.journal.read(execution_id)
        assert [(e.seq, e.type, e.data) for e in events] == [
            (1, "started", None),
            (2, "effect", {"n": 1}),
            (3, "effect", {"n": 2}),
        ]
        assert [e.seq for e in tx.journal.read(execution_id, after=1, limit=1)] == [2]
        assert events[0].at.tzinfo is not None


def test_journal_refuses_an_append_after_a_stale_seq(store: Store, execution_id: str) -> None:
    with store.begin() as tx:
        tx.journal.append(execution_id, [JournalEntry("started")])
    with pytest.raises(JournalConflict) as caught, store.begin() as tx:
        tx.journal.append(execution_id, [JournalEntry("again")], after=0)
    assert caught.value.actual == 1
    with store.begin(write=False) as tx:
        assert tx.journal.last_seq(execution_id) == 1


def _task(name: str, position: str, attempt: int = 0, **data: Any) -> dict[str, Any]:
    path = position.split("[")[0]
    return {"name": name, "path": path, "position": position, "attempt": attempt, **data}


def test_stages_and_decisions_are_read_from_the_journal(store: Store, execution_id: str) -> None:
    at = [datetime(2025, 1, 1, 0, 0, second, tzinfo=UTC) for second in range(12)]
    entries = [
        JournalEntry("task.started", _task("loop", "/do/0/loop[0]", input={"i": 0}), at[0]),
        JournalEntry("effect", {"key": "k", "value": 1}, at[1]),
        JournalEntry("task.completed", _task("loop", "/do/0/loop[0]", output=1), at[2]),
        JournalEntry(
            "decision", {"from": "/do/0", "to": "/do/1", "case": "c", "result": True, "reason": ".x"}, at[3]
        ),
        JournalEntry("task.started", _task("loop", "/do/0/loop[1]", input={"i": 1}), at[4]),
        JournalEntry("task.started", _task("call", "/do/1/call", input="in"), at[5]),
        JournalEntry("task.faulted", _task("call", "/do/1/call", error={"status": 500}), at[6]),
        JournalEntry("task.started", _task("call", "/do/1/call", attempt=1, input="in"), at[7]),
        JournalEntry("task.completed", _task("loop", "/do/0/loop[1]", output=2), at[8]),
        JournalEntry("task.skipped", _task("maybe", "/do/2/maybe", input=[1], output=[1]), at[9]),
        JournalEntry(
            "decision", {"from": "/do/2", "to": None, "case": None, "result": None, "reason": "end"}, at[10]
        ),
    ]
    with store.begin() as tx:
        tx.journal.append(execution_id, entries)
    with store.begin(write=False) as tx:
        stages, decisions = tx.stages.list(execution_id), tx.decisions.list(execution_id)
    assert [(s.node, s.iteration, s.status, s.input, s.output, s.error) for s in stages] == [
        ("/do/0/loop", 0, "completed", {"i": 0}, 1, None),
        ("/do/1/call", 0, "faulted", "in", None, {"status": 500}),
        ("/do/0/loop", 1, "completed", {"i": 1}, 2, None),
        ("/do/2/maybe", 0, "skipped", [1], [1], None),
    ]  # the retried attempt still runs: no stage yet
    assert [(s.started_at, s.completed_at, s.duration_ms) for s in stages] == [
        (at[0], at[2], 2000.0),
        (at[5], at[6], 1000.0),
        (at[4], at[8], 4000.0),
        (at[9], at[9], 0.0),
    ]
    assert [s.id for s in stages] == [3, 7, 9, 10]  # the seq of the entry that ended each
    assert decisions == [
        Decision(execution_id, "/do/0", "/do/1", case_name="c", result=True, reason=".x", at=at[3]),
        Decision(execution_id, "/do/2", None, reason="end", at=at[10]),
    ]
    assert [d.id for d in decisions] == [4, 11]


def test_records_go_with_their_execution(store: Store, execution_id: str) -> None:
    with store.begin() as tx:
        tx.journal.append(
            execution_id,
            [
                JournalEntry("task.started", _task("a", "/do/0/a")),
                JournalEntry("task.completed", _task("a", "/do/0/a")),
                JournalEntry("decision", {"from": "/do/0/a", "to": None}),
            ],
        )
        assert len(tx.stages.list(execution_id)) == len(tx.decisions.list(execution_id)) == 1
    with store.begin() as tx:
        assert tx.workflows.delete("wfl-1")
    with store.begin(write=False) as tx:
        assert tx.executions.get(execution_id) is None
        assert tx.journal.read(execution_id) == []
        assert tx.stages.list(execution_id) == []
        assert tx.decisions.list(execution_id) == []
