"""Functions the entry-point tests point `treadle.functions` entry points at."""

from __future__ import annotations

from typing import Any


def greet(name: str) -> str:
    return f"hello, {name}"


async def add(a: int, b: int) -> int:
    return a + b


NOT_CALLABLE = 42


def shipped(order: dict[str, Any]) -> dict[str, Any]:
    return {"shipped": order["id"]}
