"""`treadle.AsyncClient`: the HTTP API from asyncio (httpx), the same operations as `Client`."""

from __future__ import annotations

import builtins
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
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

__all__ = ["AsyncClient"]


class AsyncClient:
    """A treadle server's API, for asyncio code; see `treadle.Client` for each operation."""

    def __init__(
        self,
        server: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.server = server_from_env(server)
        self._http = httpx.AsyncClient(
            base_url=self.server,
            headers=auth_headers(token),
            timeout=timeout,
            transport=transport,
            verify=certificates(),
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def _send(self, request: Request) -> Any:
        return parse(await self._http.request(**request.send_args()), request.model)

    async def create(self, resource: rq.Body, *, kind: KindRef | None = None) -> Any:
        """Create a resource (a bare DSL document is a Workflow)."""
        return as_resource(await self._send(rq.create(resource, kind)))

    async def create_many(
        self, resources: Sequence[rq.Body], *, kind: KindRef | None = None
    ) -> builtins.list[Any]:
        """Create several resources of one kind (`kind`, or the first's) in one transaction:
        all of them or none; at most 1,000. Returned in the order given."""
        created = (await self._send(rq.create_many(resources, kind)))["items"]
        return [as_resource(item) for item in created]

    async def apply(self, resource: rq.Body, *, kind: KindRef | None = None) -> Any:
        """Create the resource, or update the one with its slug."""
        return as_resource(await self._send(rq.apply(resource, kind)))

    async def update(self, resource: rq.Body, *, id: str | None = None, kind: KindRef | None = None) -> Any:
        """Replace a resource's metadata and spec."""
        return as_resource(await self._send(rq.update(resource, id, kind)))

    async def get(self, kind: KindRef, id: str) -> Any:
        """The resource with this id."""
        return as_resource(await self._send(rq.get(kind, id)))

    async def get_by_slug(
        self, kind: KindRef, slug: str, *, org: str | None = None, owner: str | None = None
    ) -> Any:
        """The resource with this slug in the scope `(org, owner)`."""
        return as_resource(await self._send(rq.get_by_slug(kind, slug, org, owner)))

    async def resolve(self, kind: KindRef, ref: str, *, org: str | None = None) -> Any:
        """A resource by id, `ORG/SLUG`, or a slug unique across scopes."""
        name = kind_name(kind)
        if PREFIXES.get(ref.split("-", 1)[0]) == name:
            return await self.get(name, ref)
        if "/" in ref and org is None:
            org, ref = ref.split("/", 1)
        try:
            return await self.get_by_slug(name, ref, org=org)
        except ApiError as error:
            if error.status != 404 or org is not None:
                raise
            matches = [item async for item in self.iterate(name) if item.metadata.slug == ref]
            if len(matches) == 1:
                return matches[0]
            if not matches:
                raise
            scopes = ", ".join(f"{m.metadata.org or '(platform)'}/{ref}" for m in matches)
            raise ApiError(
                409, {"title": "Ambiguous", "detail": f"{ref!r} is in several scopes: {scopes}"}
            ) from None

    async def list(
        self, kind: KindRef, *, page: int = 1, page_size: int = 50, sort: str | None = None, **filters: Any
    ) -> ResourcePage:
        """One page of a kind, filtered."""
        return as_page(await self._send(rq.list_(kind, page, page_size, sort, filters)))

    async def iterate(self, kind: KindRef, *, sort: str | None = None, **filters: Any) -> AsyncIterator[Any]:
        """Every resource of a kind matching the filters."""
        page = 1
        while True:
            result = await self.list(kind, page=page, page_size=1000, sort=sort, **filters)
            for item in result.items:
                yield item
            if page * result.page_size >= result.total or not result.items:
                return
            page += 1

    async def delete(self, kind: KindRef, id: str, *, force: bool = False) -> Any:
        """Delete a resource; returns what was deleted."""
        return as_resource(await self._send(rq.delete(kind, id, force)))

    async def instances(
        self, workflow_id: str, *, page: int = 1, page_size: int = 50, sort: str | None = None
    ) -> ResourcePage:
        """The instances of a workflow."""
        return as_page(await self._send(rq.instances(workflow_id, page, page_size, sort)))

    async def start(
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
        request = rq.start(workflow, instance, input, runtime_env, labels, durability)
        return cast(WorkflowExecution, as_resource(await self._send(request)))

    async def start_many(
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
        created = (await self._send(request))["items"]
        return [cast(WorkflowExecution, as_resource(item)) for item in created]

    async def update_status(self, execution_id: str, update: Mapping[str, Any]) -> WorkflowExecution:
        """Merge a runtime report into an execution's status."""
        return cast(WorkflowExecution, as_resource(await self._send(rq.update_status(execution_id, update))))

    async def cancel(self, execution_id: str) -> WorkflowExecution:
        """Cancel an execution."""
        return cast(WorkflowExecution, as_resource(await self._send(rq.control(execution_id, "cancel"))))

    async def suspend(self, execution_id: str) -> WorkflowExecution:
        """Suspend an execution."""
        return cast(WorkflowExecution, as_resource(await self._send(rq.control(execution_id, "suspend"))))

    async def resume(self, execution_id: str) -> WorkflowExecution:
        """Resume a suspended execution."""
        return cast(WorkflowExecution, as_resource(await self._send(rq.control(execution_id, "resume"))))

    async def stages(self, execution_id: str) -> builtins.list[dict[str, Any]]:
        """Every stage of an execution."""
        return builtins.list((await self._send(rq.records(execution_id, "stages")))["items"])

    async def decisions(self, execution_id: str) -> builtins.list[dict[str, Any]]:
        """Every decision of an execution."""
        return builtins.list((await self._send(rq.records(execution_id, "decisions")))["items"])

    async def events(
        self,
        execution_id: str,
        *,
        after: int | None = None,
        reconnect: int = 3,
        timeout: float | None = None,
    ) -> AsyncIterator[Event]:
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
            args = rq.events(execution_id, parser.last_id).send_args()
            try:
                async with self._http.stream(**args, timeout=stream_timeout(deadline)) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        parse(response, None)
                    async for line in response.aiter_lines():
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

    async def wait(self, execution_id: str, *, timeout: float | None = None) -> WorkflowExecution:
        """Wait until the execution ends (completed, faulted or cancelled); return it.

        Raises:
            TimeoutError: it has not ended within `timeout` seconds.
            ApiError: no such execution (404).
        """
        await self.wait_many([execution_id], timeout=timeout)
        return cast(WorkflowExecution, await self.get(WorkflowExecution, execution_id))

    async def wait_many(
        self, execution_ids: Sequence[str], *, timeout: float | None = None
    ) -> dict[str, str]:
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
                answer = await self._send(rq.wait(chunk, deadline))
                phases.update((item["id"], item["phase"]) for item in answer["items"])
                if answer["ended"]:
                    break
                check_deadline(deadline, next(id for id in chunk if phases[id] not in TERMINAL))
        return {id: phases[id] for id in execution_ids}

    async def publish(self, event: Mapping[str, Any], *, binary: bool = False) -> dict[str, Any]:
        """Publish a CloudEvent."""
        return dict(await self._send(rq.publish(event, binary)))

    async def health(self) -> dict[str, Any]:
        """`GET /health`."""
        return dict(await self._send(rq.simple("GET", "/health")))

    async def ready(self) -> dict[str, Any]:
        """`GET /ready`."""
        return dict(await self._send(rq.simple("GET", "/ready")))

    async def metrics(self) -> str:
        """`GET /metrics`, Prometheus text."""
        response = await self._http.get("/metrics")
        parse(response, None)
        return response.text
