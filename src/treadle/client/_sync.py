"""`treadle.Client`: the HTTP API from synchronous Python (httpx)."""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, cast

import httpx

from treadle.client import _requests as rq
from treadle.client._base import (
    PREFIXES,
    ApiError,
    Event,
    KindRef,
    Request,
    ResourcePage,
    SseParser,
    as_page,
    as_resource,
    auth_headers,
    certificates,
    check_deadline,
    kind_name,
    parse,
    server_from_env,
    stream_timeout,
)
from treadle.resources import WorkflowExecution
from treadle.resources.phases import TERMINAL

__all__ = ["Client"]


class Client:
    """A treadle server's API.

    Args:
        server: its base URL; default `$TREADLE_SERVER` or http://127.0.0.1:8080.
        token: the API token; default `$TREADLE_API_TOKEN`.
        timeout: seconds per request (event streams wait without limit between events).
        transport: an httpx transport (e.g. `httpx.ASGITransport`-like for tests).

    Raises (from every call): `ApiError` with the problem the server answered;
    `httpx.TransportError` when the server cannot be reached.
    """

    def __init__(
        self,
        server: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server_from_env(server)
        self._http = httpx.Client(
            base_url=self.server,
            headers=auth_headers(token),
            timeout=timeout,
            transport=transport,
            verify=certificates(),
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def _send(self, request: Request) -> Any:
        return parse(self._http.request(**request.send_args()), request.model)

    # -- resources -------------------------------------------------------------------------

    def create(self, resource: rq.Body, *, kind: KindRef | None = None) -> Any:
        """Create a resource (a bare DSL document is a Workflow); returns it as stored."""
        return as_resource(self._send(rq.create(resource, kind)))

    def create_many(self, resources: Sequence[rq.Body], *, kind: KindRef | None = None) -> builtins.list[Any]:
        """Create several resources of one kind (`kind`, or the first's) in one transaction:
        all of them or none; at most 1,000. Returned in the order given."""
        created = (self._send(rq.create_many(resources, kind)))["items"]
        return [as_resource(item) for item in created]

    def apply(self, resource: rq.Body, *, kind: KindRef | None = None) -> Any:
        """Create the resource, or update the one with its slug; `metadata.version` 1 means created."""
        return as_resource(self._send(rq.apply(resource, kind)))

    def update(self, resource: rq.Body, *, id: str | None = None, kind: KindRef | None = None) -> Any:
        """Replace a resource's metadata and spec (`id` or `metadata.id` names it)."""
        return as_resource(self._send(rq.update(resource, id, kind)))

    def get(self, kind: KindRef, id: str) -> Any:
        """The resource with this id."""
        return as_resource(self._send(rq.get(kind, id)))

    def get_by_slug(
        self, kind: KindRef, slug: str, *, org: str | None = None, owner: str | None = None
    ) -> Any:
        """The resource with this slug in the scope `(org, owner)` (None: platform)."""
        return as_resource(self._send(rq.get_by_slug(kind, slug, org, owner)))

    def resolve(self, kind: KindRef, ref: str, *, org: str | None = None) -> Any:
        """A resource by id (`wfl-…`), `ORG/SLUG`, or a slug unique across scopes."""
        name = kind_name(kind)
        if PREFIXES.get(ref.split("-", 1)[0]) == name:
            return self.get(name, ref)
        if "/" in ref and org is None:
            org, ref = ref.split("/", 1)
        try:
            return self.get_by_slug(name, ref, org=org)
        except ApiError as error:
            if error.status != 404 or org is not None:
                raise
            matches = [item for item in self.iterate(name) if item.metadata.slug == ref]
            if len(matches) == 1:
                return matches[0]
            if not matches:
                raise
            scopes = ", ".join(f"{m.metadata.org or '(platform)'}/{ref}" for m in matches)
            raise ApiError(
                409, {"title": "Ambiguous", "detail": f"{ref!r} is in several scopes: {scopes}"}
            ) from None

    def list(
        self, kind: KindRef, *, page: int = 1, page_size: int = 50, sort: str | None = None, **filters: Any
    ) -> ResourcePage:
        """One page of a kind: `org`, `owner`, `labels` (a mapping), `workflow_id`, `phase`, ..."""
        return as_page(self._send(rq.list_(kind, page, page_size, sort, filters)))

    def iterate(self, kind: KindRef, *, sort: str | None = None, **filters: Any) -> Iterator[Any]:
        """Every resource of a kind matching the filters, page after page."""
        page = 1
        while True:
            result = self.list(kind, page=page, page_size=1000, sort=sort, **filters)
            yield from result.items
            if page * result.page_size >= result.total or not result.items:
                return
            page += 1

    def delete(self, kind: KindRef, id: str, *, force: bool = False) -> Any:
        """Delete a resource (and what depends on it); returns what was deleted."""
        return as_resource(self._send(rq.delete(kind, id, force)))

    def instances(
        self, workflow_id: str, *, page: int = 1, page_size: int = 50, sort: str | None = None
    ) -> ResourcePage:
        """The instances of a workflow."""
        return as_page(self._send(rq.instances(workflow_id, page, page_size, sort)))

    # -- executions ------------------------------------------------------------------------

    def start(
        self,
        workflow: str | None = None,
        *,
        instance: str | None = None,
        input: Any = None,
        runtime_env: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
        durability: Literal["sync", "async"] | None = None,
    ) -> WorkflowExecution:
        """Create an execution of a workflow (its default instance) or of an instance, by id
        (`durability`: `sync` or `async` instead of its workflow's; docs/runtime.md)."""
        return cast(
            WorkflowExecution,
            as_resource(self._send(rq.start(workflow, instance, input, runtime_env, labels, durability))),
        )

    def start_many(
        self,
        workflow: str | None = None,
        *,
        instance: str | None = None,
        inputs: Iterable[Any],
        runtime_env: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
        durability: Literal["sync", "async"] | None = None,
    ) -> builtins.list[WorkflowExecution]:
        """Create an execution per input, of a workflow or of an instance (by id), in one
        request and one transaction: all of them or none; at most 1,000."""
        request = rq.start_many(workflow, instance, inputs, runtime_env, labels, durability)
        created = (self._send(request))["items"]
        return [cast(WorkflowExecution, as_resource(item)) for item in created]

    def update_status(self, execution_id: str, update: Mapping[str, Any]) -> WorkflowExecution:
        """Merge a runtime report into an execution's status."""
        return cast(WorkflowExecution, as_resource(self._send(rq.update_status(execution_id, update))))

    def cancel(self, execution_id: str) -> WorkflowExecution:
        """Cancel an execution."""
        return cast(WorkflowExecution, as_resource(self._send(rq.control(execution_id, "cancel"))))

    def suspend(self, execution_id: str) -> WorkflowExecution:
        """Suspend an execution."""
        return cast(WorkflowExecution, as_resource(self._send(rq.control(execution_id, "suspend"))))

    def resume(self, execution_id: str) -> WorkflowExecution:
        """Resume a suspended execution."""
        return cast(WorkflowExecution, as_resource(self._send(rq.control(execution_id, "resume"))))

    def stages(self, execution_id: str) -> builtins.list[dict[str, Any]]:
        """Every stage (task run) of an execution, oldest first."""
        return builtins.list(self._send(rq.records(execution_id, "stages"))["items"])

    def decisions(self, execution_id: str) -> builtins.list[dict[str, Any]]:
        """Every decision (branch taken) of an execution, oldest first."""
        return builtins.list(self._send(rq.records(execution_id, "decisions"))["items"])

    def events(
        self,
        execution_id: str,
        *,
        after: int | None = None,
        reconnect: int = 3,
        timeout: float | None = None,
    ) -> Iterator[Event]:
        """Follow an execution's events until it ends; reconnects after `Last-Event-ID` on drops.

        Raises:
            TimeoutError: it has not ended within `timeout` seconds (checked at each line
                the server sends, heartbeats included, and while it sends none).
        """
        parser = SseParser()
        parser.last_id = after
        failures = 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            request = rq.events(execution_id, parser.last_id)
            try:
                with self._http.stream(**request.send_args(), timeout=stream_timeout(deadline)) as response:
                    if response.status_code >= 400:
                        response.read()
                        parse(response, None)
                    for line in response.iter_lines():
                        for event in parser.feed([line]):
                            failures = 0
                            yield event
                        check_deadline(deadline, execution_id)
                return
            except httpx.ReadTimeout:
                check_deadline(deadline, execution_id)
                raise
            except (httpx.RemoteProtocolError, httpx.ReadError) as error:
                failures += 1
                if failures > reconnect:
                    raise error

    def wait(self, execution_id: str, *, timeout: float | None = None) -> WorkflowExecution:
        """Wait until the execution ends (completed, faulted or cancelled); return it.

        Raises:
            TimeoutError: it has not ended within `timeout` seconds.
            ApiError: no such execution (404).
        """
        self.wait_many([execution_id], timeout=timeout)
        return cast(WorkflowExecution, self.get(WorkflowExecution, execution_id))

    def wait_many(self, execution_ids: Sequence[str], *, timeout: float | None = None) -> dict[str, str]:
        """Wait until every one of the executions has ended; the last phase of each.

        Long-polls `POST /v1/workflow-executions:wait`: the server answers as the runs
        end, a thousand ids a request.

        Raises:
            TimeoutError: one has not ended within `timeout` seconds.
            ApiError: no such execution (404).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        phases: dict[str, str] = {}
        for chunk in rq.wait_chunks(execution_ids):
            while True:
                answer = self._send(rq.wait(chunk, deadline))
                phases.update((item["id"], item["phase"]) for item in answer["items"])
                if answer["ended"]:
                    break
                check_deadline(deadline, next(id for id in chunk if phases[id] not in TERMINAL))
        return {id: phases[id] for id in execution_ids}

    def publish(self, event: Mapping[str, Any], *, binary: bool = False) -> dict[str, Any]:
        """Publish a CloudEvent (structured, or binary with `ce-*` headers)."""
        return dict(self._send(rq.publish(event, binary)))

    # -- operations ------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """`GET /health`."""
        return dict(self._send(rq.simple("GET", "/health")))

    def ready(self) -> dict[str, Any]:
        """`GET /ready`: the checks; raises `ApiError` (503) when not ready."""
        return dict(self._send(rq.simple("GET", "/ready")))

    def metrics(self) -> str:
        """`GET /metrics`, Prometheus text."""
        response = self._http.get("/metrics")
        parse(response, None)
        return response.text
