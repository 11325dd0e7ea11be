"""OAuth2 and OpenID Connect access tokens for the `oauth2` and `oidc` policies.

Supported grants: `client_credentials`, `password` and token exchange
(`urn:ietf:params:oauth:grant-type:token-exchange`); `authorization_code` and
`refresh_token` need a user or a stored refresh token, which a workflow does not have,
so they are configuration errors. Client authentication: `client_secret_post` (the
spec's default), `client_secret_basic`, `private_key_jwt` (with `client.assertion`) and
`none`; `client_secret_jwt` is not supported yet.

The token endpoint is `authority` + `endpoints.token` (default `/oauth2/token`) for
oauth2; for oidc it is the `token_endpoint` of the discovery document at
`authority` + `/.well-known/openid-configuration` (or `authority` itself when it already
names that document). Tokens are cached per policy until shortly before `expires_in`
runs out; a token without `expires_in` is not cached. A 401 from the protected resource
with a cached token drops it and retries once with a fresh one.

Any failure to obtain a token is an authentication error (401) whose detail names the
token endpoint and the server's `error` code, and never a credential.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from treadle.effects.transport_errors import MAPPED_EXCEPTIONS
from treadle.effects.uri import redact_url
from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["OAuth2Auth", "OAuth2Settings", "TokenCache", "redact"]

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
_SUPPORTED_GRANTS = frozenset({"client_credentials", "password", TOKEN_EXCHANGE})
_CLIENT_AUTH = frozenset({"client_secret_post", "client_secret_basic", "private_key_jwt", "none"})
_ENCODINGS = frozenset({"application/x-www-form-urlencoded", "application/json"})
_DISCOVERY_PATH = "/.well-known/openid-configuration"
_JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Refresh a little before the server's deadline, so a token never expires in flight.
_MAX_EXPIRY_MARGIN = 30.0


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret in `secrets` replaced by `***` (longest first)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _config_error(scheme: str, detail: str) -> WorkflowError:
    return WorkflowError(
        ErrorType.CONFIGURATION,
        status=400,
        title="Invalid authentication policy",
        detail=f"{scheme}: {detail}",
    )


def _optional_str(scheme: str, where: Mapping[str, Any], name: str) -> str | None:
    value = where.get(name)
    if value is None or isinstance(value, str):
        return value
    raise _config_error(scheme, f"'{name}' must be a string")


def _string_list(scheme: str, policy: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = policy.get(name) or []
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _config_error(scheme, f"'{name}' must be a list of strings")
    return tuple(value)


def _token_pair(scheme: str, policy: Mapping[str, Any], name: str) -> tuple[str, str] | None:
    value = policy.get(name)
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value.get("token") or not value.get("type"):
        raise _config_error(scheme, f"'{name}' needs 'token' and 'type'")
    return str(value["token"]), str(value["type"])


@dataclass(frozen=True)
class OAuth2Settings:
    """An `oauth2` or `oidc` policy, checked and normalised."""

    scheme: str
    authority: str
    grant: str
    client_id: str | None = None
    client_secret: str | None = None
    client_assertion: str | None = None
    client_auth: str = "client_secret_post"
    encoding: str = "application/x-www-form-urlencoded"
    scopes: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    username: str | None = None
    password: str | None = None
    subject: tuple[str, str] | None = None
    actor: tuple[str, str] | None = None
    token_path: str | None = None

    @classmethod
    def from_policy(cls, scheme: str, policy: Mapping[str, Any]) -> OAuth2Settings:
        """Check `policy` (the body of an `oauth2`/`oidc` policy) and build the settings.

        Raises:
            WorkflowError: configuration (400) naming the field at fault, never its value.
        """
        authority = _optional_str(scheme, policy, "authority")
        grant = _optional_str(scheme, policy, "grant")
        if not authority:
            raise _config_error(scheme, "'authority' is required")
        if grant not in _SUPPORTED_GRANTS:
            raise _config_error(
                scheme,
                f"grant {grant!r} is not supported (supported: {', '.join(sorted(_SUPPORTED_GRANTS))})",
            )
        client = policy.get("client") or {}
        if not isinstance(client, Mapping):
            raise _config_error(scheme, "'client' must be an object")
        client_auth = _optional_str(scheme, client, "authentication") or "client_secret_post"
        if client_auth not in _CLIENT_AUTH:
            raise _config_error(scheme, f"client authentication {client_auth!r} is not supported")
        request = policy.get("request") or {}
        encoding = (request.get("encoding") if isinstance(request, Mapping) else None) or (
            "application/x-www-form-urlencoded"
        )
        if encoding not in _ENCODINGS:
            raise _config_error(scheme, f"request encoding {encoding!r} is not supported")
        endpoints = policy.get("endpoints") or {}
        settings = cls(
            scheme=scheme,
            authority=authority,
            grant=grant,
            client_id=_optional_str(scheme, client, "id"),
            client_secret=_optional_str(scheme, client, "secret"),
            client_assertion=_optional_str(scheme, client, "assertion"),
            client_auth=client_auth,
            encoding=encoding,
            scopes=_string_list(scheme, policy, "scopes"),
            audiences=_string_list(scheme, policy, "audiences"),
            username=_optional_str(scheme, policy, "username"),
            password=_optional_str(scheme, policy, "password"),
            subject=_token_pair(scheme, policy, "subject"),
            actor=_token_pair(scheme, policy, "actor"),
            token_path=endpoints.get("token") if isinstance(endpoints, Mapping) else None,
        )
        settings._check_grant_needs()
        return settings

    def _check_grant_needs(self) -> None:
        if self.grant == "password" and not (self.username and self.password):
            raise _config_error(self.scheme, "the password grant needs 'username' and 'password'")
        if self.grant == TOKEN_EXCHANGE and self.subject is None:
            raise _config_error(self.scheme, "token exchange needs 'subject'")
        if self.client_auth != "none" and not self.client_id:
            raise _config_error(self.scheme, "'client.id' is required unless client authentication is 'none'")
        if self.client_auth == "private_key_jwt" and not self.client_assertion:
            raise _config_error(self.scheme, "private_key_jwt needs 'client.assertion'")

    def secrets(self) -> list[str]:
        """Every credential in the policy, for redaction."""
        values = [self.client_secret, self.client_assertion, self.password]
        values += [pair[0] for pair in (self.subject, self.actor) if pair is not None]
        if self.client_auth == "client_secret_basic" and self.client_secret:
            # A server echoing the Authorization header would show the base64 form.
            values.append(self.token_request_headers()["Authorization"].removeprefix("Basic "))
        return [value for value in values if value]

    def cache_key(self) -> str:
        """A digest identifying the token this policy obtains (credentials hashed, not kept)."""
        fields = json.dumps(self.__dict__, sort_keys=True, default=list)
        return hashlib.sha256(fields.encode()).hexdigest()

    def token_request_fields(self) -> dict[str, Any]:
        """The token request's parameters, client authentication included when posted."""
        fields: dict[str, Any] = {"grant_type": self.grant}
        if self.scopes:
            fields["scope"] = " ".join(self.scopes)
        if self.audiences:
            fields["audience"] = list(self.audiences)
        if self.grant == "password":
            fields["username"], fields["password"] = self.username, self.password
        for role, pair in (("subject", self.subject), ("actor", self.actor)):
            if pair is not None:
                fields[f"{role}_token"], fields[f"{role}_token_type"] = pair
        if self.client_auth in ("client_secret_post", "none", "private_key_jwt") and self.client_id:
            fields["client_id"] = self.client_id
        if self.client_auth == "client_secret_post" and self.client_secret is not None:
            fields["client_secret"] = self.client_secret
        if self.client_auth == "private_key_jwt":
            fields["client_assertion_type"] = _JWT_BEARER
            fields["client_assertion"] = self.client_assertion
        return fields

    def token_request_headers(self) -> dict[str, str]:
        """Headers of the token request: HTTP Basic client authentication when asked for."""
        headers = {"Accept": "application/json"}
        if self.client_auth == "client_secret_basic":
            # RFC 6749 §2.3.1: id and secret are form-encoded before being joined.
            pair = f"{quote(self.client_id or '', safe='')}:{quote(self.client_secret or '', safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        return headers


