"""`treadle validate`: exit codes and the `FILE: POINTER: message` lines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Treadle

VALID = """
document: { dsl: '1.0.3', namespace: test, name: ok, version: '1.0.0' }
do:
  - first:
      set: { a: 1 }
"""

BAD_THEN = """
document: { dsl: '1.0.3', namespace: test, name: bad, version: '1.0.0' }
do:
  - first:
      set: { a: 1 }
      then: nowhere
"""


def test_valid_documents_exit_zero_and_print_nothing(
    treadle: Treadle, write: Callable[[str, str], Path]
) -> None:
    first = write("a.yaml", VALID)
    second = write("b.yaml", VALID)
    result = treadle("validate", str(first), str(second))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_invalid_document_prints_file_pointer_and_message(
    treadle: Treadle, write: Callable[[str, str], Path]
) -> None:
    good = write("good.yaml", VALID)
    bad = write("bad.yaml", BAD_THEN)
    result = treadle("validate", str(good), str(bad))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{bad}: /do/0/first/then: ")
    assert "nowhere" in lines[0]


def test_unreadable_and_empty_files_are_problems_not_tracebacks(
    treadle: Treadle, write: Callable[[str, str], Path], tmp_path: Path
) -> None:
    empty = write("empty.yaml", "")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    missing = tmp_path / "missing.yaml"
    result = treadle("validate", str(empty), str(binary), str(missing))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    sources = [line.split(": ", 1)[0] for line in result.stdout.splitlines()]
    assert sources == [str(empty), str(binary), str(missing)]


def test_no_files_is_a_usage_error(treadle: Treadle) -> None:
    result = treadle("validate")
    assert result.returncode == 2
