"""A function's answer as JSON-like data: converted where it can be, refused where not."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from enum import IntEnum

import pytest
from pydantic import BaseModel

from treadle.effects.jsonlike import NotJsonLike, to_json_like


class Size(IntEnum):
    SMALL = 1


@dataclasses.dataclass
class Point:
    x: int
    tags: tuple[str, ...] = ()


class Model(BaseModel):
    name: str


def test_nested_values_are_converted_at_every_depth() -> None:
    value = {
        "n": 1,
        "f": 1.5,
        "s": "a",
        "b": True,
        "none": None,
        "size": Size.SMALL,
        "point": Point(2, ("a", "b")),
        "models": (Model(name="m"),),
        "ordered": OrderedDict([("k", [Point(3)])]),
    }
    converted = to_json_like(value)
    assert converted == {
        "n": 1,
        "f": 1.5,
        "s": "a",
        "b": True,
        "none": None,
        "size": 1,
        "point": {"x": 2, "tags": ["a", "b"]},
        "models": [{"name": "m"}],
        "ordered": {"k": [{"x": 3, "tags": []}]},
    }
    assert type(converted["ordered"]) is dict
    assert converted["size"] is Size.SMALL  # an int already: kept as it is


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": [{"b": {1, 2}}]}, "/a/0/b"),
        ({"a": {1: "x"}}, "/a/1"),
        (OrderedDict([("a", object())]), "/a"),
        ([{"ok": 1}, b"bytes"], "/1"),
    ],
)
def test_what_is_not_json_like_is_refused_naming_where(value: object, path: str) -> None:
    with pytest.raises(NotJsonLike) as refused:
        to_json_like(value)
    assert refused.value.path == path
