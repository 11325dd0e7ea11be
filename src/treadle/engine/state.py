"""The interpreter's state: `RunState` (one per run: the workflow, the port, the
observer, the current `$context`), `Scope` (what a nested block adds: variables, loop
iterations, retry attempts) and `Frame` (one task being run: its input, its output, the
arguments its expressions see).

Nothing here is copied per task: a `Scope` is shared by every task of a block and only
replaced when a block adds something (a `for` iteration, a `try` attempt, a `catch`).

Effect keys are built here; the format is documented in `treadle.engine.effects`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from treadle.dsl.models import TaskEntry, TaskList, Workflow
from treadle.engine.effects import Effects
from treadle.engine.expressions import evaluate_expression, evaluate_value, is_truthy
from treadle.engine.observer import Decision, Observer, TaskEvent, TaskStatus

__all__ = ["Frame", "RunState", "Scope", "date_time_descriptor"]


@dataclass(slots=True)
class RunState:
    """Everything one run shares."""

    workflow: Workflow
    effects: Effects
    observer: Observer
    execution_id: str
    secrets: Mapping[str, Any]
    runtime: Mapping[str, Any]
    workflow_descriptor: dict[str, Any]
    context: Any = field(default_factory=dict)
    key_counters: dict[str, int] = field(default_factory=dict)
    needs_task_descriptor: bool = False
    needs_started_at: bool = False

    def next_key(self, base: str) -> str:
        """`base#n`, n counting the effects already requested under `base`."""
        count = self.key_counters.get(base, 0)
        self.key_counters[base] = count + 1
        return f"{base}#{count}"


@dataclass(frozen=True, slots=True)
class Scope:
    """What the enclosing blocks add to a task: variables, iterations, attempts.

    Attributes:
        variables: `$name` values visible to expressions (`item`, `index`, `error`, ...).
        iterations: `[i]` per enclosing `for`/`foreach` iteration, outermost first.
        attempts: the attempt of each enclosing `try`, outermost first.
        via: the key prefix of a function body run inline for a caller.
        extended: the frame of the task an extension's tasks run around: `$task` in
            them describes that task (None outside extensions, which never extend
            their own tasks).
    """

    state: RunState
    variables: Mapping[str, Any] = field(default_factory=dict)
    iterations: str = ""
    attempts: tuple[int, ...] = ()
    via: str = ""
    extended: Frame | None = None

    @property
    def attempt(self) -> int:
        """The attempt of the innermost enclosing `try` (0 when none retried)."""
        return self.attempts[-1] if self.attempts else 0

    def position(self, pointer: str) -> str:
        """The runtime position of the task at `pointer` in this scope."""
        return f"{self.via}{pointer}{self.iterations}"

    def key(self, pointer: str) -> str:
        """A fresh effect key for the task at `pointer` (see `treadle.engine.effects`)."""
        attempts = ".".join(map(str, self.attempts)) if self.attempts else "0"
        return self.state.next_key(f"{self.via}{pointer}{self.iterations}@{attempts}")

    def with_variables(self, variables: Mapping[str, Any], iteration: int | None = None) -> Scope:
        """A child scope adding `variables` (and a loop iteration, if given)."""
        iterations = self.iterations if iteration is None else f"{self.iterations}[{iteration}]"
        return replace(self, variables={**self.variables, **variables}, iterations=iterations)

    def with_attempt(self, attempt: int) -> Scope:
        """A child scope for the body of a `try` at `attempt`."""
        return replace(self, attempts=(*self.attempts, attempt))

    def for_function(self, caller_position: str) -> Scope:
        """The scope of a `use.functions` body run for the caller at `caller_position`:
        no variables of the caller, keys prefixed by the caller's position."""
        return replace(self, variables={}, iterations="", via=f"{caller_position}>")

    def for_extension(self, extended: Frame) -> Scope:
        """The scope of an extension's tasks run around the task of `extended`."""
        return replace(self, variables={}, iterations="", via=f"{extended.position}+", extended=extended)


_MISSING: Any = object()


