"""`ExecutionRun`: one execution loaded in a worker, from its claim until it ends or unloads.

A run loads the execution (its document snapshot, input, secrets from the instance, the
execution and its contexts) and its journal, then runs the engine with `JournalEffects`
and a `Recorder`. Everything it records goes into one pending `Batch`, handed to the
group-commit writer as soon as the event loop is free (or at once when an effect result
must be durable). It ends in one of three ways:

- the engine finishes: the final phase, output or error, the status and the removal of
  the run's bookkeeping and contexts commit together;
- it unloads (a long wait, a suspension, the worker stopping): the lease is released
  with the run's next state and wake time;
- its lease is lost (another worker took over): it stops without writing anything more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from treadle.dsl.models import Workflow
from treadle.engine import RunResult, run_workflow
from treadle.resources import WorkflowExecution
from treadle.resources.phases import TERMINAL
from treadle.resources.steps import from_row
from treadle.runtime.loading import LoadedRun, build_run, read_runs
from treadle.runtime.local.journal import JournalEffects
from treadle.runtime.local.recorder import Recorder
from treadle.runtime.local.replay import EFFECT, Replay
from treadle.runtime.local.writer import Batch, Grouped
from treadle.runtime.redaction import Redactor
from treadle.store import Claim, Row, Transaction, with_document

if TYPE_CHECKING:
    from treadle.runtime.local.worker import Worker

__all__ = ["ExecutionRun", "LeaseLost", "Loaded"]

log = logging.getLogger(__name__)


#: How long entries that need not be durable yet (observations, timers, phases) wait for
#: company: a step's `task.started` then rides along with the commit its effect result
#: needs anyway instead of costing a commit of its own (a chain of calls made ~1.5 commits
#: a step before, ~1 now). Still written promptly when the run has no effect in flight.
_RIDE_ALONG_SECONDS = 0.002
#: With `async` durability, once this many journal entries wait, the run commits them:
#: that bounds what a crash can lose, and a chain of calls that never yields to the
#: event loop would otherwise pile up its whole run (up to ~100 ms of steps a kill lost,
#: with 8 such runs at once). On a SQLite file the loop commits them itself; on
#: PostgreSQL a run's results go to the writer thread as soon as its previous batch is
#: committed, and at this many the run waits for both (about two batches at most).
_WRITE_BEHIND_ENTRIES = 64


class LeaseLost(RuntimeError):
    """Another worker holds the execution now: this one must stop writing."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        super().__init__(f"the lease on {execution_id} was lost")


@dataclass
class Loaded:
    """What a run starts from: its execution, built workflow, journal and secrets."""

    execution: WorkflowExecution
    workflow: Workflow
    replay: Replay
    secrets: dict[str, Any]
    secret_values: list[Any]

    @classmethod
    def created(cls, worker: Worker, run: LoadedRun) -> Loaded:
        """An execution taken as it was created: its journal holds `running` alone."""
        return cls(
            execution=run.execution,
            workflow=worker.build(run.execution.status.document or {}),
            replay=Replay(last_seq=1, phases=1),
            secrets=run.secrets,
            secret_values=run.secret_values,
        )


