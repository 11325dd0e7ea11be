"""`GET /v1/workflow-executions/{id}/events`: the journal as SSE, resumable, ending with the run.

Entries are appended through the store while the stream is open: that is the contract
between the runtime and the stream.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from tests.api.conftest import LiveServer, Serve, assert_problem, create_workflow
from treadle.client._base import Event, SseParser
from treadle.resources import ResourceService
from treadle.store import JournalEntry


@pytest.fixture
def execution_id(api: httpx.Client) -> str:
    wid = create_workflow(api)["metadata"]["id"]
    run = api.post("/v1/workflow-executions", json={"spec": {"workflow_id": wid, "input": {"name": "ada"}}})
    return str(run.json()["metadata"]["id"])


def append(service: ResourceService, execution_id: str, *entries: tuple[str, Any]) -> None:
    with service.store.begin() as tx:
        tx.journal.append(execution_id, [JournalEntry(type, data) for type, data in entries])


def read_stream(
    api: httpx.Client, url: str, headers: dict[str, str] | None = None, limit: int | None = None
) -> list[Event]:
    parser, events = SseParser(), []
    with api.stream("GET", url, headers=headers or {}, timeout=httpx.Timeout(10)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            events.extend(parser.feed([line]))
            if limit is not None and len(events) >= limit:
                break
    return events


STARTED = ("task.started", {"name": "greet", "path": "/do/0/greet", "position": 0, "attempt": 1, "input": {}})
COMPLETED = (
    "task.completed",
    {"name": "greet", "path": "/do/0/greet", "position": 0, "attempt": 1, "output": {"g": 1}},
)
DECISION = (
    "decision",
    {"from": "/do/1/classify", "to": "/do/2/shout", "case": "short", "result": True, "reason": "when"},
)


def test_replays_follows_and_ends_after_the_terminal_phase(
    api: httpx.Client, service: ResourceService, execution_id: str
) -> None:
    append(service, execution_id, ("phase", {"phase": "running"}), ("effect.completed", {"x": 1}), STARTED)
    received: list[Event] = []
    reader = threading.Thread(
        target=lambda: received.extend(read_stream(api, f"/v1/workflow-executions/{execution_id}/events"))
    )
    reader.start()
    time.sleep(0.3)
    append(service, execution_id, COMPLETED, DECISION, ("phase", {"phase": "completed", "output": {"g": 1}}))
    reader.join(timeout=10)
    assert not reader.is_alive(), "the stream did not end after the terminal phase"
    assert [(e.seq, e.type) for e in received] == [
        (1, "phase"),
        (3, "task.started"),
        (4, "task.completed"),
        (5, "decision"),
        (6, "phase"),
    ]
    assert received[2].data["output"] == {"g": 1} and received[-1].data["phase"] == "completed"


def test_last_event_id_resumes_without_loss(
    api: httpx.Client, service: ResourceService, execution_id: str
) -> None:
    append(service, execution_id, ("phase", {"phase": "running"}), STARTED, COMPLETED)
    url = f"/v1/workflow-executions/{execution_id}/events"
    first = read_stream(api, url, limit=2)
    assert [e.seq for e in first] == [1, 2]
    append(service, execution_id, DECISION, ("phase", {"phase": "faulted", "error": {"title": "boom"}}))
    rest = read_stream(api, url, headers={"Last-Event-ID": str(first[-1].seq)})
    assert [e.seq for e in rest] == [3, 4, 5]
    assert [e.seq for e in read_stream(api, url + "?after=4")] == [5]


def test_an_ended_execution_replays_and_closes(
    api: httpx.Client, service: ResourceService, execution_id: str
) -> None:
    append(service, execution_id, STARTED)
    service.update_execution_status(execution_id, {"phase": "cancelled"})
    events = read_stream(api, f"/v1/workflow-executions/{execution_id}/events")
    assert [e.type for e in events] == ["task.started"]


def test_idle_streams_send_heartbeats(serve: Serve, service: ResourceService, execution_id: str) -> None:
    server: LiveServer = serve(service, heartbeat_interval=0.1)
    lines: list[str] = []
    with httpx.Client(base_url=server.url) as client:
        with client.stream("GET", f"/v1/workflow-executions/{execution_id}/events") as response:
            for line in response.iter_lines():
                lines.append(line)
                if line.startswith(": heartbeat"):
                    break
    assert ": heartbeat" in lines


def test_errors_come_before_the_stream(api: httpx.Client, execution_id: str) -> None:
    assert_problem(api.get("/v1/workflow-executions/wex-nope/events"), 404)
    bad = api.get(f"/v1/workflow-executions/{execution_id}/events", headers={"Last-Event-ID": "abc"})
    assert_problem(bad, 400, "/header/Last-Event-ID")
    assert_problem(api.get(f"/v1/workflow-executions/{execution_id}/events", params={"after": -1}), 422)
