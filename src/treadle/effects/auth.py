"""Authentication policies of HTTP endpoints, as httpx authentication.

The engine hands over a policy already resolved: `{basic: {username, password}}`,
`{bearer: {token}}`, `{digest: {username, password}}`, `{oauth2: {...}}` or
`{oidc: {...}}` (see `oauth2.py`). A `use:` left in it (an unresolved reference) and
`certificate` are configuration errors.

Credentials never reach an error message: `Authentication.redact` scrubs them (and the
tokens obtained with them) from any text an error will carry.
"""

from __future__ import annotations

import base64
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from treadle.effects.oauth2 import OAuth2Auth, OAuth2Settings, TokenCache, redact
from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["Authentication", "BearerAuth", "build_authentication"]

_SCHEMES = ("basic", "bearer", "certificate", "digest", "oauth2", "oidc")


class BearerAuth(httpx.Auth):
    """Sends `Authorization: Bearer <token>`."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Attach the token to the request."""
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


@dataclass
class Authentication:
    """The httpx auth for one call, and the secrets it must keep out of errors."""

    auth: httpx.Auth | None = None
    secrets: list[str] = field(default_factory=list)

    def redact(self, text: str) -> str:
        """`text` with every credential of this policy (and tokens it obtained) masked."""
        issued = self.auth.issued if isinstance(self.auth, OAuth2Auth) else []
        return redact(text, [*self.secrets, *issued])

    def redact_value(self, value: Any) -> Any:
        """`value` (JSON-like) with credentials masked in every string, keys included."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {self.redact(str(name)): self.redact_value(item) for name, item in value.items()}
        if isinstance(value, list):
            return [self.redact_value(item) for item in value]
        return value


def _config_error(detail: str) -> WorkflowError:
    return WorkflowError(
        ErrorType.CONFIGURATION, status=400, title="Invalid authentication policy", detail=detail
    )


def _credentials(scheme: str, body: Mapping[str, Any]) -> tuple[str, str]:
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise _config_error(f"{scheme}: 'username' and 'password' are required strings")
    return username, password


def _scheme_of(policy: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    if "use" in policy and not any(name in policy for name in _SCHEMES):
        raise _config_error(f"the authentication reference 'use: {policy['use']}' was not resolved")
    for name in _SCHEMES:
        body = policy.get(name)
        if body is None:
            continue
        if not isinstance(body, Mapping):
            raise _config_error(f"{name}: the policy must be an object")
        if "use" in body:
            raise _config_error(f"{name}: the secret reference 'use: {body['use']}' was not resolved")
        return name, body
    raise _config_error(f"no known scheme in the policy (expected one of {', '.join(_SCHEMES)})")


def build_authentication(
    policy: Mapping[str, Any] | None, client: httpx.AsyncClient, tokens: TokenCache
) -> Authentication:
    """The httpx auth implementing `policy` (an endpoint's `authentication`).

    Raises:
        WorkflowError: configuration (400) when the policy is malformed or unsupported.
    """
    if policy is None:
        return Authentication()
    if not isinstance(policy, Mapping):
        raise _config_error("'authentication' must be an object")
    scheme, body = _scheme_of(policy)
    if scheme == "basic":
        username, password = _credentials(scheme, body)
        # A server echoing the header back would show the base64 form, so mask it too.
        encoded = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        return Authentication(httpx.BasicAuth(username, password), [password, encoded])
    if scheme == "digest":
        username, password = _credentials(scheme, body)
        return Authentication(httpx.DigestAuth(username, password), [password])
    if scheme == "bearer":
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise _config_error("bearer: 'token' is a required string")
        return Authentication(BearerAuth(token), [token])
    if scheme == "certificate":
        raise _config_error("certificate: certificate authentication is not supported yet")
    settings = OAuth2Settings.from_policy(scheme, body)
    return Authentication(OAuth2Auth(settings, client, tokens), settings.secrets())
