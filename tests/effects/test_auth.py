"""Authentication policies against real protected endpoints and token servers."""

from __future__ import annotations

from typing import Any

import pytest

from treadle.effects import Dispatcher, FunctionRegistry, TokenCache
from treadle.engine.errors import ErrorType, WorkflowError

from .conftest import (
    BASIC_PASSWORD,
    BASIC_USER,
    BEARER_TOKEN,
    CLIENT_ID,
    CLIENT_SECRET,
    DIGEST_PASSWORD,
    DIGEST_USER,
    RESOURCE_OWNER,
    RESOURCE_PASSWORD,
    LiveServer,
)

ALL_SECRETS = [BASIC_PASSWORD, BEARER_TOKEN, DIGEST_PASSWORD, CLIENT_SECRET, RESOURCE_PASSWORD]


def endpoint(uri: str, policy: dict[str, Any]) -> dict[str, Any]:
    return {"method": "get", "endpoint": {"uri": uri, "authentication": policy}}


def oauth2(live: LiveServer, **overrides: Any) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "authority": f"{live.url}/realm",
        "grant": "client_credentials",
        "client": {"id": CLIENT_ID, "secret": CLIENT_SECRET},
        "scopes": ["api", "read"],
        "audiences": ["runtime"],
    }
    policy.update(overrides)
    return {"oauth2": policy}


def oidc(live: LiveServer, **overrides: Any) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "authority": f"{live.url}/oidc",
        "grant": "client_credentials",
        "client": {"id": CLIENT_ID, "secret": CLIENT_SECRET},
    }
    policy.update(overrides)
    return {"oidc": policy}


def assert_no_secret(error: BaseException) -> None:
    texts = [str(error), repr(error)]
    if isinstance(error, WorkflowError):
        texts.append(repr(error.to_problem()))
    for secret in ALL_SECRETS:
        for text in texts:
            assert secret not in text


async def test_basic(dispatcher: Dispatcher, live: LiveServer) -> None:
    policy = {"basic": {"username": BASIC_USER, "password": BASIC_PASSWORD}}
    assert await dispatcher.call("http", endpoint(f"{live.url}/basic", policy), "k") == {"user": BASIC_USER}


async def test_basic_with_a_wrong_password_fails_without_leaking(
    dispatcher: Dispatcher, live: LiveServer
) -> None:
    policy = {"basic": {"username": BASIC_USER, "password": BASIC_PASSWORD + "-wrong"}}
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("http", endpoint(f"{live.url}/basic", policy), "k")
    assert caught.value.status == 401
    assert BASIC_PASSWORD not in str(caught.value)


async def test_bearer(dispatcher: Dispatcher, live: LiveServer) -> None:
    policy = {"bearer": {"token": BEARER_TOKEN}}
    assert await dispatcher.call("http", endpoint(f"{live.url}/bearer", policy), "k") == {"authorized": True}


async def test_digest(dispatcher: Dispatcher, live: LiveServer) -> None:
    policy = {"digest": {"username": DIGEST_USER, "password": DIGEST_PASSWORD}}
    assert await dispatcher.call("http", endpoint(f"{live.url}/digest", policy), "k") == {"user": DIGEST_USER}


