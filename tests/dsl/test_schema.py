"""Schema validation: every spec example passes; errors name the field and say what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from treadle.dsl import load_text, validate, validate_text
from treadle.dsl.schema import _quick_validator, schema_problems, workflow_validator

EXAMPLES = Path(__file__).parents[2] / ".." / "shared" / "spec" / "examples"
HEADER = "document: {dsl: '1.0.3', namespace: test, name: sample, version: '1.0.0'}\n"


def example_files() -> list[Path]:
    if not EXAMPLES.is_dir():
        raise RuntimeError(f"the spec examples are missing: expected them at {EXAMPLES.resolve()}")
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert files, f"no examples in {EXAMPLES}"
    return files


@pytest.mark.parametrize("path", example_files(), ids=lambda path: path.name)
def test_spec_example_validates_without_problems(path: Path) -> None:
    document, problems = validate_text(path.read_text("utf-8"), str(path))
    assert document is not None
    assert problems == []


def schema_findings(body: str) -> list[tuple[str, str]]:
    return [(problem.pointer, problem.code) for problem in schema_problems(load_text(HEADER + body))]


def test_task_with_unknown_type_lists_the_known_types() -> None:
    [problem] = schema_problems(load_text(HEADER + "do:\n  - first:\n      sing: loudly\n"))
    assert (problem.pointer, problem.code) == ("/do/0/first", "unknown-task-type")
    assert (
        "expected one of call, do, emit, for, fork, listen, raise, run, set, switch, try, wait"
        in problem.message
    )
    assert "'sing'" in problem.message


def test_unknown_task_type_is_found_in_nested_lists() -> None:
    body = "do:\n  - outer:\n      fork:\n        branches:\n          - inner: {nope: 1}\n"
    assert schema_findings(body) == [("/do/0/outer/fork/branches/0/inner", "unknown-task-type")]


def test_missing_required_property_points_at_its_object() -> None:
    [problem] = schema_problems(
        load_text(HEADER + "do:\n  - get:\n      call: http\n      with: {endpoint: 'https://example.com'}\n")
    )
    assert problem.pointer == "/do/0/get/with"
    assert problem.message == "missing required property 'method'"


def test_unexpected_property_points_at_the_property() -> None:
    [problem] = schema_problems(load_text(HEADER + "do:\n  - a:\n      set: {x: 1}\n      bogus: 2\n"))
    assert (problem.pointer, problem.message) == ("/do/0/a/bogus", "unexpected property 'bogus'")


def test_bad_value_in_a_one_of_names_the_allowed_forms() -> None:
    [problem] = schema_problems(load_text(HEADER + "do:\n  - a:\n      wait: soon\n"))
    assert problem.pointer == "/do/0/a/wait"
    assert "DurationInline" in problem.message and "DurationLiteral" in problem.message


def test_every_schema_error_is_reported() -> None:
    body = "do:\n  - a: {wait: soon}\n  - b: {set: {x: 1}, then: 5}\n  - c: {run: {shell: {}}}\n"
    assert schema_findings(body) == [
        ("/do/0/a/wait", "schema"),
        ("/do/1/b/then", "schema"),
        ("/do/2/c/run/shell", "schema"),
    ]


def test_missing_header_fields_are_reported() -> None:
    problems = schema_problems(load_text("document: {dsl: '1.0.3'}\ndo: []\n"))
    assert [(problem.pointer, problem.message) for problem in problems] == [
        ("/document", "missing required properties 'namespace', 'name', 'version'")
    ]


def test_wrong_type_message_names_both_types() -> None:
    [problem] = schema_problems(load_text(HEADER + "do: {a: 1}\n"))
    assert (problem.pointer, problem.message) == ("/do", "expected an array, got an object")


def test_deep_task_nesting_is_too_deep_rather_than_a_recursion_error() -> None:
    document: dict[str, object] = {"set": {"x": 1}}
    for _ in range(60):
        document = {"do": [{"t": document}]}
    problems = validate({"document": load_text(HEADER)["document"], **document})
    assert [problem.code for problem in problems] in ([], ["too-deep"])


INVALID_BODIES = [
    "do:\n  - first:\n      sing: loudly\n",
    "do:\n  - get:\n      call: http\n      with: {endpoint: 'https://example.com'}\n",
    "do:\n  - a:\n      set: {x: 1}\n      bogus: 2\n",
    "do:\n  - outer:\n      fork:\n        branches:\n          - inner: {nope: 1}\n",
    "do:\n  - nap:\n      wait: {seconds: 1.5}\n",
    "do:\n  - a:\n      call: 5\n",
]


@pytest.mark.parametrize("path", example_files(), ids=lambda path: path.name)
def test_the_quick_check_passes_what_the_full_one_passes(path: Path) -> None:
    # A document the quick check (jsonschema-rs) passes skips the full one (jsonschema).
    document = load_text(path.read_text("utf-8"), str(path))
    assert _quick_validator().is_valid(document) is workflow_validator().is_valid(document) is True


@pytest.mark.parametrize("body", INVALID_BODIES)
def test_the_quick_check_fails_what_the_full_one_fails(body: str) -> None:
    document = load_text(HEADER + body)
    assert not workflow_validator().is_valid(document)
    assert not _quick_validator().is_valid(document)
    assert schema_problems(document)


def test_a_value_the_quick_check_cannot_take_gets_the_full_check() -> None:
    # Built in Python, not loaded from text: a task named by a number, not a string.
    document = load_text(HEADER + "do:\n  - a:\n      set: {x: 1}\n")
    document["do"] = [{1: {"set": {"x": 1}}}]
    assert schema_problems(document) == []
    document["do"] = [{1: {"set": {"x": 1}, "bogus": 2}}]
    assert [problem.pointer for problem in schema_problems(document)] == ["/do/0/1/bogus"]