def _join(authority: str, path: str) -> str:
    if "://" in path:
        return path
    return authority.rstrip("/") + "/" + path.lstrip("/")


@dataclass
class _CachedToken:
    value: str
    expires_at: float


@dataclass
class TokenCache:
    """Access tokens and OIDC token endpoints, shared by every call of one dispatcher.

    Attributes:
        clock: seconds on a monotonic scale (a parameter so tests can move time).
    """

    clock: Callable[[], float] = time.monotonic
    _tokens: dict[str, _CachedToken] = field(default_factory=dict)
    _endpoints: dict[str, str] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def lookup(self, key: str) -> str | None:
        """The cached token for `key`, if it is still fresh."""
        cached = self._tokens.get(key)
        if cached is None or cached.expires_at <= self.clock():
            return None
        return cached.value

    def store(self, key: str, token: str, expires_in: float | None) -> None:
        """Remember `token` until a margin before `expires_in` seconds from now."""
        if expires_in is None or expires_in <= 0:
            return
        margin = min(_MAX_EXPIRY_MARGIN, expires_in / 10)
        self._tokens[key] = _CachedToken(token, self.clock() + expires_in - margin)

    def discard(self, key: str, token: str) -> None:
        """Forget `token` (when the resource server rejected it)."""
        cached = self._tokens.get(key)
        if cached is not None and cached.value == token:
            del self._tokens[key]

    def lock(self, key: str) -> asyncio.Lock:
        """The lock serialising token requests for `key`, so concurrent calls share one."""
        return self._locks.setdefault(key, asyncio.Lock())

    async def obtain(self, settings: OAuth2Settings, client: httpx.AsyncClient) -> tuple[str, bool]:
        """A token for `settings` and whether it was just fetched (vs. cached)."""
        key = settings.cache_key()
        async with self.lock(key):
            token = self.lookup(key)
            if token is not None:
                return token, False
            endpoint = await self._token_endpoint(settings, client)
            token, expires_in = await _request_token(settings, client, endpoint)
            self.store(key, token, expires_in)
            return token, True

    async def _token_endpoint(self, settings: OAuth2Settings, client: httpx.AsyncClient) -> str:
        if settings.token_path:
            return _join(settings.authority, settings.token_path)
        if settings.scheme == "oauth2":
            return _join(settings.authority, "/oauth2/token")
        discovery = settings.authority
        if not discovery.rstrip("/").endswith(_DISCOVERY_PATH):
            discovery = _join(settings.authority, _DISCOVERY_PATH)
        if discovery not in self._endpoints:
            self._endpoints[discovery] = await _discover_token_endpoint(settings, client, discovery)
        return self._endpoints[discovery]


