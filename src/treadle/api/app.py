"""`create_app`: the HTTP API over a `ResourceService`, with its runtime, as a FastAPI app.

The routes are thin: each parses the request, calls the service (in the threadpool: the
service is synchronous) or the execution control, and returns a model. Errors become
problem+json in `problems`; the OpenAPI document at `/openapi.json` names every body,
response and problem.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

import treadle
from treadle.api import cloudevents, contexts, events, executions, health, instances, metrics, workflows
from treadle.api.auth import TokenMiddleware
from treadle.api.logging import RequestLogMiddleware
from treadle.api.metrics import Metrics, MetricsMiddleware
from treadle.api.problems import Problem, install_problem_handlers
from treadle.api.state import AppState, Runtime
from treadle.resources import (
    ExecutionContext,
    ExecutionStatusUpdate,
    ResourceService,
    Workflow,
    WorkflowExecution,
    WorkflowInstance,
)
from treadle.resources.control import ExecutionControl
from treadle.settings import Settings

__all__ = ["create_app"]

#: Models whose validation schema documents a request body, as `<Name>Body`.
BODY_MODELS: tuple[type[BaseModel], ...] = (
    Workflow,
    WorkflowInstance,
    WorkflowExecution,
    ExecutionContext,
    ExecutionStatusUpdate,
)

DESCRIPTION = """The treadle control plane: workflows, instances, executions and execution
contexts, all in one envelope (`apiVersion`, `kind`, `metadata`, `spec`, `status`).
Bodies are JSON or YAML (`Content-Type: application/yaml`). Errors are
`application/problem+json` with `errors[]` pointing into the request."""


def create_app(
    service: ResourceService,
    control: ExecutionControl | None = None,
    runtime: Runtime | None = None,
    settings: Settings | None = None,
    *,
    token: str | None = None,
    poll_interval: float = 0.15,
    heartbeat_interval: float = 15.0,
) -> FastAPI:
    """The HTTP API.

    Args:
        service: the control plane the routes call.
        control: cancels, suspends, resumes executions and delivers events; defaults to
            `runtime` when that implements it. Without one those routes answer 503.
        runtime: a worker started and stopped with the app; `/ready` requires it running.
        settings: the process settings, kept for the routes that need them.
        token: when set, every request but the probes needs `Authorization: Bearer <token>`.
        poll_interval: how often event streams look for new journal entries (s).
        heartbeat_interval: how often idle event streams send a heartbeat comment (s).
    """
    if control is None and runtime is not None and callable(getattr(runtime, "cancel", None)):
        control = runtime  # type: ignore[assignment]
    state = AppState(
        service=service,
        control=control,
        runtime=runtime,
        settings=settings,
        token=token or None,
        poll_interval=poll_interval,
        heartbeat_interval=heartbeat_interval,
    )
    collected = Metrics(service.store)
    state.extra["metrics"] = collected

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(collected.mark)
        if runtime is not None:
            await runtime.start()
        try:
            yield
        finally:
            if runtime is not None:
                await runtime.stop()

    app = FastAPI(
        title="treadle",
        version=treadle.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.treadle = state
    install_problem_handlers(app)
    # A request is matched against every route of each router in turn: the execution routes,
    # which clients call once per run and poll, come first rather than after ~15 others.
    for module in (executions, events, workflows, instances, contexts, cloudevents, health, metrics):
        app.include_router(module.router)
    if state.token:
        app.add_middleware(TokenMiddleware, token=state.token)
    app.add_middleware(MetricsMiddleware, metrics=collected)
    app.add_middleware(RequestLogMiddleware)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _openapi(app, secured=state.token is not None)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI, *, secured: bool) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    for model in BODY_MODELS:
        body = model.model_json_schema(mode="validation", ref_template="#/components/schemas/{model}Body")
        for name, definition in body.pop("$defs", {}).items():
            components[f"{name}Body"] = definition
        components[f"{model.__name__}Body"] = body
    if secured:
        schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"bearer": []}]
    return schema
