"""The generic Temporal workflow that interprets a treadle document, and the Effects port
mapped onto Temporal.

Only sandbox-safe code lives here: Temporal re-imports this module in its workflow
sandbox for every run, so it has no import-time side effects and touches nothing but
`temporalio.workflow`, the engine, the DSL models and this package's plain modules. The
treadle modules are imported under `imports_passed_through()`: they are deterministic
(the engine performs every side effect through the port) and expensive to re-import, and
`jq` is a C extension the sandbox cannot reload. What touches the world is in
`activities.py`.

The port, effect by effect:

- `call` → the `treadle.call` activity. Its retry policy never retries a fault the effect
  reports (the activity raises those as non-retryable): the DSL's `try`/`retry` are the
  engine's own and must not run on top of hidden Temporal retries. Temporal only starts a
  call again when its worker was lost (heartbeat or start-to-close timeout), which the DSL
  cannot see or retry: at least once, with the engine's idempotency key.
- `sleep` → `workflow.sleep` (a durable timer); `now` → `workflow.now()`;
  `new_id` → `workflow.uuid4()`.
- `emit` → delivered to this run's own listeners (as the in-memory bus does), then the
  `treadle.emit` activity publishes it.
- `wait_event` → the `event` signal fills an inbox; `workflow.wait_condition` waits on it.

Cancellation is Temporal's: the engine sees `CancelledError` and ends the run
`cancelled`. The `suspend` signal holds every new call, emit, listen, clock and id effect
until `resume` (timers already running, such as a `timeout`, run on).

History limits: when the history grows past `RunOptions.continue_as_new_after` events,
the run continues as new, carrying a journal of every effect's outcome by its key. The
new run re-runs the interpreter from the start, answering effects from the journal until
it runs out, then goes on live (the same replay the local runtime does).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from treadle.dsl.models import build_workflow
    from treadle.engine import EventFilter, RunResult, WorkflowError, run_workflow
    from treadle.engine.errors import configuration_error, runtime_error, timeout_error
    from treadle.engine.event_filters import first_match
    from treadle.runtime.temporal.messages import (
        CALL_ACTIVITY,
        EMIT_ACTIVITY,
        EVENT_SIGNAL,
        PROGRESS_ACTIVITY,
        PROGRESS_QUERY,
        RESUME_SIGNAL,
        SUSPEND_SIGNAL,
        WORKFLOW_TYPE,
        CallRequest,
        Carried,
        EmitRequest,
        ProgressBatch,
        RunOptions,
        RunOutcome,
        RunRequest,
    )
    from treadle.runtime.temporal.progress import ProgressRecorder

__all__ = ["Inbox", "TemporalEffects", "TreadleWorkflow"]

#: Marks the problem object an activity attaches to the failure it raises.
FAULT_TYPE = "WorkflowError"
# Unclaimed events kept (oldest dropped first), as the in-memory bus does.
_BACKLOG_LIMIT = 1000


@dataclass
class _Waiter:
    filters: Sequence[EventFilter]
    event: dict[str, Any] | None = None


class Inbox:
    """Events sent to the run (the `event` signal, its own `emit`s), in arrival order.

    An event goes to the oldest waiting `listen` it matches, else waits in the backlog.
    """

    def __init__(self, backlog: Sequence[Mapping[str, Any]] = ()) -> None:
        self.backlog: list[dict[str, Any]] = [dict(event) for event in backlog]
        self._waiters: list[_Waiter] = []

    def publish(self, event: Mapping[str, Any]) -> None:
        """Deliver `event` to the first waiter it matches, else keep it."""
        for waiter in self._waiters:
            if _matches(event, waiter.filters):
                self._waiters.remove(waiter)
                waiter.event = dict(event)
                return
        self.backlog.append(dict(event))
        del self.backlog[:-_BACKLOG_LIMIT]

    async def next(self, filters: Sequence[EventFilter], timeout: float | None) -> dict[str, Any]:
        """The next event matching any of `filters`, from the backlog first."""
        for event in self.backlog:
            if _matches(event, filters):
                self.backlog.remove(event)
                return event
        waiter = _Waiter(filters)
        self._waiters.append(waiter)
        try:
            await workflow.wait_condition(lambda: waiter.event is not None, timeout=timeout)
        except TimeoutError:
            raise timeout_error(f"no matching event within {timeout:g}s") from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        assert waiter.event is not None
        return waiter.event


def _matches(event: Mapping[str, Any], filters: Sequence[EventFilter]) -> bool:
    return not filters or first_match(event, filters) is not None  # `any: []` takes every event


def _fault(error: ActivityError) -> WorkflowError:
    """The engine's error for a failed activity."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == FAULT_TYPE and cause.details:
        return WorkflowError.from_problem(dict(cause.details[0]))
    return runtime_error(f"the effect's activity failed: {cause or error}")


