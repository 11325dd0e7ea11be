"""What the sync and async clients share: kinds and their paths, requests, errors, SSE parsing."""

from __future__ import annotations

import functools
import json
import os
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel

from treadle.errors import TreadleError
from treadle.resources import KINDS, Resource

__all__ = [
    "DEFAULT_SERVER",
    "ApiError",
    "Event",
    "Request",
    "ResourcePage",
    "SseParser",
    "kind_name",
    "resource_path",
]

DEFAULT_SERVER = "http://127.0.0.1:8080"

_PATHS = {
    "Workflow": "/v1/workflows",
    "WorkflowInstance": "/v1/workflow-instances",
    "WorkflowExecution": "/v1/workflow-executions",
    "ExecutionContext": "/v1/execution-contexts",
}
_ALIASES = {
    "workflow": "Workflow",
    "workflows": "Workflow",
    "wf": "Workflow",
    "wfl": "Workflow",
    "instance": "WorkflowInstance",
    "instances": "WorkflowInstance",
    "workflowinstance": "WorkflowInstance",
    "workflowinstances": "WorkflowInstance",
    "workflow-instance": "WorkflowInstance",
    "workflow-instances": "WorkflowInstance",
    "win": "WorkflowInstance",
    "execution": "WorkflowExecution",
    "executions": "WorkflowExecution",
    "workflowexecution": "WorkflowExecution",
    "workflowexecutions": "WorkflowExecution",
    "workflow-execution": "WorkflowExecution",
    "workflow-executions": "WorkflowExecution",
    "wex": "WorkflowExecution",
    "context": "ExecutionContext",
    "contexts": "ExecutionContext",
    "executioncontext": "ExecutionContext",
    "executioncontexts": "ExecutionContext",
    "execution-context": "ExecutionContext",
    "execution-contexts": "ExecutionContext",
    "ctx": "ExecutionContext",
}
PREFIXES = {
    "wfl": "Workflow",
    "win": "WorkflowInstance",
    "wex": "WorkflowExecution",
    "ctx": "ExecutionContext",
}

KindRef = str | type[Resource]


class ApiError(TreadleError):
    """The server answered with an error; `problem` is its problem+json body.

    Attributes:
        status: the HTTP status.
        problem: the problem object (`type`, `title`, `status`, `detail`, `errors`, ...).
    """

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        detail = self.problem.get("detail") or self.problem.get("title") or f"HTTP {status}"
        super().__init__(f"{status} {detail}")

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The faults of the request, each with its `pointer`, `code` and `message`."""
        return list(self.problem.get("errors") or [])


class ResourcePage(BaseModel):
    """One page of resources and how many match in all."""

    items: list[Any]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event of an execution: journal `seq`, `type` and JSON `data`."""

    seq: int | None
    type: str
    data: Any


@dataclass(frozen=True)
class Request:
    """An HTTP request to make and how to read its answer."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] | None = None
    model: type[BaseModel] | None = None
    #: Seconds to wait for the answer, instead of the client's timeout.
    timeout: float | None = None

    def send_args(self) -> dict[str, Any]:
        """Keyword arguments of `httpx.Client.request`."""
        args: dict[str, Any] = {"method": self.method, "url": self.path}
        if self.params:
            args["params"] = {k: v for k, v in self.params.items() if v is not None}
        if self.json is not None:
            args["json"] = self.json
        if self.content is not None:
            args["content"] = self.content
        if self.headers:
            args["headers"] = dict(self.headers)
        if self.timeout is not None:
            args["timeout"] = self.timeout
        return args


def kind_name(kind: KindRef) -> str:
    """The envelope `kind` of a model class, a kind name or an alias (`wf`, `executions`)."""
    if isinstance(kind, type):
        return str(kind.model_fields["kind"].default)
    if kind in _PATHS:
        return kind
    try:
        return _ALIASES[kind.lower()]
    except KeyError:
        known = ", ".join(sorted({*_PATHS, "workflow", "instance", "execution", "context"}))
        raise ValueError(f"unknown kind {kind!r}; one of {known}") from None


def resource_path(kind: KindRef) -> str:
    """The collection path of a kind (`/v1/workflows`)."""
    return _PATHS[kind_name(kind)]


def body_of(resource: Mapping[str, Any] | Resource) -> dict[str, Any]:
    """A request body from a model or a mapping."""
    if isinstance(resource, Resource):
        return resource.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dict(resource)


def kind_of_body(body: Mapping[str, Any]) -> str:
    """The kind a body declares; a bare DSL document is a Workflow."""
    kind = body.get("kind")
    if isinstance(kind, str):
        return kind_name(kind)
    if isinstance(body.get("document"), Mapping):
        return "Workflow"
    raise ValueError("which kind of resource? the body has no `kind` and is not a DSL document")


def parse(response: httpx.Response, model: type[BaseModel] | None) -> Any:
    """The response's JSON (as `model` when given); raises `ApiError` on 4xx/5xx."""
    if response.status_code >= 400:
        try:
            problem = response.json()
        except ValueError:
            problem = {"title": response.reason_phrase, "detail": response.text[:500]}
        if not isinstance(problem, dict):
            problem = {"detail": str(problem)}
        raise ApiError(response.status_code, problem)
    if response.status_code == 204 or not response.content:
        return None
    if response.headers.get("content-type", "").startswith("text/plain"):
        return response.text
    data = response.json()
    return model.model_validate(data) if model is not None else data