@dataclass(slots=True)
class Frame:
    """One task being run: its data and the expression arguments it exposes."""

    entry: TaskEntry
    scope: Scope
    raw_input: Any
    siblings: TaskList | None = None
    input: Any = None
    raw_output: Any = _MISSING
    authorization: Any = None
    started_at: dict[str, Any] | None = None

    @property
    def state(self) -> RunState:
        """The run this task belongs to."""
        return self.scope.state

    @property
    def pointer(self) -> str:
        """The task's JSON pointer."""
        return self.entry.pointer

    @property
    def position(self) -> str:
        """The task's runtime position."""
        return self.scope.position(self.entry.pointer)

    def key(self) -> str:
        """A fresh effect key for this task."""
        return self.scope.key(self.entry.pointer)

    def arguments(self, output: Any = None) -> dict[str, Any]:
        """The runtime-expression arguments this task's expressions see."""
        state = self.scope.state
        return {
            "context": state.context,
            "input": self.input,
            "output": output,
            "secrets": state.secrets,
            "task": self._task_argument(state),
            "workflow": state.workflow_descriptor,
            "runtime": state.runtime,
            "authorization": self.authorization,
        }

    def _task_argument(self, state: RunState) -> dict[str, Any] | None:
        if self.scope.extended is not None:
            return self.scope.extended.descriptor()
        return self.descriptor() if state.needs_task_descriptor else None

    def descriptor(self) -> dict[str, Any]:
        """`$task`: name, reference, definition, raw input and output, start time."""
        descriptor = {
            "name": self.entry.name,
            "reference": self.entry.pointer,
            "definition": self.entry.definition,
            "input": self.raw_input,
            "output": None if self.raw_output is _MISSING else self.raw_output,
        }
        if self.started_at is not None:
            descriptor["startedAt"] = self.started_at
        return descriptor

    def evaluate(
        self, text: str, data: Any, output: Any = None, variables: Mapping[str, Any] | None = None
    ) -> Any:
        """Evaluate an expression field (`${ }` or bare jq) against `data`.

        `variables` replaces the scope's (e.g. a `for` iteration's `$item` in `while`).
        """
        visible = self.scope.variables if variables is None else variables
        return evaluate_expression(text, data, self.arguments(output), visible, self.pointer)

    def render(self, value: Any, data: Any, output: Any = None) -> Any:
        """Evaluate every `${ }` inside a JSON-like value against `data`."""
        return evaluate_value(value, data, self.arguments(output), self.scope.variables, self.pointer)

    def transform(self, value: Any, data: Any, output: Any = None) -> Any:
        """Apply a transformation field: a string is an expression, an object a template."""
        if isinstance(value, str):
            return self.evaluate(value, data, output)
        return self.render(value, data, output)

    def test(self, text: str, data: Any, variables: Mapping[str, Any] | None = None) -> bool:
        """Evaluate a condition (`if`, `when`, `while`, ...) with jq truthiness."""
        return is_truthy(self.evaluate(text, data, variables=variables))

    def notify(self, status: TaskStatus, **values: Any) -> None:
        """Tell the observer this task changed status."""
        self.state.observer.on_task(
            TaskEvent(
                status=status,
                name=self.entry.name,
                path=self.entry.pointer,
                position=self.position,
                attempt=self.scope.attempt,
                **values,
            )
        )

    def decide(self, to_node: str, case: str | None, result: Any, reason: str) -> None:
        """Tell the observer the flow branched here."""
        self.state.observer.on_decision(
            Decision(
                from_node=self.entry.pointer,
                to_node=to_node,
                case=case,
                result=result,
                reason=reason,
                position=self.position,
            )
        )


def date_time_descriptor(moment: datetime) -> dict[str, Any]:
    """The DSL's dateTimeDescriptor: `iso8601` and `epoch.seconds`/`epoch.milliseconds`."""
    timestamp = moment.timestamp()
    return {
        "iso8601": moment.isoformat().replace("+00:00", "Z"),
        "epoch": {"seconds": int(timestamp), "milliseconds": int(timestamp * 1000)},
    }
