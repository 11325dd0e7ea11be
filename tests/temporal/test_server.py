"""`treadle server --runtime temporal`: the HTTP API over a store whose executions run on
Temporal, with an in-process worker reporting progress to the store.

What a run records (status, stages, decisions, the SSE stream) is compared with what the
local runtime records for the same document; control and events go over HTTP.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.api.conftest import LiveServer, assert_problem
from tests.api.test_events import read_stream
from tests.temporal.devserver import DevServer
from treadle.api import create_app
from treadle.resources import ResourceService, SecretCipher
from treadle.runtime.local import LocalRuntime, RuntimeSettings
from treadle.runtime.temporal.control import TemporalRuntime
from treadle.runtime.temporal.messages import ProgressBatch
from treadle.runtime.temporal.store import StoreProgressSink
from treadle.store import Store

BRANCHES = """
document: { dsl: '1.0.3', namespace: examples, name: branches, version: '1.0.0' }
do:
  - greet:
      set: { greeting: '${ "Hello, " + .name }', n: '${ .n }' }
  - classify:
      switch:
        - big: { when: '${ .n > 2 }', then: loud }
        - default: { then: quiet }
  - quiet:
      set: { mood: quiet }
      then: end
  - loud:
      for: { each: i, in: '${ [range(.n)] }' }
      do:
        - add:
            set: '${ . + { mood: "loud", last: $i } }'
"""
SLOW = """
document: { dsl: '1.0.3', namespace: examples, name: slow, version: '1.0.0' }
do:
  - nap:
      wait: { seconds: 30 }
  - after:
      set: { done: true }
"""
PAUSE = """
document: { dsl: '1.0.3', namespace: examples, name: pause, version: '1.0.0' }
do:
  - first:
      wait: { milliseconds: 300 }
  - second:
      emit:
        event:
          with: { source: "https://tests.example", type: paused.resumed }
  - third:
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


def fresh_service(template: Path, path: Path) -> ResourceService:
    shutil.copyfile(template, path)
    return ResourceService(Store.open(f"sqlite:///{path}"), SecretCipher.generate())


@pytest.fixture
def temporal_service(sqlite_template: Path, tmp_path: Path) -> Iterator[ResourceService]:
    service = fresh_service(sqlite_template, tmp_path / "temporal.db")
    yield service
    service.store.dispose()


@contextmanager
def temporal_api(
    server: DevServer, service: ResourceService, *, poll_seconds: float, poll_interval: float
) -> Iterator[httpx.Client]:
    """The API over a store whose executions run on Temporal (in-process worker); the
    runtime reads the store every `poll_seconds`, the API every `poll_interval`."""
    runtime = TemporalRuntime(
        service,
        address=server.address,
        task_queue=f"server-{uuid.uuid4().hex[:8]}",
        worker=True,
        poll_seconds=poll_seconds,
    )
    live = LiveServer(create_app(service, runtime=runtime, poll_interval=poll_interval)).start()
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield client
    live.stop()


@pytest.fixture
def api(temporal_server: DevServer, temporal_service: ResourceService) -> Iterator[httpx.Client]:
    """The API over a store whose executions run on Temporal, reading the store often."""
    with temporal_api(temporal_server, temporal_service, poll_seconds=0.2, poll_interval=0.05) as client:
        yield client


@pytest.fixture
def local_api(sqlite_template: Path, tmp_path: Path) -> Iterator[httpx.Client]:
    """The same API on the local runtime, to compare with."""
    service = fresh_service(sqlite_template, tmp_path / "local.db")
    runtime = LocalRuntime(service, RuntimeSettings(poll_seconds=0.1))
    server = LiveServer(create_app(service, runtime=runtime, poll_interval=0.05)).start()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client
    server.stop()
    service.store.dispose()


def start(api: httpx.Client, document: str, input: Any = None) -> str:
    headers = {"Content-Type": "application/yaml"}
    wid = api.post("/v1/workflows:apply", content=document, headers=headers).json()["metadata"]["id"]
    run = api.post("/v1/workflow-executions", json={"spec": {"workflow_id": wid, "input": input or {}}})
    assert run.status_code == 201, run.text
    return str(run.json()["metadata"]["id"])


