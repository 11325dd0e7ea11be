"""What the engine tells the world while it runs: workflow phases, task lifecycle events
and branch decisions, as plain synchronous notifications.

The engine never reads the clock, so these carry no times: the runtime's observer stamps
them as they arrive (see `treadle.runtime.memory.RecordingObserver`). Notifications are
synchronous and must be cheap; an observer that raises breaks the run, so observers
should not. Events are named tuples: immutable, and made in ~0.5 µs where a frozen
dataclass took ~1.2 (a step makes two).
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, Protocol

from treadle.engine.errors import WorkflowError

__all__ = ["Decision", "NullObserver", "Observer", "Phase", "TaskEvent", "TaskStatus"]

Phase = Literal["pending", "running", "waiting", "completed", "faulted", "cancelled"]
TaskStatus = Literal["started", "completed", "faulted", "skipped", "cancelled", "retrying"]


class TaskEvent(NamedTuple):
    """A task changed status.

    Attributes:
        status: what happened ("started", "completed", "faulted", "skipped", "cancelled").
        name: the task's name.
        path: its JSON pointer in the document (`/do/1/loop/do/0/fetch`).
        position: where in the run: the pointer plus `[i]` per enclosing `for` iteration
            (`/do/1/loop/do/0/fetch[3]`), unique among the tasks running at once.
        attempt: the retry attempt of the innermost enclosing `try` (0 when never retried).
        input: the task's input (the transformed input once started; raw when skipped).
        output: the transformed output (completed, skipped).
        error: the error (faulted).
    """

    status: TaskStatus
    name: str
    path: str
    position: str
    attempt: int = 0
    input: Any = None
    output: Any = None
    error: WorkflowError | None = None


class Decision(NamedTuple):
    """A branch taken.

    Attributes:
        from_node: the pointer of the deciding task.
        to_node: where the flow goes: a task pointer, or "exit"/"end"/"continue".
        case: the switch case (or catch/retry clause) that decided, if any.
        result: the predicate's value.
        reason: why, for a person: the matching `when`, "default", "no case matched",
            "if was false", "caught <type>", "retry <n>", "then: <directive>".
        position: the deciding task's runtime position (see `TaskEvent.position`).
    """

    from_node: str
    to_node: str
    case: str | None
    result: Any
    reason: str
    position: str = ""


class Observer(Protocol):
    """Receives the engine's notifications, synchronously and in order."""

    def on_phase(self, phase: Phase, error: WorkflowError | None = None) -> None:
        """The workflow entered `phase` (with its error when it faulted)."""
        ...

    def on_task(self, event: TaskEvent) -> None:
        """A task started, completed, faulted, was skipped or cancelled."""
        ...

    def on_decision(self, decision: Decision) -> None:
        """The flow branched."""
        ...


class NullObserver:
    """An observer that ignores everything (the default)."""

    def on_phase(self, phase: Phase, error: WorkflowError | None = None) -> None:
        """Ignore."""

    def on_task(self, event: TaskEvent) -> None:
        """Ignore."""

    def on_decision(self, decision: Decision) -> None:
        """Ignore."""
