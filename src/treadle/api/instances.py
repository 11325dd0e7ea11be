"""`/v1/workflow-instances`: configured deployments of a workflow."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from treadle.api.collection import collection_router
from treadle.resources import WorkflowInstance

__all__ = ["router"]


async def instance_filters(
    workflow_id: Annotated[
        str | None, Query(max_length=200, description="Instances of this workflow.")
    ] = None,
) -> dict[str, Any]:
    """The filters only instances have."""
    return {"workflow_id": workflow_id}


router = collection_router(
    WorkflowInstance, "/v1/workflow-instances", tag="workflow-instances", filters=instance_filters
)
