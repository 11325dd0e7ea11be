"""Runtime expressions: jq programs compiled once and evaluated against workflow data.

A runtime expression is a string `${ <jq> }`; fields that are always expressions (`if`,
`when`, `input.from`, `output.as`, `export.as`, `for.in`, ...) also accept bare jq.
Arguments (`$context`, `$input`, `$secrets`, ...) are bound per evaluation without
recompiling: each program is compiled with a prelude that reads the arguments it
references from the value it is given, so compilation happens once per text.
"""

from __future__ import annotations

from treadle.expr._evaluate import (
    ARGUMENT_NAMES,
    ExpressionError,
    compile_expression,
    evaluate,
    evaluate_template,
    is_expression,
    strip_expression,
)

__all__ = [
    "ARGUMENT_NAMES",
    "ExpressionError",
    "compile_expression",
    "evaluate",
    "evaluate_template",
    "is_expression",
    "strip_expression",
]
