"""The activities: everything a run on Temporal does to the world.

`TreadleActivities` performs the effects the workflow asks for: calls and runs through a
call handler (the `Dispatcher` of `treadle.effects` in a real worker), emitted events
through an `EventSink`, progress batches through a `ProgressSink`.

Failures: a fault the handler reports (`WorkflowError`) and any other exception are
raised as a non-retryable `ApplicationError` of type `WorkflowError` carrying the problem
object, which the workflow turns back into the same `WorkflowError`. So Temporal never
retries a call that failed: the DSL's retries are the engine's. A call activity
heartbeats while it runs, so a worker killed mid-call is noticed within the heartbeat
timeout and the call is started again elsewhere (the only Temporal retry of a call).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from treadle.engine import WorkflowError
from treadle.engine.errors import configuration_error, runtime_error
from treadle.runtime.temporal.messages import (
    CALL_ACTIVITY,
    EMIT_ACTIVITY,
    PROGRESS_ACTIVITY,
    CallRequest,
    EmitRequest,
    ProgressBatch,
)
from treadle.runtime.temporal.progress import ProgressSink
from treadle.runtime.temporal.workflow import FAULT_TYPE

__all__ = ["CallHandler", "EventSink", "HandlerResolver", "TreadleActivities"]

CallHandler = Callable[[str, Mapping[str, Any], str], Awaitable[Any]]
#: Picks the call handler for an execution (None: no handler for it).
HandlerResolver = Callable[[str], CallHandler | None]


class EventSink(Protocol):
    """Where emitted CloudEvents go beyond the run itself (the control plane's bus)."""

    async def publish(self, execution_id: str, event: Mapping[str, Any]) -> None:
        """Publish `event`, emitted by `execution_id` (at least once)."""
        ...


def _as_failure(error: BaseException) -> ApplicationError:
    fault = error if isinstance(error, WorkflowError) else runtime_error(f"{type(error).__name__}: {error}")
    return ApplicationError(str(fault), fault.to_problem(), type=FAULT_TYPE, non_retryable=True)


class TreadleActivities:
    """The activities one worker hosts.

    Args:
        call_handler: performs `call`/`run` effects: `await handler(kind, args, key)`.
        resolve: instead of one handler, pick one per execution id (tests register theirs).
        events: receives emitted events (None: they only reach the run's own listeners).
        progress: receives progress batches (None: they are dropped).
    """

    def __init__(
        self,
        call_handler: CallHandler | None = None,
        *,
        resolve: HandlerResolver | None = None,
        events: EventSink | None = None,
        progress: ProgressSink | None = None,
    ) -> None:
        self._call_handler = call_handler
        self._resolve = resolve
        self._events = events
        self._progress = progress

    def all(self) -> list[Callable[..., Any]]:
        """The activity functions to give the worker."""
        return [self.call, self.emit, self.report_progress]

    def _handler(self, execution_id: str) -> CallHandler | None:
        if self._resolve is not None:
            return self._resolve(execution_id)
        return self._call_handler

    @activity.defn(name=CALL_ACTIVITY)
    async def call(self, request: CallRequest) -> Any:
        """Perform one call or run, heartbeating while it runs."""
        handler = self._handler(request.execution_id)
        if handler is None:
            raise _as_failure(configuration_error(f"no handler for call kind {request.kind!r}"))
        heartbeat = asyncio.create_task(_heartbeat())
        try:
            return await handler(request.kind, request.args, request.key)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            raise _as_failure(error) from None
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    @activity.defn(name=EMIT_ACTIVITY)
    async def emit(self, request: EmitRequest) -> None:
        """Publish an emitted event to the sink."""
        if self._events is None:
            return
        try:
            await self._events.publish(request.execution_id, request.event)
        except Exception as error:
            raise _as_failure(error) from None

    @activity.defn(name=PROGRESS_ACTIVITY)
    async def report_progress(self, batch: ProgressBatch) -> None:
        """Hand a batch of observer events to the progress sink."""
        if self._progress is not None:
            await self._progress.report(batch)


async def _heartbeat() -> None:
    """Heartbeat often until cancelled: a cancellation reaches an activity only in the
    answer to a heartbeat (the worker throttles what it actually sends)."""
    timeout = activity.info().heartbeat_timeout
    if timeout is None:
        return
    every = min(timeout.total_seconds() / 3, 0.1)
    while True:
        activity.heartbeat()
        await asyncio.sleep(every)