def as_resource(data: Any) -> Any:
    """A resource dict as its model (by its `kind`)."""
    if isinstance(data, dict) and data.get("kind") in KINDS:
        return KINDS[data["kind"]].model_validate(data)
    return data


def as_page(data: Any) -> ResourcePage:
    """A list response with its items as models."""
    page = ResourcePage.model_validate(data)
    return page.model_copy(update={"items": [as_resource(item) for item in page.items]})


def server_from_env(server: str | None) -> str:
    """`server`, else `$TREADLE_SERVER`, else http://127.0.0.1:8080."""
    return (server or os.environ.get("TREADLE_SERVER") or DEFAULT_SERVER).rstrip("/")


@functools.cache
def certificates() -> ssl.SSLContext:
    """The TLS context every client of this process shares (what httpx makes for
    `verify=True`, `$SSL_CERT_FILE` and `$SSL_CERT_DIR` included, read once).

    httpx loads the CA bundle anew for each client it makes: ~20 ms of every client,
    for a program that makes one per call.
    """
    return httpx.create_ssl_context()


def auth_headers(token: str | None) -> dict[str, str]:
    """`Authorization: Bearer` from `token` or `$TREADLE_API_TOKEN`."""
    token = token if token is not None else os.environ.get("TREADLE_API_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def list_params(page: int, page_size: int, sort: str | None, filters: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters of a list; `labels` may be a mapping."""
    params: dict[str, Any] = {"page": page, "page_size": page_size, "sort": sort}
    for key, value in filters.items():
        if key == "labels" and isinstance(value, Mapping):
            params["labels"] = [f"{k}={v}" for k, v in value.items()]
        elif value is not None:
            params[key] = value
    return params


class SseParser:
    """Turns a `text/event-stream` into events, line by line."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._type = "message"
        self._data: list[str] = []
        self.last_id: int | None = None

    def feed(self, lines: Iterable[str]) -> list[Event]:
        """Consume lines (without their line breaks); return the events they completed."""
        events: list[Event] = []
        for line in lines:
            if line == "":
                if self._data:
                    events.append(self._emit())
                self._id, self._type, self._data = None, "message", []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                self._id = value
            elif name == "event":
                self._type = value
            elif name == "data":
                self._data.append(value)
        return events

    def _emit(self) -> Event:
        seq = int(self._id) if self._id and self._id.isdigit() else None
        if seq is not None:
            self.last_id = seq
        text = "\n".join(self._data)
        try:
            data = json.loads(text)
        except ValueError:
            data = text
        return Event(seq=seq, type=self._type, data=data)


# -- waiting -------------------------------------------------------------------------------


def stream_timeout(deadline: float | None) -> httpx.Timeout:
    """An event stream's timeouts: reads wait up to the deadline (without one, forever)."""
    if deadline is None:
        return httpx.Timeout(None, connect=10)
    return httpx.Timeout(max(0.001, deadline - time.monotonic()), connect=10)


def check_deadline(deadline: float | None, execution_id: str) -> None:
    """Raise TimeoutError once the `time.monotonic()` deadline has passed.

    Raises:
        TimeoutError: it has.
    """
    if deadline is not None and time.monotonic() >= deadline:
        raise TimeoutError(f"execution {execution_id} has not ended yet")