async def _forever() -> None:
    await workflow.wait_condition(lambda: False)


class TemporalEffects:
    """The Effects port inside the workflow (see the module docstring for the mapping).

    Args:
        request: the run's request (its id and options).
        inbox: where signalled and emitted events wait for a `listen`.
        journal: effect key → outcome, kept for continue-as-new (None: not kept). A
            continued run passes the previous run's journal; keys found there are
            answered from it.
    """

    def __init__(self, request: RunRequest, inbox: Inbox, journal: dict[str, Any] | None) -> None:
        self._execution_id = request.execution_id
        self._options = request.options
        self.inbox = inbox
        self.journal = journal
        self.suspended = False
        self.in_flight = 0
        self.wants_continue = False
        self._frozen = False
        self._slots = asyncio.Semaphore(max(1, request.options.max_concurrent_calls))
        attempts = max(1, request.options.lost_worker_attempts)
        # Faults are raised non-retryable by the activities; only lost workers are retried.
        self._retry = RetryPolicy(maximum_attempts=attempts, initial_interval=timedelta(seconds=1))
        self._cancellation = (
            workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
            if request.options.await_cancelled_calls
            else workflow.ActivityCancellationType.TRY_CANCEL
        )

    def freeze(self) -> None:
        """Stop journalling (the run is about to continue as new)."""
        self._frozen = True

    def _note(self, key: str, entry: dict[str, Any]) -> None:
        if self.journal is not None and not self._frozen:
            self.journal[key] = entry

    async def _effect(self, key: str, live: Callable[[], Awaitable[Any]]) -> Any:
        """Answer from the journal, or perform `live` and journal its outcome."""
        entry = self.journal.get(key) if self.journal is not None else None
        if entry is not None:
            if "c" in entry:  # cancelled in the previous run: wait to be cancelled again
                await _forever()
            if "e" in entry:
                raise WorkflowError.from_problem(dict(entry["e"]))
            return entry["r"]
        if self.suspended:
            await workflow.wait_condition(lambda: not self.suspended)
        try:
            result = await live()
        except WorkflowError as error:
            self._note(key, {"e": error.to_problem()})
            raise
        except asyncio.CancelledError:
            self._note(key, {"c": True})
            raise
        self._note(key, {"r": result})
        self._check_history()
        return result

    def _check_history(self) -> None:
        limit = self._options.continue_as_new_after
        if self.journal is None or limit <= 0 or self.wants_continue:
            return
        info = workflow.info()
        if info.get_current_history_length() >= limit or info.is_continue_as_new_suggested():
            self.wants_continue = True

    async def _activity(self, name: str, argument: Any, timeout: float) -> Any:
        async with self._slots:
            self.in_flight += 1
            try:
                return await self._run_activity(name, argument, timeout)
            finally:
                self.in_flight -= 1

    async def _run_activity(self, name: str, argument: Any, timeout: float) -> Any:
        handle = workflow.start_activity(
            name,
            argument,
            start_to_close_timeout=timedelta(seconds=timeout),
            heartbeat_timeout=timedelta(seconds=self._options.heartbeat_timeout),
            retry_policy=self._retry,
            cancellation_type=self._cancellation,
        )
        try:
            # Shielded, so a cancellation always wins: when the engine cancels a call (its
            # timer fired first), a result that still arrives must not be taken for it.
            return await asyncio.shield(handle)
        except asyncio.CancelledError:
            handle.cancel()
            with contextlib.suppress(BaseException):
                await handle  # until the activity stopped (or only asked: TRY_CANCEL)
            raise
        except ActivityError as error:
            if is_cancelled_exception(error):  # cancelled from outside the engine
                raise asyncio.CancelledError from None
            raise _fault(error) from None

    async def call(self, kind: str, args: Mapping[str, Any], key: str) -> Any:
        """Run the call activity."""
        request = CallRequest(self._execution_id, kind, dict(args), key)
        return await self._effect(
            key, lambda: self._activity(CALL_ACTIVITY, request, self._options.call_timeout)
        )

    async def sleep(self, seconds: float, key: str) -> None:
        """A durable timer; a continued run waits only for what was left."""
        entry = self.journal.get(key) if self.journal is not None else None
        remaining = seconds
        if entry is not None:
            if "c" in entry:
                await _forever()
            if "r" in entry:
                return
            remaining = (datetime.fromisoformat(entry["until"]) - workflow.now()).total_seconds()
        else:
            self._note(key, {"until": (workflow.now() + timedelta(seconds=seconds)).isoformat()})
        try:
            if remaining > 0:
                await workflow.sleep(remaining)
        except asyncio.CancelledError:
            self._note(key, {"c": True})
            raise
        self._note(key, {"r": None})

    async def now(self, key: str) -> datetime:
        """`workflow.now()`: the time of the current workflow task, as history recorded it."""

        async def live() -> str:
            return workflow.now().isoformat()

        return datetime.fromisoformat(await self._effect(key, live))

    async def new_id(self, key: str) -> str:
        """`workflow.uuid4()`: deterministic in replay, not cryptographically safe."""

        async def live() -> str:
            return str(workflow.uuid4())

        return str(await self._effect(key, live))

    async def emit(self, event: Mapping[str, Any], key: str) -> None:
        """Deliver to this run's own listeners, then publish through the emit activity."""

        async def live() -> None:
            self.inbox.publish(event)
            request = EmitRequest(self._execution_id, dict(event), key)
            await self._activity(EMIT_ACTIVITY, request, self._options.call_timeout)

        await self._effect(key, live)

    async def wait_event(
        self, filters: Sequence[EventFilter], timeout: float | None, key: str
    ) -> Mapping[str, Any]:
        """The next matching event from the inbox (filled by the `event` signal)."""

        async def live() -> dict[str, Any]:
            return await self.inbox.next(filters, timeout)

        return dict(await self._effect(key, live))


