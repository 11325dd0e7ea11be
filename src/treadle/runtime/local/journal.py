"""`JournalEffects`: the Effects port answered from the journal, else performed and journalled.

Each effect first looks for its key among the journal's results; a replay answers it
from there, in journal order (concurrent fork branches see their answers arrive in the
order they arrived live, as the engine requires). A key the journal does not know is
performed live, and its result is made durable before the engine sees it (with `async`
durability the run hands it to the writer and goes on: `ExecutionRun.record`). A call
that was in flight at a crash has no result, so it runs again with the same idempotency
key (`execution_id/key`).

Long waits and listens park instead of holding a worker: once an execution has nothing
but parked waits in flight for `idle_seconds`, it asks its run to unload (released to the
store with the earliest due time); the replay after waking answers the timer as fired,
or finds the delivered event in the inbox. Suspension parks every new live effect and
unloads once the effects in flight are done.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ulid import ULID

from treadle.engine import EventFilter, WorkflowError
from treadle.engine.errors import runtime_error
from treadle.expr import is_expression
from treadle.runtime.local.replay import TIMER, Replay

__all__ = ["JournalEffects", "RunHost"]

_MISSING: Any = object()


def utcnow() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


class RunHost(Protocol):
    """What `JournalEffects` needs from the run it serves."""

    execution_id: str
    unload_after: float
    idle_seconds: float
    stopping: bool

    async def perform(self, kind: str, args: Mapping[str, Any], key: str) -> Any:
        """Perform a call live (the dispatcher)."""
        ...

    def buffer(self, type: str, data: Any) -> None:
        """Append a journal entry without waiting for it."""
        ...

    async def record(self, data: dict[str, Any]) -> None:
        """Journal an effect result and wait until it is durable."""
        ...

    async def subscribe(self, key: str, event_type: str | None, filters: list[dict[str, Any]]) -> Any:
        """Subscribe a listen durably; return an event already delivered to it, if any."""
        ...

    async def consume(self, key: str, event: Any) -> None:
        """Journal a delivered event as the listen's result and drop it from the inbox."""
        ...

    def unsubscribe(self, key: str) -> None:
        """A listen gave up: drop its subscription (and an event delivered to it) with the next commit."""
        ...

    async def publish(self, event: Mapping[str, Any]) -> None:
        """Deliver an emitted event to listening executions and `schedule.on` workflows."""
        ...

    async def check_inbox(self) -> None:
        """Hand events already in the inbox to the listens parked on them."""
        ...

    def unload(self, state: str, wake_at: datetime | None) -> None:
        """Stop the engine and release the execution (`waiting` or `suspended`)."""
        ...


