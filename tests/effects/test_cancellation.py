"""Timeouts and cancellation of in-flight HTTP requests."""

from __future__ import annotations

import asyncio

import pytest

from treadle.effects import Dispatcher, FunctionRegistry
from treadle.engine.errors import ErrorType, WorkflowError

from .conftest import LiveServer


async def test_cancelling_the_caller_aborts_the_request(dispatcher: Dispatcher, live: LiveServer) -> None:
    call = asyncio.create_task(
        dispatcher.call("http", {"method": "get", "endpoint": f"{live.url}/slow"}, "k")
    )
    await asyncio.sleep(0.05)
    assert live.state.slow_started.wait(timeout=2)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    # The server sees the connection close long before its 5 s answer.
    disconnected = await asyncio.to_thread(live.state.slow_disconnected.wait, 2.0)
    assert disconnected
    # Nothing is left running on our side, and the pool still works.
    assert [task for task in asyncio.all_tasks() if task is not asyncio.current_task()] == []
    assert (
        await dispatcher.call("http", {"method": "get", "endpoint": f"{live.url}/text"}, "k2")
        == "hello, world"
    )


async def test_wait_for_timeout_aborts_the_request(dispatcher: Dispatcher, live: LiveServer) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(
            dispatcher.call("http", {"method": "get", "endpoint": f"{live.url}/slow"}, "k"), timeout=0.05
        )
    assert await asyncio.to_thread(live.state.slow_disconnected.wait, 2.0)


async def test_an_http_read_timeout_is_the_timeout_error(live: LiveServer) -> None:
    async with Dispatcher(functions=FunctionRegistry(entry_point_group=None), timeout=0.1) as effects:
        with pytest.raises(WorkflowError) as caught:
            await effects.call("http", {"method": "get", "endpoint": f"{live.url}/slow"}, "k")
    error = caught.value
    assert (error.type, error.status) == (ErrorType.TIMEOUT, 408)
    assert f"{live.url}/slow" in (error.detail or "")
    assert "ReadTimeout" in (error.detail or "")
