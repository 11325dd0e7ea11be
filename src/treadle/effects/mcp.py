"""`call: mcp` (DSL 1.0.3) — one request to a Model Context Protocol server, via the `mcp` SDK.

`args`: `method`, `parameters`, `transport` (`stdio: {command, arguments, environment}` or
`http: {endpoint, headers}`), `protocolVersion`, `client: {name, version}`, `timeout`.
Each call opens one session (the SDK performs the `initialize` handshake, or the newer
`server/discover`), sends one request and closes the session; a stdio server is started
for the call and its process tree is stopped afterwards.

Methods and results:
- `tools/call` (`{name, arguments}`): the tool's structured result when it has one, else
  its `content` list. A result with `isError` is a runtime error carrying the content's
  text.
- `tools/list`, `prompts/list`, `resources/list`, `resources/templates/list` (`{cursor}`),
  `prompts/get` (`{name, arguments}`), `resources/read` (`{uri}`): the JSON-RPC result,
  without the protocol's bookkeeping (`_meta`, `resultType`, `ttlMs`, `cacheScope`), which
  differs between protocol versions.

`protocolVersion`: a handshake-era version (`2025-06-18` and earlier) uses the
`initialize` handshake; `2026-07-28` adopts the stateless protocol directly; absent, the
SDK probes for the newest the server speaks and falls back.

Faults: a JSON-RPC error or a failing tool → runtime (500), as the spec asks; a server
that cannot be reached or started → communication (503); `timeout` elapsed → timeout
(408). A stdio transport starts a local process, so it needs `allow_run` like
`run: shell` (authorization error, 403, otherwise). HTTP endpoints may carry an
`authentication` policy (sent as an `Authorization` header).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import IO, Any, TextIO

import httpx2
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import Implementation
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel

from treadle.dsl.models import parse_duration
from treadle.effects.credentials import authorization_header
from treadle.effects.handler import Shared
from treadle.effects.processes import require_run_allowed, string_arguments
from treadle.effects.resources import resource_uri
from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["METHODS", "McpCall"]

_BOOKKEEPING = ("_meta", "resultType", "ttlMs", "cacheScope")
_STDERR_TAIL = 1000
_CLIENT = Implementation(name="treadle", version="0.1.0")
# The parameter each method cannot do without.
_REQUIRED = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


def _config_error(detail: str) -> WorkflowError:
    return WorkflowError(ErrorType.CONFIGURATION, status=400, title="Invalid MCP call", detail=detail)


def _runtime_error(detail: str, **extra: Any) -> WorkflowError:
    return WorkflowError(ErrorType.RUNTIME, status=500, title="MCP call failed", detail=detail, **extra)


def _json(result: BaseModel) -> dict[str, Any]:
    dumped: dict[str, Any] = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {name: value for name, value in dumped.items() if name not in _BOOKKEEPING}


def _text_of(content: list[dict[str, Any]]) -> str:
    return " ".join(str(item.get("text", "")) for item in content if item.get("type") == "text").strip()


async def _call_tool(client: Client, parameters: Mapping[str, Any]) -> Any:
    name = _required_text(parameters, "name", "tools/call")
    arguments = parameters.get("arguments") or {}
    if not isinstance(arguments, Mapping):
        raise _config_error("'parameters.arguments' must be an object")
    result = _json(await client.call_tool(name, dict(arguments)))
    content = result.get("content", [])
    if result.get("isError"):
        raise _runtime_error(f"tool '{name}' failed: {_text_of(content) or 'no message'}", content=content)
    structured = result.get("structuredContent")
    return structured if structured is not None else content


def _cursor(parameters: Mapping[str, Any]) -> str | None:
    cursor = parameters.get("cursor")
    return cursor if isinstance(cursor, str) else None


def _required_text(parameters: Mapping[str, Any], name: str, method: str) -> str:
    value = parameters.get(name)
    if not isinstance(value, str) or not value:
        raise _config_error(f"{method} needs 'parameters.{name}'")
    return value


async def _get_prompt(client: Client, parameters: Mapping[str, Any]) -> Any:
    name = _required_text(parameters, "name", "prompts/get")
    arguments = parameters.get("arguments") or {}
    if not isinstance(arguments, Mapping):
        raise _config_error("'parameters.arguments' must be an object")
    return _json(await client.get_prompt(name, {str(k): str(v) for k, v in arguments.items()}))


async def _read_resource(client: Client, parameters: Mapping[str, Any]) -> Any:
    return _json(await client.read_resource(_required_text(parameters, "uri", "resources/read")))


Method = Callable[[Client, Mapping[str, Any]], Awaitable[Any]]

METHODS: Mapping[str, Method] = {
    "tools/list": lambda client, p: _listing(client.list_tools(cursor=_cursor(p))),
    "tools/call": _call_tool,
    "prompts/list": lambda client, p: _listing(client.list_prompts(cursor=_cursor(p))),
    "prompts/get": _get_prompt,
    "resources/list": lambda client, p: _listing(client.list_resources(cursor=_cursor(p))),
    "resources/read": _read_resource,
    "resources/templates/list": lambda client, p: _listing(client.list_resource_templates(cursor=_cursor(p))),
}


async def _listing(request: Awaitable[BaseModel]) -> dict[str, Any]:
    return _json(await request)


async def _perform(
    perform: Method, client: Client, parameters: Mapping[str, Any], method: str
) -> tuple[Any, WorkflowError | None]:
    """The method's result, or the error it ended with (see `McpCall.call` for why)."""
    try:
        return await perform(client, parameters), None
    except WorkflowError as error:
        return None, error
    except MCPError as exc:
        return None, _runtime_error(f"{method} failed: {exc.error.message} (code {exc.code})", code=exc.code)


