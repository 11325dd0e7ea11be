"""validate_text and parse: problems carry lines, parse raises them all, nothing else escapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from treadle.dsl import InvalidDocument, parse, parse_file, validate, validate_text

HEADER = "document: {dsl: '1.0.3', namespace: test, name: sample, version: '1.0.0'}\n"

TWO_PROBLEMS = (
    HEADER
    + """do:
  - first:
      set:
        a: 1
      then: nowhere
  - second:
      set:
        b: ${ .x | }
  - third:
      sing: loudly
"""
)


def test_problems_carry_the_line_of_their_node() -> None:
    document, problems = validate_text(TWO_PROBLEMS)
    assert document is not None
    assert [(problem.pointer, problem.code, problem.line) for problem in problems] == [
        ("/do/2/third", "unknown-task-type", 10),
        ("/do/0/first/then", "unknown-task", 6),
        ("/do/1/second/set/b", "invalid-expression", 9),
    ]


def test_load_problems_come_back_without_a_document() -> None:
    document, problems = validate_text("a: 1\na: 2\n")
    assert document is None
    assert [(problem.code, problem.line) for problem in problems] == [("duplicate-key", 2)]


def test_parse_raises_every_problem_with_the_source() -> None:
    with pytest.raises(InvalidDocument) as caught:
        parse(TWO_PROBLEMS, "flow.yaml")
    assert caught.value.source == "flow.yaml"
    assert len(caught.value.problems) == 3
    assert str(caught.value).startswith("flow.yaml: 3 problem(s)")


def test_parse_returns_the_workflow_model() -> None:
    workflow = parse(HEADER + "do:\n  - greet:\n      set: {hello: world}\n")
    assert type(workflow).__name__ == "Workflow"


def test_parse_file_reports_lines_and_path(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(TWO_PROBLEMS, encoding="utf-8")
    with pytest.raises(InvalidDocument) as caught:
        parse_file(path)
    assert caught.value.source == str(path)
    assert [problem.line for problem in caught.value.problems] == [10, 6, 9]


def test_validate_refuses_a_non_mapping() -> None:
    assert [problem.code for problem in validate(["do"])] == ["not-a-mapping"]


def test_a_five_megabyte_document_validates() -> None:
    values = {f"key{i}": {"label": f"value {i}", "n": i, "pick": "${ .x }"} for i in range(75_000)}
    tasks = [{f"task{i}": {"set": {"i": i}}} for i in range(1_000)]
    document = {
        "document": {"dsl": "1.0.3", "namespace": "test", "name": "big", "version": "1.0.0"},
        "do": [{"init": {"set": values}}, *tasks],
    }
    text = json.dumps(document)
    assert len(text) > 5_000_000
    loaded, problems = validate_text(text)
    assert problems == []
    assert loaded == document


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
JSON_VALUES = st.recursive(
    JSON_SCALARS | st.sampled_from(["${ .a }", "${ ( }", "exit", "http", "PT1S"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["do", "set", "call", "with", "then", "if", "for", "in", "switch", "x", "try", "catch"]
            )
            | st.text(max_size=6),
            children,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_validate_text_never_raises_on_arbitrary_text(text: str) -> None:
    document, problems = validate_text(text)
    assert document is not None or problems


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["document", "do", "use", "input", "output", "timeout"]), JSON_VALUES))
def test_validate_never_raises_on_arbitrary_structures(document: dict[str, Any]) -> None:
    problems = validate(document)
    assert all(problem.code for problem in problems)
    _, text_problems = validate_text(json.dumps(document))
    assert all(problem.pointer is not None for problem in text_problems)


PROBLEM_CODES = [
    "empty-document",
    "not-a-mapping",
    "yaml-syntax",
    "duplicate-key",
    "invalid-key",
    "too-deep",
    "too-large",
    "encoding",
    "not-found",
    "schema",
    "unknown-task-type",
    "duplicate-task",
    "unknown-task",
    "unknown-error",
    "unknown-retry",
    "unknown-timeout",
    "unknown-authentication",
    "invalid-expression",
]


@pytest.mark.parametrize("code", PROBLEM_CODES)
def test_every_problem_code_is_documented(code: str) -> None:
    errors_page = Path(__file__).parents[2] / "docs" / "errors.md"
    assert f"\n## {code}\n" in errors_page.read_text("utf-8")