@pytest.mark.parametrize(
    "policy",
    [
        {"basic": {"username": BASIC_USER, "password": BASIC_PASSWORD}},
        {"bearer": {"token": BEARER_TOKEN}},
    ],
)
async def test_secrets_echoed_by_a_failing_server_are_redacted(
    dispatcher: Dispatcher, live: LiveServer, policy: dict[str, Any]
) -> None:
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("http", endpoint(f"{live.url}/echo-error", policy), "k")
    assert caught.value.status == 500
    assert "***" in (caught.value.detail or "")
    assert_no_secret(caught.value)


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        ({"use": "sampleBasic"}, "was not resolved"),
        ({"basic": {"use": "mySecret"}}, "was not resolved"),
        ({"basic": {"username": "u"}}, "'username' and 'password'"),
        ({"bearer": {}}, "'token'"),
        ({"certificate": {}}, "not supported"),
        ({"kerberos": {}}, "no known scheme"),
        ({"oauth2": {"grant": "client_credentials"}}, "'authority'"),
        ({"oauth2": {"authority": "http://a", "grant": "authorization_code"}}, "not supported"),
        ({"oauth2": {"authority": "http://a", "grant": "password", "client": {"id": "c"}}}, "password grant"),
        ({"oidc": {"authority": "http://a", "grant": "client_credentials"}}, "'client.id'"),
        (
            {
                "oauth2": {
                    "authority": "http://a",
                    "grant": "client_credentials",
                    "client": {"id": "c"},
                    "scopes": 3,
                }
            },
            "'scopes'",
        ),
    ],
)
async def test_malformed_policies_are_configuration_errors(
    dispatcher: Dispatcher, policy: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("http", endpoint("http://127.0.0.1:1/x", policy), "k")
    assert caught.value.type == ErrorType.CONFIGURATION
    assert fragment in (caught.value.detail or "")


async def test_oauth2_client_credentials_posts_the_client_and_caches_the_token(
    dispatcher: Dispatcher, live: LiveServer
) -> None:
    args = endpoint(f"{live.url}/protected", oauth2(live))
    first = await dispatcher.call("http", args, "k1")
    second = await dispatcher.call("http", args, "k2")
    assert first == second == {"token": "access-1-client_credentials"}
    assert len(live.state.token_requests) == 1
    request = live.state.token_requests[0]
    assert request["_path"] == "/realm/oauth2/token"
    assert request["grant_type"] == "client_credentials"
    assert request["client_id"] == CLIENT_ID and request["client_secret"] == CLIENT_SECRET
    assert request["scope"] == "api read"
    assert request["audience"] == "runtime"


async def test_oauth2_client_secret_basic_and_a_custom_token_path(
    dispatcher: Dispatcher, live: LiveServer
) -> None:
    policy = oauth2(
        live,
        client={"id": CLIENT_ID, "secret": CLIENT_SECRET, "authentication": "client_secret_basic"},
        endpoints={"token": "/custom/token"},
    )
    assert await dispatcher.call("http", endpoint(f"{live.url}/protected", policy), "k")
    request = live.state.token_requests[0]
    assert request["_path"] == "/realm/custom/token"
    assert "client_secret" not in request  # it went in the Authorization header
    assert request["_client"] == CLIENT_ID


async def test_oauth2_password_grant_with_a_json_token_request(
    dispatcher: Dispatcher, live: LiveServer
) -> None:
    policy = oauth2(
        live,
        grant="password",
        username=RESOURCE_OWNER,
        password=RESOURCE_PASSWORD,
        request={"encoding": "application/json"},
    )
    result = await dispatcher.call("http", endpoint(f"{live.url}/protected", policy), "k")
    assert result == {"token": "access-1-password"}
    assert live.state.token_requests[0]["username"] == RESOURCE_OWNER
    assert live.state.token_requests[0]["audience"] == ["runtime"]


async def test_different_policies_get_different_tokens(dispatcher: Dispatcher, live: LiveServer) -> None:
    await dispatcher.call("http", endpoint(f"{live.url}/protected", oauth2(live)), "k")
    await dispatcher.call("http", endpoint(f"{live.url}/protected", oauth2(live, scopes=["other"])), "k")
    assert len(live.state.token_requests) == 2


async def test_tokens_are_refetched_once_expired(live: LiveServer) -> None:
    now = [1000.0]
    tokens = TokenCache(clock=lambda: now[0])
    live.state.token_lifetime = 60
    async with Dispatcher(functions=FunctionRegistry(entry_point_group=None), tokens=tokens) as effects:
        args = endpoint(f"{live.url}/protected", oauth2(live))
        await effects.call("http", args, "k")
        now[0] += 50  # within 60 s minus the refresh margin (6 s)
        await effects.call("http", args, "k")
        assert len(live.state.token_requests) == 1
        now[0] += 5
        assert await effects.call("http", args, "k") == {"token": "access-2-client_credentials"}
        assert len(live.state.token_requests) == 2


async def test_a_token_without_expires_in_is_not_cached(dispatcher: Dispatcher, live: LiveServer) -> None:
    live.state.token_lifetime = None
    args = endpoint(f"{live.url}/protected", oauth2(live))
    await dispatcher.call("http", args, "k")
    await dispatcher.call("http", args, "k")
    assert len(live.state.token_requests) == 2


async def test_a_revoked_cached_token_is_replaced_once(dispatcher: Dispatcher, live: LiveServer) -> None:
    args = endpoint(f"{live.url}/protected", oauth2(live))
    await dispatcher.call("http", args, "k")
    live.state.revoked_tokens.add("access-1-client_credentials")
    assert await dispatcher.call("http", args, "k") == {"token": "access-2-client_credentials"}
    assert len(live.state.token_requests) == 2


async def test_concurrent_calls_share_one_token_request(dispatcher: Dispatcher, live: LiveServer) -> None:
    import asyncio

    args = endpoint(f"{live.url}/protected", oauth2(live))
    results = await asyncio.gather(*(dispatcher.call("http", args, f"k{i}") for i in range(5)))
    assert len({result["token"] for result in results}) == 1
    assert len(live.state.token_requests) == 1


async def test_oidc_discovers_the_token_endpoint_once(dispatcher: Dispatcher, live: LiveServer) -> None:
    args = endpoint(f"{live.url}/protected", oidc(live))
    assert await dispatcher.call("http", args, "k") == {"token": "access-1-client_credentials"}
    other_scope = endpoint(f"{live.url}/protected", oidc(live, scopes=["x"]))
    await dispatcher.call("http", other_scope, "k")
    await dispatcher.call("http", args, "k")
    assert live.state.discovery_requests == 1
    assert [request["_path"] for request in live.state.token_requests] == ["/oidc/token", "/oidc/token"]


async def test_oidc_authority_may_name_the_discovery_document(
    dispatcher: Dispatcher, live: LiveServer
) -> None:
    policy = oidc(live, authority=f"{live.url}/oidc/.well-known/openid-configuration")
    assert await dispatcher.call("http", endpoint(f"{live.url}/protected", policy), "k")
    assert live.state.discovery_requests == 1


async def test_token_endpoint_refusal_is_an_authentication_error(
    dispatcher: Dispatcher, live: LiveServer
) -> None:
    policy = oauth2(live, authority=f"{live.url}/failing")
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("http", endpoint(f"{live.url}/protected", policy), "k")
    error = caught.value
    assert (error.type, error.status) == (ErrorType.AUTHENTICATION, 401)
    assert f"{live.url}/failing/oauth2/token" in (error.detail or "")
    assert "invalid_client (unknown client)" in (error.detail or "")
    assert_no_secret(error)


async def test_wrong_client_secret_is_an_authentication_error(
    dispatcher: Dispatcher, live: LiveServer
) -> None:
    policy = oauth2(live, client={"id": CLIENT_ID, "secret": "wrong"})
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("http", endpoint(f"{live.url}/protected", policy), "k")
    assert caught.value.type == ErrorType.AUTHENTICATION


async def test_a_token_server_echoing_the_secret_does_not_leak_it(
    dispatcher: Dispatcher, live: LiveServer
) -> None:
    policy = oauth2(
        live, authority=f"{live.url}/leaky", grant="password", username="u", password=RESOURCE_PASSWORD
    )
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("http", endpoint(f"{live.url}/protected", policy), "k")
    assert caught.value.type == ErrorType.AUTHENTICATION
    assert "***" in (caught.value.detail or "")
    assert_no_secret(caught.value)


async def test_unreachable_token_endpoint_is_an_authentication_error(
    dispatcher: Dispatcher, live: LiveServer, closed_port: int
) -> None:
    policy = oauth2(live, authority=f"http://127.0.0.1:{closed_port}")
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("http", endpoint(f"{live.url}/protected", policy), "k")
    assert (caught.value.type, caught.value.status) == (ErrorType.AUTHENTICATION, 401)
    assert "ConnectError" in (caught.value.detail or "")
    assert_no_secret(caught.value)


async def test_discovery_without_a_token_endpoint(dispatcher: Dispatcher, live: LiveServer) -> None:
    policy = oidc(live, authority=f"{live.url}/json")
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("http", endpoint(f"{live.url}/protected", policy), "k")
    assert caught.value.type == ErrorType.AUTHENTICATION
