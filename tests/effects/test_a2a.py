"""`call: a2a` against a real a2a-sdk server (its Starlette routes, a tiny AgentExecutor)
on 127.0.0.1, speaking the v0.3 JSON-RPC methods the DSL names.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from a2a.helpers.proto_helpers import (
    get_message_text,
    new_task_from_user_message,
    new_text_message,
    new_text_part,
)
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from treadle.effects import Dispatcher, FunctionRegistry
from treadle.engine.errors import ErrorType, WorkflowError

from .peers import free_port, serve_asgi

CARD_PATH = "/.well-known/agent-card.json"


class EchoAgent(AgentExecutor):
    """Replies at once to 'hello'; works on a task for 'report'; fails a task for 'fail'."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        text = get_message_text(context.message)
        if text.startswith("hello"):
            await event_queue.enqueue_event(new_text_message(f"echo: {text}", context_id=context.context_id))
            return
        task = context.current_task or new_task_from_user_message(context.message)
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        await asyncio.sleep(0.3)
        if text.startswith("fail"):
            await updater.failed(
                new_text_message("cannot do that", context_id=task.context_id, task_id=task.id)
            )
            return
        await updater.add_artifact([new_text_part("Q1 sales: 42")], name="report")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError


def build_app(port: int) -> Starlette:
    card = AgentCard(
        name="echo",
        description="echoes",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(
                url=f"http://127.0.0.1:{port}/", protocol_binding="JSONRPC", protocol_version="0.3"
            )
        ],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text"],
        default_output_modes=["text"],
    )
    handler = DefaultRequestHandler(
        agent_executor=EchoAgent(), task_store=InMemoryTaskStore(), agent_card=card
    )

    async def not_json_rpc(request: Request) -> Response:
        return JSONResponse({"hello": "world"})

    routes = [
        *create_agent_card_routes(card),
        *create_jsonrpc_routes(handler, "/", enable_v0_3_compat=True),
        Route("/not-rpc", not_json_rpc, methods=["POST"]),
    ]
    return Starlette(routes=routes)


@pytest.fixture(scope="module")
def agent() -> Iterator[str]:
    port = free_port()
    with serve_asgi(build_app(port), port=port) as url:
        yield url


@pytest.fixture
async def effects() -> AsyncIterator[Dispatcher]:
    async with Dispatcher(functions=FunctionRegistry(entry_point_group=None), timeout=5.0) as dispatcher:
        yield dispatcher


def message(text: str) -> dict[str, Any]:
    return {"message": {"parts": [{"kind": "text", "text": text}]}}


async def test_message_send_through_the_agent_card(effects: Dispatcher, agent: str) -> None:
    args = {
        "method": "message/send",
        "agentCard": {"endpoint": f"{agent}{CARD_PATH}"},
        "parameters": message("hello"),
    }
    result = await effects.call("a2a", args, "k")
    assert result["kind"] == "message"
    assert result["role"] == "agent"
    assert result["parts"][0]["text"] == "echo: hello"


async def test_a_task_is_followed_until_it_completes(effects: Dispatcher, agent: str) -> None:
    args = {"method": "message/send", "server": f"{agent}/", "parameters": message("report please")}
    task = await effects.call("a2a", args, "k")
    assert task["kind"] == "task"
    assert task["status"]["state"] == "completed"
    assert task["artifacts"][0]["parts"][0]["text"] == "Q1 sales: 42"
    again = await effects.call(
        "a2a", {"method": "tasks/get", "server": f"{agent}/", "parameters": {"id": task["id"]}}, "k"
    )
    assert again["status"]["state"] == "completed"


async def test_a_failed_task_is_a_runtime_error(effects: Dispatcher, agent: str) -> None:
    args = {"method": "message/send", "server": {"uri": f"{agent}/"}, "parameters": message("fail now")}
    with pytest.raises(WorkflowError) as caught:
        await effects.call("a2a", args, "k")
    assert (caught.value.type, caught.value.status) == (ErrorType.RUNTIME, 500)
    assert "failed: cannot do that" in (caught.value.detail or "")


async def test_message_stream_returns_every_result_in_order(effects: Dispatcher, agent: str) -> None:
    args = {"method": "message/stream", "server": f"{agent}/", "parameters": message("report streamed")}
    results = await effects.call("a2a", args, "k")
    assert len(results) >= 3
    assert results[0]["kind"] == "task"
    assert results[-1]["kind"] == "status-update" and results[-1]["status"]["state"] == "completed"


async def test_a_json_rpc_error_is_a_runtime_error(effects: Dispatcher, agent: str) -> None:
    args = {"method": "tasks/get", "server": f"{agent}/", "parameters": {"id": "no-such-task"}}
    with pytest.raises(WorkflowError) as caught:
        await effects.call("a2a", args, "k")
    assert caught.value.type == ErrorType.RUNTIME
    assert "tasks/get failed" in (caught.value.detail or "")


async def test_an_answer_that_is_not_json_rpc_is_a_runtime_error(effects: Dispatcher, agent: str) -> None:
    args = {"method": "tasks/get", "server": f"{agent}/not-rpc", "parameters": {"id": "x"}}
    with pytest.raises(WorkflowError) as caught:
        await effects.call("a2a", args, "k")
    assert caught.value.type == ErrorType.RUNTIME
    assert "not a JSON-RPC response" in (caught.value.detail or "")


async def test_an_unreachable_agent_is_a_communication_error(effects: Dispatcher, closed_port: int) -> None:
    args = {
        "method": "message/send",
        "server": f"http://127.0.0.1:{closed_port}/",
        "parameters": message("hi"),
    }
    with pytest.raises(WorkflowError) as caught:
        await effects.call("a2a", args, "k")
    assert (caught.value.type, caught.value.status) == (ErrorType.COMMUNICATION, 503)


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ({"method": "message/delete", "server": "http://x/"}, "'method' must be one of"),
        ({"method": "tasks/get"}, "either 'agentCard' or 'server'"),
        ({"method": "message/send", "server": "http://x/", "parameters": {}}, "needs 'parameters.message'"),
    ],
)
async def test_malformed_calls_are_configuration_errors(
    effects: Dispatcher, args: dict[str, Any], text: str
) -> None:
    with pytest.raises(WorkflowError) as caught:
        await effects.call("a2a", args, "k")
    assert caught.value.type == ErrorType.CONFIGURATION
    assert text in (caught.value.detail or "")
