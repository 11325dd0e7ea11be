"""A resource service over a fresh store on each backend, and small builders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from treadle.resources import ResourceService, SecretCipher, Workflow, WorkflowExecution
from treadle.store import Store


def document(name: str = "order", version: str = "1.0.0", namespace: str = "examples") -> dict[str, Any]:
    """A small valid DSL document."""
    return {
        "document": {"dsl": "1.0.3", "namespace": namespace, "name": name, "version": version},
        "do": [{"greet": {"set": {"greeting": '${ "hello " + .name }'}}}],
    }


def workflow_body(
    name: str = "Order Fulfillment", *, org: str | None = None, **metadata: Any
) -> dict[str, Any]:
    """A Workflow request body."""
    return {
        "apiVersion": "treadle.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": name, "org": org, **metadata},
        "spec": {"description": "ships orders", "document": document()},
    }


class RecordingCanceller:
    """Remembers which executions a forced delete asked it to cancel."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []

    def cancel(self, executions: Sequence[WorkflowExecution]) -> None:
        self.cancelled.extend(e.metadata.id or "" for e in executions)


@pytest.fixture
def canceller() -> RecordingCanceller:
    return RecordingCanceller()


@pytest.fixture
def service(store: Store, canceller: RecordingCanceller) -> ResourceService:
    return ResourceService(store, SecretCipher.generate(), canceller=canceller)


@pytest.fixture
def workflow(service: ResourceService) -> Workflow:
    created = service.create(Workflow.model_validate(workflow_body(org="acme")), actor="alice")
    return created
