"""Appending run records on a raw connection, for the durable runtime's hot path.

A chain of function calls commits once per step, and SQLAlchemy's per-transaction work
(connection checkout, `begin` events, statement caching, result objects) cost ~110 µs of
the ~125 µs such a commit took; SQLite's own INSERT + COMMIT in WAL mode is ~13 µs. This
writes journal rows on a DBAPI connection. The SQL and the value conversions come from
the table objects (`_tables.py`: names, columns, and each column type's bind processor
for the engine's dialect), so the schema is still defined once.

On SQLite the rows go in multi-row INSERTs (`VALUES (...), (...)`, up to
`ROWS_PER_STATEMENT` a statement): `executemany` steps and resets its statement once a
row (64 rows: ~140 µs against ~90). A batch that fits one statement needs no `BEGIN`:
outside a transaction SQLite commits a statement whole, or nothing of it, as it ends
(a step's three rows: ~15 µs against ~17).

PostgreSQL has the same path for the runtime's writer thread (`PostgresAppender`): the
rows go in one pipelined round trip with the COMMIT (psycopg's pipeline mode) where
SQLAlchemy made four (the pool's ping, BEGIN, the INSERT, COMMIT): ~1.1 -> ~0.65 ms a
step over loopback TCP, most of what is left being PostgreSQL's own commit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.pool import PoolProxiedConnection

from treadle.settings import sqlite_path
from treadle.store._json import dumps_json_like
from treadle.store._tables import JOURNAL

__all__ = [
    "ROWS_PER_STATEMENT",
    "Busy",
    "PostgresAppender",
    "RawAppender",
    "append_records",
    "raw_appends_supported",
]

_Processor = Callable[[Any], Any] | None


class WriteLock(Protocol):
    """The store's in-process write lock (`Store.write_lock`)."""

    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...

    def release(self) -> None: ...


class Busy(Exception):
    """Another thread of this process holds the write lock (raised only when not waiting)."""


def raw_appends_supported(engine: Engine) -> bool:
    """Only SQLite files: an in-memory database is one connection that must not be shared."""
    if engine.dialect.name != "sqlite":
        return False
    return sqlite_path(engine.url.render_as_string(hide_password=False)) is not None


class _Insert:
    """`INSERT INTO table (columns) VALUES (?, ...)` and how to convert each value.

    The placeholder is the driver's positional one: `?` for pysqlite, `%s` for psycopg.
    The records are mappings with a key per column.
    """

    def __init__(
        self,
        table: Table,
        engine: Engine,
        skip: Iterable[str] = (),
        encoders: Mapping[str, _Processor] | None = None,
    ) -> None:
        """`encoders`: a conversion for some columns instead of SQLAlchemy's own."""
        skipped, own = set(skip), encoders or {}
        columns = [column for column in table.columns if column.name not in skipped]
        self.names = [column.name for column in columns]
        mark = "?" if engine.dialect.name == "sqlite" else "%s"
        marks = ", ".join(mark for _ in columns)
        self.sql = f"INSERT INTO {table.name} ({', '.join(self.names)}) VALUES ({marks})"
        dialect = engine.dialect
        self.plan: list[tuple[str, _Processor]] = [
            (column.name, own.get(column.name) or column.type.dialect_impl(dialect).bind_processor(dialect))
            for column in columns
        ]
        # Only the columns with a processor are touched after the values are read all at
        # once (one C call): a step's rows took ~21 µs to convert value by value, ~12.5 now.
        self._converted = [(index, process) for index, (_, process) in enumerate(self.plan) if process]
        self._get = itemgetter(*self.names)
        self._head = self.sql.partition(" VALUES ")[0]
        self._row_marks = f"({marks})"
        self._sql_for: dict[int, str] = {}

    def sql_for(self, count: int) -> str:
        """The INSERT of `count` rows in one statement (`VALUES (...), (...), ...`)."""
        sql = self._sql_for.get(count)
        if sql is None:
            sql = self._sql_for[count] = f"{self._head} VALUES {', '.join([self._row_marks] * count)}"
        return sql

    def rows(self, records: Iterable[Any]) -> list[list[Any]]:
        """The records as parameter lists, each value converted as SQLAlchemy would.

        None is converted too: JSON columns store it as JSON `null`, as SQLAlchemy does.
        A mapping without a key for a column gives it None.
        """
        get, converted = self._get, self._converted
        rows = []
        for record in records:
            try:
                values = list(get(record))
            except KeyError:
                values = [record.get(name) for name in self.names]
            for index, process in converted:
                values[index] = process(values[index])
            rows.append(values)
        return rows

    def values(self, records: Iterable[Any]) -> list[Any]:
        """`rows`, one after the other in one list: the parameters of `sql_for`."""
        return list(chain.from_iterable(self.rows(records)))


#: Rows in one multi-row INSERT on SQLite: a step's rows, or an `async` run's batch of 64
#: (`treadle.runtime.local.runner`), in one statement; more go in statements of this many.
ROWS_PER_STATEMENT = 64


class _Records:
    """The INSERT of journal rows for one engine (their global `id` is the database's)."""

    def __init__(self, engine: Engine) -> None:
        sqlite = engine.dialect.name == "sqlite"
        # A run's entries are JSON-like by construction: on SQLite, not walked before orjson.
        encoders = {"data": dumps_json_like} if sqlite else None
        self.journal = _Insert(JOURNAL, engine, skip=("id",), encoders=encoders)
        # psycopg pipelines an `executemany` already (one round trip for all the rows).
        self._multi_row = sqlite

    def execute(self, cursor: Any, journal: Sequence[Mapping[str, Any]]) -> None:
        """Insert the rows on `cursor` (a DBAPI cursor): on SQLite, in one statement if
        they are at most `ROWS_PER_STATEMENT`."""
        insert = self.journal
        if not self._multi_row:
            if journal:
                cursor.executemany(insert.sql, insert.rows(journal))
            return
        for start in range(0, len(journal), ROWS_PER_STATEMENT):
            part = journal[start : start + ROWS_PER_STATEMENT]
            cursor.execute(insert.sql_for(len(part)), insert.values(part))


