"""Group commit: one thread writes what every running execution recorded, in one
transaction per round.

Executions never touch the database themselves while they run: they hand a `Batch`
(journal rows, stages, decisions, a status report, small bookkeeping actions) to the
`Writer` and, when they need it durable (an effect result, before the engine sees it),
await the future `submit` returned. The writer thread drains everything queued, commits
it at once, then releases every waiter with one hop back to the event loop. Under load a
round carries many executions' writes for the price of one commit; idle, a lone write
costs one commit and two thread hops. A round that fails (a lost lease shows as a
journal key conflict, a status refused by its transition rules) is retried one batch at
a time, so one execution's fault never loses another's writes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from treadle.store import Decision, Stage, Store, Transaction

__all__ = ["Batch", "StatusApplier", "Writer"]

log = logging.getLogger(__name__)

#: Applies a status report to an execution inside a transaction (the control plane's rules).
StatusApplier = Callable[[Transaction, str, dict[str, Any]], Any]
Action = Callable[[Transaction], None]


@dataclass
class Batch:
    """What one execution wants written together."""

    execution_id: str
    journal: list[dict[str, Any]] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    status: dict[str, Any] | None = None
    actions: list[Action] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.journal or self.stages or self.decisions or self.status or self.actions)


_Waiter = tuple[Batch, "asyncio.Future[None] | None"]


class Writer:
    """The group-commit writer thread of one runtime."""

    def __init__(self, store: Store, apply_status: StatusApplier) -> None:
        self.store = store
        self.apply_status = apply_status
        self._queue: list[_Waiter] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.rounds = 0
        self.batches = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the thread; futures are resolved on `loop`."""
        self._loop = loop
        self._stopping = False
        self._thread = threading.Thread(target=self._main, name="treadle-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def submit(self, batch: Batch, *, wait: bool = True) -> asyncio.Future[None] | None:
        """Queue `batch`; the future (if `wait`) completes once it is committed."""
        future: asyncio.Future[None] | None = None
        if wait:
            assert self._loop is not None, "the writer is not started"
            future = self._loop.create_future()
        with self._cond:
            self._queue.append((batch, future))
            self._cond.notify()
        return future

    async def write(self, batch: Batch) -> None:
        """Queue `batch` and wait until it is durable."""
        future = self.submit(batch)
        assert future is not None
        await future

    # -- the thread ------------------------------------------------------------------------

    def _main(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue and self._stopping:
                    return
                round_, self._queue = self._queue, []
            self._write_round(round_)

    def _write_round(self, round_: list[_Waiter]) -> None:
        outcomes: list[tuple[asyncio.Future[None] | None, BaseException | None]]
        try:
            self._commit([batch for batch, _ in round_])
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
        with self.store.begin() as tx:
            journal = [row for batch in batches for row in batch.journal]
            tx.runtime.append_journal(journal)
            tx.stages.append([stage for batch in batches for stage in batch.stages])
            tx.decisions.append([decision for batch in batches for decision in batch.decisions])
            for batch in batches:
                if batch.status:
                    self.apply_status(tx, batch.execution_id, batch.status)
                for action in batch.actions:
                    action(tx)


def _resolve(outcomes: list[tuple[asyncio.Future[None] | None, BaseException | None]]) -> None:
    for future, failure in outcomes:
        if future is None or future.done():
            continue
        if failure is None:
            future.set_result(None)
        else:
            future.set_exception(failure)
