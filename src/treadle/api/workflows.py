"""`/v1/workflows`: templates; a bare Serverless Workflow document is accepted as a body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from treadle.api.bodies import body_schema
from treadle.api.collection import ListParams, ResourcePage, collection_router, list_params
from treadle.api.problems import problems
from treadle.api.state import app_state
from treadle.resources import ListQuery, Workflow, WorkflowInstance

__all__ = ["router"]

BARE_DOCUMENT = {
    "title": "BareDocument",
    "type": "object",
    "description": "A Serverless Workflow document: `document.name` is the name, `namespace` the org.",
    "required": ["document", "do"],
    "properties": {"document": {"type": "object"}, "do": {"type": "array"}},
}

router = collection_router(
    Workflow,
    "/v1/workflows",
    tag="workflows",
    body=body_schema(
        Workflow, BARE_DOCUMENT, description="a Workflow, or a bare DSL document (JSON or YAML)"
    ),
)


@router.get(
    "/{id}/instances",
    response_model=ResourcePage[WorkflowInstance],
    summary="List a workflow's instances",
    responses=problems(400, 404, 422),
)
async def list_instances(
    request: Request,
    id: Annotated[str, Path(max_length=200, description="The workflow's id.")],
    common: Annotated[ListParams, Depends(list_params)],
) -> Any:
    """The instances deployed from one workflow, paged like every list."""
    service = app_state(request).service
    await run_in_threadpool(service.get, Workflow, id)
    query = ListQuery(
        page=common.page, page_size=common.page_size, sort=common.sort, workflow_id=id, **common.filters
    )
    return await run_in_threadpool(service.list, WorkflowInstance, query)
