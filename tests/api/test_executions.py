"""`/v1/workflow-executions`: runs, status reports, run records and control without a runtime."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.api.conftest import assert_problem, create_workflow
from treadle.resources import ResourceService
from treadle.store import JournalEntry


@pytest.fixture
def workflow(api: httpx.Client) -> dict[str, object]:
    return create_workflow(api)


def start(api: httpx.Client, **spec: object) -> dict[str, object]:
    response = api.post("/v1/workflow-executions", json={"kind": "WorkflowExecution", "spec": spec})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_start_by_workflow_or_instance(api: httpx.Client, workflow: dict) -> None:
    by_workflow = start(api, workflow_id=workflow["metadata"]["id"], input={"name": "ada"})
    assert by_workflow["metadata"]["id"].startswith("wex-")
    assert by_workflow["status"]["phase"] == "pending"
    assert by_workflow["spec"]["workflow_instance_id"] == workflow["status"]["default_instance_id"]
    by_instance = start(api, workflow_instance_id=workflow["status"]["default_instance_id"], input={})
    assert by_instance["spec"]["workflow_id"] == workflow["metadata"]["id"]


def test_start_needs_a_target(api: httpx.Client) -> None:
    response = api.post("/v1/workflow-executions", json={"kind": "WorkflowExecution", "spec": {"input": {}}})
    assert_problem(response, 400)
    missing = api.post("/v1/workflow-executions", json={"spec": {"workflow_id": "wfl-nope"}})
    assert_problem(missing, 404)


def test_status_updates_and_impossible_transitions(api: httpx.Client, workflow: dict) -> None:
    run = start(api, workflow_id=workflow["metadata"]["id"])
    url = f"/v1/workflow-executions/{run['metadata']['id']}/status"
    running = api.put(
        url,
        json={"phase": "running", "tasks": [{"name": "greet", "path": "/do/0/greet", "phase": "running"}]},
    )
    assert running.status_code == 200 and running.json()["status"]["phase"] == "running"
    done = api.put(
        url,
        content="phase: completed\noutput: {greeting: hi}\n",
        headers={"Content-Type": "application/yaml"},
    )
    assert done.json()["status"]["output"] == {"greeting": "hi"}
    problem = assert_problem(api.put(url, json={"phase": "running"}), 412)
    assert problem["type"].endswith("/failed-precondition")
    assert_problem(api.put(url, json={"phase": "sleeping"}), 400)
    assert_problem(api.put("/v1/workflow-executions/wex-nope/status", json={"phase": "running"}), 404)


def test_list_filters_by_phase_and_workflow(api: httpx.Client, workflow: dict) -> None:
    wid = workflow["metadata"]["id"]
    first = start(api, workflow_id=wid)
    start(api, workflow_id=wid)
    api.put(f"/v1/workflow-executions/{first['metadata']['id']}/status", json={"phase": "running"})
    running = api.get("/v1/workflow-executions", params={"phase": "running", "workflow_id": wid}).json()
    assert [e["metadata"]["id"] for e in running["items"]] == [first["metadata"]["id"]]
    both = api.get("/v1/workflow-executions", params=[("phase", "running"), ("phase", "pending")]).json()
    assert both["total"] == 2
    assert_problem(api.get("/v1/workflow-executions", params={"phase": "bogus"}), 422, "/query/phase/0")
    assert api.get("/v1/workflow-executions", params={"sort": "-completed_at"}).status_code == 200


def test_get_by_slug_update_and_delete(api: httpx.Client, workflow: dict) -> None:
    run = start(api, workflow_id=workflow["metadata"]["id"])
    rid = run["metadata"]["id"]
    assert (
        api.get(f"/v1/workflow-executions/by-slug/{run['metadata']['slug']}").json()["metadata"]["id"] == rid
    )
    run["metadata"]["labels"] = {"tier": "gold"}
    updated = api.put(f"/v1/workflow-executions/{rid}", json=run)
    assert updated.status_code == 200 and updated.json()["metadata"]["labels"] == {"tier": "gold"}
    assert_problem(api.delete(f"/v1/workflow-executions/{rid}"), 412)
    assert api.delete(f"/v1/workflow-executions/{rid}", params={"force": True}).status_code == 200


def test_stages_and_decisions(api: httpx.Client, service: ResourceService, workflow: dict) -> None:
    rid = str(start(api, workflow_id=workflow["metadata"]["id"])["metadata"]["id"])
    now = datetime.now(UTC)
    greet = {"name": "greet", "path": "/do/0/greet", "position": "/do/0/greet", "attempt": 0}
    decided = {
        "from": "/do/1/classify",
        "to": "/do/2/shout",
        "case": "short",
        "result": True,
        "reason": "when",
    }
    with service.store.begin() as tx:
        tx.journal.append(
            rid,
            [
                JournalEntry("task.started", {**greet, "input": {}}, now),
                JournalEntry(
                    "task.completed", {**greet, "output": {"g": 1}}, now + timedelta(milliseconds=2.5)
                ),
                JournalEntry("decision", decided, now),
            ],
        )
    stages = api.get(f"/v1/workflow-executions/{rid}/stages").json()
    assert stages["total"] == 1 and stages["items"][0]["node"] == "/do/0/greet"
    assert stages["items"][0]["output"] == {"g": 1}
    assert stages["items"][0]["duration_ms"] == 2.5
    decisions = api.get(f"/v1/workflow-executions/{rid}/decisions").json()
    assert decisions["items"][0]["case_name"] == "short" and decisions["items"][0]["to_node"] == "/do/2/shout"
    assert_problem(api.get("/v1/workflow-executions/wex-nope/stages"), 404)
    assert_problem(api.get("/v1/workflow-executions/wex-nope/decisions"), 404)


@pytest.mark.parametrize("action", ["cancel", "suspend", "resume"])
def test_control_without_a_runtime_is_503(api: httpx.Client, workflow: dict, action: str) -> None:
    rid = start(api, workflow_id=workflow["metadata"]["id"])["metadata"]["id"]
    problem = assert_problem(api.post(f"/v1/workflow-executions/{rid}:{action}"), 503)
    assert problem["type"].endswith("/no-runtime")


def test_a_batch_starts_every_run_in_order(api: httpx.Client, workflow: dict) -> None:
    items = [{"spec": {"workflow_id": workflow["metadata"]["id"], "input": {"n": n}}} for n in range(3)]
    response = api.post("/v1/workflow-executions:batch", json={"items": items})
    assert response.status_code == 201, response.text
    created = response.json()["items"]
    assert [run["spec"]["input"] for run in created] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert {run["kind"] for run in created} == {"WorkflowExecution"}
    listed = api.get("/v1/workflow-executions").json()
    assert listed["total"] == 3


def test_a_batch_in_yaml(api: httpx.Client, workflow: dict) -> None:
    body = f"items:\n  - spec: {{workflow_id: {workflow['metadata']['id']}}}\n"
    response = api.post(
        "/v1/workflow-executions:batch", content=body, headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 201, response.text
    assert len(response.json()["items"]) == 1


def test_a_bad_item_fails_the_batch_and_is_pointed_at(api: httpx.Client, workflow: dict) -> None:
    good = {"spec": {"workflow_id": workflow["metadata"]["id"]}}
    response = api.post("/v1/workflow-executions:batch", json={"items": [good, {"spec": {"input": 1}}]})
    problem = assert_problem(response, 400)
    assert problem["errors"][0]["pointer"].startswith("/items/1/spec/")
    missing = api.post(
        "/v1/workflow-executions:batch", json={"items": [good, good, {"spec": {"workflow_id": "wfl-gone"}}]}
    )
    assert_problem(missing, 404, "/items/2")
    assert api.get("/v1/workflow-executions").json()["total"] == 0


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({}, "/items"),
        ({"items": {"spec": {}}}, "/items"),
        ({"items": []}, "/items"),
        ({"items": [3]}, "/items/0"),
    ],
)
def test_a_batch_needs_a_list_of_objects(api: httpx.Client, body: dict, pointer: str) -> None:
    assert_problem(api.post("/v1/workflow-executions:batch", json=body), 400, pointer)


def test_wait_without_a_runtime_reads_the_store_until_they_end(
    api: httpx.Client, service: ResourceService, workflow: dict
) -> None:
    ids = [start(api, workflow_id=workflow["metadata"]["id"])["metadata"]["id"] for _ in range(2)]
    for id in ids:
        api.put(f"/v1/workflow-executions/{id}/status", json={"phase": "running"}).raise_for_status()
    service.update_execution_status(ids[0], {"phase": "completed", "output": {}})
    # Another worker ends the second one while the request waits.
    ender = threading.Timer(0.3, service.update_execution_status, (ids[1], {"phase": "faulted"}))
    ender.start()
    try:
        waited = api.post("/v1/workflow-executions:wait", json={"ids": ids, "timeout": 20})
    finally:
        ender.join()
    assert waited.status_code == 200, waited.text
    assert waited.json() == {
        "items": [{"id": ids[0], "phase": "completed"}, {"id": ids[1], "phase": "faulted"}],
        "ended": True,
    }
    running = start(api, workflow_id=workflow["metadata"]["id"])["metadata"]["id"]
    timed_out = api.post("/v1/workflow-executions:wait", json={"ids": [running], "timeout": 0.2}).json()
    assert timed_out == {"items": [{"id": running, "phase": "pending"}], "ended": False}
