"""Loading text into a document: bad inputs become problems, never exceptions of other kinds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from treadle.dsl import InvalidDocument, load_file, load_text
from treadle.dsl.load import MAX_BYTES, MAX_DEPTH

HEADER = "document: {dsl: '1.0.3', namespace: test, name: sample, version: '1.0.0'}\n"


def problems_of(text: str) -> list[tuple[str, str, int | None]]:
    with pytest.raises(InvalidDocument) as caught:
        load_text(text)
    return [(problem.pointer, problem.code, problem.line) for problem in caught.value.problems]


@pytest.mark.parametrize("text", ["", "   \n\t\n", "# only a comment\n", "~\n"])
def test_empty_text_is_an_empty_document(text: str) -> None:
    assert problems_of(text) == [("", "empty-document", 1)]


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_text_that_is_not_a_mapping_is_refused(text: str) -> None:
    assert problems_of(text) == [("", "not-a-mapping", 1)]


def test_yaml_syntax_error_reports_its_line() -> None:
    text = HEADER + "do:\n  - first:\n      set: {a: 1\n  - second: {}\n"
    [(pointer, code, line)] = problems_of(text)
    assert (pointer, code) == ("", "yaml-syntax")
    assert line == 5


def test_control_characters_are_a_syntax_error_with_a_line() -> None:
    assert problems_of("a: 1\nb: \x00\n") == [("", "yaml-syntax", 2)]


def test_duplicate_keys_are_all_reported_with_pointer_and_line() -> None:
    text = "a: 1\nb:\n  c: 1\n  c: 2\na: 3\n"
    assert problems_of(text) == [("/b/c", "duplicate-key", 4), ("/a", "duplicate-key", 5)]


def test_more_than_one_yaml_document_is_refused() -> None:
    assert problems_of("a: 1\n---\nb: 2\n") == [("", "yaml-syntax", 2)]


def test_ten_thousand_levels_of_nesting_is_too_deep_not_a_crash() -> None:
    for text in ("[" * 10_000 + "]" * 10_000, "a: " + "[" * 100_000):
        [(_, code, line)] = problems_of(text)
        assert code == "too-deep"
        assert line == 1


def test_block_nesting_beyond_the_limit_is_too_deep() -> None:
    text = "".join(" " * depth + "k:\n" for depth in range(MAX_DEPTH + 5))
    assert [code for _, code, _ in problems_of(text)] == ["too-deep"]


def test_nesting_at_the_limit_loads() -> None:
    depth = MAX_DEPTH - 1
    assert load_text("a: " + "[" * depth + "]" * depth)["a"] is not None


def test_aliases_that_expand_exponentially_are_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    assert [code for _, code, _ in problems_of("\n".join(lines))] == ["too-large"]


def test_text_over_the_size_limit_is_too_large() -> None:
    assert problems_of("a: " + "x" * MAX_BYTES) == [("", "too-large", None)]


def test_unknown_alias_and_unsupported_tags_are_syntax_problems() -> None:
    assert problems_of("a: *nowhere\n") == [("", "yaml-syntax", 1)]
    assert problems_of("a: 1\nb: !!binary aGk=\n") == [("/b", "yaml-syntax", 2)]


def test_complex_keys_are_refused() -> None:
    assert problems_of("? [a, b]\n: c\n") == [("", "invalid-key", 1)]


def test_scalars_are_typed_like_json_not_like_yaml_1_1() -> None:
    text = (
        "date: 2024-01-01\nversion: 0.1.0\ntime: 12:30\nyes: yes\non: off\n"
        "int: 42\nneg: -7\nfloat: 1.5\nexp: 1e3\nhex: 0x1f\ntrue: true\nnull: null\nempty:\n"
        "quoted: '42'\n200: ok\ntagged: !!str 12\n"
    )
    assert load_text(text) == {
        "date": "2024-01-01",
        "version": "0.1.0",
        "time": "12:30",
        "yes": "yes",
        "on": "off",
        "int": 42,
        "neg": -7,
        "float": 1.5,
        "exp": 1000.0,
        "hex": 31,
        "true": True,
        "null": None,
        "empty": None,
        "quoted": "42",
        "200": "ok",
        "tagged": "12",
    }


def test_json_text_loads() -> None:
    document = {"document": {"dsl": "1.0.3"}, "do": [{"a": {"set": {"x": [1, 2.5, None, True]}}}]}
    assert load_text(json.dumps(document)) == document


def test_anchors_aliases_and_merge_keys_resolve() -> None:
    text = "base: &base {a: 1, b: 2}\nuse: *base\nmerged: {<<: *base, b: 3}\n"
    assert load_text(text) == {"base": {"a": 1, "b": 2}, "use": {"a": 1, "b": 2}, "merged": {"a": 1, "b": 3}}


def test_a_five_megabyte_document_loads_quickly() -> None:
    values = {f"key{i}": {"name": f"value number {i}", "n": i, "tags": ["a", "b"]} for i in range(75_000)}
    text = (
        HEADER
        + "do:\n  - init:\n      set:\n"
        + "".join(
            f"        {key}: {{name: {value['name']}, n: {value['n']}, tags: [a, b]}}\n"
            for key, value in values.items()
        )
    )
    assert len(text) > 5_000_000
    document = load_text(text)
    assert document["do"][0]["init"]["set"] == values


def test_load_file_reads_utf8_and_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("\ufeffname: café\n", encoding="utf-8")
    assert load_file(path) == {"name": "café"}
    path.write_text("a: 1\na: 2\n", encoding="utf-8")
    with pytest.raises(InvalidDocument) as caught:
        load_file(path)
    assert caught.value.source == str(path)


def test_load_file_refuses_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"a: 1\nb: \xff\xfe\x00\x81\n")
    with pytest.raises(InvalidDocument) as caught:
        load_file(path)
    [problem] = caught.value.problems
    assert (problem.code, problem.line) == ("encoding", 2)
    assert "0xff" in problem.message


def test_load_file_of_a_missing_path_says_so(tmp_path: Path) -> None:
    with pytest.raises(InvalidDocument) as caught:
        load_file(tmp_path / "nope.yaml")
    [problem] = caught.value.problems
    assert problem.code == "not-found"
    assert "no such file" in problem.message
