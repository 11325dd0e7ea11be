"""Data flow (dsl.md "Data Flow"): schema checks of input, output and context, and the
transformations `input.from`, `output.as`, `export.as` around each task and the workflow.

JSON Schema validators are built once per schema object and kept; a schema failure is
the validation error (400) whose detail names the failing value's place.
"""

from __future__ import annotations

from typing import Any

from jsonschema import validators

from treadle.dsl.models import Schema
from treadle.engine.errors import validation_error
from treadle.engine.state import Frame

__all__ = ["apply_export", "apply_input", "apply_output", "check_schema"]

# Keyed by id() of the frozen schema model, which the workflow keeps alive for the
# life of the process; the model is stored alongside so the id cannot be reused.
_VALIDATORS: dict[int, tuple[Schema, Any]] = {}


def _validator(schema: Schema) -> Any:
    cached = _VALIDATORS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    document = schema.document or {}
    validator = validators.validator_for(document)(document)
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


def check_schema(schema: Schema | None, value: Any, what: str, instance: str) -> None:
    """Validate `value` against `schema` (JSON Schema only; other formats pass).

    Raises:
        WorkflowError: the validation error, naming `what` and the failing place.
    """
    if schema is None or schema.document is None or schema.format.split(":")[0] != "json":
        return
    error = next(iter(_validator(schema).iter_errors(value)), None)
    if error is not None:
        place = "/" + "/".join(str(part) for part in error.absolute_path)
        raise validation_error(f"{what} is invalid at {place}: {error.message}", instance)


def apply_input(frame: Frame) -> Any:
    """Check the raw input against `input.schema`, then apply `input.from`."""
    spec = frame.entry.task.input
    if spec is None:
        return frame.raw_input
    check_schema(spec.schema_, frame.raw_input, "the task input", frame.pointer)
    if spec.from_ is None:
        return frame.raw_input
    return frame.transform(spec.from_, frame.raw_input)


def apply_output(frame: Frame, raw_output: Any) -> Any:
    """Apply `output.as` to the raw output, then check `output.schema`."""
    spec = frame.entry.task.output
    if spec is None:
        return raw_output
    output = raw_output if spec.as_ is None else frame.transform(spec.as_, raw_output)
    check_schema(spec.schema_, output, "the task output", frame.pointer)
    return output


def apply_export(frame: Frame, output: Any) -> None:
    """Replace `$context` with `export.as` evaluated on the output; check `export.schema`."""
    spec = frame.entry.task.export
    if spec is None:
        return
    if spec.as_ is not None:
        context = frame.transform(spec.as_, output, output)
        if not isinstance(context, dict):
            raise validation_error(
                f"export.as must produce an object for the context, not {type(context).__name__}",
                frame.pointer,
            )
        frame.state.context = context
    check_schema(spec.schema_, frame.state.context, "the exported context", frame.pointer)
