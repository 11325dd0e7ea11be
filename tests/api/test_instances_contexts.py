"""`/v1/workflow-instances` and `/v1/execution-contexts`: the standard routes, secrets redacted."""

from __future__ import annotations

import httpx

from tests.api.conftest import assert_problem, create_workflow


def test_instance_routes(api: httpx.Client) -> None:
    wid = create_workflow(api)["metadata"]["id"]
    body = {
        "kind": "WorkflowInstance",
        "metadata": {"name": "staging"},
        "spec": {"workflow_id": wid, "env": {"API_KEY": {"value": "s3cret", "is_secret": True}}},
    }
    created = api.post("/v1/workflow-instances", json=body)
    assert created.status_code == 201
    iid = created.json()["metadata"]["id"]
    assert created.json()["spec"]["env"]["API_KEY"]["value"] == "***"
    assert api.post("/v1/workflow-instances:apply", json=body).status_code == 200
    listed = api.get("/v1/workflow-instances", params={"workflow_id": wid}).json()
    assert listed["total"] == 2
    assert api.get("/v1/workflow-instances/by-slug/staging").json()["metadata"]["id"] == iid
    fetched = api.get(f"/v1/workflow-instances/{iid}").json()
    fetched["spec"]["description"] = "pre-production"
    assert (
        api.put(f"/v1/workflow-instances/{iid}", json=fetched).json()["spec"]["description"]
        == "pre-production"
    )
    assert api.delete(f"/v1/workflow-instances/{iid}").json()["metadata"]["id"] == iid
    missing = dict(body, spec={"workflow_id": "wfl-nope"})
    assert_problem(api.post("/v1/workflow-instances", json=missing), 404)


def test_context_routes(api: httpx.Client) -> None:
    wid = create_workflow(api)["metadata"]["id"]
    run = api.post("/v1/workflow-executions", json={"spec": {"workflow_id": wid}}).json()
    body = {
        "kind": "ExecutionContext",
        "spec": {"execution_id": run["metadata"]["id"], "data": {"token": {"value": "t", "is_secret": True}}},
    }
    created = api.post("/v1/execution-contexts", json=body)
    assert created.status_code == 201, created.text
    cid = created.json()["metadata"]["id"]
    assert created.json()["spec"]["data"]["token"]["value"] == "***"
    listed = api.get("/v1/execution-contexts", params={"execution_id": run["metadata"]["id"]}).json()
    assert [c["metadata"]["id"] for c in listed["items"]] == [cid]
    slug = created.json()["metadata"]["slug"]
    assert api.get(f"/v1/execution-contexts/by-slug/{slug}").status_code == 200
    assert_problem(api.put(f"/v1/execution-contexts/{cid}", json=created.json()), 412)
    body["metadata"] = {"slug": slug}
    assert_problem(api.post("/v1/execution-contexts:apply", json=body), 409)
    assert api.get(f"/v1/execution-contexts/{cid}").status_code == 200
    assert api.delete(f"/v1/execution-contexts/{cid}").status_code == 200
