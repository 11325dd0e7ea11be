"""Find the source line of JSON pointers, so problems point at a line as well as a path.

Loading does not keep positions (it would cost time and memory on every document), so
when a document has problems the text is parsed a second time, events only, and the
line of each wanted pointer is recorded. A mapping value is placed on its key's line
(`charge:` rather than the first line of its body). A pointer with no node of its own
(a missing property, or a value repeated through an alias) gets its nearest ancestor's
line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import yaml

from treadle.dsl.load import escape_token
from treadle.dsl.problems import DocumentProblem

__all__ = ["locate_lines", "with_lines"]

_Parser: Any = getattr(yaml, "CBaseLoader", None) or yaml.BaseLoader


def with_lines(text: str, problems: list[DocumentProblem]) -> list[DocumentProblem]:
    """The problems with `line` filled in wherever it was missing."""
    missing = [problem.pointer for problem in problems if problem.line is None]
    if not missing:
        return problems
    lines = locate_lines(text, missing)
    return [
        problem if problem.line is not None else replace(problem, line=_nearest_line(problem.pointer, lines))
        for problem in problems
    ]


def locate_lines(text: str, pointers: Iterable[str]) -> dict[str, int]:
    """Map each pointer (and each of its ancestors) that exists in `text` to its 1-based line."""
    wanted = {ancestor for pointer in pointers for ancestor in _ancestors(pointer)}
    lines: dict[str, int] = {}
    parser = _Parser(text)
    stack: list[_Open] = []
    try:
        while parser.check_event():
            _follow(parser.get_event(), stack, wanted, lines)
    except yaml.YAMLError:
        pass  # the text loaded before, so this is only a partial answer at worst
    finally:
        parser.dispose()
    return lines


@dataclass
class _Open:
    pointer: str
    is_mapping: bool
    count: int = 0  # items seen (sequence) or scalars/keys and values seen (mapping)
    key: str = ""
    key_line: int = 0


def _follow(event: yaml.Event, stack: list[_Open], wanted: set[str], lines: dict[str, int]) -> None:
    if isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
        stack.pop()
        return
    if not isinstance(event, yaml.NodeEvent):
        return
    line = _line(event)
    if not stack:
        pointer = ""
    else:
        parent = stack[-1]
        if parent.is_mapping and parent.count % 2 == 0:
            # A key: remember it and its line for the value that follows.
            parent.count += 1
            parent.key = event.value if isinstance(event, yaml.ScalarEvent) else ""
            parent.key_line = line
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                stack.append(_Open("\0", isinstance(event, yaml.MappingStartEvent)))  # unreachable key
            return
        token = parent.key if parent.is_mapping else str(parent.count)
        line = parent.key_line if parent.is_mapping else line
        parent.count += 1
        pointer = f"{parent.pointer}/{escape_token(token)}"
    if pointer in wanted:
        lines[pointer] = line
    if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
        stack.append(_Open(pointer, isinstance(event, yaml.MappingStartEvent)))


def _ancestors(pointer: str) -> list[str]:
    parts = pointer.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]


def _nearest_line(pointer: str, lines: dict[str, int]) -> int | None:
    for ancestor in reversed(_ancestors(pointer)):
        if ancestor in lines:
            return lines[ancestor]
    return None


def _line(event: yaml.Event) -> int:
    """The 1-based line an event starts on (events always carry marks when parsing text)."""
    mark = event.start_mark
    return mark.line + 1 if mark is not None else 0
