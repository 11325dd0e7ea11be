"""An authentication policy as one `Authorization` header, for protocols that are not plain HTTP.

gRPC metadata, an MCP server's HTTP transport and an A2A client all take headers rather
than an httpx auth. The policy is built exactly as `call: http` builds it (`auth.py`), then
its flow is run up to the first request it would send: that request carries the header,
an OAuth2/OIDC token being fetched (and cached) on the way. Digest needs an HTTP
challenge first, so it cannot be turned into a header and is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from treadle.effects.auth import Authentication, build_authentication
from treadle.effects.handler import Shared
from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["authorization_header"]


async def authorization_header(
    policy: Mapping[str, Any] | None, shared: Shared, url: str
) -> tuple[str | None, Authentication]:
    """The `Authorization` header value `policy` yields for requests to `url` (None without one).

    Also returns the built `Authentication`, whose `redact` masks the credentials in errors.

    Raises:
        WorkflowError: configuration (400) for a malformed policy or one (digest) that
            cannot be sent up front.
    """
    auth = build_authentication(policy, shared.client, shared.tokens)
    if auth.auth is None:
        return None, auth
    probe = httpx.Request("POST", url)
    flow = auth.auth.async_auth_flow(probe)
    try:
        prepared = await flow.__anext__()
    finally:
        await flow.aclose()
    header = prepared.headers.get("authorization")
    if header is None:
        raise WorkflowError(
            ErrorType.CONFIGURATION,
            status=400,
            title="Invalid authentication policy",
            detail="this authentication scheme needs an HTTP challenge and cannot be sent as a header",
        )
    return header, auth
