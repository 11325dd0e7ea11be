"""`for`: run `do` once per item of the collection `for.in` gives, while `while` holds.

Each iteration sees the item and its index as `$<each>` (default `$item`) and `$<at>`
(default `$index`), also in `while`. Data flows through the iterations: the first gets
the task's input, each next one the previous one's output, and the last output is the
task's. Effect keys and positions gain `[index]`.
"""

from __future__ import annotations

from typing import Any

from treadle.dsl.models import ForTask
from treadle.engine.errors import expression_error
from treadle.engine.flow import Outcome, run_task_list
from treadle.engine.state import Frame

__all__ = ["run_for"]


async def run_for(task: ForTask, frame: Frame) -> Outcome:
    """Iterate over `for.in`, stopping early when `while` no longer holds."""
    items = _collection(frame.evaluate(task.for_.in_, frame.input), frame)
    data = frame.input
    for index, item in enumerate(items):
        variables = {task.for_.each: item, task.for_.at: index}
        scope = frame.scope.with_variables(variables, iteration=index)
        if task.while_ is not None and not frame.test(task.while_, data, scope.variables):
            frame.decide("exit", None, False, f"while {task.while_} was false at {index}")
            break
        outcome = await run_task_list(task.do, data, scope)
        data = outcome.output
        if outcome.ended:
            return Outcome(data, ended=True)
    return Outcome(data)


def _collection(value: Any, frame: Frame) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    raise expression_error(f"for.in must give an array, not {type(value).__name__}: {value!r}", frame.pointer)
