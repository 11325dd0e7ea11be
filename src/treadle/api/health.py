"""`GET /health` (the process answers) and `GET /ready` (it can do its work).

Ready means: the store answers a query, its schema is at the migration this treadle
ships, and a worker is running to take executions. Probes need no token.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from treadle.api.problems import problem_response, problems
from treadle.api.state import AppState, app_state
from treadle.store import current_revision, head_revision

__all__ = ["Health", "Readiness", "check_readiness", "router"]

router = APIRouter(tags=["operations"])

_HEAD: list[str] = []


class Health(BaseModel):
    """The process is alive."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Each readiness check and its outcome (`ok` or what is wrong)."""

    status: Literal["ready", "not ready"]
    checks: dict[str, str]


def _head() -> str:
    if not _HEAD:
        _HEAD.append(head_revision())
    return _HEAD[0]


def check_readiness(state: AppState) -> dict[str, str]:
    """Run the readiness checks; each value is `ok` or the reason it failed."""
    checks: dict[str, str] = {}
    engine = state.service.store.engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["store"] = "ok"
    except Exception as error:  # any failure to reach the database means not ready
        checks["store"] = f"unreachable: {type(error).__name__}"
    if checks["store"] == "ok":
        current, head = current_revision(engine), _head()
        checks["migrations"] = "ok" if current == head else f"at {current}, expected {head}"
    else:
        checks["migrations"] = "unknown: store unreachable"
    runtime = state.runtime
    if runtime is None:
        checks["worker"] = "no worker in this process"
    else:
        checks["worker"] = "ok" if runtime.running else "stopped"
    return checks


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
async def health() -> Health:
    """Always `{"status": "ok"}` while the process serves requests."""
    return Health()


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness: store reachable, migrations current, worker running",
    responses=problems(503),
)
async def ready(request: Request) -> Any:
    """200 with every check `ok`, else a 503 problem whose `checks` say what is wrong."""
    checks = await run_in_threadpool(check_readiness, app_state(request))
    if all(value == "ok" for value in checks.values()):
        return Readiness(status="ready", checks=checks)
    failing = ", ".join(f"{name}: {value}" for name, value in checks.items() if value != "ok")
    response: JSONResponse = problem_response(
        503, "not-ready", f"not ready ({failing})", instance="/ready", checks=checks
    )
    return response