def wait_for(api: httpx.Client, execution_id: str, phase: str, seconds: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = dict(api.get(f"/v1/workflow-executions/{execution_id}").json())
        if run["status"]["phase"] == phase:
            return run
        time.sleep(0.05)
    raise AssertionError(f"{execution_id} is {run['status']['phase']}, not {phase}")


def _without_start(data: Any) -> Any:
    """An event's data without the time its task started (the end of a task run keeps it)."""
    if isinstance(data, dict) and "started_at" in data:
        assert data["started_at"].endswith("+00:00")
        return {k: v for k, v in data.items() if k != "started_at"}
    return data


def records(api: httpx.Client, execution_id: str) -> dict[str, Any]:
    """What a run recorded, without times, ids and sequence numbers."""
    base = f"/v1/workflow-executions/{execution_id}"
    run = wait_for(api, execution_id, "completed")
    events = read_stream(api, base + "/events")
    stages = api.get(base + "/stages").json()["items"]
    decisions = api.get(base + "/decisions").json()["items"]
    return {
        "phase": run["status"]["phase"],
        "output": run["status"]["output"],
        "tasks": [
            {k: task[k] for k in ("name", "path", "phase", "attempt", "error")}
            for task in run["status"]["tasks"]
        ],
        "events": [(event.type, _without_start(event.data)) for event in events],
        "stages": [
            {k: stage[k] for k in ("node", "status", "iteration", "input", "output", "error")}
            for stage in stages
        ],
        "decisions": [
            {k: d[k] for k in ("from_node", "to_node", "case_name", "result", "reason")} for d in decisions
        ],
    }


def test_a_run_records_what_the_local_runtime_records(api: httpx.Client, local_api: httpx.Client) -> None:
    on_temporal = start(api, BRANCHES, {"name": "ada", "n": 3})
    on_local = start(local_api, BRANCHES, {"name": "ada", "n": 3})

    recorded = records(api, on_temporal)

    assert recorded == records(local_api, on_local)
    assert recorded["output"] == {"greeting": "Hello, ada", "n": 3, "mood": "loud", "last": 2}
    assert recorded["events"][0] == ("phase", {"phase": "running"})
    assert recorded["events"][-1] == ("phase", {"phase": "completed", "output": recorded["output"]})
    assert len(recorded["decisions"]) >= 1
    run = api.get(f"/v1/workflow-executions/{on_temporal}").json()
    assert run["status"]["temporal_workflow_id"] == on_temporal
    assert api.get("/ready").json()["status"] == "ready"


def test_cancel_suspend_resume_over_http(api: httpx.Client) -> None:
    slow = start(api, SLOW)
    wait_for(api, slow, "running")
    assert api.post(f"/v1/workflow-executions/{slow}:suspend").status_code == 200
    wait_for(api, slow, "suspended")
    assert api.post(f"/v1/workflow-executions/{slow}:resume").status_code == 200
    wait_for(api, slow, "running")
    cancelled = api.post(f"/v1/workflow-executions/{slow}:cancel")
    assert cancelled.status_code == 200, cancelled.text
    run = wait_for(api, slow, "cancelled")
    assert [task["phase"] for task in run["status"]["tasks"]] == ["cancelled"]
    phases = [
        e.data["phase"]
        for e in read_stream(api, f"/v1/workflow-executions/{slow}/events")
        if e.type == "phase"
    ]
    assert phases == ["running", "suspended", "running", "cancelled"]
    assert api.post(f"/v1/workflow-executions/{slow}:cancel").status_code == 412
    assert api.post("/v1/workflow-executions/wex-nope:cancel").status_code == 404

    paused = start(api, PAUSE)  # suspended mid-wait: the emit after it waits for resume
    wait_for(api, paused, "running")
    assert api.post(f"/v1/workflow-executions/{paused}:suspend").status_code == 200
    wait_for(api, paused, "suspended")
    time.sleep(0.5)
    assert api.get(f"/v1/workflow-executions/{paused}").json()["status"]["phase"] == "suspended"
    assert api.post(f"/v1/workflow-executions/{paused}:resume").status_code == 200
    assert wait_for(api, paused, "completed")["status"]["output"] == {"done": True}


def test_a_cloudevent_reaches_a_listen(api: httpx.Client) -> None:
    listening = start(api, LISTEN)
    other = start(api, SLOW)
    wait_for(api, listening, "running")
    wait_for(api, other, "running")
    event = {"specversion": "1.0", "id": "e-1", "source": "/shop", "type": "order.placed", "data": {"n": 1}}
    delivered = api.post(
        "/v1/events", content=yaml.safe_dump(event), headers={"Content-Type": "application/yaml"}
    )
    assert delivered.status_code == 202, delivered.text
    assert delivered.json()["executions"] == [listening]
    run = wait_for(api, listening, "completed")
    assert run["status"]["output"] == [{"n": 1}]
    api.post(f"/v1/workflow-executions/{other}:cancel")


NAP = """
document: { dsl: '1.0.3', namespace: examples, name: nap, version: '1.0.0' }
do:
  - nap:
      wait: { seconds: 2 }
  - after:
      set: { done: true }
"""
FAILS = """
document: { dsl: '1.0.3', namespace: examples, name: fails, version: '1.0.0' }
do:
  - boom:
      raise:
        error: { type: https://tests.example/boom, status: 400 }
"""


@pytest.fixture
def slow_poll_api(temporal_server: DevServer, temporal_service: ResourceService) -> Iterator[httpx.Client]:
    """The API with reads of the store far apart (60 s for the API, 30 s for the runtime):
    a wait answered sooner than that was answered by the workflows' ends."""
    with temporal_api(temporal_server, temporal_service, poll_seconds=30, poll_interval=60) as client:
        yield client


def test_a_wait_is_answered_as_the_workflows_end(slow_poll_api: httpx.Client) -> None:
    api = slow_poll_api
    napping = start(api, NAP)
    wait_for(api, napping, "running")  # its workflow runs: no read of the store ends the wait
    # Held until the timeout (20 s) had it waited for a read of the store: the client would
    # give up first (15 s).
    answer = api.post("/v1/workflow-executions:wait", json={"ids": [napping], "timeout": 20}, timeout=15)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"items": [{"id": napping, "phase": "completed"}], "ended": True}