@workflow.defn(name=WORKFLOW_TYPE)
class TreadleWorkflow:
    """Interprets one treadle document: the engine, its effects mapped onto Temporal."""

    @workflow.init
    def __init__(self, request: RunRequest) -> None:
        options = request.options
        carried = request.carried
        self._recorder = ProgressRecorder(
            workflow.now,
            record_data=options.record_data,
            queue_events=options.report_progress,
            carried=carried,
        )
        self._inbox = Inbox(carried.inbox if carried is not None else request.events)
        journal: dict[str, Any] | None = None
        if carried is not None:
            journal = dict(carried.journal)
        elif options.continue_as_new_after > 0:
            journal = {}
        self._effects = TemporalEffects(request, self._inbox, journal)
        self._batches = carried.batches if carried is not None else 0
        self._runs = (carried.runs if carried is not None else 0) + 1
        self._closing = False
        self._status = "running"

    @workflow.run
    async def run(self, request: RunRequest) -> RunOutcome:
        """Run the document; continue as new when the history grows too long."""
        reporter = None
        if request.options.report_progress:
            reporter = asyncio.create_task(self._report(request.execution_id))
        try:
            document = build_workflow(request.document)
        except Exception as error:  # validated before it was started; still never a stuck task
            fault = configuration_error(f"the document cannot be built: {error}")
            self._recorder.note_phase("faulted", fault.to_problem())
            return await self._finish(request, RunResult("faulted", error=fault), reporter)
        engine = asyncio.create_task(
            run_workflow(
                document,
                request.input,
                self._effects,
                execution_id=request.execution_id,
                observer=self._recorder,
                secrets=request.secrets,
                runtime_info=request.runtime_info,
            )
        )
        try:
            await workflow.wait_condition(lambda: engine.done() or self._should_continue(request.options))
        except asyncio.CancelledError:  # Temporal cancellation: the engine ends the run cancelled
            engine.cancel()
            return await self._finish(request, await engine, reporter)
        if engine.done():
            return await self._finish(request, engine.result(), reporter)
        # Continue as new: stop the interpreter without recording its cancellation.
        self._recorder.muted = True
        self._effects.freeze()
        engine.cancel()
        await engine
        await self._close_reporter(reporter)
        workflow.continue_as_new(self._continuation(request))

    def _should_continue(self, options: RunOptions) -> bool:
        if not self._effects.wants_continue:
            return False
        if self._effects.in_flight == 0:
            return True
        # Calls in flight are abandoned (and run again) only when waiting gets dangerous.
        return workflow.info().get_current_history_length() >= 2 * options.continue_as_new_after

    def _continuation(self, request: RunRequest) -> RunRequest:
        carried = Carried(
            journal=self._effects.journal or {},
            inbox=self._inbox.backlog,
            tasks=self._recorder.tasks,
            decisions=self._recorder.decisions,
            phases=self._recorder.phases,
            runs=self._runs,
            batches=self._batches,
        )
        return RunRequest(
            execution_id=request.execution_id,
            document=request.document,
            input=request.input,
            secrets=request.secrets,
            runtime_info=request.runtime_info,
            options=request.options,
            carried=carried,
        )

    async def _finish(
        self, request: RunRequest, result: RunResult, reporter: asyncio.Task[None] | None
    ) -> RunOutcome:
        self._status = result.status
        self._recorder.finish(result.output if result.status == "completed" else None)
        await self._close_reporter(reporter)
        return RunOutcome(
            execution_id=request.execution_id,
            status=result.status,
            output=result.output,
            error=result.error.to_problem() if result.error is not None else None,
            tasks=self._recorder.tasks,
            decisions=self._recorder.decisions,
            phases=self._recorder.phases,
            runs=self._runs,
        )

    async def _report(self, execution_id: str) -> None:
        """Send the recorder's events in batches, one progress activity at a time."""
        while True:
            await workflow.wait_condition(lambda: bool(self._recorder.pending) or self._closing)
            events = self._recorder.take_pending()
            if not events:
                return
            self._batches += 1
            batch = ProgressBatch(execution_id, self._batches, events)
            try:
                await workflow.execute_activity(
                    PROGRESS_ACTIVITY,
                    batch,
                    start_to_close_timeout=timedelta(seconds=30),
                    # treadle's own bookkeeping, idempotent by sequence: retried by Temporal.
                    retry_policy=RetryPolicy(maximum_attempts=10, maximum_interval=timedelta(seconds=10)),
                )
            except ActivityError as error:  # losing progress must not fail the run
                workflow.logger.warning("progress batch %d dropped: %s", batch.sequence, error)

    async def _close_reporter(self, reporter: asyncio.Task[None] | None) -> None:
        self._closing = True
        if reporter is not None:
            await reporter

    @workflow.signal(name=EVENT_SIGNAL)
    def event(self, event: dict[str, Any]) -> None:
        """Deliver a CloudEvent to the run's `listen` tasks."""
        self._inbox.publish(event)

    @workflow.signal(name=SUSPEND_SIGNAL)
    def suspend(self) -> None:
        """Hold every new effect until `resume`."""
        if not self._effects.suspended:
            self._effects.suspended = True
            self._recorder.suspend(True)

    @workflow.signal(name=RESUME_SIGNAL)
    def resume(self) -> None:
        """Let effects start again."""
        if self._effects.suspended:
            self._effects.suspended = False
            self._recorder.suspend(False)

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> dict[str, Any]:
        """What the run has recorded so far."""
        return {
            "status": "suspended" if self._effects.suspended else self._status,
            "tasks": self._recorder.tasks,
            "decisions": self._recorder.decisions,
            "phases": self._recorder.phases,
            "runs": self._runs,
        }
