"""The API token: required to bind anything but loopback, checked on every request when set.

With `TREADLE_API_TOKEN` set, every request except the probes (`/health`, `/ready`) must
carry `Authorization: Bearer <token>`; otherwise it is a 401 problem. Without a token
the server refuses to listen on a non-loopback address (`check_bind`).
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

from treadle.api.problems import problem_response
from treadle.errors import TreadleError

__all__ = ["PUBLIC_PATHS", "TokenMiddleware", "UnsafeBind", "check_bind", "is_loopback", "token_matches"]

PUBLIC_PATHS = frozenset({"/health", "/ready"})


class UnsafeBind(TreadleError):
    """Binding a non-loopback address without an API token would expose the API to anyone."""

    def __init__(self, host: str) -> None:
        self.host = host
        super().__init__(
            f"refusing to listen on {host}: set TREADLE_API_TOKEN to require a token, or listen on 127.0.0.1"
        )


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback `host` unless an API token is configured.

    Raises:
        UnsafeBind: `host` is reachable from other machines and `token` is empty.
    """
    if not is_loopback(host) and not token:
        raise UnsafeBind(host)


def token_matches(authorization: str | None, token: str) -> bool:
    """Whether an `Authorization` header carries `Bearer <token>` (constant-time compare)."""
    if not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


class TokenMiddleware:
    """Answer 401 to requests without the bearer token (probes excepted)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization")
        if token_matches(header.decode("latin-1") if header else None, self.token):
            await self.app(scope, receive, send)
            return
        response = problem_response(
            401,
            "unauthorized",
            "send Authorization: Bearer <TREADLE_API_TOKEN>",
            instance=scope["path"],
            headers={"WWW-Authenticate": 'Bearer realm="treadle"'},
        )
        await response(scope, receive, send)
