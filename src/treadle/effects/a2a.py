"""`call: a2a` (DSL 1.0.3) — one JSON-RPC request to an A2A agent.

The DSL names A2A's v0.3 JSON-RPC methods (`message/send`, `tasks/get`, ...) and takes
their `params` as written, so the request is sent as exactly that JSON-RPC call, with the
dispatcher's pooled HTTP client. (The installed `a2a-sdk` 1.x client speaks protocol 1.0
with protobuf types; going through it would translate the workflow's v0.3 JSON to 1.0 and
back for every call. Its server accepts v0.3 calls, and the tests run against it.)

Where the agent is:
- `agentCard` (an external resource): the card's JSON-RPC URL — `url` (v0.3 cards) or the
  first JSON-RPC entry of `supportedInterfaces` / `additionalInterfaces`.
- otherwise `server` (a URI, or `{uri, authentication}`): the JSON-RPC endpoint itself.

`parameters`: the method's params. For `message/send` and `message/stream`,
`message.messageId` defaults to a new UUID and `message.role` to `user`, as the spec asks.

Results: the JSON-RPC `result`. `message/send` answering a task that is not yet final is
followed with `tasks/get` (polling, 0.1 s growing to 2 s) until it is completed,
canceled, failed or rejected, or stops for input (`input-required`, `auth-required`), and
that task is the result. `message/stream` and `tasks/resubscribe` return every streamed
result, in order.

Faults (the spec asks for runtime errors): a JSON-RPC error, a task ending `failed` or
`rejected`, or a malformed answer → runtime (500). Transport faults map as for `call:
http` (communication 503, timeout 408). Cancelling the awaiting coroutine stops the
request (and the polling); it does not cancel the agent's task.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from typing import Any

from httpx import USE_CLIENT_DEFAULT

from treadle.effects.auth import Authentication, build_authentication
from treadle.effects.handler import Shared
from treadle.effects.resources import load_resource, parse_structured, resource_uri
from treadle.effects.transport_errors import MAPPED_EXCEPTIONS, map_httpx_error
from treadle.effects.uri import redact_url
from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["FINAL_STATES", "METHODS", "A2aCall"]

METHODS = frozenset(
    {
        "message/send",
        "message/stream",
        "tasks/get",
        "tasks/list",
        "tasks/cancel",
        "tasks/resubscribe",
        "tasks/pushNotificationConfig/set",
        "tasks/pushNotificationConfig/get",
        "tasks/pushNotificationConfig/list",
        "tasks/pushNotificationConfig/delete",
        "agent/getAuthenticatedExtendedCard",
    }
)
_STREAMING = frozenset({"message/stream", "tasks/resubscribe"})
FINAL_STATES = frozenset({"completed", "canceled", "failed", "rejected"})
_STOPPED_STATES = frozenset({"input-required", "auth-required"})
_FAILED_STATES = frozenset({"failed", "rejected"})
_POLL_START, _POLL_MAX = 0.1, 2.0


def _config_error(detail: str) -> WorkflowError:
    return WorkflowError(ErrorType.CONFIGURATION, status=400, title="Invalid A2A call", detail=detail)


def _runtime_error(detail: str, **extra: Any) -> WorkflowError:
    return WorkflowError(ErrorType.RUNTIME, status=500, title="A2A call failed", detail=detail, **extra)


def card_endpoint(card: Any) -> str:
    """The JSON-RPC URL an agent card advertises."""
    if not isinstance(card, Mapping):
        raise _config_error("the agent card is not a JSON object")
    interfaces = [*(card.get("supportedInterfaces") or []), *(card.get("additionalInterfaces") or [])]
    if isinstance(card.get("url"), str) and card.get("preferredTransport", "JSONRPC") == "JSONRPC":
        return str(card["url"])
    for interface in interfaces:
        binding = interface.get("protocolBinding") or interface.get("transport")
        if isinstance(interface, Mapping) and binding == "JSONRPC" and isinstance(interface.get("url"), str):
            return str(interface["url"])
    raise _config_error("the agent card advertises no JSON-RPC endpoint")


def with_message_defaults(method: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """`parameters` with `message.messageId` and `message.role` defaulted for message methods."""
    params = dict(parameters)
    if method in ("message/send", "message/stream"):
        message = params.get("message")
        if not isinstance(message, Mapping):
            raise _config_error(f"{method} needs 'parameters.message'")
        params["message"] = {"messageId": str(uuid.uuid4()), "role": "user", "kind": "message", **message}
    return params


def _status_text(task: Mapping[str, Any]) -> str:
    message = (task.get("status") or {}).get("message") or {}
    texts = [part.get("text", "") for part in message.get("parts") or [] if isinstance(part, Mapping)]
    return " ".join(text for text in texts if text) or "no message"


class A2aCall:
    """Performs `call: a2a`."""

    def __init__(self, shared: Shared) -> None:
        self._shared = shared

    async def call(self, args: Mapping[str, Any], key: str) -> Any:
        """Send `method` with `parameters` to the agent; the result (see the module docstring)."""
        method = args.get("method")
        if method not in METHODS:
            raise _config_error(f"'method' must be one of {', '.join(sorted(METHODS))} (got {method!r})")
        parameters = args.get("parameters") or {}
        if not isinstance(parameters, Mapping):
            raise _config_error("'parameters' must be an object")
        url, auth = await self._endpoint(args)
        params = with_message_defaults(str(method), parameters)
        if method in _STREAMING:
            return await self._stream(url, auth, str(method), params, key)
        result = await self._rpc(url, auth, str(method), params, key)
        if method == "message/send" and isinstance(result, Mapping) and result.get("kind") == "task":
            result = await self._follow(url, auth, result, key)
        return result

    async def _endpoint(self, args: Mapping[str, Any]) -> tuple[str, Authentication]:
        if args.get("agentCard") is not None:
            source = await load_resource(args["agentCard"], self._shared, "agentCard")
            _, policy = resource_uri(args["agentCard"], "agentCard")
            return card_endpoint(parse_structured(source, "the agent card")), self._auth(policy)
        if args.get("server") is None:
            raise _config_error("either 'agentCard' or 'server' is required")
        url, policy = resource_uri({"endpoint": args["server"]}, "server")
        return url, self._auth(policy)

    def _auth(self, policy: Mapping[str, Any] | None) -> Authentication:
        return build_authentication(policy, self._shared.client, self._shared.tokens)

    async def _follow(self, url: str, auth: Authentication, task: Mapping[str, Any], key: str) -> Any:
        """Poll `tasks/get` until the task is final (or waits for input)."""
        delay = _POLL_START
        while True:
            state = (task.get("status") or {}).get("state")
            if state in _FAILED_STATES:
                raise _runtime_error(
                    f"the agent's task {task.get('id')} {state}: {_status_text(task)}", task=task
                )
            if state in FINAL_STATES or state in _STOPPED_STATES:
                return task
            await asyncio.sleep(delay)
            delay = min(delay * 2, _POLL_MAX)
            polled = await self._rpc(url, auth, "tasks/get", {"id": task.get("id")}, key)
            if not isinstance(polled, Mapping):
                raise _runtime_error(f"tasks/get answered a {type(polled).__name__}, not a task")
            task = polled

    def _payload(self, method: str, params: Mapping[str, Any], key: str) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": f"{key}:{uuid.uuid4().hex[:8]}", "method": method, "params": params}

    async def _rpc(
        self, url: str, auth: Authentication, method: str, params: Mapping[str, Any], key: str
    ) -> Any:
        try:
            response = await self._shared.client.post(
                url,
                json=self._payload(method, params, key),
                auth=auth.auth if auth.auth is not None else USE_CLIENT_DEFAULT,
                headers={"Idempotency-Key": key},
            )
        except MAPPED_EXCEPTIONS as exc:
            raise map_httpx_error(exc, "POST", redact_url(url), auth.redact) from None
        if not response.is_success:
            raise WorkflowError(
                ErrorType.COMMUNICATION,
                status=response.status_code,
                title="A2A agent error",
                detail=auth.redact(f"{method} to {redact_url(url)} returned {response.status_code}"),
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise _runtime_error(f"{method}: the agent answered malformed JSON: {exc}") from None
        return _result(method, body)

    async def _stream(
        self, url: str, auth: Authentication, method: str, params: Mapping[str, Any], key: str
    ) -> list[Any]:
        results: list[Any] = []
        headers = {"Accept": "text/event-stream", "Idempotency-Key": key}
        try:
            async with self._shared.client.stream(
                "POST",
                url,
                json=self._payload(method, params, key),
                auth=auth.auth if auth.auth is not None else USE_CLIENT_DEFAULT,
                headers=headers,
            ) as response:
                if not response.is_success:
                    raise WorkflowError(
                        ErrorType.COMMUNICATION,
                        status=response.status_code,
                        title="A2A agent error",
                        detail=f"{method} to {redact_url(url)} returned {response.status_code}",
                    )
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        results.append(_result(method, _event(method, line.removeprefix("data:").strip())))
        except MAPPED_EXCEPTIONS as exc:
            raise map_httpx_error(exc, "POST", redact_url(url), auth.redact) from None
        return results


def _event(method: str, data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise _runtime_error(f"{method}: the agent streamed malformed JSON: {exc}") from None


def _result(method: str, body: Any) -> Any:
    if not isinstance(body, Mapping) or ("result" not in body and "error" not in body):
        raise _runtime_error(f"{method}: the agent's answer is not a JSON-RPC response")
    if "error" in body:
        error = body["error"] if isinstance(body["error"], Mapping) else {"message": str(body["error"])}
        raise _runtime_error(
            f"{method} failed: {error.get('message', 'unknown error')} (code {error.get('code')})",
            rpcError=dict(error),
        )
    return body["result"]
