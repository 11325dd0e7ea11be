"""Runtime expressions as the engine evaluates them: the DSL's arguments (`$context`,
`$input`, ...) plus the variables a scope adds (`$item`/`$index` of a `for`, the caught
error of a `catch`, ...).

`treadle.expr` binds only the DSL's eight argument names. Scope variables are bound here
by rewriting the program once per (text, variables in scope): the data becomes the pair
`[data, [values...]]` and the program destructures it (`. as [$__data, [$item]] |
$__data | (...)`), so each text is still compiled once and only the variables it
actually mentions are passed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from treadle.engine.errors import expression_error
from treadle.expr import ExpressionError, compile_expression, is_expression, strip_expression

__all__ = ["evaluate_expression", "evaluate_value", "is_truthy"]


@lru_cache(maxsize=8192)
def _compile(text: str, names: tuple[str, ...]) -> tuple[Any, tuple[str, ...]]:
    source = strip_expression(text)
    used = tuple(
        name for name in names if "$" + name in source and re.search(rf"\${re.escape(name)}\b", source)
    )
    if not used:
        return compile_expression(source), ()
    bound = ", ".join("$" + name for name in used)
    return compile_expression(f". as [$__data, [{bound}]] | $__data | ({source})"), used


def evaluate_expression(
    text: str,
    data: Any,
    arguments: Mapping[str, Any],
    variables: Mapping[str, Any],
    pointer: str,
) -> Any:
    """Evaluate one expression (`${ }` or bare jq); failures become the expression error.

    Raises:
        WorkflowError: the expression does not compile or fails (type expression, 400).
    """
    try:
        compiled, used = _compile(text, tuple(variables) if variables else ())
        if used:
            return compiled.run([data, [variables[name] for name in used]], arguments)
        return compiled.run(data, arguments)
    except ExpressionError as error:
        raise expression_error(f"{error.expression!r}: {error.reason}", pointer) from None


def evaluate_value(
    value: Any,
    data: Any,
    arguments: Mapping[str, Any],
    variables: Mapping[str, Any],
    pointer: str,
) -> Any:
    """Evaluate every `${ }` string inside a JSON-like value; other values are kept."""
    if isinstance(value, str):
        if is_expression(value):
            return evaluate_expression(value, data, arguments, variables, pointer)
        return value
    if isinstance(value, Mapping):
        return {key: evaluate_value(item, data, arguments, variables, pointer) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [evaluate_value(item, data, arguments, variables, pointer) for item in value]
    return value


def is_truthy(value: Any) -> bool:
    """jq truthiness: everything but `false` and `null` holds."""
    return value is not None and value is not False
