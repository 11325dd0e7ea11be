"""The store: an engine plus transactions that expose one repository per kind."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from treadle.store._engine import WRITE, make_engine, set_autocheckpoint
from treadle.store._errors import StoreUnavailable
from treadle.store._fast import append_records
from treadle.store._inserts import Inserts
from treadle.store._migrate import downgrade, upgrade
from treadle.store._projections import DecisionRepository, StageRepository
from treadle.store._records import JournalRepository
from treadle.store._repositories import (
    ContextRepository,
    ExecutionRepository,
    InstanceRepository,
    WorkflowRepository,
)
from treadle.store._runtime_repositories import RuntimeRepository

__all__ = ["KeptWrites", "Store", "Transaction"]


class Transaction:
    """The repositories of one database transaction; commit happens when the block exits."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        #: Shared by the repositories: `batched_inserts` queues theirs.
        self.inserts = Inserts(connection)
        self.workflows = WorkflowRepository(connection, self.inserts)
        self.instances = InstanceRepository(connection, self.inserts)
        self.executions = ExecutionRepository(connection, self.inserts)
        self.contexts = ContextRepository(connection, self.inserts)
        self.journal = JournalRepository(connection)
        self.stages = StageRepository(connection)
        self.decisions = DecisionRepository(connection)
        self.runtime = RuntimeRepository(connection, self.inserts)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: roll back part of the work without losing the rest.

        Its statements run at once (batched inserts queued before it are sent first), so
        their errors are raised inside it.
        """
        with self.inserts.at_once(), self.connection.begin_nested():
            yield

    def append_records(self, journal: Sequence[Mapping[str, Any]]) -> None:
        """Insert journal rows now, on the driver's cursor: the runtime's writer rounds,
        hundreds of rows, without SQLAlchemy's per-row work.

        Raises:
            the driver's errors (not SQLAlchemy's), e.g. for a journal seq that is taken.
        """
        append_records(self.connection, journal)

    def batched_inserts(self) -> AbstractContextManager[None]:
        """Queue the repositories' plain inserts (rows with fresh ids: resources, run rows,
        journal entries) and send them as one executemany per statement when the block
        ends. For a batch whose rows nothing reads back before the block ends.

        Raises:
            IntegrityError: at the block's end, for any of the queued rows.
        """
        return self.inserts.batched()


class KeptWrites:
    """Write transactions on one connection kept open between them, for one thread that
    commits many small ones (the runtime's writer): `Store.begin` checks a connection out
    of the pool and back each time (an empty transaction: ~42 µs on SQLite, ~21 kept),
    and settings such as the checkpoint's below are made once, not switched on and off
    around each commit.

    `autocheckpoint=False` (SQLite): these commits never run the automatic WAL checkpoint
    (milliseconds of copying), for an owner that checkpoints at a better moment (the
    runtime's writer has a thread for it).

    The connection is detached from the pool, so what is set on it never reaches pooled
    ones; after a failed transaction it is closed (it may be broken) and the next one
    opens another. Nothing pings it, as the pool pings a PostgreSQL connection that sat
    idle: one the server dropped fails the next transaction. Not thread-safe.
    """

    def __init__(self, store: Store, *, autocheckpoint: bool = True) -> None:
        self._store = store
        self._autocheckpoint = autocheckpoint
        self._connection: Connection | None = None

    @contextmanager
    def begin(self) -> Iterator[Transaction]:
        """A write transaction, as `Store.begin()`'s: committed when the block ends,
        rolled back if it raises."""
        lock = self._store.write_lock
        with lock or nullcontext():
            connection = self._connection or self._open()
            try:
                with connection.begin():
                    yield Transaction(connection)
            except BaseException:
                self.close()
                raise

    def _open(self) -> Connection:
        connection = self._store.engine.connect()
        connection.detach()
        connection.execution_options(**{WRITE: True})
        if not self._autocheckpoint:
            set_autocheckpoint(connection, 0)
        self._connection = connection
        return connection

    def close(self) -> None:
        """Close the connection (the next transaction opens another)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


class Store:
    """SQLite or PostgreSQL behind one API; thread-safe (each transaction has its connection).

    Example:
        store = Store.open("sqlite:///treadle.db", migrate=True)
        with store.begin() as tx:
            tx.journal.append(execution_id, [JournalEntry("started")])
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: Held by every write transaction of this process on a SQLite database (None on
        #: PostgreSQL, whose writers lock rows, not the database). Writers queue here and
        #: the next one starts the moment the lock is free; queued on SQLite's lock
        #: instead, each waits in its busy handler's sleeps (1, 2, 5, 10 ms...), which
        #: turned every collision between the runtime's writer, its lease ticks and API
        #: requests into milliseconds. Other processes still meet at SQLite's lock.
        self.write_lock: threading.RLock | None = (
            threading.RLock() if engine.dialect.name == "sqlite" else None
        )

    @classmethod
    def open(cls, url: str | URL, *, migrate: bool = False, **engine_options: Any) -> Store:
        """Connect to `url`; `migrate` applies every pending migration first (the first
        connection: without it, a database that does not answer fails at first use).

        Raises:
            StoreUnavailable: a URL treadle cannot use; with `migrate`, a database that
                does not answer or refuses the connection, a file it cannot make.
        """
        try:
            engine = make_engine(url, **engine_options)
        except ValueError as error:
            raise StoreUnavailable(_shown(url), str(error), bad_url=True) from None
        except OSError as error:  # the SQLite file's folder
            raise StoreUnavailable(_shown(url), str(error), bad_url=False) from None
        store = cls(engine)
        if migrate:
            try:
                store.migrate()
            except DBAPIError as error:  # the driver's: refused, unknown host, not a database...
                store.dispose()
                raise StoreUnavailable(_shown(url), _first_line(error.orig or error), bad_url=False) from None
        return store

    @property
    def dialect(self) -> str:
        """`"sqlite"` or `"postgresql"`."""
        return self.engine.dialect.name

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to `revision`."""
        upgrade(self.engine, revision)

    def downgrade(self, revision: str = "base") -> None:
        """Downgrade the schema to `revision` (default: no tables left)."""
        downgrade(self.engine, revision)

    @contextmanager
    def begin(self, *, write: bool = True) -> Iterator[Transaction]:
        """A transaction committed when the block ends, rolled back if it raises.

        Write transactions take SQLite's write lock at BEGIN (`BEGIN IMMEDIATE`), so a
        read-modify-write never fails half-way on a lock upgrade; pass `write=False` for reads.
        """
        lock = self.write_lock if write else None
        with lock or nullcontext(), self.engine.connect() as connection:
            if write:
                connection.execution_options(**{WRITE: True})
            with connection.begin():
                yield Transaction(connection)

    def kept_writes(self, *, autocheckpoint: bool = True) -> KeptWrites:
        """Write transactions on one connection its owner keeps (see `KeptWrites`)."""
        return KeptWrites(self, autocheckpoint=autocheckpoint)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _shown(url: str | URL) -> str:
    """`url` as it may be printed: its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return ""  # not a URL: nothing to show


def _first_line(error: BaseException) -> str:
    """What a driver says first (psycopg adds hints and SQLAlchemy a link on more lines)."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
