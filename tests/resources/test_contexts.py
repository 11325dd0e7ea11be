"""Execution contexts: platform scope, immutability, encryption at rest, redaction."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from treadle.resources import (
    REDACTED,
    AlreadyExists,
    ExecutionContext,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceService,
    Workflow,
    WorkflowExecution,
)
from treadle.store import ListQuery, Store
from treadle.store._tables import CONTEXTS

SECRET = "sk-live-0123456789"


@pytest.fixture
def execution(service: ResourceService, workflow: Workflow) -> WorkflowExecution:
    created = service.create({"kind": "WorkflowExecution", "spec": {"workflow_id": workflow.metadata.id}})
    assert isinstance(created, WorkflowExecution)
    return created


def context_body(execution_id: str, name: str | None = "payment keys", **metadata: Any) -> dict[str, Any]:
    return {
        "kind": "ExecutionContext",
        "metadata": {"name": name, **metadata},
        "spec": {
            "execution_id": execution_id,
            "data": {"api_key": {"value": SECRET, "is_secret": True}, "region": {"value": "eu-west-1"}},
        },
    }


def test_secrets_are_encrypted_at_rest(
    service: ResourceService, store: Store, execution: WorkflowExecution
) -> None:
    created = service.create(context_body(execution.metadata.id or ""))
    with store.begin(write=False) as tx:
        raw = tx.connection.execute(
            select(CONTEXTS.c.body).where(CONTEXTS.c.id == created.metadata.id)
        ).scalar_one()
    stored = raw["spec"]["data"]
    assert SECRET not in str(raw)
    assert stored["api_key"]["is_secret"] and stored["api_key"]["value"].startswith("gAAAA")
    assert stored["region"]["value"] == "eu-west-1"


def test_every_read_but_reveal_is_redacted(service: ResourceService, execution: WorkflowExecution) -> None:
    created = service.create(context_body(execution.metadata.id or ""))
    assert isinstance(created, ExecutionContext)
    id = created.metadata.id or ""
    reads = [
        created,
        service.get(ExecutionContext, id),
        service.get_by_ref(ExecutionContext, "payment-keys"),
        service.list(ExecutionContext, ListQuery(execution_id=execution.metadata.id)).items[0],
    ]
    for read in reads:
        assert read.spec.data["api_key"].value == REDACTED
        assert read.spec.data["region"].value == "eu-west-1"
    assert service.reveal(ExecutionContext, id).spec.data["api_key"].value == SECRET


def test_contexts_are_immutable(service: ResourceService, execution: WorkflowExecution) -> None:
    created = service.apply(context_body(execution.metadata.id or ""))
    with pytest.raises(AlreadyExists):
        service.apply(context_body(execution.metadata.id or ""))
    with pytest.raises(AlreadyExists):
        service.create(context_body(execution.metadata.id or ""))
    with pytest.raises(FailedPrecondition):
        service.update(created)


def test_contexts_are_platform_scoped(service: ResourceService, execution: WorkflowExecution) -> None:
    with pytest.raises(InvalidArgument) as caught:
        service.create(context_body(execution.metadata.id or "", org="acme"))
    assert caught.value.pointers == ["/metadata/org"]


def test_the_execution_must_exist(service: ResourceService) -> None:
    with pytest.raises(NotFound) as caught:
        service.create(context_body("wex-01JAAAAAAAAAAAAAAAAAAAAAAA"))
    assert caught.value.kind == "WorkflowExecution"


def test_a_nameless_context_is_named_by_its_id(
    service: ResourceService, execution: WorkflowExecution
) -> None:
    created = service.create(context_body(execution.metadata.id or "", name=None))
    assert created.metadata.id is not None and created.metadata.slug == created.metadata.id.lower()


def test_a_wrong_key_cannot_reveal(
    service: ResourceService, store: Store, execution: WorkflowExecution
) -> None:
    from treadle.resources import SecretCipher

    created = service.create(context_body(execution.metadata.id or ""))
    other = ResourceService(store, SecretCipher.generate())
    assert other.get(ExecutionContext, created.metadata.id or "").spec.data["api_key"].value == REDACTED
    with pytest.raises(ValueError):
        other.reveal(ExecutionContext, created.metadata.id or "")
