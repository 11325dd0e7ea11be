"""`call: http` against a real server on 127.0.0.1."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from treadle.effects import Dispatcher
from treadle.engine.errors import ErrorType, WorkflowError

from .conftest import LiveServer

KEY = "wex-1/do/0/call/1"


async def echo(dispatcher: Dispatcher, live: LiveServer, **args: Any) -> dict[str, Any]:
    result = await dispatcher.call("http", {"method": "get", "endpoint": f"{live.url}/echo", **args}, KEY)
    assert isinstance(result, dict)
    return result


async def test_endpoint_as_a_string(dispatcher: Dispatcher, live: LiveServer) -> None:
    result = await dispatcher.call("http", {"method": "get", "endpoint": f"{live.url}/json"}, KEY)
    assert result == {"count": 3, "price": 1.5, "items": [1, 2], "name": "milou", "ok": True}
    assert isinstance(result["count"], int)


async def test_endpoint_as_an_object(dispatcher: Dispatcher, live: LiveServer) -> None:
    result = await dispatcher.call("http", {"method": "get", "endpoint": {"uri": f"{live.url}/text"}}, KEY)
    assert result == "hello, world"


async def test_uri_template_is_filled_from_the_task_input(dispatcher: Dispatcher, live: LiveServer) -> None:
    args = {
        "method": "get",
        "endpoint": {"uri": live.url + "/echo/pet/{petId}/{pet.name}/{missing}/{flag}"},
        "_input": {"petId": 42, "pet.name": "a b/c", "flag": True},
    }
    result = await dispatcher.call("http", args, KEY)
    # `{pet.name}` is one verbatim identifier, encoded; a missing variable expands to "".
    assert result["path"] == "/echo/pet/42/a b/c//true"


async def test_uri_template_refuses_a_structured_value(dispatcher: Dispatcher, live: LiveServer) -> None:
    args = {"method": "get", "endpoint": live.url + "/echo/{pet}", "_input": {"pet": {"id": 1}}}
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("http", args, KEY)
    assert caught.value.type == ErrorType.EXPRESSION
    assert caught.value.status == 400
    assert "'pet'" in (caught.value.detail or "")


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options", "DELETE"])
async def test_methods_are_sent_uppercase(dispatcher: Dispatcher, live: LiveServer, method: str) -> None:
    result = await echo(dispatcher, live, method=method)
    assert result["method"] == method.upper()


async def test_head_returns_no_content(dispatcher: Dispatcher, live: LiveServer) -> None:
    result = await dispatcher.call("http", {"method": "head", "endpoint": f"{live.url}/json"}, KEY)
    assert result is None


async def test_headers_are_sent_and_scalars_stringified(dispatcher: Dispatcher, live: LiveServer) -> None:
    result = await echo(dispatcher, live, headers={"X-Trace": "abc", "X-Count": 3, "X-Flag": False})
    assert result["headers"]["x-trace"] == "abc"
    assert result["headers"]["x-count"] == "3"
    assert result["headers"]["x-flag"] == "false"


async def test_query_is_merged_with_the_uri_query(dispatcher: Dispatcher, live: LiveServer) -> None:
    args = {
        "endpoint": f"{live.url}/echo?keep=1&replace=old",
        "query": {"replace": "new", "many": ["a", "b"], "number": 7, "skip": None, "yes": True},
    }
    result = await echo(dispatcher, live, **args)
    assert result["query"] == [
        ["keep", "1"],
        ["replace", "new"],
        ["many", "a"],
        ["many", "b"],
        ["number", "7"],
        ["yes", "true"],
    ]


async def test_idempotency_key_is_sent(dispatcher: Dispatcher, live: LiveServer) -> None:
    result = await echo(dispatcher, live)
    assert result["headers"]["idempotency-key"] == KEY


async def test_an_explicit_idempotency_header_wins(dispatcher: Dispatcher, live: LiveServer) -> None:
    result = await echo(dispatcher, live, headers={"Idempotency-Key": "mine"})
    assert result["headers"]["idempotency-key"] == "mine"


async def test_json_body(dispatcher: Dispatcher, live: LiveServer) -> None:
    result = await echo(dispatcher, live, method="post", body={"order": {"id": 7, "lines": [1, 2]}})
    assert result["headers"]["content-type"] == "application/json"
    assert result["body"] == '{"order":{"id":7,"lines":[1,2]}}'


async def test_list_body_is_json(dispatcher: Dispatcher, live: LiveServer) -> None:
    result = await echo(dispatcher, live, method="post", body=[1, "two"])
    assert result["body"] == '[1,"two"]'


async def test_string_body_is_sent_as_is(dispatcher: Dispatcher, live: LiveServer) -> None:
    result = await echo(dispatcher, live, method="post", body="plain ünicode")
    assert result["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert result["body"] == "plain ünicode"


async def test_declared_content_type_is_kept(dispatcher: Dispatcher, live: LiveServer) -> None:
    headers = {"Content-Type": "application/vnd.api+json"}
    result = await echo(dispatcher, live, method="post", body={"a": 1}, headers=headers)
    assert result["headers"]["content-type"] == "application/vnd.api+json"
    assert result["body"] == '{"a":1}'


async def test_form_content_type_encodes_a_form(dispatcher: Dispatcher, live: LiveServer) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    result = await echo(dispatcher, live, method="post", body={"a": "1 2", "b": ["x", "y"]}, headers=headers)
    assert result["body"] == "a=1+2&b=x&b=y"


async def test_text_response(dispatcher: Dispatcher, live: LiveServer) -> None:
    result = await dispatcher.call("http", {"method": "get", "endpoint": f"{live.url}/text"}, KEY)
    assert result == "hello, world"


@pytest.mark.parametrize("status", [200, 204])
async def test_empty_response_is_null(dispatcher: Dispatcher, live: LiveServer, status: int) -> None:
    args = {"method": "post", "endpoint": f"{live.url}/empty", "query": {"status": status}}
    assert await dispatcher.call("http", args, KEY) is None


async def test_binary_response_is_base64(dispatcher: Dispatcher, live: LiveServer) -> None:
    result = await dispatcher.call("http", {"method": "get", "endpoint": f"{live.url}/binary"}, KEY)
    assert base64.b64decode(result) == bytes(range(256))


async def test_output_raw_is_base64_of_the_body(dispatcher: Dispatcher, live: LiveServer) -> None:
    args = {"method": "get", "endpoint": f"{live.url}/text", "output": "raw"}
    result = await dispatcher.call("http", args, KEY)
    assert base64.b64decode(result) == b"hello, world"


async def test_output_raw_of_an_empty_body_is_null(dispatcher: Dispatcher, live: LiveServer) -> None:
    args = {"method": "get", "endpoint": f"{live.url}/empty", "output": "raw"}
    assert await dispatcher.call("http", args, KEY) is None


async def test_output_response(dispatcher: Dispatcher, live: LiveServer) -> None:
    args = {
        "method": "get",
        "endpoint": {"uri": f"{live.url}/json", "authentication": {"bearer": {"token": "t0ken-value"}}},
        "headers": {"X-Trace": "abc"},
        "output": "response",
    }
    result = await dispatcher.call("http", args, KEY)
    assert result["statusCode"] == 200
    assert result["content"]["count"] == 3
    assert result["headers"]["content-type"] == "application/json"
    assert result["request"]["method"] == "get"
    assert result["request"]["uri"] == f"{live.url}/json"
    assert result["request"]["headers"]["x-trace"] == "abc"
    assert result["request"]["headers"]["authorization"] == "***"
    assert "t0ken-value" not in repr(result)


async def test_unknown_output_is_a_configuration_error(dispatcher: Dispatcher, live: LiveServer) -> None:
    with pytest.raises(WorkflowError) as caught:
        await echo(dispatcher, live, output="xml")
    assert caught.value.type == ErrorType.CONFIGURATION


@pytest.mark.parametrize(
    "args",
    [
        {"endpoint": "http://127.0.0.1:1/x"},
        {"method": "get"},
        {"method": "get", "endpoint": {"authentication": {}}},
        {"method": "get", "endpoint": "http://127.0.0.1:1/x", "headers": ["a"]},
        {"method": "get", "endpoint": "http://127.0.0.1:1/x", "redirect": "yes"},
        {"method": "get", "endpoint": "http://127.0.0.1:1/x", "query": "a=1"},
        {"method": "get", "endpoint": "ftp://127.0.0.1:1/x"},
        {"method": "get", "endpoint": "http://[::1/x"},
    ],
)
async def test_malformed_arguments_are_configuration_errors(
    dispatcher: Dispatcher, args: dict[str, Any]
) -> None:
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("http", args, KEY)
    assert caught.value.type == ErrorType.CONFIGURATION
    assert caught.value.status == 400


async def test_redirect_false_does_not_follow_and_fails(dispatcher: Dispatcher, live: LiveServer) -> None:
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("http", {"method": "get", "endpoint": f"{live.url}/redirect"}, KEY)
    error = caught.value
    assert error.type == ErrorType.COMMUNICATION
    assert error.status == 302
    assert "redirect: true" in (error.detail or "")
    assert error.extra["response"]["headers"]["location"] == "/json"


async def test_redirect_true_follows(dispatcher: Dispatcher, live: LiveServer) -> None:
    args = {"method": "get", "endpoint": f"{live.url}/redirect", "redirect": True, "output": "response"}
    result = await dispatcher.call("http", args, KEY)
    assert result["statusCode"] == 200
    assert result["content"]["name"] == "milou"
    assert result["request"]["uri"] == f"{live.url}/json"


async def test_redirect_true_accepts_an_unfollowable_3xx(dispatcher: Dispatcher, live: LiveServer) -> None:
    args = {"method": "get", "endpoint": f"{live.url}/not-modified", "redirect": True, "output": "response"}
    result = await dispatcher.call("http", args, KEY)
    assert result["statusCode"] == 304


async def test_redirect_true_still_fails_on_4xx(dispatcher: Dispatcher, live: LiveServer) -> None:
    args = {"method": "get", "endpoint": f"{live.url}/status/404", "redirect": True}
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("http", args, KEY)
    assert caught.value.status == 404


@pytest.mark.parametrize("status", [400, 404, 409, 500, 503])
async def test_non_2xx_is_a_communication_error_with_the_response(
    dispatcher: Dispatcher, live: LiveServer, status: int
) -> None:
    url = f"{live.url}/status/{status}"
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("http", {"method": "post", "endpoint": url}, KEY)
    error = caught.value
    assert error.type == ErrorType.COMMUNICATION
    assert error.status == status
    assert error.title and error.title != "Communication"  # the reason phrase
    assert error.detail is not None
    assert error.detail.startswith(f"POST {url} returned {status}")
    assert "it went wrong" in error.detail
    response = error.extra["response"]
    assert response["statusCode"] == status
    assert response["content"] == {"error": "it went wrong", "code": status}
    assert error.to_problem()["response"]["statusCode"] == status


async def test_error_detail_keeps_only_the_start_of_a_long_body(
    dispatcher: Dispatcher, live: LiveServer
) -> None:
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call(
            "http", {"method": "post", "endpoint": f"{live.url}/echo-error", "body": "x" * 5000}, KEY
        )
    assert len(caught.value.detail or "") < 700


async def test_connection_refused(dispatcher: Dispatcher, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/nothing"
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("http", {"method": "get", "endpoint": url}, KEY)
    error = caught.value
    assert error.type == ErrorType.COMMUNICATION
    assert error.status == 503
    assert url in (error.detail or "")
    assert "ConnectError" in (error.detail or "")


async def test_malformed_json_is_a_communication_error(dispatcher: Dispatcher, live: LiveServer) -> None:
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("http", {"method": "get", "endpoint": f"{live.url}/malformed"}, KEY)
    error = caught.value
    assert error.type == ErrorType.COMMUNICATION
    assert error.title == "Malformed JSON response"
    assert "malformed JSON response" in (error.detail or "")
    assert error.__cause__ is None and error.__suppress_context__


async def test_malformed_json_with_output_raw_is_fine(dispatcher: Dispatcher, live: LiveServer) -> None:
    args = {"method": "get", "endpoint": f"{live.url}/malformed", "output": "raw"}
    assert base64.b64decode(await dispatcher.call("http", args, KEY)) == b'{"truncated": '


async def test_large_bodies(dispatcher: Dispatcher, live: LiveServer) -> None:
    result = await dispatcher.call("http", {"method": "get", "endpoint": f"{live.url}/large"}, KEY)
    assert len(result["items"]) == 100_000
    assert result["items"][-1] == {"index": 99_999, "label": "item-99999"}
    big = {"blob": "y" * 3_000_000}
    echoed = await echo(dispatcher, live, method="put", body=big)
    assert len(echoed["body"]) == len('{"blob":""}') + 3_000_000


async def test_userinfo_password_is_redacted_from_errors(dispatcher: Dispatcher, closed_port: int) -> None:
    url = f"http://user:hunter2-secret@127.0.0.1:{closed_port}/x"
    with pytest.raises(WorkflowError) as caught:
        await dispatcher.call("http", {"method": "get", "endpoint": url}, KEY)
    assert "hunter2-secret" not in str(caught.value)
    assert "hunter2-secret" not in repr(caught.value.to_problem())
