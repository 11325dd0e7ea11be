"""`call: http` — one HTTP request per call, through the dispatcher's pooled client.

`args` is the task's evaluated `with`: `method`, `endpoint` (a URI, a URI template, or
`{uri, authentication}`), `headers`, `query`, `body`, `output`, `redirect`.

URI templates: `{name}` placeholders in the endpoint (RFC 6570 simple expansion, the
DSL's subset) are filled from the task's input, which the engine passes as the extra
argument `args["_input"]` (a mapping; the task's transformed input). Runtime
expressions (`${ ... }`) were already evaluated by the engine.

Behaviour the spec leaves open, decided here:
- `query` is merged into any query already in the URI; a name in `query` wins.
- `body`: a string is sent as-is (`text/plain` unless `headers` says otherwise); any other
  value as JSON (`application/json` unless `headers` says otherwise), or as a form when
  the content-type is `application/x-www-form-urlencoded`.
- `redirect: false` (the default): redirects are not followed and any status outside
  200–299 is an error. `redirect: true`: redirects are followed and a status outside
  200–399 is an error (a 3xx that cannot be followed, such as 304, is returned).
- Every request carries the idempotency key as `Idempotency-Key`, unless `headers`
  sets that header itself.
- `output: response` reports the request's headers with credentials masked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from treadle.effects.auth import Authentication, build_authentication
from treadle.effects.content import decode_body, raw_body, safe_decode_body
from treadle.effects.handler import Shared
from treadle.effects.transport_errors import MAPPED_EXCEPTIONS, map_httpx_error
from treadle.effects.uri import expand_uri_template, merge_query, redact_url
from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["HttpCall", "HttpRequest", "parse_http_args"]

_OUTPUTS = frozenset({"content", "response", "raw"})
_SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_ERROR_BODY_LIMIT = 500
_FORM = "application/x-www-form-urlencoded"


def _config_error(detail: str) -> WorkflowError:
    return WorkflowError(ErrorType.CONFIGURATION, status=400, title="Invalid HTTP call", detail=detail)


@dataclass(frozen=True)
class HttpRequest:
    """A `call: http` task's arguments, checked and ready to send."""

    method: str
    url: httpx.URL
    headers: httpx.Headers
    content: bytes | None
    output: str
    redirect: bool
    authentication: Mapping[str, Any] | None


def _endpoint_parts(endpoint: Any) -> tuple[str, Mapping[str, Any] | None]:
    if isinstance(endpoint, str) and endpoint:
        return endpoint, None
    if isinstance(endpoint, Mapping):
        uri, policy = endpoint.get("uri"), endpoint.get("authentication")
        if isinstance(uri, str) and uri:
            if policy is not None and not isinstance(policy, Mapping):
                raise _config_error("'endpoint.authentication' must be an object")
            return uri, policy
        raise _config_error("'endpoint.uri' is required and must be a string")
    raise _config_error("'endpoint' is required: a URI or an object with 'uri'")


def _header_text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return ", ".join(str(item) for item in value)
    raise _config_error(f"header '{name}' must be a string, a number or a list of them")


def _headers(raw: Any) -> httpx.Headers:
    if raw is None:
        return httpx.Headers()
    if not isinstance(raw, Mapping):
        raise _config_error("'headers' must be a map of names to values")
    return httpx.Headers(
        {str(name): _header_text(str(name), value) for name, value in raw.items() if value is not None}
    )


