"""`switch`: the first case whose `when` holds decides the directive; the case without
`when` is the default, taken only when no other matches. The switch's output is its
input. Every switch records one decision: the case taken and why.
"""

from __future__ import annotations

from treadle.dsl.models import SwitchTask
from treadle.engine.flow import Outcome, target_pointer
from treadle.engine.state import Frame

__all__ = ["run_switch"]


async def run_switch(task: SwitchTask, frame: Frame) -> Outcome:
    """Take the first matching case, else the default, else continue."""
    for case in task.switch:
        if case.when is not None and frame.test(case.when, frame.input):
            frame.decide(target_pointer(frame, case.then), case.name, True, f"when {case.when}")
            return Outcome(frame.input, then=case.then)
    for case in task.switch:
        if case.when is None:
            frame.decide(target_pointer(frame, case.then), case.name, None, "default")
            return Outcome(frame.input, then=case.then)
    frame.decide(target_pointer(frame, task.then or "continue"), None, False, "no case matched")
    return Outcome(frame.input)
