"""jq expressions: compiled once, arguments bound, plain paths answered without jq."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from treadle.expr import ExpressionError, evaluate
from treadle.expr._evaluate import compile_expression

KEYS = st.sampled_from(["a", "b", "x_1"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=8,
)
PATHS = st.lists(KEYS, max_size=3).map(lambda keys: "." + ".".join(keys))


def _jq(source: str, data: Any) -> Any:
    """The same program with the fast path off: what jq itself answers."""
    compiled = compile_expression(source)
    plain = type(compiled)(compiled.source, compiled.arguments, compiled.program, path=None)
    try:
        return ("ok", plain.run(data, {}))
    except ExpressionError as error:
        return ("error", error.reason)


@settings(max_examples=300, deadline=None)
@given(source=PATHS, data=VALUES)
@example(source=".a", data={"a": 2**53 + 1})  # jq rounds it to a double
@example(source=".a", data={"a": -(2**53) - 1})
@example(source=".a.b", data={"a": {"b": 2**70}})
def test_plain_paths_answer_what_jq_answers(source: str, data: Any) -> None:
    try:
        fast = ("ok", evaluate(source, data))
    except ExpressionError as error:
        fast = ("error", error.reason)
    assert fast == _jq(source, data)


@pytest.mark.parametrize(
    ("source", "path"),
    [
        (".", ()),
        (".x", ("x",)),
        ("${ .a.b }", ("a", "b")),
        (".x | .y", None),
        (".x[0]", None),
        ("$input", None),
    ],
)
def test_only_plain_paths_take_the_fast_path(source: str, path: tuple[str, ...] | None) -> None:
    assert compile_expression(source).path == path


def test_containers_come_back_as_copies() -> None:
    data = {"x": {"y": [1, 2]}}
    found = evaluate(".x", data)
    assert found == {"y": [1, 2]}
    found["y"].append(3)
    assert data == {"x": {"y": [1, 2]}}


def test_indexing_a_number_keeps_jqs_message() -> None:
    with pytest.raises(ExpressionError, match="Cannot index number"):
        evaluate(".x", 5)


def test_arguments_are_bound() -> None:
    assert evaluate("$input.a + .b", {"b": 2}, {"input": {"a": 1}}) == 3
