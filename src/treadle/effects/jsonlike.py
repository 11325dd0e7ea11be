"""Convert a Python value to the JSON-like data a workflow's state may hold.

JSON-like: dict with string keys, list, str, int, float, bool, None. Tuples become
lists, pydantic models are dumped in JSON mode, dataclass instances become dicts; any
other type is refused, naming where in the value it was found.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

__all__ = ["NotJsonLike", "to_json_like"]


class NotJsonLike(TypeError):
    """Raised when a value (or a part of it, at `path`) cannot be represented as JSON."""

    def __init__(self, path: str, value: Any) -> None:
        self.path = path
        where = f" at {path}" if path else ""
        super().__init__(
            f"a {type(value).__name__}{where} is not JSON-like "
            "(expected dict, list, str, int, float, bool or None; pydantic models and dataclasses "
            "are converted)"
        )


def to_json_like(value: Any, path: str = "") -> Any:
    """`value` as JSON-like data (see the module docstring).

    Raises:
        NotJsonLike: naming the JSON pointer of the first part that is not convertible.
    """
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if type(value) is dict:  # the usual answer: no model or dataclass checks to make
        return _mapping(value, path)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return _mapping(value, path)
    if isinstance(value, list | tuple):
        return [to_json_like(item, f"{path}/{index}") for index, item in enumerate(value)]
    raise NotJsonLike(path, value)


def _mapping(value: Mapping[Any, Any], path: str) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    for name, item in value.items():
        if not isinstance(name, str):
            raise NotJsonLike(f"{path}/{name}", name)
        if item is None or type(item) in _SCALARS:
            converted[name] = item  # what the call below would answer, without building a path
        else:
            converted[name] = to_json_like(item, f"{path}/{name}")
    return converted


_SCALARS = frozenset({str, bool, int, float})
