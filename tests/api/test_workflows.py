"""`/v1/workflows`: every route, JSON and YAML bodies, bare documents, paging and errors."""

from __future__ import annotations

import httpx
import yaml

from tests.api.conftest import assert_problem, create_workflow, document, workflow_body

HELLO_YAML = """
document: { dsl: '1.0.3', namespace: examples, name: hello, version: '1.0.0' }
do:
  - greet:
      set:
        greeting: ${ "Hello, " + .name }
"""


def test_create_returns_201_with_server_fields(api: httpx.Client) -> None:
    created = create_workflow(api, org="acme", labels={"team": "ops"})
    md = created["metadata"]
    assert md["id"].startswith("wfl-") and md["slug"] == "order-fulfillment" and md["version"] == 1
    assert created["apiVersion"] == "treadle.dev/v1"
    assert created["status"]["validation"]["state"] == "valid"
    assert created["status"]["default_instance_id"].startswith("win-")


def test_bare_document_as_yaml_becomes_a_workflow(api: httpx.Client) -> None:
    response = api.post("/v1/workflows", content=HELLO_YAML, headers={"Content-Type": "application/yaml"})
    assert response.status_code == 201, response.text
    md = response.json()["metadata"]
    assert (md["name"], md["slug"], md["org"]) == ("hello", "hello", "examples")


def test_bare_document_as_json(api: httpx.Client) -> None:
    response = api.post("/v1/workflows", json=document(name="shipping"))
    assert response.status_code == 201
    assert response.json()["metadata"]["slug"] == "shipping"


def test_envelope_as_yaml(api: httpx.Client) -> None:
    text = yaml.safe_dump(workflow_body(name="Yaml Flow"))
    response = api.post("/v1/workflows", content=text, headers={"Content-Type": "application/x-yaml"})
    assert response.status_code == 201
    assert response.json()["metadata"]["slug"] == "yaml-flow"


def test_apply_creates_then_updates(api: httpx.Client) -> None:
    first = api.post("/v1/workflows:apply", json=workflow_body())
    assert first.status_code == 201
    body = workflow_body()
    body["spec"]["description"] = "changed"
    second = api.post("/v1/workflows:apply", json=body)
    assert second.status_code == 200
    assert second.json()["metadata"]["id"] == first.json()["metadata"]["id"]
    assert second.json()["spec"]["description"] == "changed"
    assert second.json()["metadata"]["version"] == 2


def test_apply_accepts_a_bare_yaml_document(api: httpx.Client) -> None:
    headers = {"Content-Type": "application/yaml"}
    assert api.post("/v1/workflows:apply", content=HELLO_YAML, headers=headers).status_code == 201
    assert api.post("/v1/workflows:apply", content=HELLO_YAML, headers=headers).status_code == 200


def test_get_by_id_and_by_slug(api: httpx.Client) -> None:
    created = create_workflow(api, org="acme")
    wid = created["metadata"]["id"]
    assert api.get(f"/v1/workflows/{wid}").json()["metadata"]["id"] == wid
    by_slug = api.get("/v1/workflows/by-slug/order-fulfillment", params={"org": "acme"})
    assert by_slug.status_code == 200 and by_slug.json()["metadata"]["id"] == wid
    assert_problem(api.get("/v1/workflows/by-slug/order-fulfillment"), 404)  # platform scope


def test_update_and_stale_version_is_409(api: httpx.Client) -> None:
    created = create_workflow(api)
    wid = created["metadata"]["id"]
    created["spec"]["description"] = "v2"
    updated = api.put(f"/v1/workflows/{wid}", json=created)
    assert updated.status_code == 200 and updated.json()["metadata"]["version"] == 2
    stale = api.put(f"/v1/workflows/{wid}", json=created)  # still carries version 1
    problem = assert_problem(stale, 409)
    assert problem["type"].endswith("/aborted")


def test_duplicate_slug_is_409(api: httpx.Client) -> None:
    create_workflow(api)
    problem = assert_problem(api.post("/v1/workflows", json=workflow_body()), 409)
    assert problem["type"].endswith("/already-exists")


def test_delete_returns_the_deleted_resource(api: httpx.Client) -> None:
    wid = create_workflow(api)["metadata"]["id"]
    deleted = api.delete(f"/v1/workflows/{wid}")
    assert deleted.status_code == 200 and deleted.json()["metadata"]["id"] == wid
    assert_problem(api.get(f"/v1/workflows/{wid}"), 404)
    assert_problem(api.delete(f"/v1/workflows/{wid}"), 404)


def test_delete_with_active_executions_is_412_unless_forced(api: httpx.Client) -> None:
    wid = create_workflow(api)["metadata"]["id"]
    run = api.post(
        "/v1/workflow-executions", json={"kind": "WorkflowExecution", "spec": {"workflow_id": wid}}
    )
    assert run.status_code == 201
    problem = assert_problem(api.delete(f"/v1/workflows/{wid}"), 412)
    assert problem["blocking"] == [run.json()["metadata"]["id"]]
    assert api.delete(f"/v1/workflows/{wid}", params={"force": "true"}).status_code == 200


