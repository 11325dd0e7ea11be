"""JSON for the store's columns: orjson where it means what the stdlib means, else the stdlib.

A step of a durable run stores ~6 JSON values (journal `data`, stage `input`/`output`):
`json.dumps` took ~2.2 µs for a typical one, `dumps` here ~0.6; `json.loads` ~1.7 µs,
`loads` ~0.8 (orjson alone: 0.2 and 0.35, the rest is the checks below). Both are drop-in
replacements for the stdlib functions SQLAlchemy (and psycopg) used before: every value
encodes to JSON that decodes to the same value, every text decodes to the same value, and
what raised still raises the same error, because whatever orjson treats differently is
left to the stdlib:

- `dumps` hands orjson only values built of exact `dict`, `list`, `tuple`, `str`, `int`,
  `bool`, `None` and finite `float` (`_plain`). orjson writes NaN and ±Infinity as `null`
  (the stdlib writes `NaN`/`Infinity`: SQLite keeps them, PostgreSQL refuses them), and
  serialises enums, UUIDs, dataclasses and datetimes, which the stdlib refuses; subclasses
  (`IntEnum`, `OrderedDict`, a `float` subclass) go to the stdlib too, which writes them
  its own way (a dict subclass's `items()`, `int.__repr__`). orjson itself refuses
  integers beyond 64 bits, non-`str` dict keys (the stdlib writes `{"1": ...}`), lone
  surrogates and nesting deeper than 255: those fall back as well. A bare float is written
  by the stdlib (see `dumps`).
- `loads` gives orjson only texts without 19 digits in a row: orjson reads integers beyond
  64 bits as floats, silently. Texts it refuses (`NaN`, `Infinity`, `1e400`, lone surrogate
  escapes, nesting deeper than 1024) are read by the stdlib.

The text differs (compact separators, UTF-8 rather than `\\u` escapes), the value does not.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps", "dumps_json_like", "loads"]

_SCALARS = frozenset({str, int, bool, type(None)})
# 19 digits in a row may be an integer orjson cannot read exactly (it reads -2**63..2**64-1).
# Every digit made a 0, they are 19 zeros in a row: `translate` and `in` find them 5 to 8
# times faster than `re.search("[0-9]{19}")` (~0.2 ms instead of 1.5 for the 230 kB body
# of an execution that ran 1,000 steps, ~0.7 ms to parse).
_ZERO_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19


def _plain(value: Any) -> bool:
    """Whether `value` is made only of the exact types orjson encodes as the stdlib does."""
    kind = type(value)
    if kind is dict:
        items = value.values()
    elif kind is list or kind is tuple:
        items = value
    elif kind is float:
        return bool(value - value == 0.0)  # False for NaN and ±Infinity
    else:
        return kind in _SCALARS
    for item in items:
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind is float:
            if item - item == 0.0:
                continue
            return False
        if not _plain(item):
            return False
    return True


def dumps(value: Any) -> str:
    """`json.dumps(value)`, faster: the same JSON value, in compact UTF-8 text.

    Raises:
        TypeError, ValueError: whatever `json.dumps(value)` raises.
    """
    if type(value) is float:
        # SQLite's JSON columns have NUMERIC affinity: a bare number is stored as one
        # (`1e+16` comes back as the integer 10000000000000000). Spelled as the stdlib
        # spells it (orjson writes `1e-7` for `1e-07`), it is converted as before.
        return json.dumps(value)
    try:
        plain = _plain(value)
    except RecursionError:  # a cycle or very deep nesting: the stdlib says which
        plain = False
    if plain:
        try:
            return orjson.dumps(value).decode()
        except orjson.JSONEncodeError:
            pass  # integers beyond 64 bits, non-str keys, lone surrogates, deep nesting
    return json.dumps(value)


#: What orjson hands to `default` instead of writing it its own way: subclasses of the
#: builtin types, datetimes, dataclasses (`dumps_json_like` refuses them all there).
_STRICT_TYPES = (
    orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def dumps_json_like(value: Any) -> str:
    """`dumps` for values JSON-like by construction (a run's journal data: what the engine
    made, through `treadle.effects.to_json_like` and jq), without walking them first.

    orjson alone writes them as `json.dumps` would, but for NaN and ±Infinity (it writes
    `null`), exact-type subclasses (handed to `_refuse` here) and what it refuses (big
    integers, non-`str` keys, deep nesting): any `null` in its text or a refusal sends the
    value to `dumps`, which walks it. The walk was ~0.4 µs of a journal row's ~1.3 µs
    conversion. A plain `Enum` or a `UUID`, which `json.dumps` refuses and orjson writes,
    is not JSON-like: `to_json_like` refuses it before it reaches a journal.
    """
    if type(value) is float:
        return dumps(value)
    try:
        text = orjson.dumps(value, default=_refuse, option=_STRICT_TYPES)
    except orjson.JSONEncodeError:
        return dumps(value)
    if b"null" in text:
        return dumps(value)  # a None, or a NaN or ±Infinity orjson wrote as null
    return text.decode()


def loads(text: str | bytes) -> Any:
    """`json.loads(text)`, faster (`text` as SQLite and psycopg give it: str or bytes).

    Raises:
        json.JSONDecodeError, ValueError, TypeError: whatever `json.loads(text)` raises
            (SQLAlchemy catches the TypeError for the numbers SQLite hands back as such).
    """
    if isinstance(text, str):
        digits = text.encode("utf-8", "surrogatepass").translate(_ZERO_DIGITS)
    elif isinstance(text, bytes | bytearray):
        digits = text.translate(_ZERO_DIGITS)
    else:
        return json.loads(text)
    if _LONG_NUMBER not in digits:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # NaN, Infinity, 1e400, lone surrogates, deep nesting
    return json.loads(text)
