"""A real HTTP server on 127.0.0.1 (uvicorn in a thread) that the effects tests call.

One server per test session; `live` hands each test the server with its counters reset.
The app serves echo/content/status endpoints, a slow endpoint that reports when the
client goes away, basic/bearer/digest-protected resources, an OAuth2 token endpoint and
an OIDC discovery document with its own token endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs
from urllib.request import parse_http_list, parse_keqv_list

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from treadle.effects import Dispatcher, FunctionRegistry

BASIC_USER, BASIC_PASSWORD = "admin", "pa55-basic-secret"
BEARER_TOKEN = "bearer-token-secret-123"
DIGEST_USER, DIGEST_PASSWORD, DIGEST_REALM, DIGEST_NONCE = "dave", "digest-pw-secret", "treadle", "n0nc3"
CLIENT_ID, CLIENT_SECRET = "treadle-client", "client-secret-xyz"
RESOURCE_OWNER, RESOURCE_PASSWORD = "alice", "wonderland-pw-secret"
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


@dataclass
class ServerState:
    """What the server observed; reset before each test."""

    token_requests: list[dict[str, Any]] = field(default_factory=list)
    discovery_requests: int = 0
    issued_tokens: set[str] = field(default_factory=set)
    revoked_tokens: set[str] = field(default_factory=set)
    token_lifetime: int | None = 3600
    slow_started: threading.Event = field(default_factory=threading.Event)
    slow_disconnected: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        self.token_requests.clear()
        self.discovery_requests = 0
        self.issued_tokens.clear()
        self.revoked_tokens.clear()
        self.token_lifetime = 3600
        self.slow_started.clear()
        self.slow_disconnected.clear()


@dataclass(frozen=True)
class LiveServer:
    url: str
    state: ServerState


def _echo_payload(request: Request, body: bytes) -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.url.path,
        "query": [[name, value] for name, value in request.query_params.multi_items()],
        "headers": dict(request.headers),
        "body": body.decode("utf-8", errors="replace"),
    }


def build_app(state: ServerState) -> Starlette:
    async def echo(request: Request) -> Response:
        return JSONResponse(_echo_payload(request, await request.body()))

    async def echo_error(request: Request) -> Response:
        # Echoes the request (credentials included) in an error body, to check redaction.
        return JSONResponse(_echo_payload(request, await request.body()), status_code=500)

    async def json_content(request: Request) -> Response:
        return JSONResponse({"count": 3, "price": 1.5, "items": [1, 2], "name": "milou", "ok": True})

    async def text_content(request: Request) -> Response:
        return PlainTextResponse("hello, world")

    async def empty(request: Request) -> Response:
        return Response(b"", status_code=int(request.query_params.get("status", "200")))

    async def binary(request: Request) -> Response:
        return Response(bytes(range(256)), media_type="application/octet-stream")

    async def status(request: Request) -> Response:
        code = int(request.path_params["code"])
        return JSONResponse({"error": "it went wrong", "code": code}, status_code=code)

    async def redirect(request: Request) -> Response:
        return RedirectResponse("/json", status_code=302)

    async def not_modified(request: Request) -> Response:
        return Response(status_code=304)

    async def malformed(request: Request) -> Response:
        return Response(b'{"truncated": ', media_type="application/json")

    async def large(request: Request) -> Response:
        items = [{"index": index, "label": f"item-{index}"} for index in range(100_000)]
        return JSONResponse({"items": items})

    async def basic(request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({"user": BASIC_USER})

    async def bearer(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {BEARER_TOKEN}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({"authorized": True})

    async def digest(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        if header.startswith("Digest ") and _digest_is_valid(request.method, header):
            return JSONResponse({"user": DIGEST_USER})
        challenge = f'Digest realm="{DIGEST_REALM}", nonce="{DIGEST_NONCE}", qop="auth", algorithm=MD5'
        return Response(status_code=401, headers={"WWW-Authenticate": challenge})

    async def token(request: Request) -> Response:
        return await _issue_token(request, state)

    async def failing_token(request: Request) -> Response:
        return JSONResponse({"error": "invalid_client", "error_description": "unknown client"}, 401)

    async def leaky_token(request: Request) -> Response:
        # A badly behaved server that echoes the request body (the client secret) back.
        return PlainTextResponse(f"bad request: {(await request.body()).decode()}", 400)

    async def discovery(request: Request) -> Response:
        state.discovery_requests += 1
        base = str(request.base_url).rstrip("/")
        return JSONResponse({"issuer": f"{base}/oidc", "token_endpoint": f"{base}/oidc/token"})

    async def protected(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        token_value = header.removeprefix("Bearer ")
        if token_value not in state.issued_tokens or token_value in state.revoked_tokens:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"token": token_value})

    routes = [
        Route("/echo", echo, methods=ALL_METHODS),
        Route("/echo/{rest:path}", echo, methods=ALL_METHODS),
        Route("/echo-error", echo_error, methods=ALL_METHODS),
        Route("/json", json_content),
        Route("/text", text_content),
        Route("/empty", empty, methods=ALL_METHODS),
        Route("/binary", binary),
        Route("/status/{code}", status, methods=ALL_METHODS),
        Route("/redirect", redirect),
        Route("/not-modified", not_modified),
        Route("/malformed", malformed),
        Route("/large", large),
        Route("/basic", basic),
        Route("/bearer", bearer),
        Route("/digest", digest),
        Route("/realm/oauth2/token", token, methods=["POST"]),
        Route("/realm/custom/token", token, methods=["POST"]),
        Route("/failing/oauth2/token", failing_token, methods=["POST"]),
        Route("/leaky/oauth2/token", leaky_token, methods=["POST"]),
        Route("/oidc/.well-known/openid-configuration", discovery),
        Route("/oidc/token", token, methods=["POST"]),
        Route("/protected", protected),
    ]
    return Starlette(routes=routes)


def _digest_is_valid(method: str, header: str) -> bool:
    fields = parse_keqv_list(parse_http_list(header.removeprefix("Digest ")))

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"{DIGEST_USER}:{DIGEST_REALM}:{DIGEST_PASSWORD}")
    ha2 = md5(f"{method}:{fields.get('uri')}")
    expected = md5(f"{ha1}:{fields.get('nonce')}:{fields.get('nc')}:{fields.get('cnonce')}:auth:{ha2}")
    return fields.get("username") == DIGEST_USER and fields.get("response") == expected


def _client_credentials(request: Request, form: dict[str, Any]) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    if header.startswith("Basic "):
        client_id, _, secret = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        return client_id, secret
    return form.get("client_id"), form.get("client_secret")


async def _issue_token(request: Request, state: ServerState) -> Response:
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        form: dict[str, Any] = json.loads(raw)
    else:
        form = {
            name: values if len(values) > 1 else values[0] for name, values in parse_qs(raw.decode()).items()
        }
    client_id, secret = _client_credentials(request, form)
    state.token_requests.append({**form, "_client": client_id, "_path": request.url.path})
    if (client_id, secret) != (CLIENT_ID, CLIENT_SECRET):
        return JSONResponse({"error": "invalid_client"}, status_code=401)
    grant = form.get("grant_type")
    if grant == "password" and (form.get("username"), form.get("password")) != (
        RESOURCE_OWNER,
        RESOURCE_PASSWORD,
    ):
        return JSONResponse({"error": "invalid_grant"}, status_code=400)
    if grant not in ("client_credentials", "password"):
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
    issued = f"access-{len(state.token_requests)}-{grant}"
    state.issued_tokens.add(issued)
    body: dict[str, Any] = {"access_token": issued, "token_type": "bearer"}
    if state.token_lifetime is not None:
        body["expires_in"] = state.token_lifetime
    return JSONResponse(body)


class _SlowEndpoint:
    """Raw ASGI: answers after 5 s, or notices that the client went away first."""

    def __init__(self, state: ServerState, inner: Starlette) -> None:
        self.state = state
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/slow":
            await self.inner(scope, receive, send)
            return
        self.state.slow_started.set()
        message = await receive()  # the (empty) request body
        try:
            while message["type"] != "http.disconnect":
                message = await asyncio.wait_for(receive(), timeout=5)
        except TimeoutError:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"too late"})
            return
        self.state.slow_disconnected.set()


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    state = ServerState()
    app = _SlowEndpoint(state, build_app(state))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, name="effects-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uvicorn_server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test HTTP server did not start")
        time.sleep(0.01)
    port = uvicorn_server.servers[0].sockets[0].getsockname()[1]
    yield LiveServer(url=f"http://127.0.0.1:{port}", state=state)
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def live(server: LiveServer) -> LiveServer:
    server.state.reset()
    return server


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def functions() -> FunctionRegistry:
    return FunctionRegistry(entry_point_group=None)


@pytest.fixture
async def dispatcher(functions: FunctionRegistry) -> AsyncIterator[Dispatcher]:
    async with Dispatcher(functions=functions, timeout=5.0) as effects:
        yield effects
