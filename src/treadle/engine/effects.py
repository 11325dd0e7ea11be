"""The Effects port: every side effect the engine needs, behind one narrow protocol.

The engine never touches the world itself. Each method below stands in for something a
plain program would do directly, so that a runtime can journal it (the local durable
runtime), map it to Temporal (`workflow.execute_activity`, `workflow.sleep`,
`workflow.now`, signals), or just do it (the in-memory runtime of `treadle run`).

Every method takes a `key`: a string the engine derives from where it is in the run (the
task's path, loop iterations, the retry attempt and a counter within the task). It is
unique within an execution and identical when the run is replayed, so a runtime can
match a request with its journalled result, and prefix it with the execution id to form
the idempotency key it shows the outside world (`execution_id/task_path/attempt`).

Key format: `[<caller position>>]<pointer><iterations>@<attempts>#<n>`, e.g.
`/do/1/loop/do/0/fetch[3]@2#0`:

- `<pointer>`: the JSON pointer of the task asking (`/do/1/loop/do/0/fetch`);
- `<iterations>`: `[i]` for each enclosing `for` (or listen `foreach`) iteration,
  outermost first (`[1][3]` when nested);
- `@<attempts>`: the retry attempt of each enclosing `try`, outermost first, joined with
  dots (`@0` outside any `try`, `@2`, `@1.0`);
- `#<n>`: counts the effects this task asked for under the same prefix (a task may ask
  for several: `emit` asks `new_id`, `now`, `emit`; a `then` loop revisits a task);
- a `use.functions` body run inline is prefixed by its caller's position and `>`
  (`/do/0/useIt>/use/functions/double@0#0`), so two callers never share keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = ["EventFilter", "Effects"]


@dataclass(frozen=True)
class EventFilter:
    """What a `listen` waits for: events whose attributes include `with_`, optionally
    correlated (`correlate`: name → `{from, expect}` as the DSL defines them)."""

    with_: Mapping[str, Any] = field(default_factory=dict)
    correlate: Mapping[str, Any] = field(default_factory=dict)


class Effects(Protocol):
    """What a runtime provides to the engine.

    Raising `treadle.engine.WorkflowError` from `call` is how an effect reports a fault
    the workflow may catch (communication, timeout, ...). Cancellation arrives as
    `asyncio.CancelledError` from whichever method is being awaited.
    """

    async def call(self, kind: str, args: Mapping[str, Any], key: str) -> Any:
        """Perform a call or run (`kind` is e.g. "http", "grpc", "shell", "function:charge").

        `args` is JSON-like and fully evaluated (no expressions left). Returns the
        JSON-like result the task's output is built from.
        """
        ...

    async def sleep(self, seconds: float, key: str) -> None:
        """Wait for `seconds` (instead of `asyncio.sleep`): a durable timer."""
        ...

    async def now(self, key: str) -> datetime:
        """The current time, timezone-aware (instead of `datetime.now()`)."""
        ...

    async def new_id(self, key: str) -> str:
        """A fresh unique id (instead of `uuid4()`); not cryptographically safe."""
        ...

    async def emit(self, event: Mapping[str, Any], key: str) -> None:
        """Publish a CloudEvent (a 1.0 envelope as a dict) to the runtime's event bus."""
        ...

    async def wait_event(
        self, filters: Sequence[EventFilter], timeout: float | None, key: str
    ) -> Mapping[str, Any]:
        """Wait for the next event matching any of `filters` (a CloudEvent as a dict);
        raise the timeout WorkflowError when `timeout` seconds pass first."""
        ...
