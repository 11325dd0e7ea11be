"""The in-memory runtime: the Effects port done directly, for `treadle run` and tests.

`MemoryEffects` calls a handler you give it, sleeps with `asyncio.sleep`, reads the real
clock, makes ULIDs, and carries events on an in-process bus (so one `fork` branch can
emit what another listens to). Nothing is journalled: a crash loses the run.
`RecordingObserver` stamps the engine's notifications with the time and keeps the task
records and decisions people read. `run_document` wires both for a one-off run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ulid import ULID

from treadle.dsl.models import Workflow
from treadle.engine import Decision, EventFilter, Phase, RunResult, TaskEvent, WorkflowError, run_workflow
from treadle.engine.errors import configuration_error, timeout_error
from treadle.engine.event_filters import first_match

__all__ = ["CallHandler", "EventBus", "MemoryEffects", "RecordingObserver", "run_document"]

CallHandler = Callable[[str, Mapping[str, Any], str], Awaitable[Any]]

# Events nobody waits for yet are kept (oldest dropped first), so an event emitted just
# before a `listen` subscribes is still delivered.
_BACKLOG_LIMIT = 1000


@dataclass
class _Subscription:
    filters: Sequence[EventFilter]
    future: asyncio.Future[Mapping[str, Any]]


class EventBus:
    """An in-process CloudEvent bus: one-shot subscriptions and a backlog of unclaimed events."""

    def __init__(self) -> None:
        self._subscriptions: list[_Subscription] = []
        self._backlog: list[Mapping[str, Any]] = []
        self.published: list[Mapping[str, Any]] = []

    def publish(self, event: Mapping[str, Any]) -> None:
        """Deliver `event` to the first waiting subscriber it matches, else keep it."""
        self.published.append(event)
        for subscription in list(self._subscriptions):
            if not subscription.future.done() and _matches_any(event, subscription):
                self._subscriptions.remove(subscription)
                subscription.future.set_result(event)
                return
        self._backlog.append(event)
        del self._backlog[:-_BACKLOG_LIMIT]

    async def next(self, filters: Sequence[EventFilter], timeout: float | None) -> Mapping[str, Any]:
        """The next event matching any of `filters` (from the backlog first)."""
        future: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()
        subscription = _Subscription(filters, future)
        for event in self._backlog:
            if _matches_any(event, subscription):
                self._backlog.remove(event)
                return event
        self._subscriptions.append(subscription)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise timeout_error(f"no matching event within {timeout:g}s") from None
        finally:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)


def _matches_any(event: Mapping[str, Any], subscription: _Subscription) -> bool:
    if not subscription.filters:
        return True  # `any: []` listens to every event
    return first_match(event, subscription.filters) is not None


class MemoryEffects:
    """The Effects port, done in process.

    Args:
        call_handler: performs `call`/`run` effects: `await handler(kind, args, key)`.
        bus: the event bus (share one between runs to let them talk).
    """

    def __init__(self, call_handler: CallHandler | None = None, *, bus: EventBus | None = None) -> None:
        self.call_handler = call_handler
        self.bus = bus if bus is not None else EventBus()

    async def call(self, kind: str, args: Mapping[str, Any], key: str) -> Any:
        """Hand the call to the handler."""
        if self.call_handler is None:
            raise configuration_error(f"no handler for call kind {kind!r}")
        return await self.call_handler(kind, args, key)

    async def sleep(self, seconds: float, key: str) -> None:
        """`asyncio.sleep`."""
        await asyncio.sleep(seconds)

    async def now(self, key: str) -> datetime:
        """The wall clock, in UTC."""
        return datetime.now(UTC)

    async def new_id(self, key: str) -> str:
        """A fresh ULID."""
        return str(ULID())

    async def emit(self, event: Mapping[str, Any], key: str) -> None:
        """Publish on the bus."""
        self.bus.publish(event)

    async def wait_event(
        self, filters: Sequence[EventFilter], timeout: float | None, key: str
    ) -> Mapping[str, Any]:
        """Wait on the bus."""
        return await self.bus.next(filters, timeout)


def _now() -> datetime:
    return datetime.now(UTC)


class RecordingObserver:
    """Keeps what a run did, stamped with the time each notification arrived.

    Attributes:
        phases: `(phase, time)` in order.
        tasks: one dict per task run, in start order: `name`, `path`, `position`,
            `status` (running, completed, faulted, cancelled, skipped), `attempt`,
            `started_at`, `completed_at`, `input`, `output`, `error` (a problem object).
        decisions: one dict per branch taken: `from_node`, `to_node`, `case`, `result`,
            `reason`, `position`, `at`.
        error: the workflow's error when it faulted.
    """

    def __init__(self) -> None:
        self.phases: list[tuple[Phase, datetime]] = []
        self.tasks: list[dict[str, Any]] = []
        self.decisions: list[dict[str, Any]] = []
        self.error: WorkflowError | None = None
        self._open: dict[tuple[str, int], dict[str, Any]] = {}

    @property
    def phase(self) -> Phase | None:
        """The latest phase."""
        return self.phases[-1][0] if self.phases else None

    def on_phase(self, phase: Phase, error: WorkflowError | None = None) -> None:
        """Record a phase change."""
        self.phases.append((phase, _now()))
        if error is not None:
            self.error = error

    def on_task(self, event: TaskEvent) -> None:
        """Open a record when a task starts; close it when it ends."""
        at = _now()
        slot = (event.position, event.attempt)
        if event.status == "started":
            opened = self._record(event, "running", at)
            self._open[slot] = opened
            self.tasks.append(opened)
            return
        record = self._open.pop(slot, {})
        if not record:  # skipped, or faulted before it started (e.g. its `if` failed)
            record = self._record(event, event.status, at)
            self.tasks.append(record)
        record["status"] = event.status
        record["completed_at"] = at
        record["output"] = event.output
        record["error"] = event.error.to_problem() if event.error is not None else None

    def on_decision(self, decision: Decision) -> None:
        """Record a branch taken."""
        self.decisions.append(
            {
                "from_node": decision.from_node,
                "to_node": decision.to_node,
                "case": decision.case,
                "result": decision.result,
                "reason": decision.reason,
                "position": decision.position,
                "at": _now(),
            }
        )

    @staticmethod
    def _record(event: TaskEvent, status: str, at: datetime) -> dict[str, Any]:
        return {
            "name": event.name,
            "path": event.path,
            "position": event.position,
            "status": status,
            "attempt": event.attempt,
            "started_at": at,
            "completed_at": None,
            "input": event.input,
            "output": None,
            "error": None,
        }


async def run_document(
    workflow: Workflow,
    input: Any,
    *,
    call_handler: CallHandler | None = None,
    secrets: Mapping[str, Any] | None = None,
    effects: MemoryEffects | None = None,
) -> tuple[RunResult, RecordingObserver]:
    """Run `workflow` once in memory; return its result and what it recorded."""
    observer = RecordingObserver()
    result = await run_workflow(
        workflow,
        input,
        effects if effects is not None else MemoryEffects(call_handler),
        execution_id=f"wex-{ULID()}",
        observer=observer,
        secrets=secrets,
    )
    return result, observer
