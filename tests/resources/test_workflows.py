"""Workflows: slugs, duplicates, apply, versions, audit, default instance, validation."""

from __future__ import annotations

import pytest

from tests.resources.conftest import document, workflow_body
from treadle.resources import (
    Aborted,
    AlreadyExists,
    InvalidArgument,
    NotFound,
    ResourceService,
    Workflow,
    WorkflowInstance,
)


def test_create_derives_slug_and_assigns_id_version_and_audit(service: ResourceService) -> None:
    created = service.create(workflow_body("Order Fulfillment (v2)!", org="acme"), actor="alice")
    assert isinstance(created, Workflow)
    md = created.metadata
    assert md.slug == "order-fulfillment-v2" and md.org == "acme" and md.version == 1
    assert md.id is not None and md.id.startswith("wfl-") and len(md.id) == 30
    audit = created.status.audit
    assert audit.created_by == audit.updated_by == "alice"
    assert audit.created_at == audit.updated_at and audit.created_at is not None
    assert service.get(Workflow, md.id) == created
    assert service.get_by_ref(Workflow, "order-fulfillment-v2", org="acme") == created


def test_ids_sort_in_creation_order(service: ResourceService) -> None:
    ids = [service.create(workflow_body(f"w{i}")).metadata.id or "" for i in range(3)]
    assert ids == sorted(ids)


def test_duplicate_create_is_already_exists_but_other_scopes_are_free(service: ResourceService) -> None:
    service.create(workflow_body(org="acme"))
    with pytest.raises(AlreadyExists) as caught:
        service.create(workflow_body("order fulfillment", org="acme"))
    assert caught.value.kind == "Workflow" and caught.value.ref == "order-fulfillment"
    service.create(workflow_body(org="globex"))
    service.create(workflow_body())  # platform scope
    service.create(workflow_body(org="acme", owner="bob"))  # bob's own scope


def test_create_makes_the_default_instance(service: ResourceService, workflow: Workflow) -> None:
    instance_id = workflow.status.default_instance_id
    assert instance_id is not None
    instance = service.get(WorkflowInstance, instance_id)
    assert instance.metadata.slug == "order-fulfillment-default"
    assert instance.metadata.org == "acme"
    assert instance.spec.workflow_id == workflow.metadata.id


def test_apply_creates_then_updates_by_slug(service: ResourceService) -> None:
    first = service.apply(workflow_body(org="acme"), actor="alice")
    body = workflow_body(org="acme")
    body["spec"]["description"] = "now faster"
    second = service.apply(body, actor="bob")
    assert second.metadata.id == first.metadata.id
    assert second.metadata.version == 2
    assert isinstance(second, Workflow) and second.spec.description == "now faster"
    assert second.status.audit.created_by == "alice" and second.status.audit.updated_by == "bob"
    assert second.status.default_instance_id == first.status.default_instance_id  # type: ignore[union-attr]


def test_update_increments_version_and_refuses_a_stale_one(
    service: ResourceService, workflow: Workflow
) -> None:
    edited = workflow.model_copy(deep=True)
    edited.spec.description = "v2"
    updated = service.update(edited)
    assert updated.metadata.version == 2 and updated.spec.description == "v2"
    stale = workflow.model_copy(deep=True)  # still carries version 1
    stale.spec.description = "lost update"
    with pytest.raises(Aborted) as caught:
        service.update(stale)
    assert (caught.value.expected, caught.value.actual) == (1, 2)
    assert service.get(Workflow, workflow.metadata.id or "").spec.description == "v2"


def test_update_cannot_move_a_resource_to_another_scope(service: ResourceService, workflow: Workflow) -> None:
    moved = workflow.model_copy(deep=True)
    moved.metadata.org = "globex"
    with pytest.raises(InvalidArgument) as caught:
        service.update(moved)
    assert caught.value.pointers == ["/metadata/org"]


def test_update_of_a_missing_workflow_is_not_found(service: ResourceService) -> None:
    with pytest.raises(NotFound):
        service.update(workflow_body(), id="wfl-01JAAAAAAAAAAAAAAAAAAAAAAA")


def test_a_bare_document_is_a_workflow(service: ResourceService) -> None:
    created = service.create(document(name="hello-world", namespace="acme"))
    assert isinstance(created, Workflow)
    assert (created.metadata.name, created.metadata.slug, created.metadata.org) == (
        "hello-world",
        "hello-world",
        "acme",
    )
    assert created.spec.document["document"]["name"] == "hello-world"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"kind": "Workflow", "metadata": {"name": "x"}, "spec": {}}, "/spec/document"),
        (
            {"kind": "Workflow", "metadata": {"name": "x", "colour": 1}, "spec": {"document": {}}},
            "/metadata/colour",
        ),
        ({"kind": "Workflow", "metadata": {"name": "!!!"}, "spec": {"document": {}}}, "/metadata/name"),
        (
            {"kind": "Workflow", "metadata": {"slug": "Not A Slug"}, "spec": {"document": {}}},
            "/metadata/slug",
        ),
        ({"kind": "Workflow", "metadata": {}, "spec": {"document": {}}}, "/metadata/name"),
    ],
)
def test_malformed_requests_point_at_the_fault(
    service: ResourceService, body: dict[str, object], pointer: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        service.create(body)
    assert pointer in caught.value.pointers


def test_an_explicit_slug_is_used(service: ResourceService) -> None:
    created = service.create(workflow_body(slug="orders"))
    assert created.metadata.slug == "orders"


def test_wrong_kind_for_the_operation(service: ResourceService) -> None:
    with pytest.raises(InvalidArgument) as caught:
        service.create({"kind": "Gadget", "spec": {}})
    assert caught.value.pointers == ["/kind"]


BROKEN = {
    "document": {"dsl": "1.0.3", "namespace": "acme", "name": "broken", "version": "1.0.0"},
    "do": [{"greet": {"then": "nowhere", "set": {"a": 1}}}],
}


def test_an_invalid_document_is_refused_with_pointers_into_the_request(service: ResourceService) -> None:
    with pytest.raises(InvalidArgument) as caught:
        service.create({"kind": "Workflow", "metadata": {"name": "broken"}, "spec": {"document": BROKEN}})
    assert caught.value.pointers == ["/spec/document/do/0/greet/then"]
    assert caught.value.violations[0].code == "unknown-task"
    with pytest.raises(InvalidArgument) as bare:
        service.create(BROKEN)
    assert bare.value.pointers == ["/do/0/greet/then"]
    assert service.list(Workflow).total == 0


def test_a_valid_document_is_recorded_valid_and_revalidated_on_update(
    service: ResourceService, workflow: Workflow
) -> None:
    assert workflow.status.validation is not None and workflow.status.validation.state == "valid"
    edited = workflow.model_copy(deep=True)
    edited.spec.document = BROKEN
    with pytest.raises(InvalidArgument):
        service.update(edited)
    assert service.get(Workflow, workflow.metadata.id or "").metadata.version == 1
