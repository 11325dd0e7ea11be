"""The dispatcher: routing by call kind and the shared client's lifetime."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from treadle.effects import BUILTIN_HANDLERS, Dispatcher, FunctionRegistry
from treadle.engine.errors import ErrorType, WorkflowError

from .conftest import LiveServer


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Mapping[str, Any], str]] = []

    async def call(self, args: Mapping[str, Any], key: str) -> Any:
        self.calls.append((args, key))
        return {"recorded": len(self.calls)}


def test_builtin_kinds() -> None:
    assert set(BUILTIN_HANDLERS) == {
        "http",
        "function",
        "openapi",
        "grpc",
        "mcp",
        "a2a",
        "asyncapi",
        "shell",
        "script",
        "container",
    }


async def test_unknown_kind_is_a_configuration_error(dispatcher: Dispatcher) -> None:
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("carrier-pigeon", {}, "k")
    error = caught.value
    assert (error.type, error.status) == (ErrorType.CONFIGURATION, 400)
    assert "unsupported call kind 'carrier-pigeon'" in (error.detail or "")


async def test_register_routes_a_kind_to_a_handler(dispatcher: Dispatcher) -> None:
    recorder = Recorder()
    dispatcher.register("shell", recorder)
    assert await dispatcher.call("shell", {"command": "ls"}, "k1") == {"recorded": 1}
    assert recorder.calls == [({"command": "ls"}, "k1")]
    assert "shell" in dispatcher.kinds()


async def test_handlers_share_one_client(live: LiveServer) -> None:
    async with Dispatcher(functions=FunctionRegistry(entry_point_group=None)) as dispatcher:
        client = dispatcher.shared.client
        await dispatcher.call("http", {"method": "get", "endpoint": f"{live.url}/text"}, "k")
        assert not client.is_closed
    assert client.is_closed


async def test_a_given_client_is_left_open(live: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        async with Dispatcher(client=client) as dispatcher:
            assert await dispatcher.call("http", {"method": "get", "endpoint": f"{live.url}/text"}, "k")
        assert not client.is_closed


async def test_aclose_closes_the_owned_client() -> None:
    dispatcher = Dispatcher()
    await dispatcher.aclose()
    assert dispatcher.shared.client.is_closed
