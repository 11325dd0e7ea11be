"""PostgreSQL connections: one that sat idle is pinged before use, a dead one replaced.
SQLite: a commit that leaves the WAL checkpoint to its caller. Write transactions kept on one
connection."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from treadle.store import Store, StoreUnavailable, Transaction, make_engine, normalize_url
from treadle.store._engine import SQLITE_AUTOCHECKPOINT_PAGES
from treadle.store._fast import RawAppender


def _backend_pid(store: Store) -> int:
    with store.begin(write=False) as tx:
        return int(tx.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _terminate(url: str, pid: int) -> None:
    killer = Store.open(url)
    with killer.begin() as tx:
        tx.connection.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    killer.dispose()


def test_an_idle_connection_the_server_closed_is_replaced(postgres_migrated_url: str) -> None:
    store = Store.open(postgres_migrated_url, ping_after_idle_seconds=0, pool_size=1, max_overflow=0)
    first = _backend_pid(store)
    _terminate(postgres_migrated_url, first)
    assert _backend_pid(store) != first  # pinged at checkout, found dead, replaced
    store.dispose()


def test_a_connection_used_moments_ago_is_not_pinged(postgres_migrated_url: str) -> None:
    # The other side of the trade: within the idle allowance a dead connection is only
    # found by the statement that uses it (the pool then replaces it for the next one).
    store = Store.open(postgres_migrated_url, ping_after_idle_seconds=3600, pool_size=1, max_overflow=0)
    first = _backend_pid(store)
    _terminate(postgres_migrated_url, first)
    with pytest.raises(OperationalError):
        _backend_pid(store)
    assert _backend_pid(store) != first
    store.dispose()


def _autocheckpoint(tx: object) -> int:
    return int(tx.connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())  # type: ignore[attr-defined]


def _write_pages(begin: Callable[[], AbstractContextManager[Transaction]], pages: int) -> None:
    with begin() as tx:
        tx.connection.execute(text("CREATE TABLE IF NOT EXISTS filler (blob BLOB)"))
        tx.connection.execute(text("INSERT INTO filler VALUES (randomblob(3000))"), [{}] * pages)


def test_kept_writes_can_leave_the_checkpoint_to_their_owner(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    store = Store.open(f"sqlite:///{path}", pool_size=1, max_overflow=0)
    _write_pages(store.begin, 1)
    before = path.stat().st_size
    # Over the store's threshold, in commits that must not checkpoint: the pages stay in
    # the WAL, the database file does not grow.
    kept = store.kept_writes(autocheckpoint=False)
    _write_pages(kept.begin, SQLITE_AUTOCHECKPOINT_PAGES // 2)
    _write_pages(kept.begin, SQLITE_AUTOCHECKPOINT_PAGES // 2 + 500)
    assert path.stat().st_size == before
    with store.begin(write=False) as tx:  # the pooled connection keeps its threshold
        assert _autocheckpoint(tx) == SQLITE_AUTOCHECKPOINT_PAGES
    _write_pages(store.begin, 1)  # a commit that may: it copies them over
    assert path.stat().st_size > before + SQLITE_AUTOCHECKPOINT_PAGES * 3000
    kept.close()
    store.dispose()


def test_leaving_the_checkpoint_changes_nothing_on_postgresql(postgres_migrated_url: str) -> None:
    store = Store.open(postgres_migrated_url)
    kept = store.kept_writes(autocheckpoint=False)
    with kept.begin() as tx:
        assert tx.connection.exec_driver_sql("SELECT 1").scalar_one() == 1
    kept.close()
    store.dispose()


def test_kept_writes_hold_the_stores_write_lock(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'lock.db'}")
    kept = store.kept_writes()
    assert store.write_lock is not None
    with kept.begin():
        assert not _acquired_elsewhere(store.write_lock)  # as every write transaction does
    assert _acquired_elsewhere(store.write_lock)
    kept.close()
    store.dispose()


def _dbapi(tx: object) -> object:
    return tx.connection.connection.dbapi_connection  # type: ignore[attr-defined]


@pytest.fixture
def scratch(store: Store) -> Iterator[Store]:
    """`store` with a table `kept (n INTEGER PRIMARY KEY)`, dropped after the test (the
    PostgreSQL database outlives it)."""
    with store.begin() as tx:
        tx.connection.execute(text("DROP TABLE IF EXISTS kept"))
        tx.connection.execute(text("CREATE TABLE kept (n INTEGER PRIMARY KEY)"))
    yield store
    with store.begin() as tx:
        tx.connection.execute(text("DROP TABLE kept"))


def test_kept_writes_commit_on_one_connection_the_pool_never_sees(scratch: Store) -> None:
    kept = scratch.kept_writes()
    connections = []
    for n in (1, 2):
        with kept.begin() as tx:
            tx.connection.execute(text("INSERT INTO kept VALUES (:n)"), {"n": n})
            connections.append(_dbapi(tx))
    assert connections[0] is connections[1]
    with scratch.begin(write=False) as tx:
        assert tx.connection.execute(text("SELECT n FROM kept ORDER BY n")).scalars().all() == [1, 2]
        assert _dbapi(tx) is not connections[0]  # detached: never handed to anyone else
    kept.close()


def test_a_failed_kept_write_rolls_back_and_the_next_opens_another_connection(scratch: Store) -> None:
    kept = scratch.kept_writes()
    with kept.begin() as tx:
        tx.connection.execute(text("INSERT INTO kept VALUES (1)"))
        first = _dbapi(tx)
    with pytest.raises(RuntimeError), kept.begin() as tx:
        tx.connection.execute(text("INSERT INTO kept VALUES (2)"))
        raise RuntimeError("the round failed")
    with kept.begin() as tx:
        assert tx.connection.execute(text("SELECT n FROM kept")).scalars().all() == [1]
        assert _dbapi(tx) is not first
    kept.close()


def _acquired_elsewhere(lock: object) -> bool:
    acquired: list[bool] = []

    def take() -> None:
        got = lock.acquire(blocking=False)  # type: ignore[attr-defined]
        acquired.append(got)
        if got:
            lock.release()  # type: ignore[attr-defined]

    thread = threading.Thread(target=take)
    thread.start()
    thread.join()
    return acquired[0]


def _synchronous(store: Store) -> tuple[int, int]:
    """`PRAGMA synchronous` of a pooled connection and of a raw appender's (1 NORMAL, 2 FULL)."""
    with store.begin(write=False) as tx:
        pooled = int(tx.connection.exec_driver_sql("PRAGMA synchronous").scalar_one())
    appender = RawAppender(store.engine)
    try:
        raw = int(appender.connection.execute("PRAGMA synchronous").fetchall()[0][0])
    finally:
        appender.close()
    return pooled, raw


