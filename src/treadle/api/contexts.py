"""`/v1/execution-contexts`: immutable runtime values of one execution; secrets never echoed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from treadle.api.collection import collection_router
from treadle.resources import ExecutionContext

__all__ = ["router"]


async def context_filters(
    execution_id: Annotated[
        str | None, Query(max_length=200, description="Contexts of this execution.")
    ] = None,
) -> dict[str, Any]:
    """The filters only contexts have."""
    return {"execution_id": execution_id}


router = collection_router(
    ExecutionContext, "/v1/execution-contexts", tag="execution-contexts", filters=context_filters
)
