"""What the commands share: reading documents, printing problems and JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from treadle.dsl import DocumentProblem, InvalidDocument


def read_document_text(path: Path) -> str:
    """Read a document as text, turning I/O failures into `InvalidDocument`."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _unreadable(path, "no such file") from None
    except IsADirectoryError:
        raise _unreadable(path, "is a directory, not a file") from None
    except OSError as error:
        raise _unreadable(path, error.strerror or str(error)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidDocument(
            [DocumentProblem("", "encoding", f"not UTF-8 text (byte {error.start})")], str(path)
        ) from None


def _unreadable(path: Path, reason: str) -> InvalidDocument:
    return InvalidDocument([DocumentProblem("", "unreadable", reason)], str(path))


def problem_lines(source: str, problems: Iterable[DocumentProblem]) -> Iterator[str]:
    """One `FILE: POINTER: message` line per problem (the line number ends the message)."""
    for problem in problems:
        where = f" (line {problem.line})" if problem.line else ""
        yield f"{source}: {problem.pointer or '/'}: {problem.message}{where}"


def to_json(value: Any, *, pretty: bool) -> str:
    """Serialize a JSON-like value; datetimes become ISO 8601, other leaves strings."""
    if pretty:
        return json.dumps(value, indent=2, ensure_ascii=False, default=_leaf)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_leaf)


def iso_time(moment: datetime) -> str:
    """`2026-11-24T00:46:22.491985Z`: ISO 8601, UTC spelled `Z`."""
    return moment.isoformat().replace("+00:00", "Z")


def _leaf(value: Any) -> str:
    return iso_time(value) if isinstance(value, datetime) else str(value)