class ExecutionRun:
    """One execution running in this worker."""

    def __init__(self, worker: Worker, claim: Claim, loaded: Loaded | None = None) -> None:
        self.worker = worker
        self.execution_id = claim.execution_id
        self.workflow_id = claim.workflow_id
        self.epoch = claim.epoch
        self.control = claim.control
        settings = worker.settings
        self.unload_after = settings.unload_after_seconds
        self.idle_seconds = settings.idle_seconds
        self.status_seconds = settings.status_seconds
        #: What the run starts from when it was taken as it was created (else it loads).
        self.preloaded = loaded
        #: `async` durability: effect results are committed while the run goes on.
        self.write_behind = False
        self.batch = Batch(self.execution_id)
        self.next_seq = 0
        self.effects: JournalEffects | None = None
        self.recorder: Recorder | None = None
        self.task: asyncio.Future[RunResult] | None = None
        self.detach_state: str | None = None
        #: The last phase this run wrote as it ended (None: it did not end here: unloaded,
        #: lost, or its last write was refused).
        self.ended: str | None = None
        #: The execution's row as that last write stored it (see `final_execution`).
        self.stored: Row | None = None
        #: The document snapshot the run runs.
        self.document: dict[str, Any] | None = None
        #: The listens parked when the run unloaded: their events may already be in the inbox.
        self.listening: list[str] = []
        self.wake_at: datetime | None = None
        self.lost = False
        self.cancelling = False
        self.stopping = False
        self._flush_scheduled = False
        self._flush_timer: asyncio.TimerHandle | None = None
        self._flush_due = 0.0  # the loop's time by which buffered entries are flushed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last: asyncio.Future[None] | None = None
        self._status: dict[str, Any] = {}
        self._status_force = False
        self._status_dirty = False
        # `status.tasks[]` is first written `status_seconds` after the run starts (or
        # with its end): a short run's steps then commit on their own, none waits for a
        # writer round carrying a status report.
        self._status_written = time.monotonic()
        self._status_timer: asyncio.TimerHandle | None = None
        self._redact: Callable[[Any], Any] = lambda value: value

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        """Load, run the engine, and settle how it ended."""
        try:
            loaded = self.preloaded or await self.worker.loader.load(self.execution_id)
            self.preloaded = None
        except Exception:
            log.exception("cannot load execution %s", self.execution_id)
            self.detach_state = "ready"
            await self._settle_quietly(self._release_batch())
            return
        if loaded is None:
            await self._settle_quietly(self._forget_batch())
            return
        self.next_seq = loaded.replay.last_seq
        self.document = loaded.execution.status.document
        self.write_behind = loaded.execution.spec.durability == "async"
        self._redact = Redactor.of_values(loaded.secret_values).value
        if self.lost:
            return
        if self.detach_state is not None:
            await self._settle_quietly(self._release_batch())
            return
        if self.control == "cancel" or self.cancelling:
            await self._end(RunResult("cancelled"))
            return
        if self.control == "suspend":
            self.detach_state = "suspended"
            await self._settle_quietly(self._release_batch())
            return
        if loaded.execution.status.phase != "running":
            # Written with the first effect's commit (or within the ride-along delay), not
            # in a commit of its own that the first effect would queue behind.
            self.buffer("phase", {"phase": "running"})
            self._status["phase"] = "running"
            self._status_force = True
        self.effects = JournalEffects(
            self, loaded.replay, max_branches=self.worker.settings.max_concurrent_branches
        )
        self.recorder = Recorder(self, loaded.replay, self._redact)
        self.task = asyncio.ensure_future(
            run_workflow(
                loaded.workflow,
                loaded.execution.spec.input,
                self.effects,
                execution_id=self.execution_id,
                observer=self.recorder,
                secrets=loaded.secrets,
                runtime_info={"metadata": {"worker": self.worker.worker_id}},
            )
        )
        result = await self._engine_result()
        self.stopping = True
        if self.lost:
            return
        if self.detach_state is not None:
            await self._settle_quietly(self._release_batch())
        else:
            await self._end(result)

    async def _engine_result(self) -> RunResult:
        """How the engine ended. An unload, a cancel or a lost lease that comes before the
        engine's first step cancels its task without the engine's own handling (which
        returns a cancelled result): that is a cancelled run too, settled as the others."""
        assert self.task is not None
        try:
            return await self.task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not self.task.cancelled() or (current is not None and current.cancelling()):
                raise  # this run itself is cancelled, not (only) its engine
            return RunResult("cancelled")

    def unload(self, state: str, wake_at: datetime | None) -> None:
        """Stop the engine and release the execution in `state` (its effects say so)."""
        if self.detach_state is not None or self.lost or self.cancelling:
            return
        self.detach_state = state
        self.wake_at = wake_at
        if self.effects is not None:
            self.listening = [key for key, due in self.effects.parked.items() if due is None]
        self._stop_engine()

    def cancel(self) -> None:
        """Cancel the execution: the engine's effects in flight are aborted, no `catch` runs."""
        if self.cancelling or self.lost:
            return
        self.cancelling = True
        if self.detach_state is None and self.task is not None and not self.task.done():
            self.task.cancel()

    def suspend(self) -> None:
        """Unload as suspended once the effects in flight are done."""
        if self.effects is not None:
            self.effects.suspend()
        else:
            self.control = "suspend"

    def lose(self) -> None:
        """Another worker took the execution: stop without writing."""
        self.lost = True
        self._stop_engine()

    def _stop_engine(self) -> None:
        self.stopping = True
        if self.recorder is not None:
            self.recorder.detached = True
        if self.task is not None and not self.task.done():
            self.task.cancel()

    # -- the Effects host ------------------------------------------------------------------

    async def perform(self, kind: str, args: Mapping[str, Any], key: str) -> Any:
        """Perform a call live through the runtime's dispatcher."""
        return await self.worker.dispatcher.call(kind, args, key)

    def buffer(self, type: str, data: Any, at: datetime | None = None) -> None:
        """Append a journal entry to the pending batch (stamped `at`, else now)."""
        self.next_seq += 1
        self.batch.journal.append(
            {
                "execution_id": self.execution_id,
                "seq": self.next_seq,
                "type": type,
                "data": data,
                "at": at or datetime.now(UTC),
            }
        )
        self._schedule_flush()

    async def record(self, data: dict[str, Any]) -> None:
        """Journal an effect result and wait until it is durable (`async` durability: go
        on, see `_WRITE_BEHIND_ENTRIES`)."""
        if self.stopping:
            raise asyncio.CancelledError
        self.buffer(EFFECT, data)
        if not self.write_behind:
            await self.durable()
            return
        if len(self.batch.journal) >= _WRITE_BEHIND_ENTRIES:
            # On a SQLite file, committed here and now: converting the rows is work under
            # the GIL on any thread (the commit itself is ~2 us a row), so the writer
            # thread only added hops; a 1,000-step chain waited for it a third of its time.
            self._flush(on_loop=True)
            await self.durable()
        elif self._commits_behind:
            last = self._last
            if last is None or last.done():
                self._flush()  # the writer thread commits it while the run goes on

    async def subscribe(self, key: str, event_type: str | None, filters: list[dict[str, Any]]) -> Any:
        """Subscribe a listen (or find the event already delivered to it), durably."""
        found: dict[str, Any] = {}
        execution_id = self.execution_id

        def action(tx: Transaction) -> None:
            delivered = tx.runtime.inbox(execution_id, [key])
            if key in delivered:
                found["event"] = delivered[key]
            else:
                tx.runtime.subscribe(execution_id, key, event_type, filters, datetime.now(UTC))

        self.batch.actions.append(action)
        await self.durable()
        return found.get("event")

    def unsubscribe(self, key: str) -> None:
        """A listen gave up (its task timed out, a race it was in ended): drop its
        subscription, and an event delivered to it meanwhile, with the next commit."""
        execution_id = self.execution_id
        self.batch.actions.append(lambda tx: tx.runtime.unsubscribe(execution_id, key))
        self._schedule_flush()

    async def consume(self, key: str, event: Any) -> None:
        """Journal the event as the listen's result; drop it from the inbox."""
        if self.stopping:
            raise asyncio.CancelledError
        execution_id = self.execution_id
        self.buffer(EFFECT, {"key": key, "op": "event", "value": event})
        self.batch.actions.append(lambda tx: tx.runtime.take_inbox(execution_id, key))
        await self.durable()

    async def publish(self, event: Mapping[str, Any]) -> None:
        """Deliver an emitted event (listening executions, `schedule.on` workflows) once
        what led to it is durable."""
        if self.write_behind:
            await self.durable()
        await asyncio.to_thread(self.worker.deliver, dict(event))

    async def check_inbox(self) -> None:
        """Hand events delivered to this run's listens to them."""
        effects = self.effects
        if effects is None or not effects.listeners:
            return
        keys = list(effects.listeners)
        store = self.worker.service.store

        def read() -> dict[str, Any]:
            with store.begin(write=False) as tx:
                return tx.runtime.inbox(self.execution_id, keys)

        effects.deliver(await asyncio.to_thread(read))

    # -- the Recorder sink -----------------------------------------------------------------

    def journal(self, type: str, data: Any, at: datetime) -> None:
        """An observation entry."""
        self.buffer(type, data, at)

    def status_changed(self) -> None:
        """`status.tasks[]` changed: written with a batch within `status_seconds`."""
        self._status_dirty = True

    # -- writing ---------------------------------------------------------------------------

    async def durable(self) -> None:
        """Wait until everything recorded so far is committed."""
        if self.batch:
            self._flush()
        future = self._last
        if future is None:
            return
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._write_failed(error)
            raise asyncio.CancelledError from error

    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        loop = self._loop
        if loop is None:  # once: asking asyncio costs a getpid() call
            loop = self._loop = asyncio.get_running_loop()
        self._flush_due = loop.time() + _RIDE_ALONG_SECONDS
        # One timer serves many flushes: a flush leaves it armed, and when it fires
        # before the current due time it re-arms for it. A chain step used to create a
        # timer for its `task.started` and cancel it at its effect's flush (~3% of a step).
        if self._flush_timer is None:
            self._flush_timer = loop.call_at(self._flush_due, self._ride_along_due)

    def _ride_along_due(self) -> None:
        self._flush_timer = None
        if not self._flush_scheduled:
            return  # flushed since: the next entry arms the timer again
        loop = asyncio.get_running_loop()
        if loop.time() < self._flush_due:
            self._flush_timer = loop.call_at(self._flush_due, self._ride_along_due)
            return
        self._flush()

    @property
    def _commits_behind(self) -> bool:
        """`async` results go to the writer thread while the run goes on (PostgreSQL:
        the thread waits on the network, not the run)."""
        return not self.worker.writer.commits_on_loop

    def _flush(self, *, on_loop: bool | None = None) -> None:
        self._flush_scheduled = False
        self._take_status(force=False)
        if not self.batch or self.lost:
            return
        batch, self.batch = self.batch, Batch(self.execution_id)
        # Unless told otherwise, write-behind batches go to the writer thread (what the
        # ride-along timer flushes: the thread commits many runs' batches at once).
        if on_loop is None:
            on_loop = not self.write_behind
        future = self.worker.writer.submit(batch, on_loop=on_loop)
        assert future is not None
        if not future.done():  # done: committed on the loop, nothing to follow (a `sync` step)
            future.add_done_callback(self._written)
        self._last = future

    def _written(self, future: asyncio.Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self._write_failed(future.exception())
        elif self.write_behind and self._commits_behind and future is self._last and not self.stopping:
            if self.batch:
                self._flush()  # what the run recorded while this batch was being committed

    def _write_failed(self, error: BaseException | None) -> None:
        if self.lost:
            return
        log.warning("execution %s: a write failed, giving it up: %s", self.execution_id, error)
        self.lose()

    def _take_status(self, *, force: bool) -> None:
        """Put the status report in the pending batch when due (or forced)."""
        recorder = self.recorder
        if recorder is not None and recorder.tasks and self._status_dirty:
            due = time.monotonic() - self._status_written >= self.status_seconds
            if not (force or self._status_force or due):
                if self._status_timer is None:
                    self._status_timer = asyncio.get_running_loop().call_later(
                        self.status_seconds, self._status_due
                    )
                return
            self._status["tasks"] = list(recorder.tasks.values())
            recorder.tasks = {}
            self._status_dirty = False
        if not self._status or not (force or self._status_force or "tasks" in self._status):
            return
        self.batch.status = {**(self.batch.status or {}), **self._status}
        self._status = {}
        self._status_force = False
        self._status_written = time.monotonic()

    def _status_due(self) -> None:
        self._status_timer = None
        if self._status_dirty and not self.lost and not self.stopping:
            self._schedule_flush()

    async def _end(self, result: RunResult) -> None:
        batch = self._final_batch(result)
        if await self._settle_quietly(batch):
            self.ended, self.stored = result.status, batch.stored

    def final_execution(self) -> WorkflowExecution | None:
        """The execution as this run's last write stored it, secrets redacted (None: the
        run did not end here): the model a read would give, built from the row that write
        left and the document snapshot the run ran, without reading them back."""
        if self.ended is None or self.stored is None:
            return None
        service = self.worker.service
        row = with_document(dict(self.stored), self.document)
        return cast(WorkflowExecution, from_row(service.kind_of(WorkflowExecution), row, service.cipher))

    async def _settle_quietly(self, batch: Batch) -> bool:
        """Write the run's last batch (True once written); a failure only means the lease
        was lost."""
        if self._status_timer is not None:
            self._status_timer.cancel()
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        try:
            await self.worker.writer.write(batch)
        except Exception as error:
            log.info("execution %s: final write refused: %s", self.execution_id, error)
            return False
        return True

    def _running_first(self) -> None:
        """If `running` is not written yet, send it now, before the run's last phase: the
        writer commits batches in order (a round's in one transaction), so the last phase
        moves on from `running` as the lifecycle requires."""
        if self._status_force:  # set only for `running`, cleared once it is sent
            self._flush()

    def _closing_batch(self) -> Batch:
        self._take_status(force=True)
        batch, self.batch = self.batch, Batch(self.execution_id)
        return batch

    def _final_batch(self, result: RunResult) -> Batch:
        self._running_first()
        data: dict[str, Any] = {"phase": result.status}
        status: dict[str, Any] = {"phase": result.status}
        if result.status == "completed":
            data["output"] = status["output"] = self._redact(result.output)
        if result.error is not None:
            data["error"] = status["error"] = result.error.to_problem()
        if result.status == "cancelled" and self.recorder is not None:
            self.recorder.running_tasks_cancelled(datetime.now(UTC))
        self.buffer("phase", data)
        self._status.update(status)
        self._flush_scheduled = True  # everything goes in the closing batch
        batch = self._closing_batch()
        batch.actions.append(Grouped(end_runs, (self.execution_id, self.worker.worker_id, self.epoch)))
        return batch

    def _release_batch(self) -> Batch:
        self._running_first()
        state = self.detach_state or "ready"
        if state in ("waiting", "suspended"):
            self.buffer("phase", {"phase": state})
            self._status["phase"] = state
        self._flush_scheduled = True
        batch = self._closing_batch()
        release = _Release(
            self.execution_id, self.worker.worker_id, self.epoch, state, self.wake_at, self.listening
        )
        batch.actions.append(Grouped(release_runs, release))
        return batch

    def _forget_batch(self) -> Batch:
        execution_id = self.execution_id
        batch = Batch(execution_id)
        batch.actions.append(lambda tx: tx.runtime.delete_run(execution_id))
        return batch


def load_group(worker: Worker, execution_ids: list[str]) -> dict[str, Loaded | Exception | None]:
    """Read the executions, their secrets and their journals in one read transaction
    (the worker's `Loader` calls it on a load thread); None for one that has nothing to
    run, the exception for one whose rows do not decode."""
    service = worker.service
    with service.store.begin(write=False) as tx:
        rows = read_runs(tx, execution_ids, journals=True)
    loaded: dict[str, Loaded | Exception | None] = {}
    for execution_id in execution_ids:
        try:
            run = build_run(service, rows, execution_id)
            if run is None or run.execution.status.phase in TERMINAL:
                loaded[execution_id] = None
                continue
            loaded[execution_id] = Loaded(
                execution=run.execution,
                workflow=worker.build(run.execution.status.document or {}),
                replay=Replay.build(rows.journals.get(execution_id, [])),
                secrets=run.secrets,
                secret_values=run.secret_values,
            )
        except Exception as error:
            loaded[execution_id] = error
    return loaded


def end_runs(tx: Transaction, ends: list[tuple[str, str, int]]) -> None:
    """Forget the runs of ended executions, each `(execution_id, owner, epoch)` checked to
    still hold its lease (a `Grouped` action: one call for a writer round).

    Raises:
        LeaseLost: one of them does not (the round is redone batch by batch).
    """
    lost = tx.runtime.end_held_runs(ends)
    if lost:
        raise LeaseLost(lost[0])


@dataclass(frozen=True)
class _Release:
    """A run giving up its lease as it unloads, in `state` until `wake_at`."""

    execution_id: str
    owner: str
    epoch: int
    state: str
    wake_at: datetime | None
    #: The listens it parked: an event may already be in the inbox for them.
    listening: list[str]


def release_runs(tx: Transaction, releases: list[_Release]) -> None:
    """Release the leases of unloading runs (a `Grouped` action: one call for a round).

    Raises:
        LeaseLost: one of them is no longer held (the round is redone batch by batch).
    """
    runs = _held_runs(tx, [(r.execution_id, r.owner, r.epoch) for r in releases])
    now = datetime.now(UTC)
    leases = []
    for release in releases:
        row, next_state = runs[release.execution_id], release.state
        # An event arrived while it was unloading: the notify flag says so, unless a
        # lease tick took the flag to a run whose listen was already stopping, so the
        # inbox is asked too, for the listens it parked (one that gave up has dropped
        # its subscription and inbox by then: an earlier commit, or an action of this one).
        if next_state == "waiting" and (
            row.get("notify") or tx.runtime.inbox(release.execution_id, release.listening)
        ):
            next_state = "ready"
        if row.get("control") == "cancel":
            next_state = "ready"  # cancelled while it unloaded: the next claim ends it
        leases.append((release.execution_id, release.owner, release.epoch, next_state, release.wake_at))
    tx.runtime.release_many(leases, now=now)


def _held_runs(tx: Transaction, leases: list[tuple[str, str, int]]) -> dict[str, dict[str, Any]]:
    """The run rows of `(execution_id, owner, epoch)` leases, locked, each still held."""
    runs = tx.runtime.runs_for_update([execution_id for execution_id, _, _ in leases])
    for execution_id, owner, epoch in leases:
        row = runs.get(execution_id)
        if row is None or row["lease_owner"] != owner or row["epoch"] != epoch:
            raise LeaseLost(execution_id)
    return runs
