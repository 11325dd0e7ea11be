"""Group commit: one thread writes what every running execution recorded, in one
transaction per round.

Executions never touch the database themselves while they run: they hand a `Batch`
(journal rows, a status report, small bookkeeping actions) to the
`Writer` and, when they need it durable (an effect result, before the engine sees it,
unless the run's durability is `async`), await the future `submit` returned. The writer
thread drains everything queued, commits it at once, then releases every waiter with one
hop back to the event loop. Under load a round carries many executions' writes for the
price of one commit; idle, a lone write costs one commit and two thread hops.

On a SQLite file, a batch of only journal rows (what a step writes:
no status report, no actions) is committed on the event loop itself when the writer is
idle (nothing queued, no round in flight, so one execution's batches still commit in
order): one raw multi-row INSERT, its own transaction (~0.03 ms for a step in a run,
value conversions included), instead of two thread hops and a SQLAlchemy transaction
(~0.3 ms). The loop never waits for a lock: it only tries the store's in-process write lock
(`Store.write_lock`), and its connection's busy timeout for another process's lock is
1 ms; when either is taken the batch goes to the writer thread, which waits as long as
it must. None of these commits checkpoints the WAL: they count the pages they write
for the `Checkpointer`, which does on a thread of its own. The
writer thread too commits rounds of such batches on a raw connection, on PostgreSQL as
well (one pipelined round trip with the COMMIT). PostgreSQL always goes through the
thread: the event loop never waits on the network.

A round that carries many status reports (a hundred runs finishing at once) applies them
in bulk: the executions' rows are read and locked in one statement and written in one
executemany; `Grouped` actions (a run's end, its release) are applied once per round for
all the batches that carry one, likewise. On PostgreSQL that is a handful of round trips
per round instead of four per execution, and the writer thread spent most of its time
waiting on those.

A round that fails (a lost lease shows as a journal key conflict or a lease check, a
status refused by its transition rules) is retried one batch at a time, so one
execution's fault never loses another's writes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from treadle.runtime.local.checkpointer import Checkpointer, pages
from treadle.store import Row, Store, Transaction
from treadle.store._fast import PostgresAppender, RawAppender, raw_appends_supported

__all__ = ["Batch", "Grouped", "StatusApplier", "Writer"]

log = logging.getLogger(__name__)

#: Applies the status reports `(execution_id, report)` of a round inside its transaction
#: (the control plane's rules); returns the executions' rows as written, by id.
StatusApplier = Callable[[Transaction, list[tuple[str, dict[str, Any]]]], Mapping[str, Row]]
Action = Callable[[Transaction], None]


@dataclass(frozen=True)
class Grouped:
    """An action applied for every batch of a round that has one with the same `apply`,
    in one call: `apply(tx, items)`, after the batches' plain actions."""

    apply: Callable[[Transaction, list[Any]], None]
    item: Any


#: The loop's busy timeout: how long a commit on the event loop may wait for SQLite's write
#: lock before it hands the batch to the writer thread instead.
_LOOP_BUSY_TIMEOUT_MS = 1


@dataclass
class Batch:
    """What one execution wants written together."""

    execution_id: str
    journal: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] | None = None
    actions: list[Action | Grouped] = field(default_factory=list)
    #: With a status report: the execution's row as its round left it (without the
    #: document snapshot), set once that round is committed.
    stored: Row | None = None

    def __bool__(self) -> bool:
        return bool(self.journal or self.status or self.actions)

    @property
    def records_only(self) -> bool:
        """Only rows to append (a raw connection can write it): no status, no actions."""
        return not self.status and not self.actions


_Waiter = tuple[Batch, "asyncio.Future[None] | None"]


