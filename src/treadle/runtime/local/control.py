"""`LocalRuntime`: the durable local runtime, and its `ExecutionControl`.

It owns a `Worker` (claims, leases, runs executions), a `Scheduler` and a `Retention`
sweep, each an asyncio task on the loop `start` runs in. Control requests (cancel,
suspend, resume, deliver an event) are synchronous and thread-safe: they go through the
store, so a worker in another process acts on them too. An execution no worker holds is
steered right there (a waiting execution is cancelled in the request's transaction); one
a worker holds gets a request on its run row, which its worker reads within a poll
interval, or at once when that worker is this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ulid import ULID

from treadle.resources import FailedPrecondition, NotFound, ResourceService, WorkflowExecution
from treadle.resources.phases import TERMINAL
from treadle.runtime.local.events import deliver_to_listeners
from treadle.runtime.local.settings import RuntimeSettings
from treadle.runtime.local.worker import Worker
from treadle.runtime.retention import Retention
from treadle.runtime.scheduler import Scheduler
from treadle.runtime.transitions import end_offline, load_execution, move_to
from treadle.store import JournalEntry, Transaction

__all__ = ["LocalRuntime"]

log = logging.getLogger(__name__)


def default_worker_id() -> str:
    """`host-pid-random`: unique per process, readable in the run rows."""
    return f"{socket.gethostname()}-{os.getpid()}-{str(ULID())[-6:].lower()}"


class LocalRuntime:
    """Runs the store's executions durably in this process; steers them from any thread.

    Args:
        service: the control plane (its store holds executions and the journal).
        settings: caps, leases, intervals (defaults: `RuntimeSettings()`).
        worker_id: this worker's name in leases (default: host, pid and a random suffix).
    """

    def __init__(
        self,
        service: ResourceService,
        settings: RuntimeSettings | None = None,
        *,
        worker_id: str | None = None,
    ) -> None:
        self.service = service
        self.settings = settings or RuntimeSettings()
        self.worker_id = worker_id or default_worker_id()
        self.worker = Worker(service, self.settings, self.worker_id, self.deliver_event)
        self.scheduler = Scheduler(service)
        self.retention = Retention(service, self.settings.retention_seconds)
        self._background: list[asyncio.Task[None]] = []
        self._started = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the worker loop, lease renewal, timers, the scheduler and retention."""
        if self._started:
            return
        self._started = True
        await self.worker.start()
        self.service.starter = self.worker.handoff  # runs what this process creates, at once
        if self.settings.schedules:
            self._background.append(
                asyncio.ensure_future(self._every(self.settings.schedule_seconds, self._schedule))
            )
        if self.settings.retention:
            self._background.append(
                asyncio.ensure_future(self._every(self.settings.retention_sweep_seconds, self._sweep))
            )

    async def stop(self) -> None:
        """Stop claiming, unload what runs (it resumes later), release the leases."""
        if not self._started:
            return
        self._started = False
        if self.service.starter is self.worker.handoff:
            self.service.starter = None
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background = []
        await self.worker.stop()

    async def __aenter__(self) -> LocalRuntime:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """Whether the worker loop is alive (for `/ready`)."""
        return self._started and self.worker.running

    def wake(self) -> None:
        """A hint that new pending executions exist (polling finds them anyway)."""
        self.worker.wake()

    async def wait(self, execution_id: str, *, timeout: float | None = None) -> WorkflowExecution:
        """Wait until the execution ends (completed, faulted or cancelled); return it.

        A run that ends in this runtime's worker while this waits is returned as its last
        write stored it, not read back; any other, as the store has it.

        Raises:
            NotFound: there is no such execution.
            TimeoutError: it did not end within `timeout` seconds.
        """
        run = self.worker.runs.get(execution_id)
        phase = (await self.wait_many([execution_id], timeout=timeout))[execution_id]
        if phase not in TERMINAL:
            raise TimeoutError(f"execution {execution_id} is still {phase}")
        # A run that ended here hands over what its last write stored: no read back.
        ended_here = run.final_execution() if run is not None else None
        if ended_here is not None and ended_here.status.phase == phase:
            return ended_here
        return await asyncio.to_thread(self.service.get, WorkflowExecution, execution_id)

    async def wait_many(
        self, execution_ids: Sequence[str], *, timeout: float | None = None
    ) -> dict[str, str]:
        """Wait until every one of the executions has ended, or `timeout` seconds pass;
        the phase of each, in the order given (some not terminal if the time ran out).

        A run that ends in this runtime's worker is seen at once, without reading the
        store; one that another worker or process runs, within `poll_seconds` (one
        statement reads all those still running).

        Raises:
            NotFound: one of them does not exist.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        phases: dict[str, str] = {}
        watched: dict[str, asyncio.Future[str | None]] = {}
        stopped: list[tuple[str, str | None]] = []  # runs that stopped here, and how
        woken = asyncio.Event()

        def watch(execution_id: str) -> None:
            def on_stop(future: asyncio.Future[str | None]) -> None:
                watched.pop(execution_id, None)
                stopped.append((execution_id, future.result()))
                woken.set()

            watched[execution_id] = self.worker.watch(execution_id)
            watched[execution_id].add_done_callback(on_stop)

        def still_running() -> list[str]:
            return [execution_id for execution_id in unique if phases[execution_id] not in TERMINAL]

        unique = list(dict.fromkeys(execution_ids))
        # A run loaded here says how it stops (its watcher is resolved as it leaves
        # `runs`): only the others are read now. A run that was just started and is
        # waited on at once (`treadle start --wait`, the benchmarks) costs no read.
        for execution_id in unique:
            if execution_id in self.worker.runs:
                watch(execution_id)
                phases[execution_id] = "running"
        to_read = [execution_id for execution_id in unique if execution_id not in phases]
        try:
            while True:
                for execution_id in to_read:
                    if execution_id not in watched:
                        watch(execution_id)  # before reading: no ending slips between
                phases.update(await self._read_phases(to_read))
                for execution_id in to_read:
                    if phases[execution_id] in TERMINAL and execution_id in watched:
                        self.worker.unwatch(execution_id, watched.pop(execution_id))
                if not still_running():
                    break
                wait = self.settings.poll_seconds
                if deadline is not None:
                    if loop.time() >= deadline:
                        break
                    wait = min(wait, deadline - loop.time())
                if not stopped:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), wait)
                woken.clear()
                # Ended here: the phase is the one the run wrote. Otherwise (unloaded,
                # lost, or no news within the poll) the store says.
                ended = {execution_id: phase for execution_id, phase in stopped if phase in TERMINAL}
                phases.update(ended)
                to_read = [execution_id for execution_id, _ in stopped if execution_id not in ended]
                stopped.clear()
                if not to_read and not ended:
                    to_read = still_running()
        finally:
            for execution_id, future in watched.items():
                self.worker.unwatch(execution_id, future)
        return {execution_id: phases[execution_id] for execution_id in execution_ids}

    async def _read_phases(self, execution_ids: list[str]) -> dict[str, str]:
        if not execution_ids:
            return {}
        return await asyncio.to_thread(self.service.execution_phases, execution_ids)

    # -- ExecutionControl ------------------------------------------------------------------

    def cancel(self, execution_id: str) -> WorkflowExecution:
        """Cancel: effects in flight are aborted, no `catch` runs, phase `cancelled`.

        Raises:
            NotFound, FailedPrecondition (the execution already ended).
        """
        return self._steer(execution_id, "cancel")

    def suspend(self, execution_id: str) -> WorkflowExecution:
        """Pause after the effects in flight; phase `suspended`.

        Raises:
            NotFound, FailedPrecondition (the execution already ended).
        """
        return self._steer(execution_id, "suspend")

    def resume(self, execution_id: str) -> WorkflowExecution:
        """Continue a suspended execution where it paused.

        Raises:
            NotFound, FailedPrecondition (it is not suspended).
        """
        return self._steer(execution_id, "resume")

    def deliver_event(self, event: Mapping[str, Any]) -> list[str]:
        """Deliver a CloudEvent to every listening execution and `schedule.on` workflow;
        the ids of the executions it woke or started."""
        woke = deliver_to_listeners(self.service.store, event)
        started = self.scheduler.on_event(event) if self.settings.schedules else []
        if woke:
            self.worker.notify(woke)
        if started:
            self.worker.wake()
        return woke + started

    # -- machinery -------------------------------------------------------------------------

    def _steer(self, execution_id: str, request: str) -> WorkflowExecution:
        local: str | None = None
        with self.service.store.begin() as tx:
            execution = load_execution(self.service, tx, execution_id)
            if execution is None:
                raise NotFound("WorkflowExecution", execution_id)
            phase = execution.status.phase
            if phase in TERMINAL:
                raise FailedPrecondition("WorkflowExecution", execution_id, f"the execution is {phase}")
            run = tx.runtime.get_run(execution_id, for_update=True)
            now = datetime.now(UTC)
            held = run is not None and run["state"] == "leased" and run["lease_expires"] >= now
            if request == "resume":
                execution = self._resume(tx, execution, run, held)
            elif held:
                assert run is not None
                tx.runtime.set_run(execution_id, control=request)
                local = run["lease_owner"]
            elif request == "cancel":
                execution = end_offline(self.service, tx, execution, "cancelled")
            else:
                execution = self._suspend_offline(tx, execution, run, now)
        if local == self.worker_id:
            self.worker.notify([execution_id], request)
        return execution

    def _suspend_offline(
        self, tx: Transaction, execution: WorkflowExecution, run: dict[str, Any] | None, now: datetime
    ) -> WorkflowExecution:
        execution_id = execution.metadata.id
        assert execution_id is not None
        if execution.status.phase == "suspended":
            return execution
        execution = move_to(self.service, tx, execution, "suspended")
        tx.journal.append(execution_id, [JournalEntry("phase", {"phase": "suspended"})])
        if run is None:
            tx.runtime.insert_run(
                {
                    "execution_id": execution_id,
                    "workflow_id": execution.spec.workflow_id,
                    "state": "suspended",
                    "epoch": 0,
                    "notify": False,
                    "updated_at": now,
                }
            )
        else:
            tx.runtime.set_run(
                execution_id, state="suspended", lease_owner=None, lease_expires=None, updated_at=now
            )
        return execution

    def _resume(
        self, tx: Transaction, execution: WorkflowExecution, run: dict[str, Any] | None, held: bool
    ) -> WorkflowExecution:
        execution_id = execution.metadata.id
        assert execution_id is not None
        if held and run is not None and run["control"] == "suspend":
            tx.runtime.set_run(execution_id, control=None)  # not suspended yet: forget the request
            return execution
        if execution.status.phase != "suspended" or run is None or run["state"] != "suspended":
            raise FailedPrecondition("WorkflowExecution", execution_id, "the execution is not suspended")
        execution = move_to(self.service, tx, execution, "running")
        tx.journal.append(execution_id, [JournalEntry("phase", {"phase": "running"})])
        tx.runtime.set_run(execution_id, state="ready", control=None, updated_at=datetime.now(UTC))
        self.worker.wake()
        return execution

    async def _every(self, seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await action()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("runtime background task failed")
            await asyncio.sleep(seconds)

    async def _schedule(self) -> None:
        if await asyncio.to_thread(self.scheduler.tick):
            self.worker.wake()

    async def _sweep(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.retention.sweep)