def test_sqlite_commits_wait_for_the_disk_at_checkpoints_unless_the_url_says_full(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'normal.db'}")
    assert _synchronous(store) == (1, 1)
    store.dispose()
    full = Store.open(f"sqlite:///{tmp_path / 'full.db'}?synchronous=full")
    assert _synchronous(full) == (2, 2)
    assert "synchronous" not in str(full.engine.url)  # treadle's parameter, not the driver's
    full.dispose()


def test_a_url_treadle_cannot_use_says_why(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous='off'.*normal .* or full"):
        make_engine(f"sqlite:///{tmp_path / 'x.db'}?synchronous=off")
    with pytest.raises(StoreUnavailable) as caught:
        Store.open("mysql://u:pw@db/treadle")
    assert caught.value.bad_url
    assert str(caught.value) == (
        "cannot open the store mysql://u:***@db/treadle: "
        "unsupported database 'mysql': use sqlite or postgresql"
    )
    with pytest.raises(StoreUnavailable, match="^cannot open the store: not a database URL"):
        Store.open("treadle.db")


def test_postgres_urls_are_postgresql_ones() -> None:
    assert normalize_url("postgres://u@db/treadle").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+asyncpg://u@db/treadle").drivername == "postgresql+psycopg"


def test_a_database_that_does_not_answer_is_unavailable_with_the_drivers_reason() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once it is closed
    with pytest.raises(StoreUnavailable) as caught:
        Store.open(f"postgresql://treadle:s3cret@127.0.0.1:{port}/treadle", migrate=True)
    assert not caught.value.bad_url
    assert "Connection refused" in caught.value.reason and "s3cret" not in str(caught.value)


def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database, a text file with enough bytes in it to have a header " * 20)
    with pytest.raises(StoreUnavailable, match="not a database") as caught:
        Store.open(f"sqlite:///{path}", migrate=True)
    assert not caught.value.bad_url


def test_a_sqlite_file_whose_folder_cannot_be_made_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StoreUnavailable) as caught:
        Store.open(f"sqlite:///{blocker / 'treadle.db'}", migrate=True)
    assert not caught.value.bad_url and "a-file" in caught.value.reason
