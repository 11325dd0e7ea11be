"""`wait`: pause for a duration through `effects.sleep` (a durable timer); the output
is the input."""

from __future__ import annotations

from treadle.dsl.models import WaitTask
from treadle.engine.durations import duration_seconds
from treadle.engine.flow import Outcome
from treadle.engine.state import Frame

__all__ = ["run_wait"]


async def run_wait(task: WaitTask, frame: Frame) -> Outcome:
    """Sleep for the task's duration."""
    seconds = duration_seconds(task.wait, frame, frame.input)
    await frame.state.effects.sleep(seconds, frame.key())
    return Outcome(frame.input)
