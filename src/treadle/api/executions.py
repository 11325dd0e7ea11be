"""`/v1/workflow-executions`: runs, their status reports, control requests and run records."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from treadle.api.bodies import body_schema, read_body
from treadle.api.collection import as_utc, collection_router
from treadle.api.problems import problems
from treadle.api.state import AppState, EndingRuntime, app_state
from treadle.resources import TERMINAL, ExecutionStatusUpdate, NotFound, Resource, WorkflowExecution
from treadle.resources.phases import Phase
from treadle.resources.service import MAX_BATCH, ResourceService
from treadle.store import Decision, Stage

__all__ = ["StageList", "router"]

#: The longest a `:wait` request is held: proxies and clients give up on quiet requests.
MAX_WAIT_SECONDS = 60.0

ExecutionId = Annotated[str, Path(max_length=200, description="The execution's id (`wex-…`).")]


async def execution_filters(
    workflow_id: Annotated[str | None, Query(max_length=200, description="Runs of this workflow.")] = None,
    instance_id: Annotated[str | None, Query(max_length=200, description="Runs of this instance.")] = None,
    phase: Annotated[list[Phase] | None, Query(description="In one of these phases (repeatable).")] = None,
    completed_after: Annotated[datetime | None, Query(description="Completed at or after.")] = None,
    completed_before: Annotated[datetime | None, Query(description="Completed before.")] = None,
) -> dict[str, Any]:
    """The filters only executions have."""
    return {
        "workflow_id": workflow_id,
        "instance_id": instance_id,
        "phase": phase or None,
        "completed_after": as_utc(completed_after),
        "completed_before": as_utc(completed_before),
    }


def _wake(request: Request, created: Resource) -> None:
    # One the runtime took as it was created is running already: no need to look for it.
    if isinstance(created, WorkflowExecution) and created.status.phase == "pending":
        app_state(request).wake_runtime()


router = collection_router(
    WorkflowExecution,
    "/v1/workflow-executions",
    tag="workflow-executions",
    filters=execution_filters,
    after_create=_wake,
)


class StageOut(BaseModel):
    """One run of one task: `node` is the task path; snapshots have secrets redacted."""

    node: str
    status: str
    iteration: int
    input: Any = None
    output: Any = None
    error: Any = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: float | None = None


class DecisionOut(BaseModel):
    """One branch taken: from a task to another, because a case gave a result."""

    from_node: str
    to_node: str | None = None
    case_name: str | None = None
    result: Any = None
    reason: str
    at: datetime


class StageList(BaseModel):
    """Every stage of an execution, oldest first."""

    items: list[StageOut]
    total: int


class DecisionList(BaseModel):
    """Every decision of an execution, oldest first."""

    items: list[DecisionOut]
    total: int


def _stages(service: ResourceService, id: str) -> list[Stage]:
    service.get(WorkflowExecution, id)
    with service.store.begin(write=False) as tx:
        return tx.stages.list(id)


def _decisions(service: ResourceService, id: str) -> list[Decision]:
    service.get(WorkflowExecution, id)
    with service.store.begin(write=False) as tx:
        return tx.decisions.list(id)


@router.get(
    "/{id}/stages", response_model=StageList, summary="An execution's stages", responses=problems(404, 422)
)
async def list_stages(request: Request, id: ExecutionId) -> Any:
    """One stage per task run, with its input, output, duration and error."""
    stages = await run_in_threadpool(_stages, app_state(request).service, id)
    return {"items": [asdict(stage) for stage in stages], "total": len(stages)}


@router.get(
    "/{id}/decisions",
    response_model=DecisionList,
    summary="An execution's decisions",
    responses=problems(404, 422),
)
async def list_decisions(request: Request, id: ExecutionId) -> Any:
    """One decision per branch taken: which case matched, or the default, and why."""
    decisions = await run_in_threadpool(_decisions, app_state(request).service, id)
    return {"items": [asdict(decision) for decision in decisions], "total": len(decisions)}


@router.put(
    "/{id}/status",
    response_model=WorkflowExecution,
    summary="Report an execution's status (the runtime's UpdateStatus)",
    openapi_extra=body_schema(ExecutionStatusUpdate, description="fields to merge into the status"),
    responses=problems(400, 404, 409, 412, 413, 415, 422),
)
async def update_status(request: Request, id: ExecutionId) -> Any:
    """Merge phase, tasks (by path), output, error and times into the status."""
    data = await read_body(request)
    return await run_in_threadpool(app_state(request).service.update_execution_status, id, data)


def _control_route(action: str, summary: str) -> None:
    @router.post(
        f"/{{id}}:{action}",
        response_model=WorkflowExecution,
        summary=summary,
        responses=problems(404, 412, 422, 503),
        operation_id=f"{action}_execution",
    )
    async def control(request: Request, id: ExecutionId) -> Any:
        state = app_state(request)
        await run_in_threadpool(state.service.get, WorkflowExecution, id)  # 404 before 503
        method = getattr(state.require_control(), action)
        result = await run_in_threadpool(method, id)
        state.wake_runtime()
        return result

    control.__doc__ = summary


class WaitRequest(BaseModel):
    """Executions to wait for, and for how long at most."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[str, StringConstraints(max_length=200)]] = Field(
        min_length=1, max_length=MAX_BATCH, description="Execution ids (`wex-…`)."
    )
    timeout: float = Field(
        30.0, ge=0, le=MAX_WAIT_SECONDS, description="Answer after this many seconds at most."
    )


class ExecutionPhase(BaseModel):
    """An execution's phase."""

    id: str
    phase: Phase


class WaitResult(BaseModel):
    """The phase of each execution, in the order asked; `ended` when all have ended."""

    items: list[ExecutionPhase]
    ended: bool


@router.post(
    ":wait",
    response_model=WaitResult,
    summary="Wait until executions end",
    description=(
        f"Answers as soon as every one of the executions (up to {MAX_BATCH}) has ended, or after "
        f"`timeout` seconds (at most {MAX_WAIT_SECONDS:g}) with `ended: false`: ask again to wait "
        "longer. An execution that ends in this server's runtime is answered at once; one run "
        "elsewhere is seen within a poll."
    ),
    responses=problems(400, 404, 413, 422),
)
async def wait_executions(request: Request, body: WaitRequest) -> Any:
    state = app_state(request)
    try:
        if isinstance(state.runtime, EndingRuntime):
            phases = await state.runtime.wait_many(body.ids, timeout=body.timeout)
        else:
            phases = await _poll_phases(state, body.ids, body.timeout)
    except NotFound as error:
        raise error.within(f"/ids/{body.ids.index(str(error.ref))}") from None
    items = [{"id": id, "phase": phases[id]} for id in body.ids]
    return {"items": items, "ended": all(item["phase"] in TERMINAL for item in items)}


async def _poll_phases(state: AppState, ids: list[str], timeout: float) -> dict[str, str]:
    """Without a runtime in this server, the store says, read every `poll_interval`."""
    deadline = time.monotonic() + timeout
    while True:
        phases = await run_in_threadpool(state.service.execution_phases, ids)
        left = deadline - time.monotonic()
        if left <= 0 or all(phase in TERMINAL for phase in phases.values()):
            return phases
        await asyncio.sleep(min(state.poll_interval, left))


_control_route("cancel", "Cancel an execution: phase `cancelled`; no `catch` runs")
_control_route("suspend", "Suspend an execution after the effects in flight")
_control_route("resume", "Resume a suspended execution where it paused")