def _mode(version: Any) -> str:
    if version is None:
        return "auto"
    if version in HANDSHAKE_PROTOCOL_VERSIONS:
        return "legacy"
    if version in MODERN_PROTOCOL_VERSIONS:
        return str(version)
    known = ", ".join((*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS))
    raise _config_error(f"unsupported MCP protocolVersion {version!r} (supported: {known})")


def _client_info(raw: Any) -> Implementation:
    if raw is None:
        return _CLIENT
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
        raise _config_error("'client' must be {name, version}")
    return Implementation(name=raw["name"], version=str(raw.get("version", "")))


def _timeout(raw: Any) -> float | None:
    if raw is None:
        return None
    try:
        seconds = parse_duration(raw).seconds
    except (TypeError, ValueError) as exc:
        raise _config_error(f"'timeout' is not a duration: {exc}") from None
    if seconds is None:
        raise _config_error("'timeout' must be a duration, not an expression")
    return seconds


def _stdio_parameters(raw: Mapping[str, Any]) -> StdioServerParameters:
    command = raw.get("command")
    if not isinstance(command, str) or not command:
        raise _config_error("'transport.stdio.command' is required")
    environment = raw.get("environment") or {}
    if not isinstance(environment, Mapping):
        raise _config_error("'transport.stdio.environment' must be a map")
    return StdioServerParameters(
        command=command,
        args=string_arguments(raw.get("arguments")),
        env={str(name): str(value) for name, value in environment.items() if value is not None},
    )