def test_list_pages_sorts_and_filters(api: httpx.Client) -> None:
    for index in range(5):
        create_workflow(
            api, name=f"flow {index}", org="acme" if index % 2 else None, labels={"n": str(index)}
        )
    page = api.get("/v1/workflows", params={"page": 2, "page_size": 2, "sort": "name"}).json()
    assert (page["total"], page["page"], page["page_size"]) == (5, 2, 2)
    assert [w["metadata"]["name"] for w in page["items"]] == ["flow 2", "flow 3"]
    desc = api.get("/v1/workflows", params={"sort": "-name"}).json()
    assert desc["items"][0]["metadata"]["name"] == "flow 4"
    acme = api.get("/v1/workflows", params={"org": "acme"}).json()
    assert {w["metadata"]["name"] for w in acme["items"]} == {"flow 1", "flow 3"}
    labelled = api.get("/v1/workflows", params={"labels": "n=3"}).json()
    assert [w["metadata"]["name"] for w in labelled["items"]] == ["flow 3"]
    naive = api.get("/v1/workflows", params={"created_after": "2000-01-01T00:00:00"})
    assert naive.status_code == 200 and naive.json()["total"] == 5


def test_list_rejects_bad_paging_and_sort(api: httpx.Client) -> None:
    assert_problem(api.get("/v1/workflows", params={"page": 0}), 422, "/query/page")
    assert_problem(api.get("/v1/workflows", params={"page_size": 5000}), 422, "/query/page_size")
    assert_problem(api.get("/v1/workflows", params={"sort": "colour"}), 400, "/sort")
    assert_problem(api.get("/v1/workflows", params={"labels": "novalue"}), 422)


def test_instances_of_a_workflow(api: httpx.Client) -> None:
    created = create_workflow(api)
    listed = api.get(f"/v1/workflows/{created['metadata']['id']}/instances").json()
    assert [i["metadata"]["id"] for i in listed["items"]] == [created["status"]["default_instance_id"]]
    assert_problem(api.get("/v1/workflows/wfl-missing/instances"), 404)


def test_invalid_document_points_into_the_request(api: httpx.Client) -> None:
    body = workflow_body()
    body["spec"]["document"]["do"] = [{"greet": {"then": "nowhere", "set": {}}}]
    problem = assert_problem(api.post("/v1/workflows", json=body), 400)
    assert problem["errors"] and all(
        e["pointer"].startswith("/spec/document/do/0") for e in problem["errors"]
    )


def test_malformed_bodies_are_400_with_a_location(api: httpx.Client) -> None:
    bad_json = api.post("/v1/workflows", content=b'{"kind": "Workflow",\n  "metadata": }')
    assert "line 2" in assert_problem(bad_json, 400, "")["detail"]
    bad_yaml = api.post(
        "/v1/workflows",
        content=b"kind: Workflow\nmetadata: [unclosed\n",
        headers={"Content-Type": "application/yaml"},
    )
    assert "line" in assert_problem(bad_yaml, 400, "")["detail"]
    assert_problem(api.post("/v1/workflows", json=[1, 2]), 400, "")
    assert_problem(api.post("/v1/workflows", content=b""), 400)
    assert_problem(api.post("/v1/workflows", content=b"NaN"), 400)
    assert_problem(api.post("/v1/workflows", content=b"\xff\xfe"), 400)
    assert_problem(
        api.post("/v1/workflows", content=b"<x/>", headers={"Content-Type": "application/xml"}), 415
    )


def test_wrong_kind_and_unknown_fields_point_at_them(api: httpx.Client) -> None:
    body = workflow_body()
    body["kind"] = "WorkflowInstance"
    assert_problem(api.post("/v1/workflows", json=body), 400, "/kind")
    body = workflow_body()
    body["metadata"]["colour"] = "red"
    assert_problem(api.post("/v1/workflows", json=body), 400, "/metadata/colour")


def test_yaml_dates_and_nul_characters_never_500(api: httpx.Client) -> None:
    text = HELLO_YAML.replace("do:", "metadata_note: 2024-01-01\ndo:")
    response = api.post("/v1/workflows", content=text, headers={"Content-Type": "application/yaml"})
    assert response.status_code in (201, 400)
    body = workflow_body(name="nul\u0000name")
    assert api.post("/v1/workflows", json=body).status_code < 500
    assert api.get("/v1/workflows/wfl-%00").status_code == 404


def test_unknown_routes_and_methods_are_problems(api: httpx.Client) -> None:
    assert_problem(api.get("/v1/nothing"), 404)
    assert_problem(api.patch("/v1/workflows"), 405)
