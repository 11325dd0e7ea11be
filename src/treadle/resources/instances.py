"""WorkflowInstance steps: the parent workflow must exist and share the instance's scope."""

from __future__ import annotations

from typing import Any

from treadle.resources.errors import InvalidArgument, NotFound
from treadle.resources.pipeline import Operation

__all__ = ["check_instance_scope", "check_parent_workflow", "instance_columns", "keep_workflow"]


def instance_columns(resource: Any) -> dict[str, Any]:
    """The indexed columns of an instance."""
    return {"workflow_id": resource.spec.workflow_id}


def check_parent_workflow(op: Operation) -> None:
    """The workflow named by `spec.workflow_id` must exist."""
    workflow_id = op.resource.spec.workflow_id
    workflow = op.tx.workflows.get(workflow_id)
    if workflow is None:
        raise NotFound("Workflow", workflow_id)
    op.scratch["workflow"] = workflow


def check_instance_scope(op: Operation) -> None:
    """An organization's workflow runs in that organization, or in a user's scope.

    A platform workflow may be instantiated anywhere. For a workflow of org `acme`, the
    instance must be in org `acme`, or user-scoped (an `owner`) with no other org.
    """
    workflow_org = op.scratch["workflow"]["org"]
    md = op.resource.metadata
    if not workflow_org or md.org == workflow_org or (md.org is None and md.owner):
        return
    raise InvalidArgument.at(
        "/metadata/org",
        "scope",
        f"workflow {op.resource.spec.workflow_id} belongs to org {workflow_org!r}: its instances must be "
        f"in that org or user-scoped, not in {('org ' + repr(md.org)) if md.org else 'the platform scope'}",
        kind="WorkflowInstance",
    )


def keep_workflow(op: Operation) -> None:
    """An instance cannot move to another workflow."""
    assert op.current is not None
    if op.resource.spec.workflow_id != op.current["workflow_id"]:
        raise InvalidArgument.at(
            "/spec/workflow_id",
            "immutable",
            f"an instance cannot change workflow (stored: {op.current['workflow_id']!r})",
            kind="WorkflowInstance",
        )
