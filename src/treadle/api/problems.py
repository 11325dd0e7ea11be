"""The one place errors become `application/problem+json` (RFC 9457) responses.

`ResourceError`s map by their `http_status` (a failed precondition is 412 here, as the
API promises); FastAPI's request validation errors become 422 with an `errors[]` entry per
fault; the API's own refusals (`ApiProblem`: a malformed body, a missing token, no runtime)
carry their status; unknown routes are 404 problems. A bug is a 500 problem, logged with
its traceback, and never shows one to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException

from treadle.resources import FailedPrecondition, InvalidArgument, ResourceError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "ApiProblem",
    "Problem",
    "ProblemError",
    "install_problem_handlers",
    "problem_response",
    "problems",
]

log = logging.getLogger("treadle.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://treadle.dev/problems/"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ProblemError(BaseModel):
    """One fault of a request: where (a JSON pointer into the request), a code and a message."""

    model_config = ConfigDict(extra="allow")

    pointer: str
    code: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem object, as every error response of the API carries."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemError] = Field(default_factory=list)


class ApiProblem(Exception):
    """A refusal decided by the transport itself (bad body, no token, no runtime)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: Sequence[ProblemError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})
        super().__init__(detail)

    @classmethod
    def at(cls, status: int, code: str, pointer: str, message: str) -> ApiProblem:
        """A problem with a single fault at `pointer`."""
        return cls(status, code, message, errors=[ProblemError(pointer=pointer, code=code, message=message)])


def problem_response(
    status: int,
    code: str,
    detail: str | None,
    *,
    instance: str | None = None,
    errors: Iterable[ProblemError] = (),
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response; `code` names the problem type (`…/problems/<code>`)."""
    body = Problem(
        type=TYPE_BASE + code,
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=instance,
        errors=list(errors),
        **extra,
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def _resource_problem(request: Request, error: ResourceError) -> JSONResponse:
    status = error.http_status
    code = _code_of(error)
    errors: list[ProblemError] = []
    extra: dict[str, Any] = {}
    if isinstance(error, InvalidArgument):
        errors = [ProblemError(pointer=v.pointer, code=v.code, message=v.message) for v in error.violations]
    elif error.pointer is not None:  # one item of a batch: say which
        errors = [ProblemError(pointer=error.pointer, code=code, message=str(error))]
    if isinstance(error, FailedPrecondition) and error.blocking:
        extra["blocking"] = list(error.blocking)
    if error.kind is not None:
        extra["kind"] = error.kind
    return problem_response(status, code, str(error), instance=request.url.path, errors=errors, **extra)


def _code_of(error: ResourceError) -> str:
    name = type(error).__name__
    return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")


def _pointer(location: Sequence[int | str]) -> str:
    parts = [str(part).replace("~", "~0").replace("/", "~1") for part in location]
    return "/" + "/".join(parts) if parts else ""


def _validation_problem(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = [
        ProblemError(
            pointer=_pointer(fault.get("loc", ())),
            code=str(fault.get("type", "invalid")),
            message=str(fault.get("msg", "invalid value")),
        )
        for fault in error.errors()
    ]
    detail = "; ".join(f"{e.pointer}: {e.message}" for e in errors[:3]) or "invalid request"
    return problem_response(422, "invalid-request", detail, instance=request.url.path, errors=errors)


def _http_problem(request: Request, error: HTTPException) -> JSONResponse:
    code = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
    detail = error.detail if error.status_code != 404 else f"no route for {request.method} {request.url.path}"
    return problem_response(
        error.status_code, code, str(detail), instance=request.url.path, headers=error.headers
    )


def _api_problem(request: Request, error: ApiProblem) -> JSONResponse:
    return problem_response(
        error.status,
        error.code,
        error.detail,
        instance=request.url.path,
        errors=error.errors,
        headers=error.headers,
    )


def _data_problem(request: Request, error: DataError) -> JSONResponse:
    # The database refused a value (a NUL character, an out-of-range number): bad input.
    log.info("database refused a value: %s", error.orig)
    return problem_response(
        400,
        "unstorable-value",
        "the request holds a value the database cannot store",
        instance=request.url.path,
    )


def _bug(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        500, "internal", "an internal error occurred; see the server log", instance=request.url.path
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error the app can raise to its problem+json response."""

    async def on_resource(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ResourceError)
        return _resource_problem(request, error)

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return _validation_problem(request, error)

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        return _http_problem(request, error)

    async def on_api(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiProblem)
        return _api_problem(request, error)

    async def on_data(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, DataError)
        return _data_problem(request, error)

    async def on_bug(request: Request, error: Exception) -> JSONResponse:
        return _bug(request, error)

    app.add_exception_handler(ResourceError, on_resource)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(ApiProblem, on_api)
    app.add_exception_handler(DataError, on_data)
    app.add_exception_handler(Exception, on_bug)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses (problem+json bodies)."""
    return {
        status: {
            "description": _TITLES.get(status, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