def _auth_failure(settings: OAuth2Settings, detail: str) -> WorkflowError:
    return WorkflowError(
        ErrorType.AUTHENTICATION,
        status=401,
        title="Authentication failed",
        detail=redact(f"{settings.scheme}: {detail}", settings.secrets()),
    )


def _oauth_error_summary(response: httpx.Response) -> str:
    """The server's `error`/`error_description`, or the start of its body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, Mapping) and "error" in body:
        description = body.get("error_description")
        return f"{body['error']}" + (f" ({description})" if description else "")
    return response.text[:200]


async def _send(
    settings: OAuth2Settings, client: httpx.AsyncClient, request: httpx.Request, purpose: str
) -> Mapping[str, Any]:
    url = redact_url(request.url)
    try:
        response = await client.send(request, auth=None, follow_redirects=False)
    except MAPPED_EXCEPTIONS as exc:
        raise _auth_failure(settings, f"{purpose} {url} failed: {type(exc).__name__}: {exc}") from None
    if not response.is_success:
        summary = _oauth_error_summary(response)
        raise _auth_failure(
            settings, f"{purpose} {url} answered {response.status_code} {response.reason_phrase}: {summary}"
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, Mapping):
        raise _auth_failure(settings, f"{purpose} {url} did not answer a JSON object")
    return body


async def _discover_token_endpoint(settings: OAuth2Settings, client: httpx.AsyncClient, url: str) -> str:
    request = client.build_request("GET", url, headers={"Accept": "application/json"})
    document = await _send(settings, client, request, "OIDC discovery at")
    endpoint = document.get("token_endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise _auth_failure(settings, f"the discovery document at {redact_url(url)} has no token_endpoint")
    return endpoint


def _encode_token_request(settings: OAuth2Settings) -> dict[str, Any]:
    fields = settings.token_request_fields()
    if settings.encoding == "application/json":
        return {"json": fields}
    return {"data": fields}


async def _request_token(
    settings: OAuth2Settings, client: httpx.AsyncClient, endpoint: str
) -> tuple[str, float | None]:
    try:
        request = client.build_request(
            "POST", endpoint, headers=settings.token_request_headers(), **_encode_token_request(settings)
        )
    except MAPPED_EXCEPTIONS as exc:
        raise _auth_failure(settings, f"bad token endpoint {redact_url(endpoint)}: {exc}") from None
    body = await _send(settings, client, request, "token request to")
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise _auth_failure(settings, f"the token endpoint {redact_url(endpoint)} returned no access_token")
    try:
        expires_in: float | None = float(body["expires_in"])
    except (KeyError, TypeError, ValueError):
        expires_in = None
    return token, expires_in


class OAuth2Auth(httpx.Auth):
    """httpx authentication that sends a bearer token from the policy's token endpoint.

    Only works with an `httpx.AsyncClient`: fetching a token is itself a request.
    """

    def __init__(self, settings: OAuth2Settings, client: httpx.AsyncClient, tokens: TokenCache) -> None:
        self._settings = settings
        self._client = client
        self._tokens = tokens
        self.issued: list[str] = []

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Refuse: tokens are fetched with the dispatcher's async client."""
        raise RuntimeError("OAuth2Auth needs an httpx.AsyncClient")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Attach a token; on a 401 with a cached token, retry once with a fresh one."""
        token, fresh = await self._tokens.obtain(self._settings, self._client)
        self.issued.append(token)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and not fresh:
            # The server may have revoked the token before its expiry: fetch a new one.
            self._tokens.discard(self._settings.cache_key(), token)
            token, _ = await self._tokens.obtain(self._settings, self._client)
            self.issued.append(token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request
