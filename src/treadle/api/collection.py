"""One factory for the seven routes every kind has: create, list, apply, get, get by slug,
update and delete. Each kind's router module is a few lines over it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, StringConstraints
from starlette.concurrency import run_in_threadpool

from treadle.api.bodies import body_schema, read_body
from treadle.api.problems import problems
from treadle.api.state import app_state
from treadle.resources import InvalidArgument, ListQuery, Resource
from treadle.resources.service import MAX_BATCH

__all__ = [
    "Created",
    "ListParams",
    "ResourcePage",
    "as_utc",
    "collection_router",
    "list_params",
    "no_filters",
]

R = TypeVar("R", bound=BaseModel)

Id = Annotated[str, Path(max_length=200, description="The id (`wfl-…`, `win-…`, `wex-…`, `ctx-…`).")]


LabelPair = Annotated[str, StringConstraints(pattern=r"^[^=]+=.*$", max_length=600)]


class ResourcePage(BaseModel, Generic[R]):
    """One page of a list and the number of resources matching the filters."""

    items: list[R]
    total: int
    page: int
    page_size: int


class Created(BaseModel, Generic[R]):
    """The resources one batch created, in the order they were sent."""

    items: list[R]


def _batch_items(data: Any) -> list[Any]:
    """The `items` of a batch request body."""
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise InvalidArgument.at("/items", "type", 'send {"items": [resource, ...]}')
    return items


class ListParams(BaseModel):
    """Paging, sorting and the filters every kind has."""

    page: int
    page_size: int
    sort: str | None
    filters: dict[str, Any]


def as_utc(moment: datetime | None) -> datetime | None:
    """A query time as aware UTC: a time without an offset is taken to be UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# The list dependencies are `async def` though they never await: FastAPI runs a plain
# `def` dependency in the threadpool, and two thread hops per list request cost more than
# the list itself (they are pure and take microseconds).
async def list_params(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number.")] = 1,
    page_size: Annotated[int, Query(ge=1, le=1000, description="Items per page (≤ 1000).")] = 50,
    sort: Annotated[
        str | None,
        Query(max_length=200, description="Comma-separated keys, `-` for descending: `-created_at,name`."),
    ] = None,
    org: Annotated[str | None, Query(max_length=63, description="Organization scope.")] = None,
    owner: Annotated[str | None, Query(max_length=253, description="Owning user.")] = None,
    labels: Annotated[
        list[LabelPair] | None,
        Query(description="`key=value`; repeat for several (all must match)."),
    ] = None,
    created_after: Annotated[datetime | None, Query(description="Created at or after (ISO 8601).")] = None,
    created_before: Annotated[datetime | None, Query(description="Created before (ISO 8601).")] = None,
) -> ListParams:
    """The query parameters common to every list."""
    pairs = dict(label.split("=", 1) for label in labels or [])
    filters = {
        "org": org,
        "owner": owner,
        "labels": pairs or None,
        "created_after": as_utc(created_after),
        "created_before": as_utc(created_before),
    }
    return ListParams(page=page, page_size=page_size, sort=sort, filters=filters)


def _batch_body(request_body: dict[str, Any], kind: str) -> dict[str, Any]:
    """The OpenAPI body of a batch: `{"items": [...]}` of the kind's own body."""
    content = request_body["requestBody"]["content"]
    item = next(iter(content.values()))["schema"]
    schema = {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": item}},
    }
    return body_schema(schema, description=f"{kind}s to create (JSON or YAML)")


async def no_filters() -> dict[str, Any]:
    """A kind with only the common filters."""
    return {}


