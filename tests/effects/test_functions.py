"""Python functions called from workflows: registry, calling convention, threads, errors."""

from __future__ import annotations

import asyncio
import importlib.metadata
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel

import treadle.effects
from treadle.effects import Dispatcher, FunctionRegistry
from treadle.engine.errors import ErrorType, WorkflowError

KEY = "wex-9/do/1/charge/0"


async def call(dispatcher: Dispatcher, name: str, arguments: Any = None) -> Any:
    return await dispatcher.call("function", {"name": name, "arguments": arguments}, KEY)


async def test_keyword_arguments_when_they_bind(functions: FunctionRegistry, dispatcher: Dispatcher) -> None:
    @functions.function
    def charge(order: dict[str, Any], amount: int = 0) -> dict[str, Any]:
        return {"order": order, "amount": amount}

    assert await call(dispatcher, "charge", {"order": {"id": 1}, "amount": 5}) == {
        "order": {"id": 1},
        "amount": 5,
    }


async def test_one_positional_mapping_otherwise(functions: FunctionRegistry, dispatcher: Dispatcher) -> None:
    @functions.function
    def charge(order: dict[str, Any]) -> dict[str, Any]:
        return {"charged": order["id"], "total": order["total"]}

    assert await call(dispatcher, "charge", {"id": 7, "total": 12}) == {"charged": 7, "total": 12}


async def test_empty_arguments(functions: FunctionRegistry, dispatcher: Dispatcher) -> None:
    functions.register(lambda: "none", name="nothing")
    functions.register(lambda data: data, name="mapping")
    assert await call(dispatcher, "nothing") == "none"
    assert await call(dispatcher, "mapping", {}) == {}


async def test_idempotency_key_is_passed_when_declared(
    functions: FunctionRegistry, dispatcher: Dispatcher
) -> None:
    @functions.function
    def keyed(order: dict[str, Any], idempotency_key: str) -> list[Any]:
        return [order, idempotency_key]

    assert await call(dispatcher, "keyed", {"order": {"id": 1}}) == [{"id": 1}, KEY]
    assert await call(dispatcher, "keyed", {"id": 2}) == [{"id": 2}, KEY]


async def test_arguments_that_fit_nothing_are_a_configuration_error(
    functions: FunctionRegistry, dispatcher: Dispatcher
) -> None:
    functions.register(lambda a, b: a + b, name="pair")
    with pytest.raises(WorkflowError) as caught:
        await call(dispatcher, "pair", {"x": 1})
    assert caught.value.type == ErrorType.CONFIGURATION
    assert "pair(a, b)" in (caught.value.detail or "")


async def test_decorator_with_a_name(functions: FunctionRegistry, dispatcher: Dispatcher) -> None:
    @functions.function(name="ship-order")
    def ship(order: dict[str, Any]) -> str:
        return "shipped"

    assert await call(dispatcher, "ship-order", {"id": 1}) == "shipped"
    assert functions.registered() == ["ship-order"]


async def test_the_module_level_decorator_fills_the_default_registry() -> None:
    @treadle.effects.function
    def effects_test_default_registry(x: int) -> int:
        return x * 2

    try:
        async with Dispatcher() as dispatcher:
            assert await call(dispatcher, "effects_test_default_registry", {"x": 21}) == 42
    finally:
        treadle.effects.default_registry.unregister("effects_test_default_registry")


def test_registering_another_function_under_a_taken_name_is_refused(functions: FunctionRegistry) -> None:
    def first() -> None: ...

    functions.register(first, name="same")
    functions.register(first, name="same")  # the same object again is fine
    with pytest.raises(ValueError, match="already registered"):
        functions.register(lambda: None, name="same")


async def test_async_functions_are_awaited_on_the_loop(
    functions: FunctionRegistry, dispatcher: Dispatcher
) -> None:
    loop_thread = threading.get_ident()

    @functions.function
    async def fetch(n: int) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"n": n, "on_loop": threading.get_ident() == loop_thread}

    assert await call(dispatcher, "fetch", {"n": 3}) == {"n": 3, "on_loop": True}


async def test_a_callable_object_with_async_call(functions: FunctionRegistry, dispatcher: Dispatcher) -> None:
    class Pricer:
        async def __call__(self, sku: str) -> float:
            return 9.5

    functions.register(Pricer(), name="price")
    assert await call(dispatcher, "price", {"sku": "a"}) == 9.5


async def test_sync_functions_run_in_a_thread_while_the_loop_ticks(
    functions: FunctionRegistry, dispatcher: Dispatcher
) -> None:
    loop_thread = threading.get_ident()

    @functions.function
    def slow() -> bool:
        time.sleep(0.2)
        return threading.get_ident() != loop_thread

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    try:
        assert await call(dispatcher, "slow") is True
    finally:
        ticking.cancel()
    assert ticks >= 10


async def test_an_exception_becomes_a_runtime_error(
    functions: FunctionRegistry, dispatcher: Dispatcher
) -> None:
    @functions.function
    def broken(order: dict[str, Any]) -> None:
        raise KeyError("sku")

    with pytest.raises(WorkflowError) as caught:
        await call(dispatcher, "broken", {"id": 1})
    error = caught.value
    assert (error.type, error.status) == (ErrorType.RUNTIME, 500)
    assert error.detail == "function 'broken' raised KeyError: 'sku'"
    assert "Traceback" not in str(error)


