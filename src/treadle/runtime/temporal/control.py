"""`TemporalRuntime`: `treadle server --runtime temporal` — the store's executions run as
Temporal workflows.

The face of `LocalRuntime` (`start`, `stop`, `running`, `wake`, `wait_many` and
`ExecutionControl`), with Temporal doing the running:

- a dispatcher loop (polling, woken at once by `wake()`) starts every pending execution of
  the store as a workflow whose id is the execution id (a start that finds it started is
  fine), and records `status.temporal_workflow_id`;
- cancel is Temporal's cancellation, suspend/resume and events are signals; an execution
  not started on Temporal yet is cancelled (or suspended) right in the store;
- the workflow reports its progress through the progress activity to a
  `StoreProgressSink` in whichever worker runs it, so stages, decisions, the SSE stream and
  the status are written as with the local runtime. With `worker=True` this process also
  runs such a worker (one command on a laptop);
- `schedule` ticks and `schedule.on` events start executions through the local runtime's
  `Scheduler` (the store's tables), which the dispatcher then starts on Temporal; ended
  executions are deleted after their retention by its `Retention` sweep.

Control methods are synchronous and thread-safe (FastAPI calls them from its threadpool):
they run their Temporal calls on the runtime's loop with `run_coroutine_threadsafe`.
Starting and steering one execution are serialized by a lock on that loop, so a cancel
and a start of the same pending execution never cross.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from treadle.resources import FailedPrecondition, ListQuery, NotFound, ResourceService, WorkflowExecution
from treadle.resources.phases import TERMINAL
from treadle.runtime.loading import load_run
from treadle.runtime.retention import Retention
from treadle.runtime.scheduler import Scheduler
from treadle.runtime.temporal.client import cancel, resume, send_event, start_execution, suspend
from treadle.runtime.temporal.messages import RunOptions
from treadle.runtime.temporal.store import StoreProgressSink
from treadle.runtime.transitions import apply_status, end_offline, load_execution, move_to
from treadle.store import JournalEntry

__all__ = ["TemporalRuntime"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Phases in which an execution's workflow may be listening for events.
_LISTENING = ("running", "waiting", "suspended")


class TemporalRuntime:
    """Runs the store's executions on Temporal; steers them from any thread.

    Args:
        service: the control plane (its store holds the executions).
        address, namespace, task_queue: where the workflows run.
        worker: also run a Temporal worker in this process, reporting to the store.
        allow_run: that worker's `run: shell|script|container` permission.
        options: the workflows' `RunOptions` (progress reporting is always on).
        poll_seconds: how often the dispatcher looks for pending executions unwoken.
        schedules: fire `schedule` ticks and `schedule.on` events.
        schedule_seconds: how often schedules are checked.
        retention_seconds, retention_sweep_seconds: ended executions are deleted this long
            after they ended (or after their workflow's `spec.retention`), checked this often.
    """

    def __init__(
        self,
        service: ResourceService,
        *,
        address: str,
        namespace: str = "default",
        task_queue: str = "treadle",
        worker: bool = False,
        allow_run: bool = False,
        options: RunOptions | None = None,
        poll_seconds: float = 0.5,
        schedules: bool = True,
        schedule_seconds: float = 1.0,
        retention_seconds: float = 86_400.0,
        retention_sweep_seconds: float = 60.0,
    ) -> None:
        self.service = service
        self.address = address
        self.namespace = namespace
        self.task_queue = task_queue
        self.worker = worker
        self.allow_run = allow_run
        self.options = options or RunOptions()
        self.options.report_progress = True
        self.poll_seconds = poll_seconds
        self.schedules = schedules
        self.schedule_seconds = schedule_seconds
        self.scheduler = Scheduler(service)
        self.retention = Retention(service, retention_seconds)
        self.retention_sweep_seconds = retention_sweep_seconds
        self.client: Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stop_worker: asyncio.Event | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to Temporal; start the dispatcher, schedules and (optionally) a worker."""
        if self._tasks:
            return
        self._loop = asyncio.get_running_loop()
        self._woken = asyncio.Event()
        self._lock = asyncio.Lock()
        self.client = await Client.connect(self.address, namespace=self.namespace)
        self._tasks.append(asyncio.create_task(self._dispatch_forever(), name="treadle-dispatcher"))
        if self.schedules:
            self._tasks.append(asyncio.create_task(self._schedule_forever(), name="treadle-schedules"))
        self._tasks.append(asyncio.create_task(self._sweep_forever(), name="treadle-retention"))
        if self.worker:
            from treadle.runtime.temporal.worker import run_worker

            self._stop_worker = asyncio.Event()
            self._tasks.append(
                asyncio.create_task(
                    run_worker(
                        self.address,
                        self.namespace,
                        self.task_queue,
                        allow_run=self.allow_run,
                        progress=StoreProgressSink(self.service),
                        stop=self._stop_worker,
                    ),
                    name="treadle-temporal-worker",
                )
            )

    async def stop(self) -> None:
        """Stop dispatching and the worker (workflows go on in Temporal)."""
        tasks, self._tasks = self._tasks, []
        if self._stop_worker is not None:
            self._stop_worker.set()
        for task in tasks:
            if task.get_name() != "treadle-temporal-worker":
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> TemporalRuntime:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """Whether the dispatcher (and the worker, if any) are alive (for `/ready`)."""
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    def wake(self) -> None:
        """New pending executions exist: dispatch now (polling finds them anyway)."""
        loop, woken = self._loop, self._woken
        if loop is not None and woken is not None and not loop.is_closed():
            loop.call_soon_threadsafe(woken.set)

    # -- waiting ---------------------------------------------------------------------------

    async def wait_many(
        self, execution_ids: Sequence[str], *, timeout: float | None = None
    ) -> dict[str, str]:
        """The phase of each execution once all have ended, or when `timeout` passes.

        Answered as their workflows end (each one's result, long-polled from Temporal), the
        store confirming: a workflow reports its last phase to the store before it
        completes. The store is read again every `poll_seconds` too: an execution not
        started on Temporal yet, steered in the store alone, or whose report is late.

        Raises:
            NotFound: the first of `execution_ids` that does not exist.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        ends: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                phases = await asyncio.to_thread(self.service.execution_phases, execution_ids)
                running = [id for id, phase in phases.items() if phase not in TERMINAL]
                left = None if deadline is None else deadline - loop.time()
                if not running or (left is not None and left <= 0):
                    return phases
                for execution_id in running:
                    if execution_id not in ends:
                        ends[execution_id] = asyncio.create_task(self._workflow_end(execution_id))
                pending = [ends[execution_id] for execution_id in running if not ends[execution_id].done()]
                bound = self.poll_seconds if left is None else min(self.poll_seconds, left)
                if pending:
                    await asyncio.wait(pending, timeout=bound, return_when=asyncio.FIRST_COMPLETED)
                else:
                    await asyncio.sleep(bound)  # ended on Temporal, the store not told yet
        finally:
            for task in ends.values():
                task.cancel()

    async def _workflow_end(self, execution_id: str) -> None:
        """Return once the execution's workflow has ended, however it ended."""
        handle = self._client().get_workflow_handle(execution_id)
        delay = 0.05
        while True:
            try:
                await handle.result()
                return
            except WorkflowFailureError:
                return  # failed, cancelled, terminated or timed out: ended all the same
            except RPCError as error:
                # NOT_FOUND: not started on Temporal yet (the dispatcher starts a new one
                # within milliseconds: ask again soon, then less often). Else the server is
                # unreachable for now: the store's reads go on answering meanwhile.
                log.debug("execution %s: waiting for its workflow: %s", execution_id, error)
                await asyncio.sleep(delay)
                delay = min(2 * delay, self.poll_seconds)

    # -- ExecutionControl ------------------------------------------------------------------

    def cancel(self, execution_id: str) -> WorkflowExecution:
        """Cancel: Temporal cancellation (phase `cancelled` once the workflow reports it);
        an execution not started on Temporal yet is cancelled in the store at once.

        Raises:
            NotFound, FailedPrecondition (the execution already ended).
        """
        return self._call(self._steer(execution_id, "cancel"))

    def suspend(self, execution_id: str) -> WorkflowExecution:
        """Hold new effects (the `suspend` signal; phase `suspended` once reported).

        Raises:
            NotFound, FailedPrecondition (the execution already ended).
        """
        return self._call(self._steer(execution_id, "suspend"))

    def resume(self, execution_id: str) -> WorkflowExecution:
        """Continue a suspended execution (the `resume` signal).

        Raises:
            NotFound, FailedPrecondition (it is neither suspended nor running).
        """
        return self._call(self._steer(execution_id, "resume"))

    def deliver_event(self, event: Mapping[str, Any]) -> list[str]:
        """Signal the event to every running execution whose document listens for events
        (the workflow's own filters decide), and start `schedule.on` runs; their ids."""
        signalled = self._call(self._signal_listeners(dict(event)))
        started = self.scheduler.on_event(event) if self.schedules else []
        if started:
            self.wake()
        return signalled + started

    # -- machinery -------------------------------------------------------------------------

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None or self.client is None:
            coroutine.close()
            raise RuntimeError("the Temporal runtime is not started")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, loop)
        return future.result(timeout=60)

    def _client(self) -> Client:
        assert self.client is not None, "the Temporal runtime is not started"
        return self.client

    async def _steer(self, execution_id: str, request: str) -> WorkflowExecution:
        assert self._lock is not None
        async with self._lock:
            execution = await asyncio.to_thread(self.service.get, WorkflowExecution, execution_id)
            phase = execution.status.phase
            if phase in TERMINAL:
                raise FailedPrecondition("WorkflowExecution", execution_id, f"the execution is {phase}")
            started = execution.status.temporal_workflow_id is not None
            if request == "resume":
                if phase not in ("suspended", "running"):  # running: suspended, not reported yet
                    raise FailedPrecondition(
                        "WorkflowExecution", execution_id, "the execution is not suspended"
                    )
                if started:
                    await resume(self._client(), execution_id)
                    return execution
                return await asyncio.to_thread(self._offline, execution_id, "resume")
            if not started:
                return await asyncio.to_thread(self._offline, execution_id, request)
            if request == "cancel":
                await cancel(self._client(), execution_id)
            else:
                await suspend(self._client(), execution_id)
            return execution

    def _offline(self, execution_id: str, request: str) -> WorkflowExecution:
        """Steer an execution with no workflow yet, in the store (one transaction)."""
        with self.service.store.begin() as tx:
            execution = load_execution(self.service, tx, execution_id)
            if execution is None:
                raise NotFound("WorkflowExecution", execution_id)
            phase = execution.status.phase
            if phase in TERMINAL:
                raise FailedPrecondition("WorkflowExecution", execution_id, f"the execution is {phase}")
            if request == "cancel":
                return end_offline(self.service, tx, execution, "cancelled")
            target: Any = "suspended" if request == "suspend" else "pending"
            if request == "resume":
                if phase != "suspended":
                    raise FailedPrecondition(
                        "WorkflowExecution", execution_id, "the execution is not suspended"
                    )
                # Suspended before it ever started: back in line for the dispatcher.
                return self._requeue(tx, execution_id)
            if phase == target:
                return execution
            execution = move_to(self.service, tx, execution, target)
            tx.journal.append(execution_id, [JournalEntry("phase", {"phase": target})])
            return execution

    def _requeue(self, tx: Any, execution_id: str) -> WorkflowExecution:
        execution = apply_status(self.service, tx, execution_id, {"phase": "running"})
        tx.journal.append(execution_id, [JournalEntry("phase", {"phase": "running"})])
        self.wake()
        return execution

    async def _signal_listeners(self, event: dict[str, Any]) -> list[str]:
        ids = await asyncio.to_thread(self._listening)
        client = self._client()
        results = await asyncio.gather(
            *(send_event(client, execution_id, event) for execution_id in ids), return_exceptions=True
        )
        signalled = []
        for execution_id, result in zip(ids, results, strict=True):
            if isinstance(result, BaseException):
                log.info("event not delivered to %s: %s", execution_id, result)
            else:
                signalled.append(execution_id)
        return signalled

    def _listening(self) -> list[str]:
        """Executions on Temporal, active, whose document has a `listen` task."""
        ids: list[str] = []
        page = 1
        with self.service.store.begin(write=False) as tx:
            while True:
                rows = tx.executions.list(ListQuery(phase=_LISTENING, page=page, page_size=500)).items
                for row in rows:
                    status = row["body"].get("status") or {}
                    if status.get("temporal_workflow_id") and _listens(status.get("document")):
                        ids.append(row["id"])
                if len(rows) < 500:
                    return ids
                page += 1

    # -- dispatching -----------------------------------------------------------------------

    async def _dispatch_forever(self) -> None:
        assert self._woken is not None
        while True:
            self._woken.clear()
            try:
                await self._dispatch()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatching executions to Temporal failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self.poll_seconds)

    async def _dispatch(self) -> None:
        for execution_id in await asyncio.to_thread(self._pending):
            assert self._lock is not None
            async with self._lock:
                await self._start_one(execution_id)

    def _pending(self) -> list[str]:
        """Executions to start: pending (or requeued running) without a workflow id."""
        with self.service.store.begin(write=False) as tx:
            rows = tx.executions.list(
                ListQuery(phase=("pending", "running"), page_size=200, sort="created_at")
            ).items
        return [
            row["id"] for row in rows if not (row["body"].get("status") or {}).get("temporal_workflow_id")
        ]

    async def _start_one(self, execution_id: str) -> None:
        def read() -> Any:
            with self.service.store.begin(write=False) as tx:
                return load_run(self.service, tx, execution_id)

        loaded = await asyncio.to_thread(read)
        if loaded is None:
            return
        status = loaded.execution.status
        if status.phase not in ("pending", "running") or status.temporal_workflow_id:
            return  # steered meanwhile
        try:
            await start_execution(
                self._client(),
                status.document or {},
                loaded.execution.spec.input,
                task_queue=self.task_queue,
                execution_id=execution_id,
                secrets=loaded.secrets,
                runtime_info={"metadata": {"runtime": "temporal", "task_queue": self.task_queue}},
                options=self.options,
            )
        except WorkflowAlreadyStartedError:
            pass  # started before its id was recorded
        try:
            await asyncio.to_thread(
                self.service.update_execution_status, execution_id, {"temporal_workflow_id": execution_id}
            )
        except (NotFound, FailedPrecondition) as error:
            log.info("execution %s: workflow id not recorded: %s", execution_id, error)

    async def _schedule_forever(self) -> None:
        while True:
            try:
                if await asyncio.to_thread(self.scheduler.tick):
                    self.wake()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("schedules failed")
            await asyncio.sleep(self.schedule_seconds)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.retention.sweep)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention sweep failed")
            await asyncio.sleep(self.retention_sweep_seconds)


def _listens(document: Any) -> bool:
    """Whether a document has a `listen` task anywhere."""
    if isinstance(document, dict):
        return "listen" in document or any(_listens(value) for value in document.values())
    if isinstance(document, list):
        return any(_listens(item) for item in document)
    return False


def _not_suspended(execution_id: str) -> FailedPrecondition:
    return FailedPrecondition("WorkflowExecution", execution_id, "the execution is not suspended")