class McpCall:
    """Performs `call: mcp`."""

    def __init__(self, shared: Shared) -> None:
        self._shared = shared

    async def call(self, args: Mapping[str, Any], key: str) -> Any:
        """Open a session on the transport, send `method` with `parameters`, close it."""
        method = args.get("method")
        perform = METHODS.get(method) if isinstance(method, str) else None
        if perform is None:
            raise _config_error(f"'method' must be one of {', '.join(sorted(METHODS))} (got {method!r})")
        parameters = args.get("parameters") or {}
        if not isinstance(parameters, Mapping):
            raise _config_error("'parameters' must be an object")
        required = _REQUIRED.get(str(method))
        if required is not None:
            _required_text(parameters, required, str(method))  # fail before starting anything
        mode, info = _mode(args.get("protocolVersion")), _client_info(args.get("client"))
        timeout = _timeout(args.get("timeout"))
        try:
            async with asyncio.timeout(timeout):
                async with self._client(args.get("transport"), mode, info) as client:
                    result, failure = await _perform(perform, client, parameters, str(method))
        except TimeoutError:
            raise WorkflowError(
                ErrorType.TIMEOUT,
                status=408,
                title="MCP call timed out",
                detail=f"{method} took longer than {timeout} s",
            ) from None
        # Raised only once the session is closed: raised inside it, the SDK's task groups
        # would wrap the error in an ExceptionGroup.
        if failure is not None:
            raise failure
        return result

    @asynccontextmanager
    async def _client(self, transport: Any, mode: str, info: Implementation) -> AsyncIterator[Client]:
        if not isinstance(transport, Mapping) or not ({"stdio", "http"} & set(transport)):
            raise _config_error("'transport' must be {stdio: {...}} or {http: {...}}")
        if isinstance(transport.get("stdio"), Mapping):
            async with self._stdio_client(transport["stdio"], mode, info) as client:
                yield client
            return
        http = transport.get("http")
        if not isinstance(http, Mapping):
            raise _config_error("'transport.http' must be {endpoint, headers}")
        async with self._http_client(http, mode, info) as client:
            yield client

    @asynccontextmanager
    async def _stdio_client(
        self, stdio: Mapping[str, Any], mode: str, info: Implementation
    ) -> AsyncIterator[Client]:
        require_run_allowed(self._shared, "mcp stdio server")
        parameters = _stdio_parameters(stdio)
        # The server's stderr is kept aside so that a server failing to start can say why.
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
            async with _connected(
                Client(_stdio_transport(parameters, errlog), mode=mode, client_info=info, cache=None),
                f"the MCP server '{parameters.command}'",
                errlog,
            ) as client:
                yield client

    @asynccontextmanager
    async def _http_client(
        self, http: Mapping[str, Any], mode: str, info: Implementation
    ) -> AsyncIterator[Client]:
        url, policy = resource_uri(http, "transport.http")
        headers = http.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise _config_error("'transport.http.headers' must be a map")
        merged = {str(name): str(value) for name, value in headers.items()}
        authorization, _ = await authorization_header(policy, self._shared, url)
        if authorization is not None:
            merged["Authorization"] = authorization
        async with create_mcp_http_client(headers=merged) as http_client:
            transport = streamable_http_client(url, http_client=http_client)
            async with _connected(
                Client(transport, mode=mode, client_info=info, cache=None), f"the MCP server at {url}", None
            ) as client:
                yield client


def _stdio_transport(parameters: StdioServerParameters, errlog: TextIO) -> Any:
    return stdio_client(parameters, errlog=errlog)


@asynccontextmanager
async def _connected(client: Client, what: str, errlog: IO[str] | None) -> AsyncIterator[Client]:
    """Enter `client`, turning a failure to connect into a communication error."""
    try:
        await client.__aenter__()
    except (OSError, MCPError, httpx2.HTTPError, ExceptionGroup) as exc:
        raise _unreachable(what, exc, errlog) from None
    try:
        yield client
    finally:
        # The SDK shields its own shutdown (closing stdin, then killing the process tree).
        await client.__aexit__(*sys.exc_info())


def _unreachable(what: str, exc: BaseException, errlog: IO[str] | None) -> WorkflowError:
    reasons = exc.exceptions if isinstance(exc, ExceptionGroup) else (exc,)
    detail = f"cannot connect to {what}: " + "; ".join(f"{type(e).__name__}: {e}" for e in reasons)
    if errlog is not None:
        errlog.seek(0)
        stderr = errlog.read()[-_STDERR_TAIL:].strip()
        if stderr:
            detail += f"; its stderr: {stderr}"
    return WorkflowError(ErrorType.COMMUNICATION, status=503, title="MCP server unreachable", detail=detail)
