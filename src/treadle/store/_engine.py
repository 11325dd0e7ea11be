"""Engines for the two supported databases, tuned for many short write transactions.

SQLite: WAL journal, `synchronous=NORMAL` (or `FULL`: the URL's `?synchronous=full`, see
`SQLITE_SYNCHRONOUS`), a busy timeout and foreign keys on every connection; pysqlite's own
transaction handling is switched off so that treadle emits `BEGIN IMMEDIATE` for write
transactions (the writer takes the lock up front, so two read-then-write transactions
never deadlock on the upgrade from a shared lock).
PostgreSQL: psycopg 3, whatever the URL's driver spelling (`postgres://` too); a pooled
connection that sat idle for `PING_AFTER_IDLE_SECONDS` is pinged before it is handed out
(a server restart or an idle timeout may have closed it), one used moments ago is not:
SQLAlchemy's `pool_pre_ping` pinged on every checkout, a round trip (~0.25 ms) per
transaction.
Both: JSON columns are encoded and decoded by `_json` (orjson where it means what the
stdlib `json` means, the stdlib elsewhere). SQLAlchemy uses the pair in its JSON type's
processors on SQLite (so the raw appender of `_fast` too) and, on PostgreSQL, gives them
to psycopg (`set_json_dumps`/`set_json_loads` on the dialect's adapters map), which dumps
the `Jsonb` parameters SQLAlchemy binds and loads `json`/`jsonb` results.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from treadle.settings import sqlite_path
from treadle.store import _json

__all__ = ["WRITE", "make_engine", "normalize_url", "set_autocheckpoint"]

# Execution option set on connections that will write: SQLite begins them IMMEDIATE.
WRITE = "treadle_write"
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: WAL pages after which a commit checkpoints the WAL itself (SQLite's default: 1,000). A
#: runtime's writer checkpoints at ~1,000 on a thread of its own, off every commit's path;
#: this is the bound for a process without one (or a WAL the writer did not see grow).
SQLITE_AUTOCHECKPOINT_PAGES = 4_000
PING_AFTER_IDLE_SECONDS = 5.0


#: `?synchronous=` of a SQLite URL: when a commit waits for the disk. `normal` (the
#: default): at checkpoints only, so a commit survives the process's crash, not the
#: machine's (the last commits may be lost, the database stays whole); `full`: at every
#: commit (an fsync of the WAL each), so it survives a power cut too.
SQLITE_SYNCHRONOUS = ("normal", "full")


def normalize_url(url: str | URL) -> URL:
    """Pick treadle's driver for each database: pysqlite, psycopg 3 (`postgres://`, the
    spelling libpq's tools and many hosts print, included).

    Raises:
        ValueError: not a URL, or another database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ValueError(f"not a database URL ({error})") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if backend != "postgresql" or parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return parsed


def _sqlite_synchronous(url: URL) -> tuple[URL, str]:
    """The URL without treadle's `synchronous` parameter, and the parameter's value."""
    given = url.query.get("synchronous", "normal")
    value = given if isinstance(given, str) else given[-1]
    if value.lower() not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"synchronous={value!r} in the SQLite URL: use normal (the default) or full")
    return url.difference_update_query(["synchronous"]), value.upper()


def make_engine(
    url: str | URL, *, ping_after_idle_seconds: float = PING_AFTER_IDLE_SECONDS, **kwargs: Any
) -> Engine:
    """Create an engine for `url`; SQLite files get their directory created.

    `ping_after_idle_seconds` (PostgreSQL): how long a pooled connection may sit unused
    before it is pinged at checkout; the other keyword arguments go to `create_engine`.
    """
    parsed = normalize_url(url)
    kwargs.setdefault("json_serializer", _json.dumps)
    kwargs.setdefault("json_deserializer", _json.loads)
    if parsed.get_backend_name() == "sqlite":
        parsed, synchronous = _sqlite_synchronous(parsed)
        path = sqlite_path(parsed.render_as_string(hide_password=False))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Readers never block in WAL; writers queue on the file lock, not on the pool.
            kwargs.setdefault("pool_size", 8)
            kwargs.setdefault("max_overflow", 56)
        engine = create_engine(parsed, **kwargs)
        _tune_sqlite(engine, synchronous)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(parsed, **kwargs)
    _ping_idle_connections(engine, ping_after_idle_seconds)
    return engine


def _ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout when it sat unused for `idle_seconds`.

    A failed ping raises `DisconnectionError`, on which the pool discards the connection
    and checks out another (SQLAlchemy's documented pessimistic recipe).
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(
        dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_seconds:
            return  # new, or used moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(f"a pooled connection idle for {idle_seconds:g} s is gone") from error


def set_autocheckpoint(connection: Connection, pages: int) -> int | None:
    """Set SQLite's automatic WAL checkpoint threshold of `connection` (0: off); the
    previous one, or None on another database (nothing changed)."""
    if connection.dialect.name != "sqlite":
        return None
    dbapi_connection: Any = connection.connection.dbapi_connection
    # On the DBAPI connection: pysqlite does not begin a transaction for a PRAGMA, where
    # SQLAlchemy's `exec_driver_sql` would.
    previous = int(dbapi_connection.execute("PRAGMA wal_autocheckpoint").fetchall()[0][0])
    dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={int(pages)}").fetchall()
    return previous


def _tune_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # Take over BEGIN from pysqlite (the SQLAlchemy 2 recipe for SERIALIZABLE/IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
