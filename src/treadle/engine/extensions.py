"""Which `use.extensions` apply to a task.

An extension names the task type it extends (`call`, `composite` for `do` and `fork`,
`emit`, `for`, `listen`, `raise`, `run`, `set`, `switch`, `try`, `wait`, or `all`) and
may add a `when` condition on the task. In that condition `$task` is the task
descriptor, and also carries the definition's own fields (`$task.with`, `$task.call`):
the DSL's own example reads `$task.with.endpoint`, and the descriptor alone would
leave that null. Inside the extension's own tasks, `$task` describes the extended task
(the DSL's logging example reports `$task.reference` so).
"""

from __future__ import annotations

from treadle.dsl.models import (
    CallTask,
    DoTask,
    EmitTask,
    Extension,
    ForkTask,
    ForTask,
    ListenTask,
    RaiseTask,
    RunTask,
    SetTask,
    SwitchTask,
    Task,
    TryTask,
    WaitTask,
)
from treadle.engine.expressions import evaluate_expression, is_truthy
from treadle.engine.state import Frame

__all__ = ["applicable_extensions", "extended_type"]

_TYPE_NAMES: dict[type[Task], str] = {
    CallTask: "call",
    DoTask: "composite",
    ForkTask: "composite",
    EmitTask: "emit",
    ForTask: "for",
    ListenTask: "listen",
    RaiseTask: "raise",
    RunTask: "run",
    SetTask: "set",
    SwitchTask: "switch",
    TryTask: "try",
    WaitTask: "wait",
}


def extended_type(task: Task) -> str:
    """The name an extension's `extend` uses for this task's type."""
    return _TYPE_NAMES[type(task)]


def applicable_extensions(frame: Frame) -> list[Extension]:
    """The extensions that extend this task, in declaration order."""
    if frame.entry.pointer == "":
        return []  # the workflow's own `do` is not a task to extend
    kind = extended_type(frame.entry.task)
    chosen = []
    for extension in frame.state.workflow.use.extensions:
        if extension.extend not in (kind, "all"):
            continue
        if extension.when is None or _holds(extension.when, frame):
            chosen.append(extension)
    return chosen


def _holds(condition: str, frame: Frame) -> bool:
    arguments = frame.arguments()
    definition = frame.entry.definition if isinstance(frame.entry.definition, dict) else {}
    arguments["task"] = {**definition, **frame.descriptor()}
    return is_truthy(
        evaluate_expression(condition, frame.input, arguments, frame.scope.variables, frame.pointer)
    )