class Writer:
    """The group-commit writer thread of one runtime."""

    def __init__(self, store: Store, apply_statuses: StatusApplier) -> None:
        self.store = store
        self.apply_statuses = apply_statuses
        self._queue: list[_Waiter] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        #: Records-only batches commit on the loop (a SQLite file) / on a raw connection
        #: of the thread (a SQLite file or PostgreSQL; not an in-memory SQLite database).
        self._loop_raw = raw_appends_supported(store.engine)
        self._thread_raw = self._loop_raw or store.engine.dialect.name == "postgresql"
        self._loop_appender: RawAppender | None = None
        # Held while the loop commits: `stop` (called from another thread) closes the
        # loop's connection only between two commits.
        self._loop_lock = threading.Lock()
        self._thread_appender: RawAppender | PostgresAppender | None = None
        #: The thread's connection for the rounds with status reports and actions, on a
        #: SQLite file, without the automatic checkpoint (see `_commit`). PostgreSQL's
        #: rounds take a pooled connection: the pool pings one that sat idle, where a kept
        #: one the server dropped would fail a round (a round trip costs more than the
        #: checkout anyway).
        self._kept = store.kept_writes(autocheckpoint=False) if self._loop_raw else None
        self._writing = False  # a round is being committed on the thread
        #: Checkpoints the WAL the commits here write (a SQLite file).
        self.checkpointer = Checkpointer(store.engine) if self._loop_raw else None
        self.rounds = 0
        self.batches = 0
        self.loop_commits = 0

    @property
    def commits_on_loop(self) -> bool:
        """Whether batches of journal rows may be committed on the event loop (a SQLite
        file): a commit there is the GIL's work on any thread."""
        return self._loop_raw

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the thread; futures are resolved on `loop`."""
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._stopping = False
        self._thread = threading.Thread(target=self._main, name="treadle-writer", daemon=True)
        self._thread.start()
        if self.checkpointer is not None:
            self.checkpointer.start()

    def stop(self) -> None:
        """Write what is queued, stop the thread, close the loop's connection."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.checkpointer is not None:
            self.checkpointer.stop()
        with self._loop_lock:
            if self._loop_appender is not None:
                self._loop_appender.close()
                self._loop_appender = None

    def submit(self, batch: Batch, *, wait: bool = True, on_loop: bool = True) -> asyncio.Future[None] | None:
        """Queue `batch`; the future (if `wait`) completes once it is committed.

        Committed at once, on the calling event loop, when it can be and `on_loop` allows
        (see the module docstring): the future is then already done.
        """
        future: asyncio.Future[None] | None = None
        if wait:
            assert self._loop is not None, "the writer is not started"
            future = self._loop.create_future()
        if on_loop and self._loop_raw and batch.records_only and self._commit_on_loop(batch):
            if future is not None:
                future.set_result(None)
            return future
        with self._cond:
            self._queue.append((batch, future))
            self._cond.notify()
        return future

    async def write(self, batch: Batch) -> None:
        """Queue `batch` and wait until it is durable."""
        future = self.submit(batch)
        assert future is not None
        await future

    def _commit_on_loop(self, batch: Batch) -> bool:
        """Commit `batch` here, on the event loop, if the writer is idle; False: queue it."""
        if threading.get_ident() != self._loop_thread or self._stopping:
            return False
        with self._cond:
            if self._queue or self._writing:
                return False  # an earlier batch (maybe this execution's) is not written yet
        try:
            with self._loop_lock:
                if self._stopping:
                    return False
                if self._loop_appender is None:
                    self._loop_appender = RawAppender(
                        self.store.engine,
                        write_lock=self.store.write_lock,
                        busy_timeout_ms=_LOOP_BUSY_TIMEOUT_MS,
                        autocheckpoint=False,
                    )
                self._loop_appender.append(batch.journal, wait=False)
        except Exception:
            # Busy (another thread or process holds the write lock) or refused (a lost
            # lease's seq conflict, a value that does not convert): the writer thread
            # retries it through SQLAlchemy and reports the error as every write does.
            # Nothing was written.
            return False
        self.loop_commits += 1
        self._wrote(len(batch.journal))
        return True

    def _wrote(self, rows: int, reports: int = 0) -> None:
        if self.checkpointer is not None:
            self.checkpointer.wrote(pages(rows, reports))

    # -- the thread ------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._stopping:
                        self._cond.wait()
                    if not self._queue and self._stopping:
                        return
                    round_, self._queue = self._queue, []
                    self._writing = True
                try:
                    self._write_round(round_)
                finally:
                    with self._cond:
                        self._writing = False
        finally:
            if self._kept is not None:
                self._kept.close()
            if self._thread_appender is not None:
                self._thread_appender.close()
                self._thread_appender = None

    def _appender(self) -> RawAppender | PostgresAppender:
        if self._thread_appender is None:
            engine = self.store.engine
            self._thread_appender = (
                PostgresAppender(engine)
                if engine.dialect.name == "postgresql"
                else RawAppender(engine, write_lock=self.store.write_lock, autocheckpoint=False)
            )
        return self._thread_appender

    def _drop_appender(self) -> None:
        """After a failed append: its connection may be broken, the next round opens another."""
        appender, self._thread_appender = self._thread_appender, None
        if appender is not None:
            try:
                appender.close()
            except Exception as error:  # already broken: nothing more to release
                log.debug("closing a failed appender: %s", error)

    def _write_round(self, round_: list[_Waiter]) -> None:
        outcomes: list[tuple[asyncio.Future[None] | None, BaseException | None]]
        batches = [batch for batch, _ in round_]
        try:
            if self._thread_raw and all(batch.records_only for batch in batches):
                rows = [row for batch in batches for row in batch.journal]
                try:
                    self._appender().append(rows)
                    self._wrote(len(rows))
                except Exception:
                    # Rolled back: redone on a pooled connection (this one may be broken),
                    # then batch by batch if it fails again.
                    self._drop_appender()
                    self._commit(batches)
            else:
                self._commit(batches)
            outcomes = [(future, None) for _, future in round_]
        except Exception as error:
            if len(round_) == 1:
                outcomes = [(round_[0][1], error)]
            else:
                outcomes = []
                for batch, future in round_:
                    try:
                        self._commit([batch])
                        outcomes.append((future, None))
                    except Exception as single:
                        outcomes.append((future, single))
        self.rounds += 1
        self.batches += len(round_)
        for _, failure in outcomes:
            if failure is not None:
                log.debug("a write batch failed: %s", failure)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(_resolve, outcomes)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def _commit(self, batches: list[Batch]) -> None:
        # A round that goes through here carries status reports or run ends: runs wait on
        # it. SQLite's automatic checkpoint would run in its commit, before they go on
        # (every other 100-step run paid 2-7 ms for it): the checkpointer's thread does.
        rows = [row for batch in batches for row in batch.journal]
        written: Mapping[str, Row] = {}
        with self._kept.begin() if self._kept is not None else self.store.begin() as tx:
            tx.append_records(rows)
            reports = [(batch.execution_id, batch.status) for batch in batches if batch.status]
            if reports:
                written = self.apply_statuses(tx, reports)
            grouped: dict[Callable[[Transaction, list[Any]], None], list[Any]] = {}
            for batch in batches:
                for action in batch.actions:
                    if isinstance(action, Grouped):
                        grouped.setdefault(action.apply, []).append(action.item)
                    else:
                        action(tx)
            for apply, items in grouped.items():
                apply(tx, items)
        for batch in batches:
            if batch.status:
                batch.stored = written.get(batch.execution_id)
        self._wrote(len(rows), len(reports))


def _resolve(outcomes: list[tuple[asyncio.Future[None] | None, BaseException | None]]) -> None:
    for future, failure in outcomes:
        if future is None or future.done():
            continue
        if failure is None:
            future.set_result(None)
        else:
            future.set_exception(failure)
