"""JSON Schema validation of a workflow document against the shipped DSL 1.0.3 schema.

The schema describes a task as a `oneOf` of twelve task kinds, and a call as a `oneOf` of
seven call kinds, each closed with `unevaluatedProperties`. Validated as written, every
task is checked against every kind, nested task lists multiply that (45 ms for a
two-branch fork, 100 ms for one try/catch), and a typo anywhere in a task yields only
"is not valid under any of the given schemas". So, once at load, those two `oneOf`s are
rewritten into `if`/`then` chains keyed on the property that names the kind (`for`,
`try`, `call`, ..., and `call: http` vs a function name): the same documents pass and
fail, but each task is checked against its own kind only, and errors come from it.

Even so, `jsonschema` (pure Python) took ~0.25 ms a task: 24 ms for a chain of 100 calls,
55 ms for a fork of 100. A document is first checked by `jsonschema-rs` (Rust, the same
rewritten schema, ~0.1 ms for either): a valid one, the common case, is done; only an
invalid one goes through `jsonschema`, which finds every violation and says where.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
from jsonschema.exceptions import ValidationError, best_match

from treadle.dsl.load import escape_token, load_text
from treadle.dsl.problems import DocumentProblem

__all__ = ["SCHEMA_PATH", "TASK_KINDS", "schema_problems", "to_pointer", "workflow_validator"]

SCHEMA_PATH = Path(__file__).parent / "schema" / "workflow.yaml"

#: The task kinds of DSL 1.0.3, each named by the property that introduces it.
TASK_KINDS = ("call", "do", "emit", "for", "fork", "listen", "raise", "run", "set", "switch", "try", "wait")

# Which property routes a task to which definition. `for` and `try` tasks may also hold
# `do`, so they come first; a plain `do` task is the last resort before "unknown".
_TASK_ROUTES = (
    ("for", "forTask"),
    ("try", "tryTask"),
    ("call", "callTask"),
    ("emit", "emitTask"),
    ("fork", "forkTask"),
    ("listen", "listenTask"),
    ("raise", "raiseTask"),
    ("run", "runTask"),
    ("set", "setTask"),
    ("switch", "switchTask"),
    ("wait", "waitTask"),
    ("do", "doTask"),
)
_MARK = "x-treadle"
_UNKNOWN_TASK = "unknown-task-type"
_MAX_VALUE_TEXT = 60
# What the header's long patterns mean, by the title the schema gives them.
_SEMVER = "be a semantic version such as 1.0.0"
_NAME = "be 1 to 63 letters, digits or dashes, starting and ending with a letter or digit"
_PATTERN_MEANINGS = {
    "WorkflowDSL": _SEMVER,
    "WorkflowVersion": _SEMVER,
    "WorkflowName": _NAME,
    "WorkflowNamespace": _NAME,
    "RuntimeExpression": "be a runtime expression ${ ... }",
}


@cache
def workflow_validator() -> Any:
    """The validator for workflow documents, built once per process."""
    # The schema is YAML too, with an `on:` key that YAML 1.1 would turn into True.
    schema = _with_routed_tasks(load_text(SCHEMA_PATH.read_text("utf-8"), str(SCHEMA_PATH)))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


@cache
def _quick_validator() -> Any:
    """`jsonschema-rs`'s validator of the same schema: a valid document's fast path."""
    return jsonschema_rs.validator_for(workflow_validator().schema)


def schema_problems(document: Any) -> list[DocumentProblem]:
    """Every schema violation in `document`, each with its pointer and a readable message."""
    try:
        if _quick_validator().is_valid(document):
            return []
    except ValueError:  # a value the Rust side cannot take (a key not a string, a date): the full check says
        pass
    try:
        errors = [_most_relevant(error) for error in workflow_validator().iter_errors(document)]
    except RecursionError:
        message = "the document nests too deeply to validate"
        return [DocumentProblem("", "too-deep", message)]
    errors = _without_echoes(errors)
    problems = dict.fromkeys(_to_problem(error) for error in sorted(errors, key=_error_order))
    return list(problems)


def to_pointer(path: Iterable[str | int]) -> str:
    """Build a JSON pointer (RFC 6901) from path tokens."""
    return "".join("/" + escape_token(str(token)) for token in path)


def _with_routed_tasks(schema: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(schema)
    definitions = schema["$defs"]
    definitions["task"] = _task_router(definitions["task"])
    definitions["callTask"] = _call_router(definitions["callTask"])
    return schema


def _task_router(original: dict[str, Any]) -> dict[str, Any]:
    unknown = {
        _MARK: _UNKNOWN_TASK,
        "not": {},
    }
    routes = [({"required": [key]}, {"$ref": f"#/$defs/{definition}"}) for key, definition in _TASK_ROUTES]
    chain = _if_chain(routes, unknown)
    return {
        "title": original.get("title", "Task"),
        "description": original.get("description", ""),
        "if": {"type": "object"},
        "then": chain,
        "else": {"type": "object"},
    }


def _call_router(original: dict[str, Any]) -> dict[str, Any]:
    routes: list[tuple[dict[str, Any], dict[str, Any]]] = []
    function_call: dict[str, Any] = {"not": {}}
    for branch in original["oneOf"]:
        kind = branch["allOf"][1]["properties"]["call"].get("const")
        if kind is None:
            function_call = branch
        else:
            routes.append(({"properties": {"call": {"const": kind}}, "required": ["call"]}, branch))
    return {
        "title": original["title"],
        "description": original["description"],
        **_if_chain(routes, function_call),
    }


def _if_chain(
    routes: Sequence[tuple[dict[str, Any], dict[str, Any]]], otherwise: dict[str, Any]
) -> dict[str, Any]:
    schema = otherwise
    for condition, then in reversed(routes):
        schema = {"if": condition, "then": then, "else": schema}
    return schema


def _error_order(error: ValidationError) -> tuple[str, ...]:
    return tuple(str(token) for token in error.absolute_path)


def _most_relevant(error: ValidationError) -> ValidationError:
    if _is_unknown_task(error):
        return error
    return best_match([error])


def _is_unknown_task(error: ValidationError) -> bool:
    return isinstance(error.schema, dict) and error.schema.get(_MARK) == _UNKNOWN_TASK


def _without_echoes(errors: list[ValidationError]) -> list[ValidationError]:
    """Drop "unexpected property" errors that only echo another error in the same object.

    Under 2020-12, a property whose subschema fails counts as unevaluated, so a bad `with`
    also reports `call` and `with` as unexpected; the real error is the one inside.
    """
    paths = [tuple(error.absolute_path) for error in errors]
    kept = []
    for error, path in zip(errors, paths, strict=True):
        if error.validator == "unevaluatedProperties" and any(
            other is not error and _is_within(other_path, path) and other.validator != error.validator
            for other, other_path in zip(errors, paths, strict=True)
        ):
            continue
        kept.append(error)
    return kept


def _is_within(path: tuple[Any, ...], ancestor: tuple[Any, ...]) -> bool:
    return path[: len(ancestor)] == ancestor


def _to_problem(error: ValidationError) -> DocumentProblem:
    if _is_unknown_task(error):
        return _unknown_task_type(error)
    path = list(error.absolute_path)
    message = _message(error)
    if error.validator in ("unevaluatedProperties", "additionalProperties"):
        extra = _unexpected_keys(error)
        if len(extra) == 1:
            path.append(extra[0])
        message = f"unexpected propert{'y' if len(extra) == 1 else 'ies'} {', '.join(map(repr, extra))}"
    return DocumentProblem(to_pointer(path), "schema", message)


def _unknown_task_type(error: ValidationError) -> DocumentProblem:
    keys = sorted(error.instance) if isinstance(error.instance, dict) else []
    found = f" (found {', '.join(map(repr, keys))})" if keys else " (the task is empty)"
    message = f"unknown task type: expected one of {', '.join(TASK_KINDS)}{found}"
    return DocumentProblem(to_pointer(error.absolute_path), "unknown-task-type", message)


def _message(error: ValidationError) -> str:
    validator, expected, value = error.validator, error.validator_value, error.instance
    if validator == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        shown = "" if isinstance(value, dict | list) else f" {_show(value)}"
        return f"expected {_article(wanted)}, got {_json_type(value)}{shown}"
    if validator == "required":
        missing = [name for name in expected if isinstance(value, dict) and name not in value]
        return (
            f"missing required propert{'y' if len(missing) == 1 else 'ies'} {', '.join(map(repr, missing))}"
        )
    if validator == "enum":
        return f"{_show(value)} is not one of {', '.join(map(_show, expected))}"
    if validator == "const":
        return f"expected {_show(expected)}, got {_show(value)}"
    if validator == "pattern":
        meaning = _PATTERN_MEANINGS.get(str(error.schema.get("title", "")), f"match the pattern {expected}")
        return f"{_show(value)} must {meaning}"
    if validator in ("oneOf", "anyOf"):
        forms = [_form_name(branch) for branch in expected]
        return f"{_show(value)} matches none of the allowed forms ({', '.join(forms)})"
    return _shorten(error.message)


def _unexpected_keys(error: ValidationError) -> list[str]:
    # jsonschema names the unexpected keys only inside its message, quoted with repr().
    if not isinstance(error.instance, dict):
        return []
    return [key for key in error.instance if repr(key) in error.message]


def _form_name(branch: Any) -> str:
    if isinstance(branch, dict):
        if "title" in branch:
            return str(branch["title"])
        if "$ref" in branch:
            return str(branch["$ref"]).rsplit("/", 1)[-1]
        if "type" in branch:
            return str(branch["type"])
        if "required" in branch:
            return "an object with " + " and ".join(map(repr, branch["required"]))
    return "?"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return "this object" if isinstance(value, dict) else "this list"
    try:
        text = json.dumps(value)
    except ValueError:
        text = repr(value)
    return _shorten(text)


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_VALUE_TEXT else text[: _MAX_VALUE_TEXT - 1] + "…"
