"""Real peers for the AsyncAPI tests: a `websockets` server on 127.0.0.1 (its own event loop
in a thread) and an HTTP app (uvicorn) that serves documents and takes published messages,
plus the AsyncAPI 3.0 and 2.6 documents describing them.

The WebSocket server routes by path: `/feed...` sends the frames queued in `outbox`, then
keeps the connection open (`hold`) or closes it normally; `/refuse` answers the handshake
with 403; any other path records every frame it receives. Each connection is recorded
(path, handshake headers, frames received, whether it was closed).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request as HandshakeRequest
from websockets.http11 import Response as HandshakeResponse

from .peers import serve_asgi


@dataclass
class Connection:
    """One WebSocket connection the peer accepted."""

    path: str
    headers: dict[str, str]
    received: list[str | bytes] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)


@dataclass
class WebSocketPeer:
    """What the WebSocket server sends and what it saw."""

    port: int = 0
    outbox: list[Any] = field(default_factory=list)
    hold: bool = True
    connections: list[Connection] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.outbox.clear()
        self.hold = True
        self.connections.clear()
        self.connected.clear()

    async def _handle(self, websocket: ServerConnection) -> None:
        request = websocket.request
        assert request is not None
        connection = Connection(
            path=request.path, headers={k.lower(): v for k, v in request.headers.raw_items()}
        )
        self.connections.append(connection)
        self.connected.set()
        try:
            if request.path.startswith("/feed"):
                for frame in list(self.outbox):
                    await websocket.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))
                if self.hold:
                    await websocket.wait_closed()
                else:
                    await websocket.close()
            else:
                async for frame in websocket:
                    connection.received.append(frame)
        finally:
            connection.closed.set()

    @staticmethod
    def _refuse(websocket: ServerConnection, request: HandshakeRequest) -> HandshakeResponse | None:
        if request.path == "/refuse":
            return HandshakeResponse(403, "Forbidden", Headers(), b"not you")
        return None


@contextmanager
def serve_websockets() -> Iterator[WebSocketPeer]:
    """Run a `WebSocketPeer` on a free port of 127.0.0.1 in a thread; yield it."""
    peer = WebSocketPeer()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        async with serve(peer._handle, "127.0.0.1", 0, process_request=peer._refuse) as server:
            peer.port = next(iter(server.sockets)).getsockname()[1]
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="ws-peer", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the WebSocket peer did not start")
    try:
        yield peer
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


@dataclass
class HttpPeer:
    """Documents served over HTTP and the messages POSTed to it."""

    url: str = ""
    documents: dict[str, Any] = field(default_factory=dict)
    posted: list[dict[str, Any]] = field(default_factory=list)
    status: int = 202

    def reset(self) -> None:
        self.documents.clear()
        self.posted.clear()
        self.status = 202


def http_app(peer: HttpPeer) -> Starlette:
    async def document(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in peer.documents:
            return Response(status_code=404)
        return JSONResponse(peer.documents[name])

    async def publish(request: Request) -> Response:
        peer.posted.append(
            {
                "path": request.url.path,
                "headers": dict(request.headers),
                "body": json.loads(await request.body() or b"null"),
            }
        )
        return Response(status_code=peer.status, content=b"" if peer.status < 300 else b"broker says no")

    return Starlette(
        routes=[
            Route("/docs/{name}", document),
            Route("/events/{rest:path}", publish, methods=["POST"]),
        ]
    )


@contextmanager
def serve_http() -> Iterator[HttpPeer]:
    peer = HttpPeer()
    with serve_asgi(http_app(peer)) as url:
        peer.url = url
        yield peer


def v3_document(ws_port: int, http_base: str = "http://127.0.0.1:9", protocol: str = "ws") -> dict[str, Any]:
    """AsyncAPI 3.0: a chat over WebSocket (`greet` sends, `chat-inbox` receives), an HTTP
    events server, a Kafka server, and a `broken` operation without a channel."""
    http_host = http_base.removeprefix("http://")
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "chat", "version": "1"},
        "servers": {
            "kafkaServer": {"host": "127.0.0.1:9092", "protocol": "kafka"},
            "chatServer": {
                "host": "127.0.0.1:{port}",
                "protocol": protocol,
                "variables": {"port": {"default": str(ws_port)}},
            },
            "eventsServer": {"host": http_host, "pathname": "/events", "protocol": "http"},
        },
        "channels": {
            "greetings": {
                "address": "/greetings",
                "servers": [{"$ref": "#/servers/chatServer"}, {"$ref": "#/servers/eventsServer"}],
                "messages": {"greeting": {"payload": {"type": "object"}}},
            },
            "inbox": {
                "address": "/feed/inbox",
                "servers": [{"$ref": "#/servers/chatServer"}],
                "messages": {"chatMessage": {"$ref": "#/components/messages/chatMessage"}},
            },
            "audit": {"address": "/audit", "servers": [{"$ref": "#/servers/kafkaServer"}]},
        },
        "operations": {
            "greet": {"action": "send", "channel": {"$ref": "#/channels/greetings"}},
            "chat-inbox": {
                "action": "receive",
                "channel": {"$ref": "#/channels/inbox"},
                "messages": [{"$ref": "#/channels/inbox/messages/chatMessage"}],
            },
            "audit": {"action": "send", "channel": {"$ref": "#/channels/audit"}},
            "broken": {"action": "send"},
        },
        "components": {
            "messages": {
                "chatMessage": {
                    "payload": {"type": "object"},
                    "correlationId": {"location": "$message.payload#/user"},
                }
            }
        },
    }


def v2_document(ws_port: int) -> dict[str, Any]:
    """AsyncAPI 2.6: `/notifications` (subscribe) and `/greetings` (publish) over WebSocket."""
    return {
        "asyncapi": "2.6.0",
        "info": {"title": "notifications", "version": "1"},
        "servers": {
            "production": {"url": "ws://127.0.0.1:{port}", "protocol": "ws", "variables": {"port": {}}},
            "local": {
                "url": "127.0.0.1:{port}",
                "protocol": "ws",
                "variables": {"port": {"default": str(ws_port)}},
            },
        },
        "channels": {
            "/feed/notifications": {
                "servers": ["local"],
                "subscribe": {
                    "message": {
                        "oneOf": [{"payload": {}, "correlationId": {"location": "$message.payload#/to"}}]
                    }
                },
            },
            "/greetings": {"publish": {"message": {"payload": {}}}},
        },
    }
