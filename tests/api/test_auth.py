"""The API token: required off loopback, checked on every request but the probes."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import Serve, assert_problem
from treadle.api import UnsafeBind, check_bind, is_loopback
from treadle.api.auth import token_matches
from treadle.resources import ResourceService


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "example.com"])
def test_other_hosts_need_a_token(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(UnsafeBind, match="TREADLE_API_TOKEN"):
        check_bind(host, None)
    with pytest.raises(UnsafeBind):
        check_bind(host, "")
    check_bind(host, "s3cret")


def test_token_matching() -> None:
    assert token_matches("Bearer s3cret", "s3cret")
    assert token_matches("bearer s3cret", "s3cret")
    assert not token_matches("Bearer wrong", "s3cret")
    assert not token_matches("Basic s3cret", "s3cret")
    assert not token_matches(None, "s3cret")
    assert not token_matches("Bearer", "s3cret")


def test_a_server_bound_beyond_loopback_with_a_token(serve: Serve, service: ResourceService) -> None:
    server = serve(service, host="0.0.0.0", token="s3cret")
    url = f"http://127.0.0.1:{server.port}"
    with httpx.Client(base_url=url) as anonymous:
        problem = assert_problem(anonymous.get("/v1/workflows"), 401)
        assert problem["type"].endswith("/unauthorized")
        assert anonymous.get("/v1/workflows").headers["www-authenticate"].startswith("Bearer")
        assert_problem(anonymous.get("/v1/workflows", headers={"Authorization": "Bearer nope"}), 401)
        assert anonymous.get("/health").status_code == 200
        assert anonymous.get("/ready").status_code == 503  # a probe: no token, no worker
    with httpx.Client(base_url=url, headers={"Authorization": "Bearer s3cret"}) as client:
        assert client.get("/v1/workflows").status_code == 200
        schema = client.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