def _encode_body(body: Any, headers: httpx.Headers) -> bytes | None:
    """Serialise `body`, setting a content-type on `headers` when it has none."""
    if body is None:
        return None
    declared = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if isinstance(body, str):
        headers.setdefault("content-type", "text/plain; charset=utf-8")
        return body.encode("utf-8")
    if declared == _FORM and isinstance(body, Mapping):
        return urlencode(body, doseq=True).encode("ascii")
    headers.setdefault("content-type", "application/json")
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _method(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip() or any(ch.isspace() for ch in raw.strip()):
        raise _config_error("'method' is required: an HTTP method such as get or post")
    return raw.strip().upper()


def _url(template: str, values: Any, query: Any) -> httpx.URL:
    if values is not None and not isinstance(values, Mapping):
        raise _config_error("'_input' (the task input for URI templates) must be an object")
    if query is not None and not isinstance(query, Mapping):
        raise _config_error("'query' must be a map of names to values")
    expanded = expand_uri_template(template, values)
    try:
        return merge_query(httpx.URL(expanded), query)
    except httpx.InvalidURL as exc:
        raise _config_error(f"invalid endpoint URI {redact_url(expanded)}: {exc}") from None


def parse_http_args(args: Mapping[str, Any], key: str) -> HttpRequest:
    """Check a `call: http` task's arguments and build the request to send.

    Raises:
        WorkflowError: configuration (400) for malformed arguments, expression (400) for a
            URI template variable that is not a scalar.
    """
    template, policy = _endpoint_parts(args.get("endpoint"))
    output = args.get("output", "content") or "content"
    if output not in _OUTPUTS:
        raise _config_error(f"'output' must be one of content, response, raw (got {output!r})")
    redirect = args.get("redirect", False)
    if not isinstance(redirect, bool):
        raise _config_error("'redirect' must be a boolean")
    headers = _headers(args.get("headers"))
    headers.setdefault("idempotency-key", key)
    content = _encode_body(args.get("body"), headers)
    return HttpRequest(
        method=_method(args.get("method")),
        url=_url(template, args.get("_input"), args.get("query")),
        headers=headers,
        content=content,
        output=output,
        redirect=redirect,
        authentication=policy,
    )


def _visible_headers(headers: httpx.Headers) -> dict[str, str]:
    return {name: ("***" if name in _SENSITIVE_HEADERS else value) for name, value in headers.items()}


def _response_object(response: httpx.Response, content: Any) -> dict[str, Any]:
    """The spec's HTTP Response object."""
    return {
        "request": {
            "method": response.request.method.lower(),
            "uri": redact_url(response.request.url),
            "headers": _visible_headers(response.request.headers),
        },
        "statusCode": response.status_code,
        "headers": dict(response.headers.items()),
        "content": content,
    }


def _status_error(request: HttpRequest, response: httpx.Response, auth: Authentication) -> WorkflowError:
    url = redact_url(response.request.url)
    body = response.content[:_ERROR_BODY_LIMIT].decode("utf-8", errors="replace")
    reason = response.reason_phrase or f"HTTP {response.status_code}"
    hint = " (redirects are not followed unless 'redirect: true')" if response.is_redirect else ""
    detail = f"{request.method} {url} returned {response.status_code} {reason}{hint}"
    if body:
        detail += f": {body}"
    return WorkflowError(
        ErrorType.COMMUNICATION,
        status=response.status_code,
        title=reason,
        detail=auth.redact(detail),
        # The problem object ends up in the run's record: a server echoing the request
        # back must not put credentials there.
        response=auth.redact_value(
            {
                "statusCode": response.status_code,
                "headers": dict(response.headers.items()),
                "content": safe_decode_body(response, url),
            }
        ),
    )


def _is_accepted(status: int, redirect: bool) -> bool:
    return 200 <= status < (400 if redirect else 300)


class HttpCall:
    """Performs `call: http` with the dispatcher's shared client."""

    def __init__(self, shared: Shared) -> None:
        self._client = shared.client
        self._tokens = shared.tokens

    async def call(self, args: Mapping[str, Any], key: str) -> Any:
        """Send the request `args` describes and shape the result as `output` asks.

        Raises:
            WorkflowError: configuration (bad arguments), authentication (no token),
                timeout (408), communication (transport failure, or the HTTP status when
                it is not accepted, with the response attached).
        """
        request = parse_http_args(args, key)
        auth = build_authentication(request.authentication, self._client, self._tokens)
        response = await self._send(request, auth)
        if not _is_accepted(response.status_code, request.redirect):
            raise _status_error(request, response, auth)
        if request.output == "raw":
            return raw_body(response)
        content = decode_body(response, redact_url(response.request.url))
        if request.output == "response":
            return _response_object(response, content)
        return content

    async def _send(self, request: HttpRequest, auth: Authentication) -> httpx.Response:
        try:
            outgoing = self._client.build_request(
                request.method, request.url, headers=request.headers, content=request.content
            )
            # Cancelling the awaiting task aborts the request: httpx closes the connection.
            return await self._client.send(outgoing, auth=auth.auth, follow_redirects=request.redirect)
        except MAPPED_EXCEPTIONS as exc:
            raise map_httpx_error(exc, request.method, redact_url(request.url), auth.redact) from None
