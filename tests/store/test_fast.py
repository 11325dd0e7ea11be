"""The raw appenders write what SQLAlchemy writes; SQLite's never waits long for a lock."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from tests.store.rows import insert_executions
from treadle.store import Store
from treadle.store._fast import ROWS_PER_STATEMENT, Busy, PostgresAppender, RawAppender, raw_appends_supported

NOW = datetime(2025, 1, 1, 12, 30, 0, 120_000, tzinfo=UTC)


def _seed(store: Store) -> Store:
    insert_executions(store, "wex-raw", "wex-sa")
    return store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Store:
    return _seed(Store.open(f"sqlite:///{tmp_path / 'treadle.db'}", migrate=True))


@pytest.fixture
def seeded(store: Store) -> Store:
    """A store on each backend, seeded like `sqlite_store`."""
    return _seed(store)


def _appender(store: Store) -> RawAppender | PostgresAppender:
    if store.dialect == "postgresql":
        return PostgresAppender(store.engine)
    return RawAppender(store.engine)


def _records(execution_id: str) -> list[dict[str, Any]]:
    """Journal rows, among them a task run's entries and a decision: its stage and decision
    are read from them."""
    at = NOW.astimezone(timezone(timedelta(hours=2))) + timedelta(seconds=1)  # converted to UTC
    keys = {"name": "a", "path": "/do/0/a", "position": "/do/0/a", "attempt": 0}
    entries: list[tuple[str, Any, datetime]] = [
        ("task.started", {**keys, "input": {"x": 1}}, NOW),
        ("effect", {"key": "/do/0", "value": [1, "a"]}, at),
        ("task.faulted", {**keys, "error": {"status": 500}}, at),
        ("decision", {"from": "/do/0", "to": "/do/2", "case": "even", "result": True, "reason": "r"}, at),
        ("phase", None, at),
    ]
    return [
        {"execution_id": execution_id, "seq": seq, "type": type, "data": data, "at": when}
        for seq, (type, data, when) in enumerate(entries, start=1)
    ]


def _read(store: Store, execution_id: str) -> tuple[Any, ...]:
    with store.begin(write=False) as tx:
        journal = [(e.seq, e.type, e.data, e.at) for e in tx.journal.read(execution_id)]
        stages = [{**vars(s), "id": None, "execution_id": None} for s in tx.stages.list(execution_id)]
        decisions = [{**vars(d), "id": None, "execution_id": None} for d in tx.decisions.list(execution_id)]
        raw = tx.connection.execute(
            text("SELECT data, at FROM execution_journal WHERE execution_id = :id ORDER BY seq"),
            {"id": execution_id},
        ).all()
    return journal, stages, decisions, [tuple(r) for r in raw]


def test_raw_rows_read_back_as_sqlalchemy_rows(seeded: Store) -> None:
    appender = _appender(seeded)
    try:
        appender.append(_records("wex-raw"))
    finally:
        appender.close()
    with seeded.begin() as tx:
        tx.runtime.append_journal(_records("wex-sa"))
    assert _read(seeded, "wex-raw") == _read(seeded, "wex-sa")
    assert len(_read(seeded, "wex-raw")[1]) == 1  # the stage and the decision, read back
    assert len(_read(seeded, "wex-raw")[2]) == 1


def test_a_journal_row_without_data_stores_json_null(seeded: Store) -> None:
    appender = _appender(seeded)
    try:
        appender.append([{"execution_id": "wex-raw", "seq": 1, "type": "phase", "at": NOW}])
    finally:
        appender.close()
    assert _read(seeded, "wex-raw")[0] == [(1, "phase", None, NOW)]


def test_a_seq_conflict_rolls_everything_back_and_the_appender_goes_on(seeded: Store) -> None:
    appender = _appender(seeded)
    journal = _records("wex-raw")
    appender.append(journal[:1])
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        appender.append(journal)
    assert len(_read(seeded, "wex-raw")[0]) == 1
    assert _read(seeded, "wex-raw")[1] == []
    appender.append(journal[1:])  # the same connection, a fresh transaction
    appender.close()
    assert [entry[0] for entry in _read(seeded, "wex-raw")[0]] == [1, 2, 3, 4, 5]
    assert len(_read(seeded, "wex-raw")[1]) == 1


def _many(execution_id: str, count: int, first_seq: int = 1) -> list[dict[str, Any]]:
    return [
        {"execution_id": execution_id, "seq": seq, "type": "effect", "data": {"i": seq}, "at": NOW}
        for seq in range(first_seq, first_seq + count)
    ]


@pytest.mark.parametrize("count", [ROWS_PER_STATEMENT, ROWS_PER_STATEMENT + 1, 3 * ROWS_PER_STATEMENT + 5])
def test_a_batch_of_any_size_reads_back_as_sqlalchemy_rows(seeded: Store, count: int) -> None:
    appender = _appender(seeded)
    try:
        appender.append(_many("wex-raw", count))
    finally:
        appender.close()
    with seeded.begin() as tx:
        tx.runtime.append_journal(_many("wex-sa", count))
    assert _read(seeded, "wex-raw") == _read(seeded, "wex-sa")
    assert [entry[0] for entry in _read(seeded, "wex-raw")[0]] == list(range(1, count + 1))


def test_a_conflict_in_a_later_statement_rolls_back_the_earlier_ones(seeded: Store) -> None:
    appender = _appender(seeded)
    last = 2 * ROWS_PER_STATEMENT + 3
    appender.append(_many("wex-raw", 1, first_seq=last))  # the batch's last seq is taken
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        appender.append(_many("wex-raw", last))
    assert [entry[0] for entry in _read(seeded, "wex-raw")[0]] == [last]
    appender.append(_many("wex-raw", last - 1))  # the same connection goes on
    appender.close()
    assert len(_read(seeded, "wex-raw")[0]) == last


def test_a_held_write_lock_fails_fast_with_a_short_busy_timeout(sqlite_store: Store) -> None:
    appender = RawAppender(sqlite_store.engine, busy_timeout_ms=1, autocheckpoint=False)
    with sqlite_store.begin() as tx:
        tx.connection.exec_driver_sql("SELECT 1")  # BEGIN IMMEDIATE holds the write lock
        started = datetime.now(UTC)
        with pytest.raises(sqlite3.OperationalError):
            appender.append(_records("wex-raw"))
        assert datetime.now(UTC) - started < timedelta(milliseconds=500)
    appender.append(_records("wex-raw"))
    appender.checkpoint()
    appender.close()
    assert len(_read(sqlite_store, "wex-raw")[0]) == 5


def test_writers_of_one_process_queue_on_the_stores_lock(sqlite_store: Store) -> None:
    assert sqlite_store.write_lock is not None
    eager = RawAppender(sqlite_store.engine, write_lock=sqlite_store.write_lock)
    patient = RawAppender(sqlite_store.engine, write_lock=sqlite_store.write_lock)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with sqlite_store.begin() as tx:
            tx.connection.exec_driver_sql("SELECT 1")
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    with pytest.raises(Busy):
        eager.append(_records("wex-raw"), wait=False)  # gives up at once: nothing written
    waiter = threading.Thread(target=patient.append, args=(_records("wex-raw"),))
    waiter.start()
    waiter.join(0.05)
    assert waiter.is_alive()  # queued behind the transaction, not failed
    release.set()
    holder.join()
    waiter.join(10)
    assert not waiter.is_alive()
    eager.close()
    patient.close()
    assert len(_read(sqlite_store, "wex-raw")[0]) == 5


def test_postgresql_has_no_process_write_lock() -> None:
    store = Store.open("postgresql://nobody@127.0.0.1:1/none")  # never connects
    assert store.write_lock is None
    store.dispose()


def test_only_sqlite_files_take_the_raw_path(tmp_path: Path) -> None:
    memory = Store.open("sqlite://")
    assert not raw_appends_supported(memory.engine)
    memory.dispose()


@pytest.mark.parametrize(
    "value",
    [
        NOW,
        datetime(5, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(5, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(2025, 1, 1, 12, 30, tzinfo=UTC),
        datetime(2025, 1, 1, 12, 30, 0, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2025, 6, 30, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-7))),
        datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_timestamps_are_written_in_sqlalchemys_sqlite_form(sqlite_store: Store, value: datetime) -> None:
    from sqlalchemy.dialects.sqlite import DATETIME

    from treadle.store._tables import UTCDateTime

    dialect = sqlite_store.engine.dialect
    ours = UTCDateTime().bind_processor(dialect)
    theirs = DATETIME().bind_processor(dialect)  # type: ignore[no-untyped-call]
    assert ours is not None and theirs is not None
    assert ours(value) == theirs(value.astimezone(UTC).replace(tzinfo=None))
    with pytest.raises(ValueError, match="naive"):
        ours(value.replace(tzinfo=None))