#: By dialect and driver (what the SQL and the conversions depend on: `make_engine` gives
#: every engine the same JSON serializer), not by engine: engines come and go (a test
#: makes hundreds), and this would keep each one alive.
_RECORDS: dict[tuple[str, str], _Records] = {}


def _records_of(engine: Engine) -> _Records:
    key = (engine.dialect.name, engine.dialect.driver)
    records = _RECORDS.get(key)
    if records is None:
        records = _RECORDS[key] = _Records(engine)
    return records


def append_records(connection: Connection, journal: Sequence[Mapping[str, Any]]) -> None:
    """Insert journal rows in `connection`'s transaction, on its DBAPI cursor.

    For the rounds the runtime's writer commits through SQLAlchemy (they carry status
    reports and run ends): their records, hundreds of rows when many runs end at once,
    skip SQLAlchemy's per-row statement work (~3x the rows' own cost).

    Raises:
        the driver's own errors (`sqlite3.IntegrityError`, `psycopg.errors.UniqueViolation`
        for a journal seq that is taken): the transaction must then be rolled back.
    """
    records = _records_of(connection.engine)
    cursor = connection.connection.cursor()
    try:
        records.execute(cursor, journal)
    finally:
        cursor.close()


def _detached_connection(engine: Engine) -> PoolProxiedConnection:
    """A connection of the engine's (its pragmas, its JSON functions) taken out of the
    pool: its owner alone uses and closes it, and what it changes never leaks back."""
    proxy = engine.raw_connection()
    proxy.detach()
    return proxy


class RawAppender:
    """Journal rows committed on one raw SQLite connection.

    The connection comes from the engine (so it has the engine's pragmas: WAL,
    `synchronous=NORMAL`, foreign keys, pysqlite's own transactions off) but is detached
    from the pool: it is owned by its caller, and the pragmas the caller changes (a
    shorter busy timeout) never leak into pooled connections. Not thread-safe: one
    appender per thread.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        write_lock: WriteLock | None = None,
        busy_timeout_ms: int | None = None,
        autocheckpoint: bool = True,
    ) -> None:
        self._write_lock = write_lock
        self._proxy = _detached_connection(engine)
        # pysqlite's connection (check_same_thread off, as SQLAlchemy opens SQLite files).
        connection = cast(sqlite3.Connection, self._proxy.dbapi_connection)
        self.connection = connection
        if busy_timeout_ms is not None:
            connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if not autocheckpoint:
            # Checkpoints copy the WAL into the database file (milliseconds): the owner
            # asks another connection to run them instead (`checkpoint`).
            connection.execute("PRAGMA wal_autocheckpoint=0")
        self._records = _records_of(engine)

    def append(self, journal: Sequence[Mapping[str, Any]], *, wait: bool = True) -> None:
        """Insert the rows and commit them: in one statement, or (more than
        `ROWS_PER_STATEMENT`) in one `BEGIN IMMEDIATE` transaction.

        Holds the store's `write_lock` (if given) meanwhile; `wait=False` gives up at once
        when another thread of this process holds it.

        Raises:
            Busy: `wait=False` and the process's write lock is taken (nothing was written).
            sqlite3.OperationalError: SQLite's write lock was not free within the busy
                timeout (nothing was written), or another database error (rolled back).
            sqlite3.IntegrityError: a journal seq is taken (rolled back).
        """
        lock = self._write_lock
        if lock is not None and not lock.acquire(blocking=wait):
            raise Busy("another thread is writing")
        try:
            self._append(journal)
        finally:
            if lock is not None:
                lock.release()

    def _append(self, journal: Sequence[Mapping[str, Any]]) -> None:
        cursor = self.connection.cursor()
        if len(journal) <= ROWS_PER_STATEMENT:
            try:
                # One statement outside a transaction: SQLite commits it whole, or nothing.
                self._records.execute(cursor, journal)
            finally:
                cursor.close()
            return
        cursor.execute("BEGIN IMMEDIATE")
        try:
            self._records.execute(cursor, journal)
            cursor.execute("COMMIT")
        except BaseException:
            if self.connection.in_transaction:
                self.connection.rollback()
            raise
        finally:
            cursor.close()

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database file, without waiting on readers."""
        self.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def close(self) -> None:
        """Close the connection."""
        self._proxy.close()


class PostgresAppender:
    """Journal rows committed in one pipelined round trip (psycopg).

    Like `RawAppender`, the connection comes from the engine and is detached from the
    pool: owned by one thread, closed by it. A refused append is rolled back and the
    connection goes on; a failed one may mean the connection broke (nothing pings it, as
    the pool pings its idle ones), so the owner closes it and opens another.
    """

    def __init__(self, engine: Engine) -> None:
        self._proxy = _detached_connection(engine)
        self.connection: Any = self._proxy.dbapi_connection
        self._records = _records_of(engine)

    def append(self, journal: Sequence[Mapping[str, Any]]) -> None:
        """Insert the rows and commit, in one transaction and one round trip.

        Raises:
            psycopg.Error: refused (a journal seq is taken) or the connection failed;
                rolled back, or never committed.
        """
        connection = self.connection
        try:
            with connection.pipeline(), connection.cursor() as cursor:
                self._records.execute(cursor, journal)
                connection.commit()
        except BaseException:
            if not connection.closed:
                connection.rollback()
            raise

    def close(self) -> None:
        """Close the connection."""
        self._proxy.close()
