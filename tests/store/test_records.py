"""Run records: journal append/read with seqs, stages and decisions in batches."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.store.rows import insert_executions
from treadle.store import Decision, JournalConflict, JournalEntry, Stage, Store

NOW = datetime(2025, 1, 1, tzinfo=UTC)


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


def test_stages_and_decisions_append_in_batches_and_list_in_order(store: Store, execution_id: str) -> None:
    stages = [
        Stage(
            execution_id, f"/do/{i}/step", "completed", iteration=i, input={"i": i}, output=i, duration_ms=1.5
        )
        for i in range(5)
    ]
    decisions = [
        Decision(execution_id, "/do/0/route", "/do/1/ship", case_name="paid", result=True, reason=".paid"),
        Decision(execution_id, "/do/0/route", None, reason="no case matched", at=NOW),
    ]
    with store.begin() as tx:
        tx.stages.append(stages)
        tx.decisions.append(decisions)
        tx.stages.append([])
    with store.begin(write=False) as tx:
        assert tx.stages.list(execution_id) == stages
        assert [s.id for s in tx.stages.list(execution_id)] == sorted(
            s.id or 0 for s in tx.stages.list(execution_id)
        )
        assert tx.decisions.list(execution_id) == decisions


def test_records_go_with_their_execution(store: Store, execution_id: str) -> None:
    with store.begin() as tx:
        tx.journal.append(execution_id, [JournalEntry("started")])
        tx.stages.append([Stage(execution_id, "/do/0/a", "completed")])
        tx.decisions.append([Decision(execution_id, "/do/0/a", None)])
    with store.begin() as tx:
        assert tx.workflows.delete("wfl-1")
    with store.begin(write=False) as tx:
        assert tx.executions.get(execution_id) is None
        assert tx.journal.read(execution_id) == []
        assert tx.stages.list(execution_id) == []
        assert tx.decisions.list(execution_id) == []
