"""`Worker`: claims executions with a lease, renews it, runs them, and acts on control requests.

Each tick (every `poll_seconds`, or at once when woken) is one transaction: renew the
leases this worker holds (every `renew_interval`), read its runs' control requests and
event notifications, and claim up to its free capacity among executions that are
pending, ready (resumed, woken by an event), due (a timer), or whose lease lapsed (their
worker died). A run whose lease this worker no longer holds is stopped without writing;
if renewals keep failing until the lease could have lapsed, every run is stopped, so an
execution is never run by two workers at once. Executions its own process creates it
may take at their creation instead (`handoff.py`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from treadle.dsl.models import Workflow, build_workflow
from treadle.effects import Dispatcher
from treadle.resources import ResourceService
from treadle.runtime.local.handoff import Handoff
from treadle.runtime.local.loader import Loader
from treadle.runtime.local.runner import ExecutionRun, Loaded, load_group
from treadle.runtime.local.settings import RuntimeSettings
from treadle.runtime.local.writer import Writer
from treadle.runtime.transitions import mark_running, record_statuses
from treadle.store import Claim

__all__ = ["Worker"]

log = logging.getLogger(__name__)

_WORKFLOW_CACHE = 256
#: How long `stop` waits for executions being created with room reserved here.
_CREATES_IN_FLIGHT_SECONDS = 5.0


class Worker:
    """The run loop of one worker process (or of `treadle server`)."""

    def __init__(
        self,
        service: ResourceService,
        settings: RuntimeSettings,
        worker_id: str,
        deliver: Callable[[dict[str, Any]], list[str]],
    ) -> None:
        self.service = service
        self.settings = settings
        self.worker_id = worker_id
        self.deliver = deliver
        self.writer = Writer(service.store, lambda tx, reports: record_statuses(service, tx, reports))
        self.dispatcher = Dispatcher(allow_run=settings.allow_run)
        self.runs: dict[str, ExecutionRun] = {}
        #: Leases are renewed on their own thread, never queued behind loads.
        self.ticks = ThreadPoolExecutor(1, thread_name_prefix="treadle-lease")
        #: Loads (reading an execution and its journal) run here.
        self.loads = ThreadPoolExecutor(4, thread_name_prefix="treadle-load")
        self.loader = Loader(lambda ids: load_group(self, ids), self.loads)
        self.handoff = Handoff(self)
        #: The last tick found fewer runnable executions than it could take: none wait
        #: in the queue (as far as it knows), so a new one may be taken at its creation.
        self.queue_drained = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: Futures resolved when a run of that execution stops in this worker.
        self._watchers: dict[str, list[asyncio.Future[str | None]]] = {}
        self._workflows: dict[bytes, Workflow] = {}
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        self._stopping = False
        #: `stop` has unloaded the runs: a run taken at its creation no longer starts.
        self._closed = False
        self._last_renew = 0.0
        self._lease_valid_until = 0.0
        #: The lease expiry the last renewal set (see `RuntimeRepository.renew`).
        self._renewed_until = datetime.now(UTC)

    @property
    def running(self) -> bool:
        """Whether the run loop is alive."""
        return self._main is not None and not self._main.done() and not self._stopping

    async def start(self) -> None:
        """Start the writer thread and the run loop on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = self._closed = False
        self.writer.start(self._loop)
        self._lease_valid_until = time.monotonic() + self.settings.lease_seconds
        # Leases this worker id held before it started are released at its first renewal.
        self._renewed_until = datetime.now(UTC) + timedelta(seconds=self.settings.lease_seconds)
        self._main = asyncio.ensure_future(self._run_loop())

    async def stop(self) -> None:
        """Stop claiming; unload every run (it resumes later, here or elsewhere); stop the writer."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._main is not None:
            # A tick in flight finishes: the runs it claimed start, to be unloaded below
            # with the others. Cancelled, its claims would commit anyway, on its thread,
            # and keep their leases until they lapse.
            await asyncio.wait({self._main}, timeout=self.settings.lease_seconds)
            self._main.cancel()
            await asyncio.gather(self._main, return_exceptions=True)
        await self._until_taken_started()
        self._closed = True
        for run in list(self.runs.values()):
            run.unload("ready", None)
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await asyncio.to_thread(self.writer.stop)
        await self.dispatcher.aclose()
        self.ticks.shutdown(wait=False)
        self.loads.shutdown(wait=False)

    async def _until_taken_started(self) -> None:
        """Executions being created with room reserved here (no new ones once stopping)
        join `runs` as their creates commit, to be unloaded with the others: their
        leases are released, not left to lapse."""
        deadline = time.monotonic() + _CREATES_IN_FLIGHT_SECONDS
        while self.handoff.reserved > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    def wake(self) -> None:
        """Look for work now (thread-safe)."""
        loop, event = self._loop, self._wake
        if loop is None or event is None or loop.is_closed():
            return
        try:
            if _in_loop(loop):
                event.set()
            else:
                loop.call_soon_threadsafe(event.set)
        except RuntimeError:
            pass

    def notify(self, execution_ids: list[str], control: str | None = None) -> None:
        """Events were delivered to, or a control request made for, these executions (thread-safe)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._notify, execution_ids, control)
        except RuntimeError:
            pass

    def _notify(self, execution_ids: list[str], control: str | None) -> None:
        woke = False
        for execution_id in execution_ids:
            run = self.runs.get(execution_id)
            if run is None:
                woke = True
            elif control == "cancel":
                run.cancel()
            elif control == "suspend":
                run.suspend()
            else:
                asyncio.ensure_future(run.check_inbox())
        if woke:
            self.wake()

    def watch(self, execution_id: str) -> asyncio.Future[str | None]:
        """A future resolved the next time a run of `execution_id` stops here: with the
        last phase it wrote if it ended, else None (unloaded or lost: the caller reads the
        store)."""
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._watchers.setdefault(execution_id, []).append(future)
        return future

    def unwatch(self, execution_id: str, future: asyncio.Future[str | None]) -> None:
        """Forget a watcher that is no longer awaited."""
        futures = self._watchers.get(execution_id, [])
        if future in futures:
            futures.remove(future)
        if not futures:
            self._watchers.pop(execution_id, None)

    def build(self, document: dict[str, Any]) -> Workflow:
        """The built model of a document snapshot (cached: many executions share one)."""
        cache_key = _document_key(document)
        workflow = self._workflows.get(cache_key)
        if workflow is None:
            workflow = build_workflow(document)
            if len(self._workflows) >= _WORKFLOW_CACHE:  # load and API threads build too
                self._workflows.pop(next(iter(self._workflows), b""), None)
            self._workflows[cache_key] = workflow
        return workflow

    # -- the loop --------------------------------------------------------------------------

    async def _run_loop(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            self._wake.clear()
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker %s: tick failed", self.worker_id)
            self._check_lease_validity()
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)
            except TimeoutError:
                pass

    async def _tick(self) -> None:
        room = self.settings.max_running - len(self.runs) - self.handoff.reserved
        capacity = 0 if self._stopping else room
        started = time.monotonic()
        renew = started - self._last_renew >= self.settings.renew_interval
        assert self._loop is not None
        # Only the runs known before the tick's transaction are checked against what it
        # read: a run taken at its creation may start meanwhile, its lease committed after
        # the read (it would look lost).
        known = dict(self.runs)
        keep = [execution_id for execution_id, run in known.items() if not run.lost]
        claims, held = await self._loop.run_in_executor(self.ticks, self._db_tick, capacity, renew, keep)
        if renew:
            self._last_renew = started
            self._lease_valid_until = started + self.settings.lease_seconds * 0.9
        rows = {row["execution_id"]: row for row in held}
        for execution_id, run in known.items():
            if self.runs.get(execution_id) is not run:
                continue  # it ended meanwhile
            row = rows.get(execution_id)
            if row is None or row["epoch"] != run.epoch:
                if execution_id in self._tasks and not self._tasks[execution_id].done():
                    if row is not None or not run.stopping:
                        self._maybe_lost(run)
                continue
            if row["control"] == "cancel":
                run.cancel()
            elif row["control"] == "suspend":
                run.suspend()
            if row["notify"]:
                asyncio.ensure_future(run.check_inbox())
        self.queue_drained = capacity > 0 and len(claims) < capacity
        for claim in claims:
            self._start(claim)

    def _maybe_lost(self, run: ExecutionRun) -> None:
        # A run that released its own lease is finishing: not lost. One that still
        # thinks it holds the execution while the store says otherwise is.
        if not run.stopping and run.detach_state is None:
            log.warning("worker %s: lost the lease on %s", self.worker_id, run.execution_id)
            run.lose()

    def _db_tick(
        self, capacity: int, renew: bool, keep: list[str]
    ) -> tuple[list[Claim], list[dict[str, Any]]]:
        settings = self.settings
        with self.service.store.begin() as tx:
            now = datetime.now(UTC)
            until = now + timedelta(seconds=settings.lease_seconds)
            if renew:
                tx.runtime.renew(self.worker_id, until, now, keep, leased_before=self._renewed_until)
            held = tx.runtime.held(self.worker_id)
            notified = [row["execution_id"] for row in held if row["notify"]]
            tx.runtime.clear_notify(notified)
            claims = tx.runtime.claim(
                self.worker_id,
                now=now,
                lease_until=until,
                limit=capacity,
                workflow_caps=settings.workflow_caps,
                default_workflow_cap=settings.max_running_per_workflow,
            )
            fresh = [claim.execution_id for claim in claims if claim.fresh]
            if fresh:
                try:
                    with tx.savepoint():
                        mark_running(self.service, tx, fresh, now)
                except Exception as error:  # each run then reports `running` itself
                    log.warning(
                        "worker %s: could not mark %d claimed runs running: %s",
                        self.worker_id,
                        len(fresh),
                        error,
                    )
        if renew:
            self._renewed_until = until
        return claims, held

    def _check_lease_validity(self) -> None:
        if self.runs and time.monotonic() > self._lease_valid_until:
            log.error("worker %s: leases could not be renewed; stopping its runs", self.worker_id)
            for run in list(self.runs.values()):
                run.lose()

    def start_taken(self, claim: Claim, loaded: Loaded | None) -> None:
        """Run an execution taken at its creation (thread-safe): its reserved room is
        given back once the run is among `runs`. One that comes after `stop` gave up
        waiting for it keeps its lease until it lapses: another worker resumes it."""
        loop = self._loop
        try:
            if loop is None:
                raise RuntimeError("the worker never started")
            loop.call_soon_threadsafe(self._start_taken, claim, loaded)
        except RuntimeError:  # no loop, or it closed
            self.handoff.unreserve()

    def _start_taken(self, claim: Claim, loaded: Loaded | None) -> None:
        if not self._closed:  # while stopping too: `stop` unloads it with the others
            self._start(claim, loaded)
            self.handoff.taken += 1
        self.handoff.unreserve()

    def _start(self, claim: Claim, loaded: Loaded | None = None) -> None:
        previous = self._tasks.get(claim.execution_id)
        stale = self.runs.get(claim.execution_id)
        if stale is not None:  # our own lease lapsed and we took it again: a new epoch
            stale.lose()
        run = ExecutionRun(self, claim, loaded)
        self.runs[claim.execution_id] = run
        task = asyncio.ensure_future(self._guard(run, previous))
        self._tasks[claim.execution_id] = task

    async def _guard(self, run: ExecutionRun, previous: asyncio.Task[None] | None = None) -> None:
        try:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
                self.runs[run.execution_id] = run
            await run.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("execution %s: the run failed", run.execution_id)
        finally:
            if self.runs.get(run.execution_id) is run:
                self.runs.pop(run.execution_id, None)
                self._tasks.pop(run.execution_id, None)
            self._after_run(run)

    def _after_run(self, run: ExecutionRun) -> None:
        for future in self._watchers.pop(run.execution_id, []):
            if not future.done():
                future.set_result(run.ended)
        if self._stopping or self._loop is None:
            return
        if run.wake_at is not None:
            delay = (run.wake_at - datetime.now(UTC)).total_seconds()
            if delay < 3600:
                self._loop.call_later(max(0.0, delay) + 0.005, self.wake)
        if not self.queue_drained or run.detach_state == "ready":
            self.wake()


def _document_key(document: dict[str, Any]) -> bytes:
    """A document's canonical JSON: orjson writes a 100-task document in ~9 µs, the
    stdlib in ~90 (every run asks, as it starts)."""
    try:
        return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson's JSONEncodeError: integers beyond 64 bits, ...
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
