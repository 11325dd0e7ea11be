"""Turn every httpx exception into the DSL error a workflow can catch.

    httpx exception                          DSL error type    status
    TimeoutException (Connect/Read/Write/Pool)  timeout         408
    ConnectError, ProxyError                 communication      503  (peer unreachable)
    ReadError, WriteError, CloseError        communication      503  (connection dropped)
    NetworkError (other)                     communication      503
    Local/RemoteProtocolError, ProtocolError communication      500  (peer spoke badly)
    DecodingError                            communication      500  (undecodable body)
    TooManyRedirects                         communication      500
    HTTPStatusError                          communication      the response's status
    UnsupportedProtocol, InvalidURL          configuration      400  (the endpoint is wrong)
    StreamError & subclasses, CookieConflict runtime            500  (treadle misused httpx)
    TransportError, RequestError, HTTPError  communication      500  (catch-alls)

Lookup walks the exception's MRO, so a subclass a future httpx adds still maps to its
parent's row; `tests/effects/test_transport_errors.py` fails when httpx exports a class
that has no row of its own, so the table stays deliberate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import httpx

from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["ERROR_TABLE", "MAPPED_EXCEPTIONS", "map_httpx_error"]


class _Row(NamedTuple):
    type: str
    status: int
    title: str


_TIMEOUT = ErrorType.TIMEOUT
_COMM = ErrorType.COMMUNICATION
_CONFIG = ErrorType.CONFIGURATION
_RUNTIME = ErrorType.RUNTIME

ERROR_TABLE: dict[type[Exception], _Row] = {
    httpx.ConnectTimeout: _Row(_TIMEOUT, 408, "Connect timeout"),
    httpx.ReadTimeout: _Row(_TIMEOUT, 408, "Read timeout"),
    httpx.WriteTimeout: _Row(_TIMEOUT, 408, "Write timeout"),
    httpx.PoolTimeout: _Row(_TIMEOUT, 408, "Connection pool timeout"),
    httpx.TimeoutException: _Row(_TIMEOUT, 408, "Timeout"),
    httpx.ConnectError: _Row(_COMM, 503, "Connection failed"),
    httpx.ProxyError: _Row(_COMM, 503, "Proxy error"),
    httpx.ReadError: _Row(_COMM, 503, "Connection lost while reading"),
    httpx.WriteError: _Row(_COMM, 503, "Connection lost while writing"),
    httpx.CloseError: _Row(_COMM, 503, "Connection close failed"),
    httpx.NetworkError: _Row(_COMM, 503, "Network error"),
    httpx.LocalProtocolError: _Row(_COMM, 500, "HTTP protocol error (local)"),
    httpx.RemoteProtocolError: _Row(_COMM, 500, "HTTP protocol error (remote)"),
    httpx.ProtocolError: _Row(_COMM, 500, "HTTP protocol error"),
    httpx.DecodingError: _Row(_COMM, 500, "Undecodable response body"),
    httpx.TooManyRedirects: _Row(_COMM, 500, "Too many redirects"),
    httpx.HTTPStatusError: _Row(_COMM, 500, "HTTP error status"),
    httpx.UnsupportedProtocol: _Row(_CONFIG, 400, "Unsupported URL scheme"),
    httpx.InvalidURL: _Row(_CONFIG, 400, "Invalid URL"),
    httpx.TransportError: _Row(_COMM, 500, "Transport error"),
    httpx.RequestError: _Row(_COMM, 500, "Request failed"),
    httpx.HTTPError: _Row(_COMM, 500, "HTTP error"),
    httpx.StreamConsumed: _Row(_RUNTIME, 500, "HTTP stream already consumed"),
    httpx.StreamClosed: _Row(_RUNTIME, 500, "HTTP stream closed"),
    httpx.ResponseNotRead: _Row(_RUNTIME, 500, "HTTP response not read"),
    httpx.RequestNotRead: _Row(_RUNTIME, 500, "HTTP request not read"),
    httpx.StreamError: _Row(_RUNTIME, 500, "HTTP stream error"),
    httpx.CookieConflict: _Row(_RUNTIME, 500, "Cookie conflict"),
}

# What `except` clauses around httpx calls catch: everything the table knows.
MAPPED_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.HTTPError,
    httpx.StreamError,
    httpx.InvalidURL,
    httpx.CookieConflict,
)


def _row_for(exc: Exception) -> _Row:
    for cls in type(exc).__mro__:
        row = ERROR_TABLE.get(cls)
        if row is not None:
            return row
    return _Row(_RUNTIME, 500, "Unexpected HTTP client error")


def _unchanged(text: str) -> str:
    return text


def map_httpx_error(
    exc: Exception, method: str, url: str, redact: Callable[[str], str] = _unchanged
) -> WorkflowError:
    """The DSL error for an httpx exception raised while calling `method url`.

    The detail names the request and the library's message but never the request's
    headers or body, where credentials live; `redact` masks any credential that could
    still show up in it. `url` must already be redacted.
    """
    row = _row_for(exc)
    status = row.status
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
    reason = str(exc) or type(exc).__name__
    detail = f"{method.upper()} {url}: {type(exc).__name__}: {reason}"
    return WorkflowError(row.type, status=status, title=row.title, detail=redact(detail))
