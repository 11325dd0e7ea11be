"""`call: mcp` against a real MCP server (`mcp_server.py`): spawned over stdio as a
subprocess, and served over streamable HTTP by uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from treadle.effects import Dispatcher, FunctionRegistry
from treadle.engine.errors import ErrorType, WorkflowError

from . import mcp_server
from .peers import read_pids, serve_asgi, wait_until_gone

SERVER_SCRIPT = str(Path(mcp_server.__file__))
STDIO = {"stdio": {"command": sys.executable, "arguments": [SERVER_SCRIPT]}}


@pytest.fixture(scope="module")
def mcp_url() -> Iterator[str]:
    # The streamable HTTP app runs its session manager in the lifespan.
    with serve_asgi(mcp_server.app(), lifespan="on") as url:
        yield f"{url}/mcp"


@pytest.fixture
async def effects() -> AsyncIterator[Dispatcher]:
    async with Dispatcher(functions=FunctionRegistry(entry_point_group=None), allow_run=True) as dispatcher:
        yield dispatcher


def http(url: str, **extra: Any) -> dict[str, Any]:
    return {"http": {"endpoint": url, **extra}}


async def mcp(effects: Dispatcher, transport: dict[str, Any], method: str, **parameters: Any) -> Any:
    return await effects.call(
        "mcp", {"method": method, "parameters": parameters, "transport": transport}, "k"
    )


async def test_stdio_tools_call_returns_the_structured_result(effects: Dispatcher) -> None:
    assert await mcp(effects, STDIO, "tools/call", name="add", arguments={"a": 2, "b": 3}) == {
        "total": 5,
        "terms": [2, 3],
    }


async def test_stdio_passes_the_environment_to_the_server(effects: Dispatcher) -> None:
    transport = {"stdio": {**STDIO["stdio"], "environment": {"MCP_TEST_VALUE": "from-treadle"}}}
    result = await mcp(
        effects, transport, "tools/call", name="environment", arguments={"name": "MCP_TEST_VALUE"}
    )
    assert result == {"result": "from-treadle"}


async def test_a_stdio_server_that_fails_to_start_is_a_communication_error_with_its_stderr(
    effects: Dispatcher,
) -> None:
    transport = {"stdio": {**STDIO["stdio"], "environment": {"MCP_TEST_FAIL_AT_START": "1"}}}
    with pytest.raises(WorkflowError) as caught:
        await mcp(effects, transport, "tools/list")
    assert (caught.value.type, caught.value.status) == (ErrorType.COMMUNICATION, 503)
    assert "refusing to start" in (caught.value.detail or "")


async def test_a_missing_stdio_command_is_a_communication_error(effects: Dispatcher) -> None:
    with pytest.raises(WorkflowError) as caught:
        await mcp(effects, {"stdio": {"command": "/nonexistent/mcp-server"}}, "tools/list")
    assert caught.value.type == ErrorType.COMMUNICATION
    assert "/nonexistent/mcp-server" in (caught.value.detail or "")


async def test_stdio_servers_need_allow_run() -> None:
    async with Dispatcher(functions=FunctionRegistry(entry_point_group=None)) as effects:
        with pytest.raises(WorkflowError) as caught:
            await mcp(effects, STDIO, "tools/list")
    assert (caught.value.type, caught.value.status) == (ErrorType.AUTHORIZATION, 403)


async def test_cancelling_a_stdio_call_stops_the_server_process(effects: Dispatcher, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    call = asyncio.create_task(
        mcp(effects, STDIO, "tools/call", name="sleepy", arguments={"seconds": 30, "pid_file": str(pid_file)})
    )
    (pid,) = await read_pids(pid_file, 1, timeout=10)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert await wait_until_gone(pid)


async def test_http_tools_call_returns_the_wrapped_structured_result(
    effects: Dispatcher, mcp_url: str
) -> None:
    # MCPServer wraps a str-returning tool's value as structured content {"result": ...}.
    assert await mcp(effects, http(mcp_url), "tools/call", name="shout", arguments={"text": "hi"}) == {
        "result": "HI"
    }


async def test_a_tool_without_structured_content_returns_its_content(
    effects: Dispatcher, mcp_url: str
) -> None:
    result = await mcp(effects, http(mcp_url), "tools/call", name="whisper", arguments={"text": "HUSH"})
    assert result == [{"type": "text", "text": "hush"}]


async def test_a_tool_error_is_a_runtime_error(effects: Dispatcher, mcp_url: str) -> None:
    with pytest.raises(WorkflowError) as caught:
        await mcp(effects, http(mcp_url), "tools/call", name="explode", arguments={"reason": "boom"})
    assert (caught.value.type, caught.value.status) == (ErrorType.RUNTIME, 500)
    assert "exploded: boom" in (caught.value.detail or "")


async def test_http_lists_tools_prompts_resources_and_templates(effects: Dispatcher, mcp_url: str) -> None:
    tools = await mcp(effects, http(mcp_url), "tools/list")
    assert {tool["name"] for tool in tools["tools"]} >= {"add", "shout", "explode", "sleepy"}
    assert "_meta" not in tools
    prompts = await mcp(effects, http(mcp_url), "prompts/list")
    assert [prompt["name"] for prompt in prompts["prompts"]] == ["greeting"]
    resources = await mcp(effects, http(mcp_url), "resources/list")
    assert [resource["uri"] for resource in resources["resources"]] == ["memo://readme"]
    templates = await mcp(effects, http(mcp_url), "resources/templates/list")
    assert [template["uriTemplate"] for template in templates["resourceTemplates"]] == [
        "memo://users/{user_id}"
    ]


async def test_http_gets_a_prompt_and_reads_a_resource(effects: Dispatcher, mcp_url: str) -> None:
    prompt = await mcp(effects, http(mcp_url), "prompts/get", name="greeting", arguments={"name": "Ada"})
    assert prompt["messages"][0]["content"]["text"] == "Please greet Ada warmly."
    resource = await mcp(effects, http(mcp_url), "resources/read", uri="memo://readme")
    assert resource["contents"][0]["text"] == "treadle test server"


async def test_the_handshake_protocol_version_is_honoured(effects: Dispatcher, mcp_url: str) -> None:
    args = {
        "method": "tools/call",
        "protocolVersion": "2025-06-18",
        "client": {"name": "synapse", "version": "1.0"},
        "parameters": {"name": "add", "arguments": {"a": 1, "b": 1}},
        "transport": http(mcp_url),
    }
    assert (await effects.call("mcp", args, "k"))["total"] == 2


async def test_an_unknown_tool_is_a_runtime_error(effects: Dispatcher, mcp_url: str) -> None:
    with pytest.raises(WorkflowError) as caught:
        await mcp(effects, http(mcp_url), "tools/call", name="nope")
    assert caught.value.type == ErrorType.RUNTIME
    assert "nope" in (caught.value.detail or "")


async def test_the_timeout_is_a_timeout_error(effects: Dispatcher, mcp_url: str) -> None:
    args = {
        "method": "tools/call",
        "timeout": {"milliseconds": 200},
        "parameters": {"name": "sleepy", "arguments": {"seconds": 5}},
        "transport": http(mcp_url),
    }
    with pytest.raises(WorkflowError) as caught:
        await effects.call("mcp", args, "k")
    assert (caught.value.type, caught.value.status) == (ErrorType.TIMEOUT, 408)


async def test_a_refused_http_connection_is_a_communication_error(
    effects: Dispatcher, closed_port: int
) -> None:
    with pytest.raises(WorkflowError) as caught:
        await mcp(effects, http(f"http://127.0.0.1:{closed_port}/mcp"), "tools/list")
    assert (caught.value.type, caught.value.status) == (ErrorType.COMMUNICATION, 503)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"method": "tools/delete", "transport": STDIO}, "'method' must be one of"),
        ({"method": "tools/list"}, "'transport' must be"),
        ({"method": "tools/list", "transport": STDIO, "protocolVersion": "1999-01-01"}, "unsupported MCP"),
        ({"method": "tools/call", "transport": {"http": {"endpoint": "http://127.0.0.1:1/mcp"}}}, "needs"),
    ],
)
async def test_malformed_calls_are_configuration_errors(
    effects: Dispatcher, args: dict[str, Any], message: str
) -> None:
    with pytest.raises(WorkflowError) as caught:
        await effects.call("mcp", args, "k")
    assert caught.value.type == ErrorType.CONFIGURATION
    assert message in (caught.value.detail or "")
