"""The CRUD routes on both databases: SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from tests.api.conftest import Serve, assert_problem, workflow_body
from treadle.resources import ResourceService


def test_crud_over_http(serve: Serve, backend_service: ResourceService) -> None:
    server = serve(backend_service)
    with httpx.Client(base_url=server.url) as api:
        created = api.post("/v1/workflows", json=workflow_body(org="acme"))
        assert created.status_code == 201
        wid = created.json()["metadata"]["id"]
        assert api.post("/v1/workflows:apply", json=workflow_body(org="acme")).status_code == 200
        assert api.get(f"/v1/workflows/{wid}").json()["metadata"]["version"] == 2
        assert api.get("/v1/workflows/by-slug/order-fulfillment", params={"org": "acme"}).status_code == 200
        page = api.get("/v1/workflows", params={"org": "acme", "sort": "-created_at"}).json()
        assert page["total"] == 1
        stale = created.json()
        assert_problem(api.put(f"/v1/workflows/{wid}", json=stale), 409)
        run = api.post(
            "/v1/workflow-executions", json={"spec": {"workflow_id": wid, "input": {"a": "\u00e9"}}}
        )
        assert run.status_code == 201
        assert api.get("/v1/workflow-executions", params={"phase": "pending"}).json()["total"] == 1
        assert api.post("/v1/workflows", json=workflow_body(name="nul\u0000")).status_code < 500
        assert_problem(api.delete(f"/v1/workflows/{wid}"), 412)
        assert api.delete(f"/v1/workflows/{wid}", params={"force": "true"}).status_code == 200