async def test_a_workflow_error_passes_through(functions: FunctionRegistry, dispatcher: Dispatcher) -> None:
    @functions.function
    async def refuse() -> None:
        raise WorkflowError(ErrorType.AUTHORIZATION, detail="not yours")

    with pytest.raises(WorkflowError) as caught:
        await call(dispatcher, "refuse")
    assert (caught.value.type, caught.value.status, caught.value.detail) == (
        ErrorType.AUTHORIZATION,
        403,
        "not yours",
    )


class Receipt(BaseModel):
    id: int
    at: datetime


@dataclass
class Parcel:
    weight: float
    tags: tuple[str, ...]
    receipt: Receipt


async def test_models_and_dataclasses_are_converted(
    functions: FunctionRegistry, dispatcher: Dispatcher
) -> None:
    at = datetime(2024, 5, 1, 12, 0, 0)
    functions.register(lambda: Parcel(1.5, ("fragile",), Receipt(id=1, at=at)), name="parcel")
    assert await call(dispatcher, "parcel") == {
        "weight": 1.5,
        "tags": ["fragile"],
        "receipt": {"id": 1, "at": "2024-05-01T12:00:00"},
    }


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"when": datetime(2024, 1, 1)}, "a datetime at /when"),
        ([1, {2}], "a set at /1"),
        ({1: "x"}, "at /1"),
        (object(), "a object is not JSON-like"),
    ],
)
async def test_a_non_json_result_is_a_runtime_error(
    functions: FunctionRegistry, dispatcher: Dispatcher, value: Any, fragment: str
) -> None:
    functions.register(lambda: value, name="odd")
    with pytest.raises(WorkflowError) as caught:
        await call(dispatcher, "odd")
    assert caught.value.type == ErrorType.RUNTIME
    assert fragment in (caught.value.detail or "")


async def test_unknown_function(dispatcher: Dispatcher) -> None:
    with pytest.raises(WorkflowError) as caught:
        await call(dispatcher, "nope")
    assert caught.value.type == ErrorType.CONFIGURATION
    assert caught.value.detail.startswith("no function named 'nope' is registered")


@pytest.mark.parametrize("args", [{}, {"name": ""}, {"name": "x", "arguments": [1]}])
async def test_malformed_function_calls(dispatcher: Dispatcher, args: dict[str, Any]) -> None:
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("function", args, KEY)
    assert caught.value.type == ErrorType.CONFIGURATION


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, *specs: tuple[str, str]) -> list[str]:
    """Make `importlib.metadata.entry_points` report `specs` (name, value); log lookups."""
    lookups: list[str] = []
    group = treadle.effects.ENTRY_POINT_GROUP
    points = [importlib.metadata.EntryPoint(name, value, group) for name, value in specs]

    def entry_points(**selection: Any) -> importlib.metadata.EntryPoints:
        lookups.append(selection.get("group", ""))
        return importlib.metadata.EntryPoints(ep for ep in points if ep.group == selection.get("group"))

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return lookups


async def test_entry_points_are_discovered_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    module = __name__.rsplit(".", 1)[0] + ".sample_functions"
    lookups = fake_entry_points(monkeypatch, ("greet", f"{module}:greet"), ("add", f"{module}:add"))
    registry = FunctionRegistry()
    assert lookups == []  # nothing is scanned or imported until a call needs it
    async with Dispatcher(functions=registry) as dispatcher:
        assert await call(dispatcher, "greet", {"name": "ada"}) == "hello, ada"
        assert await call(dispatcher, "add", {"a": 2, "b": 3}) == 5
        assert await call(dispatcher, "greet", {"name": "bob"}) == "hello, bob"
    assert lookups == [treadle.effects.ENTRY_POINT_GROUP]
    assert registry.registered() == ["add", "greet"]


async def test_function_colon_kind_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    module = __name__.rsplit(".", 1)[0] + ".sample_functions"
    fake_entry_points(monkeypatch, ("shipped", f"{module}:shipped"))
    async with Dispatcher(functions=FunctionRegistry()) as dispatcher:
        assert await dispatcher.call("function:shipped", {"id": 4}, KEY) == {"shipped": 4}


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (
            "no_such_module_for_treadle:fn",
            "ModuleNotFoundError: No module named 'no_such_module_for_treadle'",
        ),
        ("json:no_such_attribute", "AttributeError"),
        (f"{__name__.rsplit('.', 1)[0]}.sample_functions:NOT_CALLABLE", "is not callable"),
    ],
)
async def test_an_entry_point_that_fails_to_load_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, value: str, fragment: str
) -> None:
    fake_entry_points(monkeypatch, ("broken", value))
    async with Dispatcher(functions=FunctionRegistry()) as dispatcher:
        with pytest.raises(WorkflowError) as caught:
            await call(dispatcher, "broken")
    error = caught.value
    assert error.type == ErrorType.CONFIGURATION
    assert "function 'broken'" in (error.detail or "")
    assert fragment in (error.detail or "")


async def test_code_registration_wins_over_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups = fake_entry_points(monkeypatch, ("greet", "no_such_module_for_treadle:greet"))
    registry = FunctionRegistry()
    registry.register(lambda name: f"hi {name}", name="greet")
    async with Dispatcher(functions=registry) as dispatcher:
        assert await call(dispatcher, "greet", {"name": "x"}) == "hi x"
    assert lookups == []


async def test_ambiguous_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, ("dup", "a:f"), ("dup", "b:f"))
    async with Dispatcher(functions=FunctionRegistry()) as dispatcher:
        with pytest.raises(WorkflowError, match="ambiguous"):
            await call(dispatcher, "dup")
