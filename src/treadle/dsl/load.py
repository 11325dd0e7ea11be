"""Turn workflow text (YAML, and therefore JSON) into a plain JSON-like dict, safely and fast.

PyYAML's own loaders do not suit untrusted workflow text: the C composer recurses and
crashes the interpreter (a segfault, not an exception) on a few tens of thousands of
nested brackets, the constructor spends ~10 µs a node (seconds for a 5 MB document),
duplicate keys are silently dropped, and YAML 1.1 typing turns `on:` into `True` and
`12:30` into `750`. So this module drives libyaml's event parser (iterative, C) itself and
builds the document in one loop: nesting depth, alias expansion and size are bounded as it
goes, duplicate keys are reported with their line, and plain scalars are typed by the
YAML 1.2 core schema (the JSON-compatible one), so `2024-01-01` and `0.1.0` stay strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from treadle.dsl.problems import DocumentProblem, InvalidDocument

__all__ = ["MAX_ALIAS_NODES", "MAX_BYTES", "MAX_DEPTH", "load_file", "load_text", "escape_token"]

#: Documents larger than this are refused before parsing.
MAX_BYTES = 16 * 1024 * 1024
#: Deepest nesting of mappings and sequences accepted. Validation and the engine walk
#: documents recursively; 200 levels is far beyond any real workflow.
MAX_DEPTH = 200
#: How libyaml says a document nests deeper than its own limit (above MAX_DEPTH).
_LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"
#: Most nodes that aliases may add by repeating anchored values ("billion laughs" guard).
MAX_ALIAS_NODES = 1_000_000

# libyaml's parser when PyYAML was built with it; the pure-Python parser otherwise
# (same events, slower).
_Parser: Any = getattr(yaml, "CBaseLoader", None) or yaml.BaseLoader

_STR_TAG = "tag:yaml.org,2002:str"
_KNOWN_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUES = frozenset({"true", "True", "TRUE"})
_FALSES = frozenset({"false", "False", "FALSE"})
_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_SPECIAL_FLOATS = {
    ".inf": float("inf"),
    ".Inf": float("inf"),
    ".INF": float("inf"),
    "+.inf": float("inf"),
    "+.Inf": float("inf"),
    "+.INF": float("inf"),
    "-.inf": float("-inf"),
    "-.Inf": float("-inf"),
    "-.INF": float("-inf"),
    ".nan": float("nan"),
    ".NaN": float("nan"),
    ".NAN": float("nan"),
}


def load_text(text: str, source: str = "<string>") -> dict[str, Any]:
    """Parse workflow text into a dict of JSON-like values.

    Raises:
        InvalidDocument: the text is empty, too large, too deep, not YAML, has duplicate
            keys, or is not a mapping at the top level; every problem found is listed.
    """
    if len(text) > MAX_BYTES:
        raise InvalidDocument([_too_large(len(text))], source)
    if not text.strip():
        raise InvalidDocument([DocumentProblem("", "empty-document", "the document is empty", 1)], source)
    builder = _Builder()
    try:
        document = builder.build(text)
    except yaml.MarkedYAMLError as error:
        raise InvalidDocument([_syntax_problem(error)], source) from None
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        raise InvalidDocument([DocumentProblem("", "yaml-syntax", str(error.reason), line)], source) from None
    except _Refused as refusal:
        raise InvalidDocument([*builder.problems, refusal.problem], source) from None
    if builder.problems:
        raise InvalidDocument(builder.problems, source)
    return _require_mapping(document, source)


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a workflow file (UTF-8) and parse it; the path is the problems' source.

    Raises:
        InvalidDocument: the file is missing or unreadable, not UTF-8, or not a valid document.
    """
    source = str(path)
    data = _read_bytes(Path(path), source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        message = (
            f"the file is not UTF-8 text (invalid byte 0x{data[error.start]:02x} at offset {error.start})"
        )
        raise InvalidDocument([DocumentProblem("", "encoding", message, line)], source) from None
    return load_text(text, source)


def escape_token(key: str) -> str:
    """Escape one JSON pointer reference token (RFC 6901: `~` → `~0`, `/` → `~1`)."""
    return key.replace("~", "~0").replace("/", "~1")


def _read_bytes(path: Path, source: str) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InvalidDocument([_too_large(size)], source)
        return path.read_bytes()
    except FileNotFoundError:
        problem = DocumentProblem("", "not-found", f"no such file: {source}")
    except IsADirectoryError:
        problem = DocumentProblem("", "not-found", f"{source} is a directory, not a file")
    except OSError as error:
        problem = DocumentProblem("", "not-found", f"cannot read {source}: {error.strerror}")
    raise InvalidDocument([problem], source)


def _too_large(size: int) -> DocumentProblem:
    message = f"the document is too large ({size:,} bytes; at most {MAX_BYTES:,} are accepted)"
    return DocumentProblem("", "too-large", message, None)


def _syntax_problem(error: yaml.MarkedYAMLError) -> DocumentProblem:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark else None
    reason = error.problem or "invalid YAML"
    if _LIBYAML_TOO_DEEP in reason:
        # libyaml (PyYAML ≥ 6.0.4) refuses deep flow nesting while it scans ahead, before
        # the builder sees the events that would reach MAX_DEPTH: the same problem.
        return DocumentProblem("", "too-deep", f"the document nests deeper than {MAX_DEPTH} levels", line)
    if error.context:
        reason = f"{reason} ({error.context})"
    return DocumentProblem("", "yaml-syntax", reason, line)


def _require_mapping(document: Any, source: str) -> dict[str, Any]:
    if document is None:
        raise InvalidDocument([DocumentProblem("", "empty-document", "the document is empty", 1)], source)
    if not isinstance(document, dict):
        kind = "a list" if isinstance(document, list) else f"a single {type(document).__name__} value"
        message = f"a workflow document must be a mapping (document:, do:, ...), not {kind}"
        raise InvalidDocument([DocumentProblem("", "not-a-mapping", message, 1)], source)
    return document


class _Refused(Exception):
    """Stops the build at a problem that makes the rest of the text not worth reading."""

    def __init__(self, problem: DocumentProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class _Frame:
    """An open mapping or sequence while the events between its start and end arrive."""

    value: dict[str, Any] | list[Any]
    token: str  # its reference token in its parent, for pointers
    anchor: str | None
    size: int = 1  # nodes in it, counting what aliases repeat
    height: int = 1  # levels in it, counting what aliases repeat
    key: str | None = None  # a mapping's pending key, waiting for its value
    key_line: int = 0
    expect_key: bool = True
    merges: list[Any] = field(default_factory=list)


@dataclass
class _Anchored:
    value: Any
    size: int
    height: int


class _Builder:
    """Builds one document from parser events, with an explicit stack instead of recursion."""

    def __init__(self) -> None:
        self.problems: list[DocumentProblem] = []
        self.anchors: dict[str, _Anchored] = {}
        self.alias_nodes = 0
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.documents = 0

    def build(self, text: str) -> Any:
        parser = _Parser(text)
        try:
            while parser.check_event():
                self.handle(parser.get_event())
        finally:
            parser.dispose()
        return self.root

    def handle(self, event: yaml.Event) -> None:
        # Ordered by frequency: scalars dominate every document.
        if isinstance(event, yaml.ScalarEvent):
            self.add(self.scalar(event), event, 1, 0)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self.open(event)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            self.close()
        elif isinstance(event, yaml.AliasEvent):
            self.alias(event)
        elif isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                message = "the text holds more than one YAML document (---); a workflow is exactly one"
                raise _Refused(DocumentProblem("", "yaml-syntax", message, _line(event)))

    def open(self, event: yaml.MappingStartEvent | yaml.SequenceStartEvent) -> None:
        self.check_tag(event)
        if len(self.stack) >= MAX_DEPTH:
            self.refuse_depth(event)
        token = self.child_token(event)
        value: dict[str, Any] | list[Any] = {} if isinstance(event, yaml.MappingStartEvent) else []
        self.stack.append(_Frame(value, token, event.anchor))

    def close(self) -> None:
        frame = self.stack.pop()
        if frame.merges and isinstance(frame.value, dict):
            self.apply_merges(frame.value, frame.merges)
        if frame.anchor is not None:
            self.anchors[frame.anchor] = _Anchored(frame.value, frame.size, frame.height)
        self.attach(frame.value, frame.size, frame.height)

    def alias(self, event: yaml.AliasEvent) -> None:
        anchored = self.anchors.get(event.anchor or "")
        if anchored is None:
            line = _line(event)
            raise _Refused(DocumentProblem("", "yaml-syntax", f"unknown alias *{event.anchor}", line))
        self.alias_nodes += anchored.size
        if self.alias_nodes > MAX_ALIAS_NODES:
            message = f"aliases expand the document to more than {MAX_ALIAS_NODES:,} nodes"
            raise _Refused(DocumentProblem(self.pointer(), "too-large", message, _line(event)))
        if len(self.stack) + anchored.height > MAX_DEPTH:
            self.refuse_depth(event)
        self.add(anchored.value, event, anchored.size, anchored.height)

    def add(self, value: Any, event: yaml.Event, size: int, height: int) -> None:
        """Place a scalar or an aliased value: as a key, a mapping value or an item."""
        if not self.stack:
            self.root = value
            return
        if isinstance(event, yaml.ScalarEvent) and event.anchor is not None:
            self.anchors[event.anchor] = _Anchored(value, 1, 0)
        frame = self.stack[-1]
        if isinstance(frame.value, dict) and frame.expect_key:
            frame.key = self.key_text(value, event)
            frame.key_line = _line(event)
            frame.expect_key = False
            return
        self.attach(value, size, height)

    def attach(self, value: Any, size: int, height: int) -> None:
        if not self.stack:
            self.root = value
            return
        frame = self.stack[-1]
        frame.size += size
        frame.height = max(frame.height, height + 1)
        if isinstance(frame.value, list):
            frame.value.append(value)
            return
        key, frame.key, frame.expect_key = frame.key, None, True
        assert key is not None  # a mapping's value always follows its key
        if key == "<<" and isinstance(value, dict | list):
            frame.merges.append(value)
        elif key in frame.value:
            message = f"duplicate key {key!r}: YAML would silently keep only the last value"
            self.problems.append(DocumentProblem(self.pointer(key), "duplicate-key", message, frame.key_line))
        else:
            frame.value[key] = value

    def key_text(self, value: Any, event: yaml.Event) -> str:
        if isinstance(event, yaml.ScalarEvent):
            # JSON has only string keys: `200:` and `true:` mean the text as written.
            return event.value
        if isinstance(value, str):
            return value
        message = "a mapping key must be a plain string, not a mapping or a list"
        raise _Refused(DocumentProblem(self.pointer(), "invalid-key", message, _line(event)))

    def child_token(self, event: yaml.Event) -> str:
        if not self.stack:
            return ""
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            return str(len(frame.value))
        if frame.expect_key:
            message = "a mapping key must be a plain string, not a mapping or a list"
            raise _Refused(DocumentProblem(self.pointer(), "invalid-key", message, _line(event)))
        return frame.key or ""

    def scalar(self, event: yaml.ScalarEvent) -> Any:
        tag = event.tag
        if tag is not None and tag != "!":
            self.check_tag(event)
            return _typed(event.value, tag)
        if event.implicit[0] and not event.style:  # plain: libyaml says "", PyYAML None
            return _resolve_plain(event.value)
        return event.value

    def check_tag(self, event: yaml.NodeEvent) -> None:
        tag = getattr(event, "tag", None)
        if tag is None or tag == "!":
            return
        if isinstance(event, yaml.ScalarEvent):
            allowed = tag in _KNOWN_SCALAR_TAGS
        elif isinstance(event, yaml.MappingStartEvent):
            allowed = tag == "tag:yaml.org,2002:map"
        else:
            allowed = tag == "tag:yaml.org,2002:seq"
        if not allowed:
            message = f"unsupported YAML tag {tag}: a workflow holds only JSON values"
            line = _line(event)
            raise _Refused(DocumentProblem(self.node_pointer(), "yaml-syntax", message, line))

    def apply_merges(self, mapping: dict[str, Any], merges: list[Any]) -> None:
        # `<<: *base` (or a list of them): explicit keys win, earlier merges win over later.
        sources = [item for merge in merges for item in (merge if isinstance(merge, list) else [merge])]
        for source in sources:
            if isinstance(source, dict):
                for key, value in source.items():
                    mapping.setdefault(key, value)

    def refuse_depth(self, event: yaml.Event) -> None:
        message = f"the document nests deeper than {MAX_DEPTH} levels"
        raise _Refused(DocumentProblem(self.node_pointer(), "too-deep", message, _line(event)))

    def node_pointer(self) -> str:
        """The pointer of the node whose event is being handled."""
        if not self.stack:
            return ""
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            return self.pointer(str(len(frame.value)))
        return self.pointer(None if frame.expect_key else frame.key)

    def pointer(self, last: str | None = None) -> str:
        tokens = [frame.token for frame in self.stack[1:]]
        if last is not None:
            tokens.append(last)
        return "".join("/" + escape_token(token) for token in tokens)


def _resolve_plain(text: str) -> Any:
    """Type a plain (unquoted) scalar by the YAML 1.2 core schema."""
    if text in _NULLS:
        return None
    first = text[0]
    if first in _DIGIT_STARTS:
        if _INT.fullmatch(text):
            return int(text)
        if _FLOAT.fullmatch(text):
            return float(text)
        if text.startswith("0o") and _is_digits(text[2:], 8):
            return int(text[2:], 8)
        if text.startswith("0x") and _is_digits(text[2:], 16):
            return int(text[2:], 16)
        return _SPECIAL_FLOATS.get(text, text)
    if text in _TRUES:
        return True
    if text in _FALSES:
        return False
    return text


_DIGIT_STARTS = frozenset("0123456789-+.")


def _is_digits(text: str, base: int) -> bool:
    try:
        int(text, base)
    except ValueError:
        return False
    return text.isalnum()


def _typed(text: str, tag: str) -> Any:
    """Apply an explicit standard tag (`!!str 1`, `!!int "3"`); bad values stay strings."""
    if tag == _STR_TAG:
        return text
    resolved = _resolve_plain(text) if text else None
    wanted = {
        "tag:yaml.org,2002:int": int,
        "tag:yaml.org,2002:float": float,
        "tag:yaml.org,2002:bool": bool,
        "tag:yaml.org,2002:null": type(None),
    }[tag]
    if wanted is float and isinstance(resolved, int):
        return float(resolved)
    return resolved if type(resolved) is wanted else text


def _line(event: yaml.Event) -> int:
    """The 1-based line an event starts on (events always carry marks when parsing text)."""
    mark = event.start_mark
    return mark.line + 1 if mark is not None else 0
