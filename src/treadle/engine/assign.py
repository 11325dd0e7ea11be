"""`set`: the task's output is a map template or an expression evaluated on its input."""

from __future__ import annotations

from treadle.dsl.models import SetTask
from treadle.engine.flow import Outcome
from treadle.engine.state import Frame

__all__ = ["run_set"]


async def run_set(task: SetTask, frame: Frame) -> Outcome:
    """Evaluate `set` (every `${ }` of a map, or the expression) against the input."""
    return Outcome(frame.transform(task.set, frame.input))
