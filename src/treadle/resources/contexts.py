"""ExecutionContext steps: platform scope, an existing execution, and no updates."""

from __future__ import annotations

from typing import Any

from treadle.resources.errors import FailedPrecondition, InvalidArgument, NotFound, Violation
from treadle.resources.pipeline import Operation

__all__ = ["check_execution_exists", "context_columns", "refuse_update", "require_platform_scope"]


def context_columns(resource: Any) -> dict[str, Any]:
    """The indexed columns of a context."""
    return {"execution_id": resource.spec.execution_id}


def require_platform_scope(op: Operation) -> None:
    """Contexts live in the platform scope: no org, no owner."""
    md = op.resource.metadata
    faults = [
        Violation(f"/metadata/{name}", "scope", "execution contexts are platform-scoped")
        for name, value in (("org", md.org), ("owner", md.owner))
        if value is not None
    ]
    if faults:
        raise InvalidArgument(faults, kind="ExecutionContext")


def check_execution_exists(op: Operation) -> None:
    """The execution named by `spec.execution_id` must exist."""
    execution_id = op.resource.spec.execution_id
    if op.tx.executions.get(execution_id, document=False) is None:
        raise NotFound("WorkflowExecution", execution_id)


def refuse_update(op: Operation) -> None:
    """Contexts are immutable: make a new one instead."""
    assert op.current is not None
    raise FailedPrecondition("ExecutionContext", op.current["id"], "execution contexts are immutable")
