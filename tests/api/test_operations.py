"""`/health`, `/ready`, `/metrics`, request ids and JSON logs."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.api.conftest import Serve, assert_problem, create_workflow
from treadle.api.logging import JsonFormatter, TextFormatter, request_id
from treadle.resources import ResourceService
from treadle.store import JournalEntry


class StubRuntime:
    """The `Runtime` surface `/ready` reads (the local runtime is not in this tree yet)."""

    def __init__(self) -> None:
        self.running = False
        self.woken = 0

    async def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False

    def wake(self) -> None:
        self.woken += 1


def test_health(api: httpx.Client) -> None:
    assert api.get("/health").json() == {"status": "ok"}


def test_not_ready_without_a_worker(api: httpx.Client) -> None:
    problem = assert_problem(api.get("/ready"), 503)
    assert problem["checks"]["store"] == "ok" and problem["checks"]["migrations"] == "ok"
    assert problem["checks"]["worker"] != "ok"


def test_ready_with_a_running_worker_which_the_app_starts_and_wakes(
    serve: Serve, service: ResourceService
) -> None:
    runtime = StubRuntime()
    server = serve(service, runtime=runtime)
    with httpx.Client(base_url=server.url) as client:
        ready = client.get("/ready")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "checks": {"store": "ok", "migrations": "ok", "worker": "ok"},
        }
        wid = create_workflow(client)["metadata"]["id"]
        client.post("/v1/workflow-executions", json={"spec": {"workflow_id": wid}})
    assert runtime.woken == 1
    server.stop()
    assert runtime.running is False


def test_metrics(api: httpx.Client, service: ResourceService) -> None:
    wid = create_workflow(api)["metadata"]["id"]
    rid = api.post("/v1/workflow-executions", json={"spec": {"workflow_id": wid}}).json()["metadata"]["id"]
    api.post("/v1/workflow-executions", json={"spec": {"workflow_id": wid}})
    api.get("/v1/workflows/wfl-missing")
    started = datetime.now(UTC) - timedelta(seconds=2)
    service.update_execution_status(rid, {"phase": "running", "started_at": started.isoformat()})
    service.update_execution_status(rid, {"phase": "completed"})
    greet = {"name": "greet", "path": "/do/0/greet", "position": "/do/0/greet", "attempt": 0}
    skip = {"name": "maybe", "path": "/do/1/maybe", "position": "/do/1/maybe", "attempt": 0}
    with service.store.begin() as tx:
        tx.journal.append(
            rid,
            [
                JournalEntry("task.started", greet, started),
                JournalEntry(
                    "task.completed",
                    {**greet, "started_at": started.isoformat()},
                    started + timedelta(milliseconds=30),
                ),
                JournalEntry("task.skipped", {**skip, "started_at": started.isoformat()}, started),
                JournalEntry("task.cancelled", greet, started),  # journalled before it kept its start
            ],
        )
    response = api.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'treadle_executions{phase="pending"} 1.0' in text
    assert 'treadle_executions{phase="completed"} 1.0' in text
    assert "treadle_queue_depth 1.0" in text
    assert 'treadle_task_duration_seconds_count{status="completed"} 1.0' in text
    assert 'treadle_task_duration_seconds_bucket{le="0.05",status="completed"} 1.0' in text
    assert 'treadle_task_duration_seconds_bucket{le="0.01",status="completed"} 0.0' in text
    assert 'treadle_task_duration_seconds_bucket{le="0.001",status="skipped"} 1.0' in text
    assert 'status="cancelled"' not in text
    assert 'treadle_execution_duration_seconds_count{phase="completed"} 1.0' in text
    assert 'treadle_execution_duration_seconds_bucket{le="1.0",phase="completed"} 0.0' in text
    assert 'route="/v1/workflows/{id}",status="404"' in text
    # Observed once: a second scrape does not count them again.
    assert 'treadle_task_duration_seconds_count{status="completed"} 1.0' in api.get("/metrics").text


def test_request_ids_are_echoed_or_made_up(api: httpx.Client) -> None:
    assert api.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert len(api.get("/health").headers["x-request-id"]) == 32


def test_access_log_lines_carry_the_request_id(api: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="treadle.access"):
        api.get("/v1/workflows", headers={"X-Request-ID": "req-7"})
        # The server thread logs the request after the response reached the client.
        deadline = time.monotonic() + 10
        while not any(r.name == "treadle.access" for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.01)
    record = next(r for r in caplog.records if r.name == "treadle.access")
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-7" and line["status"] == 200 and line["path"] == "/v1/workflows"
    assert line["level"] == "info" and line["ts"].endswith("Z")


def test_formatters_carry_execution_id_and_task_path() -> None:
    record = logging.LogRecord("treadle.runtime", logging.INFO, __file__, 1, "task done", None, None)
    record.execution_id = "wex-1"
    record.task_path = "/do/0/greet"
    token = request_id.set("r-1")
    try:
        line = json.loads(JsonFormatter().format(record))
        text = TextFormatter().format(record)
    finally:
        request_id.reset(token)
    assert (line["execution_id"], line["task_path"], line["request_id"]) == ("wex-1", "/do/0/greet", "r-1")
    assert "request_id=r-1 execution_id=wex-1 task_path=/do/0/greet" in text