class JournalEffects:
    """The Effects port of one durable run."""

    def __init__(self, host: RunHost, replay: Replay, *, max_branches: int) -> None:
        self.host = host
        self.results = replay.results
        self.timers = replay.timers
        self._order: deque[int] = deque(sorted(index for index, _ in replay.results.values()))
        self._turns: dict[int, asyncio.Future[None]] = {}
        self._branches = asyncio.Semaphore(max(1, max_branches))
        self.live = 0
        self.parked: dict[str, datetime | None] = {}
        self.listeners: dict[str, asyncio.Future[Any]] = {}
        self.inbox_check: asyncio.Future[None] | None = None
        self.suspending = False
        self._generation = 0
        self._watch: asyncio.TimerHandle | None = None
        self._watched_generation = -1

    # -- the port --------------------------------------------------------------------------

    async def call(self, kind: str, args: Mapping[str, Any], key: str) -> Any:
        """Answer from the journal, else perform with idempotency key `execution_id/key`."""
        # A live run (no results left to replay, not stopping) skips the two coroutines.
        found = await self._replayed(key) if self.results else _MISSING
        if found is _MISSING:
            if self.host.stopping or self.suspending:
                await self._gate()
            async with self._branches:
                self._begin()
                try:
                    try:
                        value = await self.host.perform(kind, args, f"{self.host.execution_id}/{key}")
                        found = {"key": key, "op": "call", "value": value}
                    except WorkflowError as error:
                        found = {"key": key, "op": "call", "error": error.to_problem()}
                    except Exception as unexpected:  # a broken handler: a fault, recorded as one
                        fault = runtime_error(f"{type(unexpected).__name__}: {unexpected}")
                        found = {"key": key, "op": "call", "error": fault.to_problem()}
                    await self.host.record(found)
                finally:
                    self._end()
        if "error" in found:
            raise WorkflowError.from_problem(dict(found["error"]))
        return found.get("value")

    async def sleep(self, seconds: float, key: str) -> None:
        """A durable timer: long ones unload the execution until they are due."""
        if await self._replayed(key) is not _MISSING:
            return
        await self._gate()
        now = utcnow()
        due = self.timers.get(key)
        if due is None:
            due = now + timedelta(seconds=max(0.0, seconds))
            if seconds >= self.host.unload_after:
                self.timers[key] = due
                self.host.buffer(TIMER, {"key": key, "due": due.isoformat()})
        remaining = (due - now).total_seconds()
        if remaining >= self.host.unload_after:
            self.parked[key] = due
            self._touch()
            try:
                await asyncio.sleep(remaining)
            finally:
                self.parked.pop(key, None)
            self._begin()
        else:
            self._begin()
            if remaining > 0:
                try:
                    await asyncio.sleep(remaining)
                except BaseException:
                    self._end()
                    raise
        try:
            await self.host.record({"key": key, "op": "sleep"})
        finally:
            self._end()

    async def now(self, key: str) -> datetime:
        """The time, journalled."""
        found = await self._replayed(key)
        if found is _MISSING:
            found = {"key": key, "op": "now", "value": utcnow().isoformat()}
            await self._journal(found)
        return datetime.fromisoformat(str(found["value"]))

    async def new_id(self, key: str) -> str:
        """A fresh ULID, journalled."""
        found = await self._replayed(key)
        if found is _MISSING:
            found = {"key": key, "op": "new_id", "value": str(ULID())}
            await self._journal(found)
        return str(found["value"])

    async def emit(self, event: Mapping[str, Any], key: str) -> None:
        """Deliver to listening executions and event schedules, once (journalled)."""
        if await self._replayed(key) is not _MISSING:
            return
        await self._gate()
        self._begin()
        try:
            await self.host.publish(event)
            await self.host.record({"key": key, "op": "emit"})
        finally:
            self._end()

    async def wait_event(
        self, filters: Sequence[EventFilter], timeout: float | None, key: str
    ) -> Mapping[str, Any]:
        """Subscribe durably, then park until an event is delivered to this key."""
        found = await self._replayed(key)
        if found is not _MISSING:
            return dict(found.get("value") or {})
        await self._gate()
        try:
            event = await self._listen(filters, timeout, key)
        except (asyncio.CancelledError, TimeoutError):
            # Given up, not parked: a run that unloads (stopping) keeps the subscription
            # to be woken by it; a listen a timeout or a race cancelled must not keep
            # taking events into the inbox until the execution ends.
            if not self.host.stopping:
                self.host.unsubscribe(key)
            raise
        self._begin()
        try:
            await self.host.consume(key, event)
        finally:
            self._end()
        return dict(event)

    async def _listen(self, filters: Sequence[EventFilter], timeout: float | None, key: str) -> Any:
        """Subscribe durably; the event already delivered, or the next one, for `key`."""
        self._begin()
        try:
            event = await self.host.subscribe(key, _event_type(filters), _filters_json(filters))
        finally:
            self._end()
        if event is not None:
            return event
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.listeners[key] = future
        self.parked[key] = None
        self._touch()
        # An event delivered between the subscription's commit and this park found no
        # listener to notify; look once, so it is not left until the next reload.
        self.inbox_check = asyncio.ensure_future(self.host.check_inbox())  # kept: tasks are weakly held
        try:
            return await (asyncio.wait_for(future, timeout) if timeout is not None else future)
        finally:
            self.listeners.pop(key, None)
            self.parked.pop(key, None)

    # -- machinery -------------------------------------------------------------------------

    def deliver(self, events: Mapping[str, Any]) -> None:
        """Hand events found in the inbox to the listens waiting on their keys."""
        for key, event in events.items():
            future = self.listeners.get(key)
            if future is not None and not future.done():
                future.set_result(event)

    async def _journal(self, found: dict[str, Any]) -> None:
        self._begin()
        try:
            await self.host.record(found)
        finally:
            self._end()

    async def _replayed(self, key: str) -> Any:
        found = self.results.pop(key, None)
        if found is None:
            return _MISSING
        index, data = found
        if self._order and self._order[0] != index:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._turns[index] = future
            self._touch()
            try:
                await future
            finally:
                self._turns.pop(index, None)
        self._release(index)
        return data

    def _release(self, index: int) -> None:
        """Mark `index` answered; the next in journal order may go (after one loop turn)."""
        if self._order and self._order[0] == index:
            self._order.popleft()
        else:
            try:
                self._order.remove(index)
            except ValueError:
                pass
        self._generation += 1
        if self._order:
            waiting = self._turns.get(self._order[0])
            if waiting is not None and not waiting.done():
                asyncio.get_running_loop().call_soon(_set_none, waiting)

    async def _gate(self) -> None:
        """While suspending, new live effects wait forever (the run unloads)."""
        if self.host.stopping:
            raise asyncio.CancelledError
        if self.suspending:
            self._touch()
            await asyncio.get_running_loop().create_future()

    def suspend(self) -> None:
        """Let the effects in flight finish, start no new one, then unload as suspended."""
        self.suspending = True
        self._touch()

    def _begin(self) -> None:
        self.live += 1
        self._generation += 1

    def _end(self) -> None:
        self.live -= 1
        self._touch()

    def _touch(self) -> None:
        """Something changed: if the run may be idle, look again after `idle_seconds`."""
        self._generation += 1
        if self._watch is None and (self.parked or self._turns or self.suspending):
            loop = asyncio.get_running_loop()
            self._watched_generation = self._generation
            self._watch = loop.call_later(self.host.idle_seconds, self._check_idle)

    def _check_idle(self) -> None:
        self._watch = None
        if not (self.parked or self._turns or self.suspending):
            return
        if self.live or self._generation != self._watched_generation:
            self._touch()
            return
        if self._turns:
            # An earlier journal entry is not asked for (its branch took another path):
            # skip it rather than wait forever.
            waiting = min(self._turns)
            while self._order and self._order[0] < waiting:
                self._order.popleft()
            self._release_waiting(waiting)
            self._touch()
            return
        if self.suspending:
            self.host.unload("suspended", None)
            return
        dues = [due for due in self.parked.values() if due is not None]
        wake_at = min(dues) if dues else None
        if wake_at is None or (wake_at - utcnow()).total_seconds() >= self.host.unload_after / 2:
            self.host.unload("waiting", wake_at)
            return
        self._touch()

    def _release_waiting(self, index: int) -> None:
        future = self._turns.get(index)
        if future is not None and not future.done():
            future.set_result(None)


def _set_none(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _event_type(filters: Sequence[EventFilter]) -> str | None:
    """The one literal event type every filter requires, to index subscriptions by."""
    types = {f.with_.get("type") for f in filters}
    if len(types) != 1:
        return None
    (only,) = types
    if not isinstance(only, str) or is_expression(only) or any(ch in only for ch in "^$*+?[](){}|\\"):
        return None
    return only


def _filters_json(filters: Sequence[EventFilter]) -> list[dict[str, Any]]:
    return [{"with": dict(f.with_), "correlate": dict(f.correlate)} for f in filters]
