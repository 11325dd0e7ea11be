"""`raise`: fault with an error defined inline or named in `use.errors`. Each member may
be a runtime expression (evaluated on the task's input); `instance` defaults to the
task's pointer and `status` must come out as an integer.
"""

from __future__ import annotations

from typing import Any

from treadle.dsl.models import ErrorDefinition, RaiseTask
from treadle.engine.errors import WorkflowError, configuration_error, expression_error
from treadle.engine.flow import Outcome
from treadle.engine.state import Frame

__all__ = ["run_raise"]


async def run_raise(task: RaiseTask, frame: Frame) -> Outcome:
    """Build the error and raise it.

    Raises:
        WorkflowError: always: the defined error (or a configuration error for an unknown name).
    """
    definition = _definition(task.raise_.error, frame)
    values = frame.render(definition.model_dump(exclude_none=True), frame.input)
    raise WorkflowError(
        type=str(values["type"]),
        status=_status(values.get("status"), frame),
        title=_text(values.get("title")),
        detail=_text(values.get("detail")),
        instance=_text(values.get("instance")) or frame.pointer,
    )


def _definition(error: ErrorDefinition | str, frame: Frame) -> ErrorDefinition:
    if isinstance(error, ErrorDefinition):
        return error
    named = frame.state.workflow.use.errors.get(error)
    if named is None:
        raise configuration_error(f"error {error!r} is not defined in use.errors", frame.pointer)
    return named


def _status(value: Any, frame: Frame) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise expression_error(f"the error status must be an integer, not {value!r}", frame.pointer) from None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
