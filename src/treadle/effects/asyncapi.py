"""`call: asyncapi` — publish to, or subscribe on, a channel an AsyncAPI document describes.

The engine (`treadle.engine.asyncapi`) asks for four actions, each one effect:

- publish (no `action`): send `message.payload` (as JSON) with `message.headers`; the
  result is the message as sent, `{payload, headers}`;
- `open`: connect for `subscription`, answer a handle (a string) kept in this handler's
  registry of open subscriptions (one per dispatcher);
- `next` (`subscription`: the handle): the next inbound message, `{payload, headers,
  correlationId}`, or null once the peer closed the stream or `consume.for` (counted from
  `open`) elapsed;
- `close`: close the connection; idempotent. `Dispatcher.aclose()` closes every
  subscription still open, and cancelling a `next` closes its connection.

Finding the endpoint. The document (`document`, an external resource, JSON or YAML, cached
by URI) is AsyncAPI 3.x — `operation` names an entry of `operations`, whose `channel`
(a `$ref`) gives the address — or 2.x — `channel` names an entry of `channels`, which must
have a `publish` operation for a message and a `subscribe` one for a subscription. The
server is `server.name`, else the first of the channel's servers (all the document's when
the channel names none) speaking `protocol`, else the first whose protocol is supported.
`{variables}` in its URL take `server.variables`, then their defaults. The URL is the
server's (3.x `protocol://host/pathname`, 2.x `url`) joined with the channel's address.

Protocols: `ws`/`wss` (publish and subscribe; `message.headers` and the `authentication`
header travel in the opening handshake; a frame's text is JSON-decoded when it is JSON)
and `http`/`https` (publish only: a POST of the payload as JSON). Anything else is a
configuration error naming the protocol. When the operation's message declares a
`correlationId` location (`$message.payload#/id`, `$message.header#/x`), inbound
messages carry the value found there.

Faults: a malformed document, an unknown operation/channel/server or a missing variable →
configuration (400, naming the JSON pointer in the document); connection refused or lost
→ communication (503); a refused handshake → communication with the status answered; an
opening handshake that does not finish in time → timeout (408).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from httpx import USE_CLIENT_DEFAULT
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from treadle.dsl.models import parse_duration
from treadle.effects.auth import Authentication, build_authentication
from treadle.effects.credentials import authorization_header
from treadle.effects.handler import Shared
from treadle.effects.resources import Resource, load_resource, parse_structured, resource_uri
from treadle.effects.transport_errors import MAPPED_EXCEPTIONS, map_httpx_error
from treadle.effects.uri import redact_url
from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["SUPPORTED_PROTOCOLS", "AsyncApiCall", "AsyncApiDocument", "Endpoint"]

#: The protocols a call can speak; the first two subscribe too.
SUPPORTED_PROTOCOLS = ("ws", "wss", "http", "https")
_SUBSCRIBING = ("ws", "wss")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_OPEN_TIMEOUT = 30.0
_CLOSE_TIMEOUT = 5.0
_ERROR_BODY_LIMIT = 300
_LISTED = 20


def _config_error(detail: str) -> WorkflowError:
    return WorkflowError(ErrorType.CONFIGURATION, status=400, title="Invalid AsyncAPI call", detail=detail)


def _pointer(*tokens: str) -> str:
    return "".join("/" + token.replace("~", "~0").replace("/", "~1") for token in tokens)


def _listed(names: Any) -> str:
    return ", ".join(sorted(str(name) for name in names)[:_LISTED]) or "none"


@dataclass(frozen=True)
class Endpoint:
    """Where and how a call talks: the resolved URL, its protocol and the server chosen.

    Attributes:
        url: the server's URL joined with the channel's address, variables substituted.
        protocol: the server's protocol, lower-cased (`ws`, `http`, ...).
        server: the name of the document's server used.
        correlation: the `location` of the message's correlation id, if it declares one.
    """

    url: str
    protocol: str
    server: str
    correlation: str | None = None


@dataclass(frozen=True)
class AsyncApiDocument:
    """A parsed AsyncAPI 2.x or 3.x document and where it was read from."""

    source: Resource
    spec: Mapping[str, Any]

    @property
    def major(self) -> int:
        """The AsyncAPI major version (2 or 3)."""
        return int(str(self.spec["asyncapi"]).split(".", 1)[0])

    def _missing(self, pointer: str, what: str) -> WorkflowError:
        return _config_error(
            f"the AsyncAPI document {redact_url(self.source.uri)} has no {what} at {pointer}"
        )

    def node(self, parent: Any, name: str, pointer: str, what: str) -> tuple[Mapping[str, Any], str]:
        """`parent[name]` as an object with its `$ref` followed, and its pointer."""
        child = parent.get(name) if isinstance(parent, Mapping) else None
        if child is None:
            raise self._missing(f"{pointer}{_pointer(name)}", what)
        return self.resolve(child, f"{pointer}{_pointer(name)}", what)

    def resolve(self, node: Any, pointer: str, what: str) -> tuple[Mapping[str, Any], str]:
        """`node` (at `pointer`) with its local `$ref`s followed, and the pointer it ends at."""
        seen: set[str] = set()
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise _config_error(f"only local $refs are supported, not '{ref}' at {pointer}")
            if ref in seen:
                raise _config_error(f"circular $ref '{ref}' at {pointer}")
            seen.add(ref)
            node, pointer = self._at(ref[1:]), ref[1:]
        if not isinstance(node, Mapping):
            raise self._missing(pointer, what)
        return node, pointer

    def _at(self, pointer: str) -> Any:
        target: Any = self.spec
        for token in pointer[1:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or token not in target:
                raise self._missing(pointer, "$ref target")
            target = target[token]
        return target

    def endpoint(self, args: Mapping[str, Any], publish: bool) -> Endpoint:
        """The endpoint of the operation `args` names (see the module docstring).

        Raises:
            WorkflowError: configuration (400) when the operation, channel or server is
                unknown or malformed, a variable has no value, or the protocol is unsupported.
        """
        if self.major >= 3:
            address, channel_servers, message = self._v3_operation(args)
        else:
            address, channel_servers, message = self._v2_channel(args, publish)
        name, server = self._server(args, channel_servers)
        protocol, base = self._server_url(name, server, args.get("server"))
        if protocol not in SUPPORTED_PROTOCOLS:
            raise _config_error(
                f"unsupported AsyncAPI protocol '{protocol}' (supported: {', '.join(SUPPORTED_PROTOCOLS)})"
            )
        if address and _PLACEHOLDER.search(address):
            raise _config_error(f"the channel address '{address}' has parameters, which a call cannot fill")
        url = f"{base.rstrip('/')}/{address.lstrip('/')}" if address else base
        return Endpoint(url=url, protocol=protocol, server=name, correlation=self._correlation(message))

    def _v3_operation(self, args: Mapping[str, Any]) -> tuple[str, list[str] | None, Any]:
        name = args.get("operation")
        if not isinstance(name, str) or not name:
            raise _config_error("'operation' is required with an AsyncAPI 3.x document")
        operations = self.spec.get("operations")
        if not isinstance(operations, Mapping):
            raise self._missing("/operations", "operations")
        if name not in operations:
            raise _config_error(
                f"operation '{name}' is not in the AsyncAPI document {redact_url(self.source.uri)} "
                f"(operations: {_listed(operations)})"
            )
        operation, pointer = self.node(operations, name, "/operations", "operation")
        channel, channel_pointer = self.node(operation, "channel", pointer, "channel")
        address = channel.get("address")
        listed = channel.get("servers")
        # A channel naming no servers is available on all of them.
        servers = [self._server_name(ref, channel_pointer) for ref in listed] if _is_list(listed) else None
        messages = operation.get("messages")
        if not _is_list(messages):
            messages = list(_mapping(channel.get("messages")).values())
        return (str(address) if address else ""), servers, messages[0] if messages else None

    def _server_name(self, ref: Any, pointer: str) -> str:
        target = ref.get("$ref") if isinstance(ref, Mapping) else None
        if not isinstance(target, str) or not target.startswith("#/servers/"):
            raise _config_error(f"the channel at {pointer} lists a server that is not a '#/servers/...' $ref")
        return target.removeprefix("#/servers/").replace("~1", "/").replace("~0", "~")

    def _v2_channel(self, args: Mapping[str, Any], publish: bool) -> tuple[str, list[str] | None, Any]:
        name = args.get("channel")
        if not isinstance(name, str) or not name:
            raise _config_error("'channel' is required with an AsyncAPI 2.x document")
        channels = self.spec.get("channels")
        if not isinstance(channels, Mapping):
            raise self._missing("/channels", "channels")
        if name not in channels:
            raise _config_error(
                f"channel '{name}' is not in the AsyncAPI document {redact_url(self.source.uri)} "
                f"(channels: {_listed(channels)})"
            )
        channel, pointer = self.node(channels, name, "/channels", "channel")
        verb = "publish" if publish else "subscribe"
        operation, _ = self.node(channel, verb, pointer, f"'{verb}' operation for channel '{name}'")
        listed = channel.get("servers")
        servers = [str(server) for server in listed] if _is_list(listed) else None
        message = operation.get("message")
        if isinstance(message, Mapping) and isinstance(message.get("oneOf"), list) and message["oneOf"]:
            message = message["oneOf"][0]
        return name, servers, message

    def _server(
        self, args: Mapping[str, Any], channel_servers: list[str] | None
    ) -> tuple[str, Mapping[str, Any]]:
        servers = self.spec.get("servers")
        if not isinstance(servers, Mapping) or not servers:
            raise self._missing("/servers", "servers")
        requested = args.get("server")
        name = requested.get("name") if isinstance(requested, Mapping) else requested
        if name is not None:
            if name not in servers:
                raise _config_error(
                    f"server '{name}' is not in the AsyncAPI document (servers: {_listed(servers)})"
                )
            return str(name), self.node(servers, str(name), "/servers", "server")[0]
        candidates = [
            (str(candidate), self.node(servers, str(candidate), "/servers", "server")[0])
            for candidate in (channel_servers if channel_servers is not None else list(servers))
        ]
        protocol = args.get("protocol")
        if isinstance(protocol, str) and protocol:
            speaking = [(n, s) for n, s in candidates if _protocol_of(s) == protocol.lower()]
            if not speaking:
                raise _config_error(
                    f"no server of the channel speaks '{protocol}' "
                    f"(servers: {', '.join(f'{n} ({_protocol_of(s)})' for n, s in candidates) or 'none'})"
                )
            candidates = speaking
        else:
            candidates = [c for c in candidates if _protocol_of(c[1]) in SUPPORTED_PROTOCOLS] or candidates
        if not candidates:
            raise _config_error("the channel's server list is empty")
        return candidates[0]

    def _server_url(self, name: str, server: Mapping[str, Any], requested: Any) -> tuple[str, str]:
        pointer = f"/servers{_pointer(name)}"
        protocol = _protocol_of(server)
        if self.major >= 3:
            host = server.get("host")
            if not isinstance(host, str) or not host:
                raise self._missing(f"{pointer}/host", "server host")
            if not protocol:
                raise self._missing(f"{pointer}/protocol", "server protocol")
            url = f"{protocol}://{host}{server.get('pathname') or ''}"
        else:
            raw = server.get("url")
            if not isinstance(raw, str) or not raw:
                raise self._missing(f"{pointer}/url", "server url")
            scheme = urlsplit(raw).scheme.lower() if "://" in raw else ""
            protocol = protocol or scheme
            if not protocol:
                raise self._missing(f"{pointer}/protocol", "server protocol")
            url = raw if scheme else f"{protocol}://{raw}"
        given = _mapping(requested.get("variables") if isinstance(requested, Mapping) else None)
        declared = _mapping(server.get("variables"))

        def value(match: re.Match[str]) -> str:
            variable = match.group(1)
            if variable in given:
                return str(given[variable])
            default = _mapping(declared.get(variable)).get("default")
            if default is None:
                raise _config_error(
                    f"server '{name}' needs the variable '{variable}' ({pointer}/variables): "
                    f"pass it in server.variables"
                )
            return str(default)

        return protocol, _PLACEHOLDER.sub(value, url)

    def _correlation(self, message: Any) -> str | None:
        if not isinstance(message, Mapping):
            return None
        message, pointer = self.resolve(message, "", "message")
        correlation = message.get("correlationId")
        if correlation is None:
            return None
        correlation, _ = self.resolve(correlation, f"{pointer}/correlationId", "correlation id")
        location = correlation.get("location")
        return location if isinstance(location, str) else None


def _is_list(value: Any) -> TypeGuard[list[Any]]:
    """Whether `value` is a non-empty list."""
    return isinstance(value, list) and bool(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _protocol_of(server: Mapping[str, Any]) -> str:
    return str(server.get("protocol") or "").lower()


def _json_pointer(value: Any, pointer: str) -> Any:
    for token in pointer.split("/")[1:] if pointer else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, Mapping):
            value = value.get(token)
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return None
    return value


def _correlation_id(location: str | None, payload: Any, headers: Mapping[str, Any]) -> Any:
    """The value at a runtime expression like `$message.payload#/id` (None when absent)."""
    if location is None:
        return None
    source, _, pointer = location.partition("#")
    if source == "$message.payload":
        return _json_pointer(payload, pointer)
    if source == "$message.header":
        return _json_pointer(headers, pointer)
    return None


def _decode(frame: str | bytes) -> Any:
    """A frame's content: JSON when it parses, else the text (bytes that are not UTF-8: base64)."""
    if isinstance(frame, bytes):
        try:
            text = frame.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(frame).decode("ascii")
    else:
        text = frame
    try:
        return json.loads(text)
    except ValueError:
        return frame


