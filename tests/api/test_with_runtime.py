"""The API with the real local runtime: runs stream to their end, control and events act."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import yaml

from tests.api.conftest import Serve, assert_problem
from tests.api.test_events import read_stream
from treadle.resources import ResourceService
from treadle.runtime.local import LocalRuntime, RuntimeSettings

HELLO = """
document: { dsl: '1.0.3', namespace: examples, name: hello, version: '1.0.0' }
do:
  - greet:
      set: { greeting: '${ "Hello, " + .name }' }
"""
SLOW = """
document: { dsl: '1.0.3', namespace: examples, name: slow, version: '1.0.0' }
do:
  - nap:
      wait: { seconds: 30 }
  - after:
      set: { done: true }
"""
LISTEN = """
document: { dsl: '1.0.3', namespace: examples, name: listener, version: '1.0.0' }
do:
  - await:
      listen:
        to:
          one:
            with: { type: order.placed }
"""


@pytest.fixture
def api(serve: Serve, service: ResourceService) -> httpx.Client:
    runtime = LocalRuntime(service, RuntimeSettings(poll_seconds=0.1))
    return httpx.Client(base_url=serve(service, runtime=runtime).url, timeout=10)


def start(api: httpx.Client, document: str, input: Any = None) -> str:
    headers = {"Content-Type": "application/yaml"}
    wid = api.post("/v1/workflows:apply", content=document, headers=headers).json()["metadata"]["id"]
    run = api.post("/v1/workflow-executions", json={"spec": {"workflow_id": wid, "input": input or {}}})
    assert run.status_code == 201, run.text
    return str(run.json()["metadata"]["id"])


def wait_for(api: httpx.Client, execution_id: str, phase: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        run = dict(api.get(f"/v1/workflow-executions/{execution_id}").json())
        if run["status"]["phase"] == phase:
            return run
        time.sleep(0.05)
    raise AssertionError(f"{execution_id} is {run['status']['phase']}, not {phase}")


def test_ready_with_the_worker(api: httpx.Client) -> None:
    assert api.get("/ready").json()["status"] == "ready"


def test_a_run_streams_to_its_end(api: httpx.Client) -> None:
    execution_id = start(api, HELLO, {"name": "ada"})
    events = read_stream(api, f"/v1/workflow-executions/{execution_id}/events")
    types = [e.type for e in events]
    assert types[0] == "phase" and "task.started" in types and "task.completed" in types
    assert events[-1].data["phase"] == "completed"
    assert wait_for(api, execution_id, "completed")["status"]["output"] == {"greeting": "Hello, ada"}
    resumed = read_stream(
        api, f"/v1/workflow-executions/{execution_id}/events", headers={"Last-Event-ID": str(events[1].seq)}
    )
    assert [e.seq for e in resumed] == [e.seq for e in events[2:]]
    assert api.get(f"/v1/workflow-executions/{execution_id}/stages").json()["total"] >= 1


def test_cancel_suspend_resume(api: httpx.Client) -> None:
    execution_id = start(api, SLOW)
    wait_for(api, execution_id, "waiting")
    suspended = api.post(f"/v1/workflow-executions/{execution_id}:suspend")
    assert suspended.status_code == 200, suspended.text
    wait_for(api, execution_id, "suspended")
    assert api.post(f"/v1/workflow-executions/{execution_id}:resume").status_code == 200
    cancelled = api.post(f"/v1/workflow-executions/{execution_id}:cancel")
    assert cancelled.status_code == 200, cancelled.text
    wait_for(api, execution_id, "cancelled")
    assert_problem(api.post(f"/v1/workflow-executions/{execution_id}:cancel"), 412)
    assert_problem(api.post("/v1/workflow-executions/wex-nope:cancel"), 404)


def test_a_cloudevent_wakes_a_listening_execution(api: httpx.Client) -> None:
    execution_id = start(api, LISTEN)
    wait_for(api, execution_id, "waiting")
    event = {"specversion": "1.0", "id": "e-1", "source": "/shop", "type": "order.placed", "data": {"n": 1}}
    delivered = api.post(
        "/v1/events", content=yaml.safe_dump(event), headers={"Content-Type": "application/yaml"}
    )
    assert delivered.status_code == 202, delivered.text
    assert execution_id in delivered.json()["executions"]
    wait_for(api, execution_id, "completed")


def _hello_batch(serve: Serve, service: ResourceService, n: int) -> tuple[httpx.Client, list[dict[str, Any]]]:
    """n runs of HELLO started in one batch on a server whose worker has room for 4 and
    polls every 30 s (slower than any of these tests waits)."""
    runtime = LocalRuntime(service, RuntimeSettings(poll_seconds=30, max_running=4))
    api = httpx.Client(base_url=serve(service, runtime=runtime).url, timeout=10)
    headers = {"Content-Type": "application/yaml"}
    wid = api.post("/v1/workflows:apply", content=HELLO, headers=headers).json()["metadata"]["id"]
    items = [{"spec": {"workflow_id": wid, "input": {"name": str(i)}}} for i in range(n)]
    return api, api.post("/v1/workflow-executions:batch", json={"items": items}).json()["items"]


def test_a_batch_larger_than_the_worker_runs_to_its_end(serve: Serve, service: ResourceService) -> None:
    api, created = _hello_batch(serve, service, 20)
    phases = [run["status"]["phase"] for run in created]
    # The worker takes what it has room for as they are created; the API wakes it for the rest
    # (the poll is 30 s: without the wake they would wait for it).
    assert phases == ["running"] * 4 + ["pending"] * 16
    for n, run in enumerate(created):
        assert wait_for(api, run["metadata"]["id"], "completed")["status"]["output"] == {
            "greeting": f"Hello, {n}"
        }


def test_wait_answers_when_every_execution_has_ended(serve: Serve, service: ResourceService) -> None:
    # The worker's poll is 30 s: only the runs ending here can answer the wait in time.
    api, created = _hello_batch(serve, service, 12)
    ids = [run["metadata"]["id"] for run in created]
    began = time.monotonic()
    waited = api.post("/v1/workflow-executions:wait", json={"ids": [*reversed(ids), ids[0]], "timeout": 20})
    assert waited.status_code == 200, waited.text
    assert waited.json() == {
        "items": [{"id": id, "phase": "completed"} for id in [*reversed(ids), ids[0]]],
        "ended": True,
    }
    assert time.monotonic() - began < 15  # answered by the runs' ends, not the 20 s timeout


def test_wait_gives_up_at_its_timeout_with_the_phases_so_far(api: httpx.Client) -> None:
    slow, quick = start(api, SLOW), start(api, HELLO, {"name": "ada"})
    wait_for(api, slow, "waiting")
    waited = api.post("/v1/workflow-executions:wait", json={"ids": [quick, slow], "timeout": 0.3})
    assert waited.status_code == 200, waited.text
    assert waited.json() == {
        "items": [{"id": quick, "phase": "completed"}, {"id": slow, "phase": "waiting"}],
        "ended": False,
    }


def test_wait_refuses_unknown_executions_and_malformed_requests(api: httpx.Client) -> None:
    known = start(api, HELLO, {"name": "ada"})
    assert_problem(api.post("/v1/workflow-executions:wait", json={"ids": [known, "wex-nope"]}), 404, "/ids/1")
    assert_problem(api.post("/v1/workflow-executions:wait", json={"ids": []}), 422, "/body/ids")
    assert_problem(
        api.post("/v1/workflow-executions:wait", json={"ids": [known], "timeout": 61}), 422, "/body/timeout"
    )
    assert_problem(api.post("/v1/workflow-executions:wait", json={"ids": ["x"] * 1001}), 422, "/body/ids")
    assert_problem(
        api.post("/v1/workflow-executions:wait", json={"ids": [known], "then": 1}), 422, "/body/then"
    )
