"""Durations at run time: a literal was parsed to seconds when the document was built;
an expression is evaluated here (to an ISO 8601 string, an inline duration object, or a
number of seconds) against the task's input.
"""

from __future__ import annotations

from typing import Any

from treadle.dsl.models import Duration, parse_duration
from treadle.engine.errors import expression_error
from treadle.engine.state import Frame

__all__ = ["duration_seconds"]


def duration_seconds(duration: Duration, frame: Frame | None = None, data: Any = None) -> float:
    """Seconds in `duration`, evaluating its expression with `frame` when it has one.

    Raises:
        WorkflowError: the expression fails or does not give a duration.
    """
    if duration.seconds is not None:
        return duration.seconds
    if frame is None or duration.expression is None:
        raise expression_error("a duration expression cannot be evaluated here")
    value = frame.evaluate(duration.expression, data)
    try:
        resolved = parse_duration(value)
    except (TypeError, ValueError) as error:
        raise expression_error(f"{duration.expression!r} is not a duration: {error}", frame.pointer) from None
    if resolved.seconds is None:
        raise expression_error(f"{duration.expression!r} gave another expression", frame.pointer)
    return resolved.seconds