def _websocket_error(exc: BaseException, url: str, redact: Authentication) -> WorkflowError:
    """The DSL error for a failure to talk WebSocket to `url` (already redacted)."""
    reason = redact.redact(f"{url}: {type(exc).__name__}: {exc}")
    if isinstance(exc, InvalidURI):
        return WorkflowError(ErrorType.CONFIGURATION, status=400, title="Invalid URL", detail=reason)
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        return WorkflowError(ErrorType.COMMUNICATION, status=status, title="Handshake refused", detail=reason)
    if isinstance(exc, InvalidHandshake):
        return WorkflowError(ErrorType.COMMUNICATION, status=500, title="Handshake failed", detail=reason)
    if isinstance(exc, TimeoutError):
        return WorkflowError(ErrorType.TIMEOUT, status=408, title="Connect timeout", detail=reason)
    if isinstance(exc, ConnectionClosed):
        return WorkflowError(ErrorType.COMMUNICATION, status=503, title="Connection lost", detail=reason)
    return WorkflowError(ErrorType.COMMUNICATION, status=503, title="Connection failed", detail=reason)


_WEBSOCKET_ERRORS = (InvalidURI, InvalidHandshake, TimeoutError, ConnectionClosed, OSError)


@dataclass
class _Subscription:
    """An open subscription: its connection, when it stops, how to read correlation ids."""

    connection: ClientConnection
    url: str
    auth: Authentication
    deadline: float | None
    correlation: str | None
    ended: bool = False


