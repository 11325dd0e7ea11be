"""Every httpx exception maps to exactly one DSL error type."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import httpx
import pytest

from treadle.effects.transport_errors import ERROR_TABLE, MAPPED_EXCEPTIONS, map_httpx_error
from treadle.engine.errors import ErrorType

STANDARD_TYPES = {
    ErrorType.CONFIGURATION,
    ErrorType.TIMEOUT,
    ErrorType.COMMUNICATION,
    ErrorType.RUNTIME,
}


def httpx_exception_classes() -> list[type[Exception]]:
    """Every exception class httpx exports."""
    exported = (getattr(httpx, name) for name in httpx.__all__)
    return sorted(
        (cls for cls in exported if inspect.isclass(cls) and issubclass(cls, Exception)),
        key=lambda cls: cls.__name__,
    )


def make(cls: type[Exception]) -> Exception:
    """An instance of `cls`, built the way httpx builds it."""
    request = httpx.Request("GET", "http://example.test/x")
    if issubclass(cls, httpx.HTTPStatusError):
        response = httpx.Response(418, request=request)
        return cls("teapot", request=request, response=response)
    if issubclass(cls, httpx.RequestError):
        return cls("boom", request=request)
    if issubclass(cls, httpx.StreamError):
        # The leaves build their own message; only the base class takes one.
        no_message: Callable[[], Exception] = cls
        return cls("stream misuse") if cls is httpx.StreamError else no_message()
    return cls("boom")


def test_the_walk_finds_the_whole_hierarchy() -> None:
    names = {cls.__name__ for cls in httpx_exception_classes()}
    assert {"HTTPError", "StreamError", "ConnectError", "ReadTimeout", "InvalidURL"} <= names
    assert all(issubclass(cls, MAPPED_EXCEPTIONS) for cls in httpx_exception_classes())


@pytest.mark.parametrize("cls", httpx_exception_classes(), ids=lambda cls: cls.__name__)
def test_every_httpx_exception_has_its_own_row(cls: type[Exception]) -> None:
    assert cls in ERROR_TABLE, f"httpx.{cls.__name__} has no row in ERROR_TABLE"


@pytest.mark.parametrize("cls", httpx_exception_classes(), ids=lambda cls: cls.__name__)
def test_every_httpx_exception_maps_to_one_standard_type(cls: type[Exception]) -> None:
    error = map_httpx_error(make(cls), "get", "http://example.test/x")
    assert error.type in STANDARD_TYPES
    assert error.type == ERROR_TABLE[cls].type
    assert isinstance(error.status, int)
    assert error.detail is not None
    assert error.detail.startswith("GET http://example.test/x: ")
    assert cls.__name__ in error.detail


@pytest.mark.parametrize(
    ("cls", "type_", "status"),
    [
        (httpx.ConnectTimeout, ErrorType.TIMEOUT, 408),
        (httpx.ReadTimeout, ErrorType.TIMEOUT, 408),
        (httpx.PoolTimeout, ErrorType.TIMEOUT, 408),
        (httpx.ConnectError, ErrorType.COMMUNICATION, 503),
        (httpx.ReadError, ErrorType.COMMUNICATION, 503),
        (httpx.RemoteProtocolError, ErrorType.COMMUNICATION, 500),
        (httpx.HTTPStatusError, ErrorType.COMMUNICATION, 418),
        (httpx.UnsupportedProtocol, ErrorType.CONFIGURATION, 400),
        (httpx.InvalidURL, ErrorType.CONFIGURATION, 400),
        (httpx.StreamConsumed, ErrorType.RUNTIME, 500),
    ],
)
def test_notable_mappings(cls: type[Exception], type_: str, status: int) -> None:
    error = map_httpx_error(make(cls), "post", "http://example.test/x")
    assert (error.type, error.status) == (type_, status)


def test_an_unknown_subclass_maps_like_its_parent() -> None:
    class BrandNewTimeout(httpx.ReadTimeout):
        pass

    error = map_httpx_error(BrandNewTimeout("slow"), "get", "http://example.test/x")
    assert (error.type, error.status) == (ErrorType.TIMEOUT, 408)


def test_redaction_applies_to_the_detail() -> None:
    error = map_httpx_error(
        httpx.ConnectError("cannot reach s3cret"),
        "get",
        "http://h/x",
        lambda text: text.replace("s3cret", "***"),
    )
    assert "s3cret" not in str(error)
