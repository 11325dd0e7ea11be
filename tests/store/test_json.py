"""The store's JSON (orjson where it agrees with the stdlib) means what `json` meant, on both databases.

"The same" is compared with `repr`, so NaN equals NaN and `1`, `1.0`, `True` and `-0.0`,
`0.0` stay apart. The store tests write through the store as it is configured and through
one configured as before (`json.dumps`/`json.loads`) and check that every value reads
back the same from either, or fails the same way.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.store.rows import insert_executions
from treadle.store import JournalEntry, Store, _json
from treadle.store._fast import RawAppender

NOW = datetime(2025, 1, 1, tzinfo=UTC)


class Color(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    HIGH = 3


class Mode(enum.StrEnum):
    FAST = "fast"


class Name(str):
    pass


class Count(int):
    def __repr__(self) -> str:
        return "Count!"


class Ratio(float):
    def __repr__(self) -> str:
        return "Ratio!"


class Items(dict[str, Any]):
    def items(self) -> Any:
        return [("overridden", True)]


@dataclasses.dataclass
class Point:
    x: int


def _deep(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


# Values a workflow can produce, and the ones the stdlib turns into something else.
STORABLE: list[Any] = [
    None,
    True,
    0,
    -0.0,
    1e16,
    5e-324,
    1.7976931348623157e308,
    0.1,
    1e-7,
    -9.815460251145732e-05,
    2.0**-1074,
    123456789012345680.0,
    [1e-7, 1e22],
    2**63 - 1,
    2**64 - 1,
    2**64,
    -(2**63),
    -(2**63) - 1,
    10**40,
    -(10**40),
    9999999999999999999,
    "",
    "plain",
    'é ü 日本 😀 \u2028 \t \n " \\ /',
    {"name": "step1", "path": "/do/0/step1", "position": 0, "attempt": 0, "input": {"x": 41}},
    {"key": "wex-1/do/0/step1/0", "op": "call", "value": {"x": 42}},
    {"big": [2**70, {"deeper": -(2**65)}], "small": [1, 2.5, None, False]},
    [[], {}, [[]], {"": {}}],
    (1, "two", (3.0,)),
    {1: "int key", 2.5: "float key", None: "none key"},
    {True: "bool key", False: "bool key", -(2**70): "big int key"},
    {1: "a", "1": "b"},
    {"1": "b", 1: "a"},
    float("nan"),
    float("inf"),
    [float("-inf"), {"x": float("nan")}],
    Level.HIGH,
    Mode.FAST,
    {Mode.FAST: Level.HIGH},
    Name("subclass"),
    Count(7),
    Ratio(0.5),
    {Count(1): Ratio(2.0)},
    OrderedDict([("b", 1), ("a", 2)]),
    _deep(300),
]
# Not storable as JSON on PostgreSQL (both ways), but fine on SQLite.
SQLITE_ONLY: list[Any] = ["lone \ud800 surrogate", {"nul": "\x00"}]
# Refused by `json.dumps`: they must still be refused, with the same error.
REFUSED: list[Any] = [
    Color.RED,
    {"color": Color.RED},
    uuid.UUID(int=1),
    [uuid.UUID(int=1)],
    Point(1),
    {"at": NOW},
    date(2025, 1, 1),
    Decimal("1.5"),
    {1, 2},
    b"bytes",
    object(),
    {("tuple", "key"): 1},
]


def _outcome(action: Callable[..., Any], *args: Any) -> str:
    try:
        return repr(action(*args))
    except Exception as error:
        # SQLAlchemy's errors quote the statement's parameters and PostgreSQL's the JSON
        # text (compact now): compare the cause and its first line.
        cause = getattr(error, "orig", None) or error
        first_line = str(cause).split("\n", 1)[0]
        return f"{type(error).__qualname__}: {type(cause).__qualname__}: {first_line}"


def _ids(values: list[Any]) -> list[str]:
    return [repr(value)[:40] for value in values]


@pytest.mark.parametrize("value", [*STORABLE, *SQLITE_ONLY], ids=_ids([*STORABLE, *SQLITE_ONLY]))
def test_dumps_writes_what_json_dumps_means(value: Any) -> None:
    assert isinstance(_json.dumps(value), str)
    assert repr(json.loads(_json.dumps(value))) == repr(json.loads(json.dumps(value)))


@pytest.mark.parametrize("value", REFUSED, ids=_ids(REFUSED))
def test_dumps_refuses_what_json_dumps_refuses(value: Any) -> None:
    assert _outcome(_json.dumps, value) == _outcome(json.dumps, value)
    with pytest.raises(TypeError):
        _json.dumps(value)


@pytest.mark.parametrize("value", [*STORABLE, *SQLITE_ONLY], ids=_ids([*STORABLE, *SQLITE_ONLY]))
def test_dumps_json_like_writes_what_json_dumps_means(value: Any) -> None:
    assert repr(json.loads(_json.dumps_json_like(value))) == repr(json.loads(json.dumps(value)))


# What `to_json_like` lets through refuses as `json.dumps` does; a plain `Enum` or a `UUID`
# never gets that far (`to_json_like` refuses them), and orjson would write them.
NOT_JSON_LIKE = [value for value in REFUSED if "Color" not in repr(value) and "UUID" not in repr(value)]


@pytest.mark.parametrize("value", NOT_JSON_LIKE, ids=_ids(NOT_JSON_LIKE))
def test_dumps_json_like_refuses_what_json_dumps_refuses(value: Any) -> None:
    assert _outcome(_json.dumps_json_like, value) == _outcome(json.dumps, value)


def test_dumps_json_like_refuses_a_cycle_as_json_dumps_does() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    assert _outcome(_json.dumps_json_like, cycle) == _outcome(json.dumps, cycle)


def test_dumps_refuses_a_cycle_as_json_dumps_does() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    assert _outcome(_json.dumps, cycle) == _outcome(json.dumps, cycle)
    with pytest.raises(ValueError, match="Circular reference"):
        _json.dumps(cycle)


def test_dumps_leaves_a_dict_subclass_to_json_dumps() -> None:
    # The stdlib asks a dict subclass for its items(); orjson would read the dict itself.
    value = Items(real=1)
    assert _json.dumps(value) == json.dumps(value) == '{"overridden": true}'


TEXTS: list[str] = [
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "[123456789012345678901234567890, -1234567890123456789012]",
    '{"id": "wex-1234567890123456789012", "n": 1}',
    "NaN",
    "[Infinity, -Infinity, NaN]",
    "1e400",
    '"\\ud800"',
    '"\\ud83d\\ude00"',
    '{"a": 1, "a": 2}',
    "0.1000000000000000055511151231257827",
    "2.4703282292062328e-324",
    "1E2",
    "-0",
    "-0.0",
    " [1] ",
    '"\\u00e9 é"',
    "[" * 300 + "]" * 300,
    "[" * 2000 + "]" * 2000,
    "[1,]",
    "",
    '"\x01"',
    "\ufeff[1]",
    "{'single': 1}",
]


@pytest.mark.parametrize("text", TEXTS, ids=[text[:30] for text in TEXTS])
def test_loads_reads_what_json_loads_reads(text: str) -> None:
    expected = _outcome(json.loads, text)
    assert _outcome(_json.loads, text) == expected
    if not text.startswith("\ufeff"):  # json.loads says "BOM" for str, decodes bytes as utf-8-sig
        assert _outcome(_json.loads, text.encode("utf-8", "surrogatepass")) == expected


def test_loads_raises_json_decode_error_for_bad_text() -> None:
    with pytest.raises(json.JSONDecodeError, match="Expecting value"):
        _json.loads("[1,]")


KEYS = st.text(max_size=5) | st.integers() | st.floats() | st.booleans() | st.none()
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=8) | st.sampled_from(
    ["\ud800", "a\udfffb", "\x00"]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**66), max_value=2**66)
    | st.floats()
    | TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(KEYS, children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(VALUES)
def test_generated_values_encode_and_decode_as_with_the_stdlib(value: Any) -> None:
    reference = json.dumps(value)
    decoded = repr(json.loads(reference))
    assert repr(json.loads(_json.dumps(value))) == decoded
    assert repr(_json.loads(_json.dumps(value))) == decoded
    assert repr(_json.loads(reference)) == decoded
    assert repr(_json.loads(reference.encode("utf-8", "surrogatepass"))) == decoded


@settings(max_examples=300, deadline=None)
@given(
    st.integers().map(str)
    | st.floats(allow_nan=False, allow_infinity=False).map(repr)
    | st.from_regex(r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][-+]?[0-9]{1,3})?", fullmatch=True)
)
def test_generated_numbers_read_as_with_the_stdlib(text: str) -> None:
    assert _outcome(_json.loads, text) == _outcome(json.loads, text)


def test_floats_round_trip_exactly() -> None:
    for value in (0.1, 1 / 3, math.pi, 1e-300, 1e300, 2.0**-1074, 123456789.123456789, -1e22):
        assert _json.loads(_json.dumps(value)) == value


# -- through a real store ----------------------------------------------------------------------


def _stdlib_store(store: Store) -> Store:
    """The same database, with the JSON functions the store used before orjson."""
    url = store.engine.url.render_as_string(hide_password=False)
    return Store.open(url, json_serializer=json.dumps, json_deserializer=json.loads)


def _write(store: Store, execution_id: str, value: Any) -> Any:
    with store.begin() as tx:
        tx.journal.append(execution_id, [JournalEntry("effect", value)])
    return None


def _read(store: Store, execution_id: str) -> Any:
    with store.begin(write=False) as tx:
        [event] = tx.journal.read(execution_id)
    return event.data


def test_the_store_keeps_values_as_the_stdlib_did(store: Store, backend: str) -> None:
    before = _stdlib_store(store)
    try:
        values = STORABLE + SQLITE_ONLY + REFUSED
        insert_executions(store, "wex-0")  # also checks resource bodies (labels, body) both ways
        for index, value in enumerate(values):
            ours, theirs = f"wex-{2 * index + 1}", f"wex-{2 * index + 2}"
            insert_executions(store, ours)
            insert_executions(store, theirs)
            written = _outcome(_write, store, ours, value)
            assert written == _outcome(_write, before, theirs, value), value
            if written != "None":
                assert backend == "postgres" or value in REFUSED, written
                continue
            expected = _outcome(_read, before, theirs)
            assert _outcome(_read, store, theirs) == expected  # rows written before
            assert _outcome(_read, before, ours) == expected  # rows written now, read before
            assert _outcome(_read, store, ours) == expected
        with store.begin(write=False) as tx:
            row = tx.executions.get("wex-0")
        assert row is not None and row["body"] == {"kind": "WorkflowExecution"}
    finally:
        before.dispose()


def test_nan_and_infinity_are_kept_by_sqlite_and_refused_by_postgresql_as_before(
    store: Store, backend: str
) -> None:
    insert_executions(store, "wex-1")
    value = {"nan": float("nan"), "inf": [float("inf"), float("-inf")]}
    if backend == "postgres":
        for refused in [value, float("nan"), *SQLITE_ONLY]:
            assert _outcome(_write, store, "wex-1", refused).startswith("DataError: "), refused
        return
    _write(store, "wex-1", value)
    with store.begin(write=False) as tx:
        [text] = tx.connection.exec_driver_sql("SELECT data FROM execution_journal").scalars().all()
    assert text == '{"nan": NaN, "inf": [Infinity, -Infinity]}'
    assert repr(_read(store, "wex-1")) == repr(value)


def test_the_raw_sqlite_appender_encodes_as_sqlalchemy_did(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'treadle.db'}", migrate=True)
    before = _stdlib_store(store)
    values = STORABLE + SQLITE_ONLY
    try:
        insert_executions(store, "wex-raw")
        insert_executions(store, "wex-sa")
        appender = RawAppender(store.engine)
        try:
            appender.append(
                [
                    {"execution_id": "wex-raw", "seq": seq, "type": "effect", "data": value, "at": NOW}
                    for seq, value in enumerate(values, start=1)
                ]
            )
        finally:
            appender.close()
        with before.begin() as tx:
            tx.journal.append("wex-sa", [JournalEntry("effect", value) for value in values])
        for reader in (store, before):
            with reader.begin(write=False) as tx:
                read = {
                    id: [repr(event.data) for event in tx.journal.read(id)] for id in ("wex-raw", "wex-sa")
                }
            assert read["wex-raw"] == read["wex-sa"]
            assert len(read["wex-raw"]) == len(values)
    finally:
        before.dispose()
        store.dispose()