def collection_router(
    model: type[Resource],
    path: str,
    *,
    tag: str,
    filters: Callable[..., Awaitable[dict[str, Any]]] = no_filters,
    body: dict[str, Any] | None = None,
    after_create: Callable[[Request, Resource], None] | None = None,
) -> APIRouter:
    """The standard routes of one kind under `path` (`/v1/workflows`).

    Args:
        model: the kind's model; responses are documented with it.
        path: the collection's path.
        tag: OpenAPI tag.
        filters: a FastAPI dependency returning the kind's own list filters (`async def`,
            so it runs on the event loop rather than in the threadpool).
        body: the OpenAPI request body (defaults to the model's envelope, JSON or YAML).
        after_create: called with each created resource (e.g. wake the runtime).
    """
    kind = str(model.model_fields["kind"].default)
    router = APIRouter(prefix=path, tags=[tag])
    request_body = body or body_schema(model, description=f"a {kind} (JSON or YAML)")
    page_model = ResourcePage[model]  # type: ignore[valid-type]

    @router.post(
        "",
        status_code=201,
        response_model=model,
        summary=f"Create a {kind}",
        openapi_extra=request_body,
        responses=problems(400, 404, 409, 413, 415, 422),
    )
    async def create(request: Request) -> Any:
        data = await read_body(request)
        created = await run_in_threadpool(app_state(request).service.create, data, kind=kind)
        if after_create is not None:
            after_create(request, created)
        return created

    @router.post(
        ":batch",
        status_code=201,
        response_model=Created[model],  # type: ignore[valid-type]
        summary=f"Create many {kind}s at once",
        description=(
            f'`{{"items": [...]}}`, up to {MAX_BATCH}, created in one transaction: all of them or none '
            "(an error's pointers start with `/items/<index>`). The answer lists them in order."
        ),
        openapi_extra=_batch_body(request_body, kind),
        responses=problems(400, 404, 409, 413, 415, 422),
    )
    async def create_many(request: Request) -> Any:
        items = _batch_items(await read_body(request))
        service = app_state(request).service
        created = await run_in_threadpool(service.create_many, items, kind=kind)
        if after_create is not None:
            for resource in created:
                after_create(request, resource)
        return {"items": created}

    @router.get(
        "",
        response_model=page_model,
        summary=f"List {kind}s",
        responses=problems(400, 422),
    )
    async def list_resources(
        request: Request,
        common: Annotated[ListParams, Depends(list_params)],
        # A default, not `Annotated`: string annotations cannot name the factory's locals.
        own: dict[str, Any] = Depends(filters),  # noqa: B008
    ) -> Any:
        query = ListQuery(
            page=common.page, page_size=common.page_size, sort=common.sort, **common.filters, **own
        )
        return await run_in_threadpool(app_state(request).service.list, model, query)

    @router.post(
        ":apply",
        response_model=model,
        status_code=200,
        summary=f"Create or update a {kind} by slug",
        description="201 when created, 200 when an existing one was updated.",
        openapi_extra=request_body,
        responses={201: {"description": "Created", "model": model}, **problems(400, 404, 409, 413, 415, 422)},
    )
    async def apply(request: Request, response: Response) -> Any:
        data = await read_body(request)
        applied = await run_in_threadpool(app_state(request).service.apply, data, kind=kind)
        if applied.metadata.version == 1:
            response.status_code = 201
            if after_create is not None:
                after_create(request, applied)
        return applied

    @router.get(
        "/by-slug/{slug}",
        response_model=model,
        summary=f"Get a {kind} by slug",
        responses=problems(404, 422),
    )
    async def get_by_slug(
        request: Request,
        slug: Annotated[str, Path(max_length=200, description="The slug, unique in its scope.")],
        org: Annotated[str | None, Query(max_length=63, description="Organization scope.")] = None,
        owner: Annotated[str | None, Query(max_length=253, description="Owning user.")] = None,
    ) -> Any:
        service = app_state(request).service
        return await run_in_threadpool(service.get_by_ref, model, slug, org=org, owner=owner)

    @router.get("/{id}", response_model=model, summary=f"Get a {kind}", responses=problems(404, 422))
    async def get(request: Request, id: Id) -> Any:
        return await run_in_threadpool(app_state(request).service.get, model, id)

    @router.put(
        "/{id}",
        response_model=model,
        summary=f"Update a {kind}",
        description="Send `metadata.version` to refuse the update (409) if another write came first.",
        openapi_extra=request_body,
        responses=problems(400, 404, 409, 412, 413, 415, 422),
    )
    async def update(request: Request, id: Id) -> Any:
        data = await read_body(request)
        return await run_in_threadpool(app_state(request).service.update, data, id=id, kind=kind)

    @router.delete(
        "/{id}",
        response_model=model,
        summary=f"Delete a {kind}",
        description="Returns what was deleted. Active executions going along block it (412) unless `force`.",
        responses=problems(404, 412, 422),
    )
    async def delete(
        request: Request,
        id: Id,
        force: Annotated[bool, Query(description="Cancel active executions that go along.")] = False,
    ) -> Any:
        return await run_in_threadpool(app_state(request).service.delete, model, id, force=force)

    return router
