"""`call: asyncapi` against a real WebSocket server and a real HTTP server on 127.0.0.1,
described by AsyncAPI 3.0 (YAML) and 2.6 (JSON) documents; subscriptions run through the
real engine with a real `Dispatcher` as the call handler."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from treadle.dsl.models import build_workflow
from treadle.effects import Dispatcher
from treadle.engine import RunResult
from treadle.engine.errors import ErrorType, WorkflowError
from treadle.runtime.memory import run_document

from .asyncapi_peers import HttpPeer, WebSocketPeer, serve_http, serve_websockets, v2_document, v3_document

TOKEN = "asyncapi-bearer-secret"

SUBSCRIBE_V3 = """
document: {dsl: '1.0.3', namespace: test, name: inbox, version: '0.1.0'}
do:
  - inbox:
      call: asyncapi
      with:
        document:
          endpoint: ${ .document }
        operation: chat-inbox
        subscription:
          filter: ${ .correlationId == $workflow.input.user }
          consume:
            amount: 2
"""

SUBSCRIBE_V2_UNTIL_FOREACH = """
document: {dsl: '1.0.3', namespace: test, name: notifications, version: '0.1.0'}
do:
  - getNotifications:
      call: asyncapi
      with:
        document:
          endpoint: ${ .document }
        channel: /feed/notifications
        subscription:
          filter: ${ .correlationId == $workflow.input.user }
          consume:
            for:
              seconds: 10
            until: '${ ($context.consumedMessages | length) == 2 }'
          foreach:
            item: message
            do:
              - shout:
                  set:
                    text: ${ $message.payload.text | ascii_upcase }
            output:
              as: ${ .text }
            export:
              as: '${ $context + {consumedMessages: (($context.consumedMessages // []) + [.])} }'