def test_a_wait_right_after_the_start_sees_each_end(api: httpx.Client) -> None:
    done, failed = start(api, BRANCHES, {"name": "you", "n": 1}), start(api, FAILS)
    answer = api.post("/v1/workflow-executions:wait", json={"ids": [done, failed], "timeout": 20})
    assert answer.json() == {
        "items": [{"id": done, "phase": "completed"}, {"id": failed, "phase": "faulted"}],
        "ended": True,
    }
    unknown = api.post("/v1/workflow-executions:wait", json={"ids": [done, "wex-nope"], "timeout": 1})
    assert_problem(unknown, 404, "/ids/1")
    slow = start(api, SLOW)
    early = api.post("/v1/workflow-executions:wait", json={"ids": [done, slow], "timeout": 0.3}).json()
    assert early["ended"] is False and early["items"][0] == {"id": done, "phase": "completed"}
    assert early["items"][1]["phase"] in ("pending", "running")
    assert api.post(f"/v1/workflow-executions/{slow}:cancel").status_code == 200


def test_a_repeated_progress_batch_is_dropped(temporal_service: ResourceService) -> None:
    execution = temporal_service.create(
        {"kind": "Workflow", "metadata": {"name": "one"}, "spec": {"document": yaml.safe_load(SLOW)}}
    )
    run = temporal_service.create(
        {"kind": "WorkflowExecution", "spec": {"workflow_id": execution.metadata.id}}
    )
    assert run.metadata.id is not None
    sink = StoreProgressSink(temporal_service)
    at = "2025-01-01T00:00:00+00:00"
    first = ProgressBatch(
        run.metadata.id, 1, [{"kind": "phase", "phase": "running", "at": at, "error": None}]
    )
    task = {
        "kind": "task", "name": "nap", "path": "/do/0/nap", "position": 0, "status": "running", "attempt": 0,
        "started_at": at, "completed_at": None, "input": {}, "output": None, "error": None,
    }  # fmt: skip
    second = ProgressBatch(run.metadata.id, 2, [task])
    assert sink.apply(first) and sink.apply(second)
    assert not sink.apply(first) and not sink.apply(second)
    with temporal_service.store.begin(write=False) as tx:
        types = [entry.type for entry in tx.journal.read(run.metadata.id)]
    assert types == ["phase", "temporal.progress", "task.started", "temporal.progress"]