class AsyncApiCall:
    """Performs `call: asyncapi`; documents are cached and subscriptions kept per dispatcher."""

    def __init__(self, shared: Shared) -> None:
        self._shared = shared
        self._documents: dict[str, AsyncApiDocument] = {}
        self._subscriptions: dict[str, _Subscription] = {}

    async def call(self, args: Mapping[str, Any], key: str) -> Any:
        """Publish, or `open`/`next`/`close` a subscription, as `args["action"]` says."""
        action = args.get("action")
        if action is None or action == "publish":
            return await self._publish(args)
        if action == "open":
            return await self._open(args)
        if action == "next":
            return await self._next(self._handle(args))
        if action == "close":
            await self._close(self._handle(args))
            return None
        raise _config_error(f"unknown AsyncAPI action {action!r} (expected open, next or close)")

    async def aclose(self) -> None:
        """Close every subscription still open."""
        for handle in list(self._subscriptions):
            await self._close(handle)

    async def document(self, resource: Any) -> AsyncApiDocument:
        """The parsed document of the external resource `resource`, loaded once."""
        uri, _ = resource_uri(resource, "document")
        cached = self._documents.get(uri)
        if cached is not None:
            return cached
        source = await load_resource(resource, self._shared, "document")
        spec = parse_structured(source, "the AsyncAPI document")
        version = spec.get("asyncapi") if isinstance(spec, Mapping) else None
        if not isinstance(version, str) or not version.startswith(("2.", "3.")):
            raise _config_error(
                f"{redact_url(source.uri)} is not an AsyncAPI 2.x or 3.x document (no /asyncapi version)"
            )
        document = AsyncApiDocument(source=source, spec=spec)
        self._documents[uri] = document
        return document

    @staticmethod
    def _handle(args: Mapping[str, Any]) -> str:
        handle = args.get("subscription")
        if not isinstance(handle, str):
            raise _config_error("'subscription' must be the handle 'open' answered")
        return handle

    async def _endpoint(self, args: Mapping[str, Any], publish: bool) -> Endpoint:
        document = await self.document(args.get("document"))
        return document.endpoint(args, publish)

    async def _handshake(
        self, args: Mapping[str, Any], endpoint: Endpoint, headers: Mapping[str, str]
    ) -> tuple[dict[str, str], Authentication]:
        """The opening handshake's headers: `headers` and the `authentication` header."""
        policy = args.get("authentication")
        if policy is not None and not isinstance(policy, Mapping):
            raise _config_error("'authentication' must be an object")
        # The policy is built for HTTP; the handshake is an HTTP request to the same place.
        probe = endpoint.url.replace("ws", "http", 1)
        header, auth = await authorization_header(policy, self._shared, probe)
        handshake = dict(headers)
        if header is not None:
            handshake["Authorization"] = header
        return handshake, auth

    async def _publish(self, args: Mapping[str, Any]) -> Any:
        message = args.get("message")
        if not isinstance(message, Mapping):
            raise _config_error("'message' (an object with payload and headers) is required to publish")
        endpoint = await self._endpoint(args, publish=True)
        payload = message.get("payload")
        headers = _message_headers(message.get("headers"))
        if endpoint.protocol in ("http", "https"):
            await self._post(args, endpoint, payload, headers)
            return {"payload": payload, "headers": headers}
        handshake, auth = await self._handshake(args, endpoint, headers)
        try:
            async with self._connect(endpoint.url, handshake) as connection:
                await connection.send(json.dumps(payload))
        except _WEBSOCKET_ERRORS as exc:
            raise _websocket_error(exc, redact_url(endpoint.url), auth) from None
        return {"payload": payload, "headers": headers}

    async def _post(
        self, args: Mapping[str, Any], endpoint: Endpoint, payload: Any, headers: Mapping[str, str]
    ) -> None:
        auth = build_authentication(args.get("authentication"), self._shared.client, self._shared.tokens)
        url = redact_url(endpoint.url)
        try:
            response = await self._shared.client.post(
                endpoint.url,
                json=payload,
                headers=dict(headers),
                auth=auth.auth if auth.auth is not None else USE_CLIENT_DEFAULT,
            )
        except MAPPED_EXCEPTIONS as exc:
            raise map_httpx_error(exc, "POST", url, auth.redact) from None
        if not response.is_success:
            body = response.content[:_ERROR_BODY_LIMIT].decode("utf-8", errors="replace")
            raise WorkflowError(
                ErrorType.COMMUNICATION,
                status=response.status_code,
                title="AsyncAPI publish refused",
                detail=auth.redact(f"POST {url} returned {response.status_code}: {body}"),
            )

    def _connect(self, url: str, headers: Mapping[str, str]) -> connect:
        return connect(
            url,
            additional_headers=dict(headers),
            open_timeout=_OPEN_TIMEOUT,
            close_timeout=_CLOSE_TIMEOUT,
        )

    async def _open(self, args: Mapping[str, Any]) -> str:
        subscription = args.get("subscription")
        if not isinstance(subscription, Mapping):
            raise _config_error("'subscription' is required to subscribe")
        endpoint = await self._endpoint(args, publish=False)
        if endpoint.protocol not in _SUBSCRIBING:
            raise _config_error(
                f"subscribing over '{endpoint.protocol}' is not supported "
                f"(subscriptions: {', '.join(_SUBSCRIBING)})"
            )
        seconds = _seconds((subscription.get("consume") or {}).get("for"))
        headers, auth = await self._handshake(args, endpoint, {})
        try:
            connection = await self._connect(endpoint.url, headers)
        except _WEBSOCKET_ERRORS as exc:
            raise _websocket_error(exc, redact_url(endpoint.url), auth) from None
        loop = asyncio.get_running_loop()
        handle = f"asyncapi-{uuid.uuid4().hex}"
        self._subscriptions[handle] = _Subscription(
            connection=connection,
            url=redact_url(endpoint.url),
            auth=auth,
            deadline=None if seconds is None else loop.time() + seconds,
            correlation=endpoint.correlation,
        )
        return handle

    async def _next(self, handle: str) -> Any:
        subscription = self._subscriptions.get(handle)
        if subscription is None:
            raise WorkflowError(
                ErrorType.RUNTIME,
                status=500,
                title="AsyncAPI subscription not open",
                detail=f"subscription '{handle}' is not open here (closed, or opened by an ended process)",
            )
        if subscription.ended:
            return None
        remaining = None
        if subscription.deadline is not None:
            remaining = subscription.deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                subscription.ended = True
                return None
        try:
            frame = await asyncio.wait_for(subscription.connection.recv(), remaining)
        except TimeoutError:
            subscription.ended = True  # `consume.for` elapsed
            return None
        except ConnectionClosedOK:
            subscription.ended = True
            return None
        except ConnectionClosed as exc:
            raise _websocket_error(exc, subscription.url, subscription.auth) from None
        except asyncio.CancelledError:
            await self._close(handle)
            raise
        payload = _decode(frame)
        headers: dict[str, Any] = {}
        return {
            "payload": payload,
            "headers": headers,
            "correlationId": _correlation_id(subscription.correlation, payload, headers),
        }

    async def _close(self, handle: str) -> None:
        subscription = self._subscriptions.pop(handle, None)
        if subscription is not None:
            await subscription.connection.close()


def _message_headers(headers: Any) -> dict[str, str]:
    """`message.headers` as header text (a value that is not a string is sent as JSON)."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise _config_error("'message.headers' must be an object")
    return {
        str(name): value if isinstance(value, str) else json.dumps(value) for name, value in headers.items()
    }


def _seconds(duration: Any) -> float | None:
    if duration is None:
        return None
    try:
        seconds = parse_duration(duration).seconds
    except (TypeError, ValueError) as exc:
        raise _config_error(f"'subscription.consume.for' is not a duration: {exc}") from None
    if seconds is None:
        raise _config_error("'subscription.consume.for' is still an expression")
    return seconds
