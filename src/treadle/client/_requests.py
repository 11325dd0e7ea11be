"""Each operation of the API as a `Request`: built once, sent by the sync or the async client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from treadle.client._base import (
    KindRef,
    Request,
    body_of,
    kind_of_body,
    list_params,
    resource_path,
)
from treadle.resources import Resource

__all__ = ["Body", "create", "apply", "update", "get", "get_by_slug", "list_", "delete"]

Body = Mapping[str, Any] | Resource


def _target(resource: Body, kind: KindRef | None) -> tuple[str, dict[str, Any]]:
    body = body_of(resource)
    return resource_path(kind if kind is not None else kind_of_body(body)), body


def create(resource: Body, kind: KindRef | None) -> Request:
    path, body = _target(resource, kind)
    return Request("POST", path, json=body)


def apply(resource: Body, kind: KindRef | None) -> Request:
    path, body = _target(resource, kind)
    return Request("POST", f"{path}:apply", json=body)


def update(resource: Body, id: str | None, kind: KindRef | None) -> Request:
    path, body = _target(resource, kind)
    target = id or (body.get("metadata") or {}).get("id")
    if not target:
        raise ValueError("update needs an id: pass id= or set metadata.id")
    return Request("PUT", f"{path}/{target}", json=body)


def get(kind: KindRef, id: str) -> Request:
    return Request("GET", f"{resource_path(kind)}/{id}")


def get_by_slug(kind: KindRef, slug: str, org: str | None, owner: str | None) -> Request:
    return Request("GET", f"{resource_path(kind)}/by-slug/{slug}", params={"org": org, "owner": owner})


def list_(kind: KindRef, page: int, page_size: int, sort: str | None, filters: Mapping[str, Any]) -> Request:
    return Request("GET", resource_path(kind), params=list_params(page, page_size, sort, filters))


def delete(kind: KindRef, id: str, force: bool) -> Request:
    return Request("DELETE", f"{resource_path(kind)}/{id}", params={"force": "true"} if force else None)


def instances(workflow_id: str, page: int, page_size: int, sort: str | None) -> Request:
    return Request(
        "GET", f"/v1/workflows/{workflow_id}/instances", params=list_params(page, page_size, sort, {})
    )


def create_many(resources: Sequence[Body], kind: KindRef | None) -> Request:
    bodies = [body_of(resource) for resource in resources]
    if not bodies:
        raise ValueError("create_many needs at least one resource")
    path = resource_path(kind if kind is not None else kind_of_body(bodies[0]))
    return Request("POST", f"{path}:batch", json={"items": bodies})


def start(
    workflow: str | None,
    instance: str | None,
    input: Any,
    runtime_env: Mapping[str, Any] | None,
    labels: Mapping[str, str] | None,
    durability: str | None = None,
) -> Request:
    body = _execution(workflow, instance, input, runtime_env, labels, durability)
    return Request("POST", resource_path("WorkflowExecution"), json=body)


def start_many(
    workflow: str | None,
    instance: str | None,
    inputs: Iterable[Any],
    runtime_env: Mapping[str, Any] | None,
    labels: Mapping[str, str] | None,
    durability: str | None = None,
) -> Request:
    bodies = [_execution(workflow, instance, input, runtime_env, labels, durability) for input in inputs]
    if not bodies:
        raise ValueError("start_many needs at least one input")
    return Request("POST", resource_path("WorkflowExecution") + ":batch", json={"items": bodies})


def _execution(
    workflow: str | None,
    instance: str | None,
    input: Any,
    runtime_env: Mapping[str, Any] | None,
    labels: Mapping[str, str] | None,
    durability: str | None,
) -> dict[str, Any]:
    if (workflow is None) == (instance is None):
        raise ValueError("start needs a workflow id or an instance id (one of them)")
    spec: dict[str, Any] = {"input": input if input is not None else {}}
    if workflow is not None:
        spec["workflow_id"] = workflow
    if instance is not None:
        spec["workflow_instance_id"] = instance
    if runtime_env:
        spec["runtime_env"] = {
            name: value if isinstance(value, Mapping) else {"value": value}
            for name, value in runtime_env.items()
        }
    if labels:
        spec["labels"] = dict(labels)
    if durability is not None:
        spec["durability"] = durability
    return {"kind": "WorkflowExecution", "spec": spec}


def update_status(execution_id: str, update: Mapping[str, Any]) -> Request:
    return Request("PUT", f"/v1/workflow-executions/{execution_id}/status", json=dict(update))


def control(execution_id: str, action: str) -> Request:
    return Request("POST", f"/v1/workflow-executions/{execution_id}:{action}")


#: How long one `:wait` request asks the server to hold it (the client asks again after).
WAIT_SECONDS = 30.0
#: Execution ids per `:wait` request (the server's limit, as for a batch).
WAIT_IDS = 1000


def wait_chunks(execution_ids: Sequence[str]) -> Iterator[list[str]]:
    """The ids, a request's worth at a time (each once)."""
    unique = list(dict.fromkeys(execution_ids))
    for first in range(0, len(unique), WAIT_IDS):
        yield unique[first : first + WAIT_IDS]


def wait(execution_ids: list[str], deadline: float | None) -> Request:
    """Held by the server until they all end, `WAIT_SECONDS` or the `time.monotonic()`
    deadline, whichever is first."""
    seconds = WAIT_SECONDS if deadline is None else min(WAIT_SECONDS, max(0.0, deadline - time.monotonic()))
    return Request(
        "POST",
        resource_path("WorkflowExecution") + ":wait",
        json={"ids": execution_ids, "timeout": seconds},
        timeout=seconds + 30,  # the answer comes after up to `seconds` of waiting
    )


def records(execution_id: str, which: str) -> Request:
    return Request("GET", f"/v1/workflow-executions/{execution_id}/{which}")


def events(execution_id: str, after: int | None) -> Request:
    headers = {"Accept": "text/event-stream"}
    if after is not None:
        headers["Last-Event-ID"] = str(after)
    return Request("GET", f"/v1/workflow-executions/{execution_id}/events", headers=headers)


def publish(event: Mapping[str, Any], binary: bool) -> Request:
    if not binary:
        return Request(
            "POST",
            "/v1/events",
            content=json.dumps(dict(event)).encode(),
            headers={"Content-Type": "application/cloudevents+json"},
        )
    headers = {f"ce-{k}": str(v) for k, v in event.items() if k not in ("data", "datacontenttype")}
    headers["Content-Type"] = str(event.get("datacontenttype") or "application/json")
    data = event.get("data")
    content = data.encode() if isinstance(data, str) else json.dumps(data).encode()
    return Request("POST", "/v1/events", content=content, headers=headers)


def simple(method: str, path: str) -> Request:
    return Request(method, path)
