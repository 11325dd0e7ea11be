"""Compile (cached) and evaluate jq runtime expressions."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jq

from treadle.errors import TreadleError

__all__ = [
    "ARGUMENT_NAMES",
    "CompiledExpression",
    "ExpressionError",
    "compile_expression",
    "evaluate",
    "evaluate_template",
    "is_expression",
    "strip_expression",
]

#: The arguments the DSL defines for runtime expressions.
ARGUMENT_NAMES = (
    "context",
    "input",
    "output",
    "secrets",
    "task",
    "workflow",
    "runtime",
    "authorization",
)

_ARGUMENT_REFERENCE = re.compile(r"\$(" + "|".join(ARGUMENT_NAMES) + r")\b")
_PLAIN_PATH = re.compile(r"(\.[A-Za-z_][A-Za-z0-9_]*)+")
#: Integers jq returns unchanged (it rounds larger ones to IEEE doubles).
_EXACT_INT = 2**53


class ExpressionError(TreadleError):
    """A runtime expression failed to compile or to evaluate.

    Attributes:
        expression: the jq text, without its `${ }`.
        pointer: the JSON pointer of the field holding it, when known.
        reason: what jq said.
    """

    def __init__(self, expression: str, reason: str, pointer: str = "") -> None:
        self.expression = expression
        self.reason = reason
        self.pointer = pointer
        where = f" at {pointer}" if pointer else ""
        super().__init__(f"expression {expression!r}{where}: {reason}")


def is_expression(value: object) -> bool:
    """Tell whether a value is a runtime expression string `${ ... }`."""
    return isinstance(value, str) and value.startswith("${") and value.endswith("}")


def strip_expression(text: str) -> str:
    """Return the jq program of `${ program }`, or the text itself when bare."""
    text = text.strip()
    if is_expression(text):
        return text[2:-1].strip()
    return text


@dataclass(frozen=True)
class CompiledExpression:
    """A jq program ready to run; `arguments` are the `$names` it references."""

    source: str
    arguments: tuple[str, ...]
    program: Any
    #: The keys of a plain path such as `.a.b` (`()` for `.`), None for any other program.
    path: tuple[str, ...] | None = None

    def run(self, data: Any, arguments: Mapping[str, Any]) -> Any:
        """Evaluate against `data`; the first result, or None when there is none."""
        if self.path is not None:
            found = _follow(data, self.path)
            if found is not _JQ:
                return found
        if self.arguments:
            value: Any = [data, *(arguments.get(name) for name in self.arguments)]
        else:
            value = data
        try:
            results = self.program.input_value(value).all()
        except ValueError as error:
            raise ExpressionError(self.source, _first_line(str(error))) from None
        return results[0] if results else None


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> CompiledExpression:
    """Compile `text` (`${ jq }` or bare jq) once; later calls hit the cache.

    Raises:
        ExpressionError: the jq does not compile.
    """
    source = strip_expression(text)
    arguments = tuple(dict.fromkeys(_ARGUMENT_REFERENCE.findall(source)))
    if arguments:
        # Bind the referenced arguments from the input array, then run on its head:
        # compiling with `args=` would cost a compilation (~1 ms) per evaluation.
        bindings = " | ".join(f".[{index}] as ${name}" for index, name in enumerate(arguments, 1))
        program_text = f"{bindings} | .[0] | ({source})"
    else:
        program_text = source
    try:
        program = jq.compile(program_text)
    except ValueError as error:
        raise ExpressionError(source, _compile_reason(str(error))) from None
    return CompiledExpression(source=source, arguments=arguments, program=program, path=_plain_path(source))


def evaluate(text: str, data: Any, arguments: Mapping[str, Any] | None = None) -> Any:
    """Evaluate one expression (`${ jq }` or bare jq) against `data`."""
    return compile_expression(text).run(data, arguments or {})


def evaluate_template(value: Any, data: Any, arguments: Mapping[str, Any] | None = None) -> Any:
    """Evaluate every `${ }` string inside a JSON-like value; other values are kept."""
    arguments = arguments or {}
    if isinstance(value, str):
        return evaluate(value, data, arguments) if is_expression(value) else value
    if isinstance(value, Mapping):
        return {key: evaluate_template(item, data, arguments) for key, item in value.items()}
    if isinstance(value, list):
        return [evaluate_template(item, data, arguments) for item in value]
    return value


def _plain_path(source: str) -> tuple[str, ...] | None:
    if source == ".":
        return ()
    if _PLAIN_PATH.fullmatch(source):
        return tuple(source.split(".")[1:])
    return None


_JQ = object()  # `_follow` could not answer: let jq do it


def _follow(data: Any, keys: tuple[str, ...]) -> Any:
    """A plain path's value when it is a scalar jq would return unchanged, else `_JQ`.

    Running jq means converting its input to JSON and back (~8 µs for a small object):
    most expressions in a workflow are `.x`-like lookups of a number or a string. Only
    such answers are given here; objects and lists go to jq, whose result is a fresh
    copy that no later step can alias, and so do errors (indexing a number), so the
    messages stay jq's.
    """
    value = data
    for key in keys:
        if value is None:
            return None
        if type(value) is not dict:
            return _JQ
        value = value.get(key)
    if value is None or isinstance(value, (str, bool)):
        return value
    if type(value) is int:
        return value if -_EXACT_INT <= value <= _EXACT_INT else _JQ
    if type(value) is float:
        return value if math.isfinite(value) else _JQ
    return _JQ


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "jq failed"


def _compile_reason(message: str) -> str:
    lines = [line for line in message.splitlines() if line.startswith("jq: error")]
    return lines[0].removeprefix("jq: error: ") if lines else _first_line(message)
