"""Instances: the parent must exist, scope rules, listing by workflow, secrets in env."""

from __future__ import annotations

from typing import Any

import pytest

from tests.resources.conftest import workflow_body
from treadle.resources import (
    REDACTED,
    InvalidArgument,
    ListQuery,
    NotFound,
    ResourceService,
    Workflow,
    WorkflowInstance,
)


def instance_body(workflow_id: str, name: str = "staging", **metadata: Any) -> dict[str, Any]:
    return {
        "kind": "WorkflowInstance",
        "metadata": {"name": name, **metadata},
        "spec": {
            "workflow_id": workflow_id,
            "env": {"region": {"value": "eu"}, "token": {"value": "t0k", "is_secret": True}},
        },
    }


def test_parent_workflow_must_exist(service: ResourceService) -> None:
    with pytest.raises(NotFound) as caught:
        service.create(instance_body("wfl-01JAAAAAAAAAAAAAAAAAAAAAAA", org="acme"))
    assert caught.value.kind == "Workflow"


@pytest.mark.parametrize(
    ("metadata", "allowed"),
    [
        ({"org": "acme"}, True),
        ({"owner": "bob"}, True),
        ({"org": "acme", "owner": "bob"}, True),
        ({"org": "globex"}, False),
        ({}, False),
        ({"org": "globex", "owner": "bob"}, False),
    ],
)
def test_instances_of_an_org_workflow_stay_in_the_org_or_a_user_scope(
    service: ResourceService, workflow: Workflow, metadata: dict[str, str], allowed: bool
) -> None:
    body = instance_body(workflow.metadata.id or "", **metadata)
    if allowed:
        assert service.create(body).metadata.org == metadata.get("org")
    else:
        with pytest.raises(InvalidArgument) as caught:
            service.create(body)
        assert caught.value.pointers == ["/metadata/org"]


def test_a_platform_workflow_can_be_instantiated_anywhere(service: ResourceService) -> None:
    platform = service.create(workflow_body("shared"))
    assert service.create(instance_body(platform.metadata.id or "", org="globex")).metadata.org == "globex"


def test_list_instances_by_workflow(service: ResourceService, workflow: Workflow) -> None:
    other = service.create(workflow_body("other", org="acme"))
    service.create(instance_body(workflow.metadata.id or "", org="acme"))
    service.create(instance_body(other.metadata.id or "", name="prod", org="acme"))
    page = service.list(WorkflowInstance, ListQuery(workflow_id=workflow.metadata.id, sort="slug"))
    assert [i.metadata.slug for i in page.items] == ["order-fulfillment-default", "staging"]
    assert page.total == 2


def test_secret_env_is_redacted_and_survives_a_round_trip(
    service: ResourceService, workflow: Workflow
) -> None:
    created = service.create(instance_body(workflow.metadata.id or "", org="acme"))
    assert isinstance(created, WorkflowInstance)
    assert created.spec.env["token"].value == REDACTED and created.spec.env["region"].value == "eu"
    created.spec.description = "edited"
    updated = service.update(created)  # sends REDACTED back: the stored secret must stay
    assert updated.spec.env["token"].value == REDACTED
    assert service.reveal(WorkflowInstance, created.metadata.id or "").spec.env["token"].value == "t0k"


def test_an_instance_cannot_change_workflow(service: ResourceService, workflow: Workflow) -> None:
    other = service.create(workflow_body("other", org="acme"))
    created = service.create(instance_body(workflow.metadata.id or "", org="acme"))
    assert isinstance(created, WorkflowInstance)
    created.spec.workflow_id = other.metadata.id or ""
    with pytest.raises(InvalidArgument) as caught:
        service.update(created)
    assert caught.value.pointers == ["/spec/workflow_id"]
