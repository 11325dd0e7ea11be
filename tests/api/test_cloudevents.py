"""`POST /v1/events`: CloudEvents in structured, batched and binary mode.

`RecordingControl` stands in for the runtime's `ExecutionControl` (the local runtime is
not in this tree yet): these tests check the transport's parsing and validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from tests.api.conftest import Serve, assert_problem
from treadle.resources import ResourceService, WorkflowExecution


class RecordingControl:
    """Records delivered events; wakes a fixed execution id."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def deliver_event(self, event: Mapping[str, Any]) -> list[str]:
        self.events.append(dict(event))
        return ["wex-woken"]

    def cancel(self, execution_id: str) -> WorkflowExecution:
        raise NotImplementedError

    suspend = resume = cancel


EVENT = {
    "specversion": "1.0",
    "id": "e-1",
    "source": "/orders",
    "type": "order.placed",
    "data": {"order": 42},
}


@pytest.fixture
def control() -> RecordingControl:
    return RecordingControl()


@pytest.fixture
def events_api(serve: Serve, service: ResourceService, control: RecordingControl) -> httpx.Client:
    return httpx.Client(base_url=serve(service, control=control).url)


def test_structured_mode(events_api: httpx.Client, control: RecordingControl) -> None:
    response = events_api.post(
        "/v1/events", json=EVENT, headers={"Content-Type": "application/cloudevents+json; charset=utf-8"}
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"events": ["e-1"], "executions": ["wex-woken"]}
    assert control.events == [EVENT]


def test_binary_mode(events_api: httpx.Client, control: RecordingControl) -> None:
    headers = {"ce-specversion": "1.0", "ce-id": "e-2", "ce-source": "/orders", "ce-type": "order.paid"}
    response = events_api.post("/v1/events", json={"order": 42}, headers=headers)
    assert response.status_code == 202, response.text
    event = control.events[0]
    assert (event["id"], event["type"], event["data"]) == ("e-2", "order.paid", {"order": 42})
    assert event["datacontenttype"] == "application/json"
    text = events_api.post("/v1/events", content=b"hello", headers={**headers, "Content-Type": "text/plain"})
    assert text.status_code == 202 and control.events[1]["data"] == "hello"


def test_batched_mode(events_api: httpx.Client, control: RecordingControl) -> None:
    batch = [EVENT, {**EVENT, "id": "e-3"}]
    response = events_api.post(
        "/v1/events", json=batch, headers={"Content-Type": "application/cloudevents-batch+json"}
    )
    assert response.json()["events"] == ["e-1", "e-3"]
    assert len(control.events) == 2


def test_invalid_events_point_at_attributes(events_api: httpx.Client, control: RecordingControl) -> None:
    missing = events_api.post("/v1/events", json={"specversion": "0.3", "type": ""})
    assert_problem(missing, 400, "/specversion", "/id", "/source", "/type")
    binary = events_api.post("/v1/events", content=b"{}", headers={"ce-specversion": "1.0", "ce-id": "x"})
    assert_problem(binary, 400, "/source", "/type")
    batch = events_api.post(
        "/v1/events", json=[EVENT, {"id": 1}], headers={"Content-Type": "application/cloudevents-batch+json"}
    )
    assert_problem(batch, 400)
    assert control.events == []


def test_no_runtime_is_503(api: httpx.Client) -> None:
    assert_problem(api.post("/v1/events", json=EVENT), 503)