"""

SUBSCRIBE_WHILE_FOR = """
document: {dsl: '1.0.3', namespace: test, name: readings, version: '0.1.0'}
do:
  - readings:
      call: asyncapi
      with:
        document:
          endpoint: ${ .document }
        operation: chat-inbox
        subscription:
          consume:
            for: ${ .for }
            while: ${ (map(.payload.value? // 0) | add // 0) < 100 }
"""


@pytest.fixture(scope="session")
def ws_server() -> Iterator[WebSocketPeer]:
    with serve_websockets() as peer:
        yield peer


@pytest.fixture
def ws(ws_server: WebSocketPeer) -> WebSocketPeer:
    ws_server.reset()
    return ws_server


@pytest.fixture(scope="session")
def http_server() -> Iterator[HttpPeer]:
    with serve_http() as peer:
        yield peer


@pytest.fixture
def http(http_server: HttpPeer) -> HttpPeer:
    http_server.reset()
    return http_server


@pytest.fixture
def v3_file(tmp_path: Path, ws: WebSocketPeer) -> str:
    path = tmp_path / "chat.yaml"
    path.write_text(yaml.safe_dump(v3_document(ws.port)))
    return str(path)


@pytest.fixture
def v2_file(tmp_path: Path, ws: WebSocketPeer) -> str:
    path = tmp_path / "notifications.json"
    path.write_text(json.dumps(v2_document(ws.port)))
    return str(path)


@pytest.fixture
async def dispatcher() -> AsyncIterator[Dispatcher]:
    async with Dispatcher() as dispatcher:
        yield dispatcher


async def run(text: str, input: Any, dispatcher: Dispatcher) -> RunResult:
    result, _ = await run_document(build_workflow(yaml.safe_load(text)), input, call_handler=dispatcher.call)
    return result


async def closed(ws: WebSocketPeer, index: int = -1) -> bool:
    return await asyncio.to_thread(ws.connections[index].closed.wait, 5)


async def raises(dispatcher: Dispatcher, args: dict[str, Any]) -> WorkflowError:
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("asyncapi", args, "k")
    return caught.value


def message(user: str, text: str, value: int = 0) -> dict[str, Any]:
    return {"user": user, "to": user, "text": text, "value": value}


# -- publish ---------------------------------------------------------------------------------


async def test_publish_v3_over_websocket_sends_json_with_headers_and_authentication(
    ws: WebSocketPeer, v3_file: str, dispatcher: Dispatcher
) -> None:
    args = {
        "document": {"endpoint": v3_file},
        "operation": "greet",
        "protocol": "ws",
        "message": {"payload": {"greetings": "Hello, World!"}, "headers": {"foo": "bar", "n": 1}},
        "authentication": {"bearer": {"token": TOKEN}},
    }
    output = await dispatcher.call("asyncapi", args, "k")
    assert output == {"payload": {"greetings": "Hello, World!"}, "headers": {"foo": "bar", "n": "1"}}
    assert await closed(ws)
    (connection,) = ws.connections
    assert connection.path == "/greetings"
    assert [json.loads(frame) for frame in connection.received] == [{"greetings": "Hello, World!"}]
    assert connection.headers["foo"] == "bar"
    assert connection.headers["authorization"] == f"Bearer {TOKEN}"


async def test_publish_v2_takes_the_channel_and_the_server_variables(
    ws: WebSocketPeer, v2_file: str, dispatcher: Dispatcher
) -> None:
    args = {
        "document": {"endpoint": v2_file},
        "channel": "/greetings",
        "server": {"name": "production", "variables": {"port": ws.port}},
        "message": {"payload": "hi"},
    }
    await dispatcher.call("asyncapi", args, "k")
    assert await closed(ws)
    assert ws.connections[0].path == "/greetings"
    assert ws.connections[0].received == ['"hi"']


async def test_publish_over_http_posts_the_payload(http: HttpPeer, dispatcher: Dispatcher) -> None:
    http.documents["chat.json"] = v3_document(1, http.url)
    args = {
        "document": {"endpoint": f"{http.url}/docs/chat.json"},
        "operation": "greet",
        "protocol": "http",
        "message": {"payload": {"greetings": "hello"}, "headers": {"x-trace": "t1"}},
        "authentication": {"basic": {"username": "u", "password": "p"}},
    }
    output = await dispatcher.call("asyncapi", args, "k")
    assert output == {"payload": {"greetings": "hello"}, "headers": {"x-trace": "t1"}}
    (posted,) = http.posted
    assert posted["path"] == "/events/greetings"
    assert posted["body"] == {"greetings": "hello"}
    assert posted["headers"]["x-trace"] == "t1"
    assert posted["headers"]["authorization"].startswith("Basic ")


async def test_a_publish_the_http_broker_refuses_is_a_communication_error(
    http: HttpPeer, dispatcher: Dispatcher
) -> None:
    http.documents["chat.json"] = v3_document(1, http.url)
    http.status = 503
    error = await raises(
        dispatcher,
        {
            "document": {"endpoint": f"{http.url}/docs/chat.json"},
            "operation": "greet",
            "protocol": "http",
            "message": {"payload": {}},
        },
    )
    assert error.type == ErrorType.COMMUNICATION and error.status == 503
    assert "broker says no" in (error.detail or "")


# -- subscribe through the engine ------------------------------------------------------------


async def test_subscription_consumes_the_amount_of_filtered_messages_then_closes(
    ws: WebSocketPeer, v3_file: str, dispatcher: Dispatcher
) -> None:
    ws.outbox.extend(
        [message("ann", "one"), message("bob", "two"), message("ann", "three"), message("ann", "x")]
    )
    result = await run(SUBSCRIBE_V3, {"document": v3_file, "user": "ann"}, dispatcher)
    assert result.status == "completed", result.error
    assert result.output == [
        {"payload": message("ann", "one"), "headers": {}, "correlationId": "ann"},
        {"payload": message("ann", "three"), "headers": {}, "correlationId": "ann"},
    ]
    assert ws.connections[0].path == "/feed/inbox"
    assert await closed(ws)


async def test_v2_subscription_runs_foreach_until_the_exported_context_says_stop(
    ws: WebSocketPeer, v2_file: str, dispatcher: Dispatcher
) -> None:
    ws.outbox.extend([message("ann", "a"), message("bob", "b"), message("ann", "c"), message("ann", "d")])
    result = await run(SUBSCRIBE_V2_UNTIL_FOREACH, {"document": v2_file, "user": "ann"}, dispatcher)
    assert result.status == "completed", result.error
    assert result.output == ["A", "C"]
    assert await closed(ws)


async def test_while_stops_and_the_stream_ending_ends_the_subscription(
    ws: WebSocketPeer, v3_file: str, dispatcher: Dispatcher
) -> None:
    ws.outbox.extend([message("a", "1", 60), message("a", "2", 50), message("a", "3", 1)])
    result = await run(SUBSCRIBE_WHILE_FOR, {"document": v3_file, "for": {"seconds": 10}}, dispatcher)
    assert [item["payload"]["value"] for item in result.output] == [60, 50]

    ws.reset()
    ws.outbox.extend([message("a", "1", 1), "not json"])
    ws.hold = False
    result = await run(SUBSCRIBE_WHILE_FOR, {"document": v3_file, "for": {"seconds": 10}}, dispatcher)
    assert [item["payload"] for item in result.output] == [message("a", "1", 1), "not json"]


async def test_consume_for_is_a_deadline_from_open(
    ws: WebSocketPeer, v3_file: str, dispatcher: Dispatcher
) -> None:
    ws.outbox.append(message("a", "only", 1))
    started = time.monotonic()
    result = await run(SUBSCRIBE_WHILE_FOR, {"document": v3_file, "for": "PT0.4S"}, dispatcher)
    elapsed = time.monotonic() - started
    assert result.status == "completed", result.error
    assert [item["payload"]["text"] for item in result.output] == ["only"]
    assert elapsed >= 0.35  # consumed until the deadline, not less
    assert await closed(ws)


# -- subscription handles --------------------------------------------------------------------


async def open_inbox(dispatcher: Dispatcher, v3_file: str) -> str:
    handle = await dispatcher.call(
        "asyncapi",
        {
            "document": {"endpoint": v3_file},
            "operation": "chat-inbox",
            "subscription": {"consume": {"amount": 1}},
            "action": "open",
        },
        "k",
    )
    assert isinstance(handle, str)
    return handle


async def test_cancelling_next_closes_the_connection_and_close_is_idempotent(
    ws: WebSocketPeer, v3_file: str, dispatcher: Dispatcher
) -> None:
    handle = await open_inbox(dispatcher, v3_file)
    waiting = asyncio.create_task(
        dispatcher.call("asyncapi", {"action": "next", "subscription": handle}, "k")
    )
    await asyncio.sleep(0.1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await closed(ws)
    await dispatcher.call("asyncapi", {"action": "close", "subscription": handle}, "k")
    await dispatcher.call("asyncapi", {"action": "close", "subscription": handle}, "k")
    error = await raises(dispatcher, {"action": "next", "subscription": handle})
    assert error.type == ErrorType.RUNTIME and "not open" in (error.detail or "")


async def test_closing_the_dispatcher_closes_open_subscriptions(ws: WebSocketPeer, v3_file: str) -> None:
    async with Dispatcher() as dispatcher:
        await open_inbox(dispatcher, v3_file)
        await asyncio.to_thread(ws.connected.wait, 5)
        assert not ws.connections[0].closed.is_set()
    assert await closed(ws)


async def test_a_task_timeout_closes_the_subscription(
    ws: WebSocketPeer, v3_file: str, dispatcher: Dispatcher
) -> None:
    text = SUBSCRIBE_V3.replace(
        "      call: asyncapi", "      timeout: {after: {milliseconds: 300}}\n      call: asyncapi"
    )
    result = await run(text, {"document": v3_file, "user": "ann"}, dispatcher)
    assert result.status == "faulted"
    assert result.error is not None and result.error.type == ErrorType.TIMEOUT
    assert await closed(ws)


# -- faults ----------------------------------------------------------------------------------


async def test_connection_refused_is_a_communication_error(tmp_path: Path, dispatcher: Dispatcher) -> None:
    path = tmp_path / "nowhere.json"
    path.write_text(json.dumps(v2_document(1)))
    for args in (
        {"channel": "/greetings", "server": {"name": "local"}, "message": {"payload": 1}},
        {"channel": "/feed/notifications", "subscription": {"consume": {"amount": 1}}, "action": "open"},
    ):
        error = await raises(dispatcher, {"document": {"endpoint": str(path)}, **args})
        assert error.type == ErrorType.COMMUNICATION and error.status == 503
        assert "127.0.0.1:1" in (error.detail or "")


async def test_a_refused_handshake_carries_the_status(
    ws: WebSocketPeer, tmp_path: Path, dispatcher: Dispatcher
) -> None:
    document = v3_document(ws.port)
    document["channels"]["greetings"]["address"] = "/refuse"
    path = tmp_path / "refuse.json"
    path.write_text(json.dumps(document))
    error = await raises(
        dispatcher,
        {
            "document": {"endpoint": str(path)},
            "operation": "greet",
            "protocol": "ws",
            "message": {"payload": 1},
        },
    )
    assert error.type == ErrorType.COMMUNICATION and error.status == 403


async def test_an_unsupported_protocol_is_a_configuration_error(v3_file: str, dispatcher: Dispatcher) -> None:
    error = await raises(
        dispatcher, {"document": {"endpoint": v3_file}, "operation": "audit", "message": {"payload": 1}}
    )
    assert error.type == ErrorType.CONFIGURATION and error.status == 400
    assert error.detail == "unsupported AsyncAPI protocol 'kafka' (supported: ws, wss, http, https)"


async def test_subscribing_over_http_is_refused_clearly(http: HttpPeer, dispatcher: Dispatcher) -> None:
    http.documents["chat.json"] = v3_document(1, http.url)
    error = await raises(
        dispatcher,
        {
            "document": {"endpoint": f"{http.url}/docs/chat.json"},
            "operation": "greet",
            "protocol": "http",
            "subscription": {"consume": {"amount": 1}},
            "action": "open",
        },
    )
    assert error.type == ErrorType.CONFIGURATION
    assert "subscribing over 'http' is not supported" in (error.detail or "")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"operation": "nope"}, "operation 'nope' is not in the AsyncAPI document"),
        ({"operation": "broken"}, "has no channel at /operations/broken/channel"),
        ({"operation": "greet", "protocol": "mqtt"}, "no server of the channel speaks 'mqtt'"),
        ({"operation": "greet", "server": {"name": "elsewhere"}}, "server 'elsewhere' is not in"),
        ({"channel": "/greetings"}, "'operation' is required with an AsyncAPI 3.x document"),
    ],
)
async def test_unknown_or_malformed_parts_of_a_v3_document_are_configuration_errors(
    v3_file: str, dispatcher: Dispatcher, args: dict[str, Any], expected: str
) -> None:
    error = await raises(dispatcher, {"document": {"endpoint": v3_file}, "message": {"payload": 1}, **args})
    assert error.type == ErrorType.CONFIGURATION and error.status == 400
    assert expected in (error.detail or "")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"channel": "/nope", "message": {}}, "channel '/nope' is not in the AsyncAPI document"),
        (
            {"channel": "/greetings", "subscription": {"consume": {"amount": 1}}, "action": "open"},
            "has no 'subscribe' operation for channel '/greetings' at /channels/~1greetings/subscribe",
        ),
        (
            {"channel": "/greetings", "server": {"name": "production"}, "message": {}},
            "server 'production' needs the variable 'port' (/servers/production/variables)",
        ),
    ],
)
async def test_unknown_or_malformed_parts_of_a_v2_document_are_configuration_errors(
    v2_file: str, dispatcher: Dispatcher, args: dict[str, Any], expected: str
) -> None:
    error = await raises(dispatcher, {"document": {"endpoint": v2_file}, **args})
    assert error.type == ErrorType.CONFIGURATION and error.status == 400
    assert expected in (error.detail or "")


async def test_a_document_that_is_not_asyncapi_is_a_configuration_error(
    tmp_path: Path, dispatcher: Dispatcher
) -> None:
    path = tmp_path / "openapi.yaml"
    path.write_text("openapi: 3.1.0\npaths: {}\n")
    error = await raises(dispatcher, {"document": {"endpoint": str(path)}, "operation": "x", "message": {}})
    assert error.type == ErrorType.CONFIGURATION
    assert "is not an AsyncAPI 2.x or 3.x document" in (error.detail or "")
