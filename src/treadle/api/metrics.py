"""`GET /metrics`: Prometheus metrics from a registry of the app's own (not the global one).

- `treadle_http_request_duration_seconds{method,route,status}`: time to the response's first
  byte (an event stream counts until it starts), by route template.
- `treadle_executions{phase}` and `treadle_queue_depth` (executions pending a worker): read
  from the store at each scrape.
- `treadle_task_duration_seconds{status}` and `treadle_execution_duration_seconds{phase}`:
  task runs (stages) and executions that ended since the app started, caught up at each
  scrape from the store, so they count the work of every worker on that store. Task runs
  are the journal's entries that end one (each keeps when its run started), read in the
  order the journal was appended (its global `id`).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest
from sqlalchemy import and_, func, or_, select
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from treadle.api.state import app_state
from treadle.resources.phases import PHASES
from treadle.store import Store, metadata

__all__ = ["Metrics", "MetricsMiddleware", "router"]

router = APIRouter(tags=["operations"])

_EXECUTIONS = metadata.tables["workflow_executions"]
_JOURNAL = metadata.tables["execution_journal"]
_DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
_BATCH = 5000


class Metrics:
    """The app's metrics and the watermarks of what it has already observed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.registry = CollectorRegistry()
        self.http_latency = Histogram(
            "treadle_http_request_duration_seconds",
            "HTTP request latency (to the first byte of the response).",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.executions = Gauge(
            "treadle_executions", "Executions in the store, by phase.", ["phase"], registry=self.registry
        )
        self.queue_depth = Gauge(
            "treadle_queue_depth", "Executions pending, waiting for a worker.", registry=self.registry
        )
        self.task_duration = Histogram(
            "treadle_task_duration_seconds",
            "Duration of task runs (stages) that ended, by status.",
            ["status"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.execution_duration = Histogram(
            "treadle_execution_duration_seconds",
            "Duration of executions that ended, by phase.",
            ["phase"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self._lock = threading.Lock()
        self._journal_mark = 0
        self._completed_mark: tuple[datetime, str] | None = None
        self._marked = False

    def mark(self) -> None:
        """Start counting durations from now: what ended before is not observed."""
        with self._lock, self.store.begin(write=False) as tx:
            conn = tx.connection
            self._journal_mark = conn.execute(select(func.coalesce(func.max(_JOURNAL.c.id), 0))).scalar_one()
            last = conn.execute(
                select(_EXECUTIONS.c.completed_at, _EXECUTIONS.c.id)
                .where(_EXECUTIONS.c.completed_at.is_not(None))
                .order_by(_EXECUTIONS.c.completed_at.desc(), _EXECUTIONS.c.id.desc())
                .limit(1)
            ).first()
            self._completed_mark = (last[0], last[1]) if last is not None else None
            self._marked = True

    def refresh(self) -> None:
        """Read the phase counts and observe the durations of what ended since the last scrape."""
        if not self._marked:
            self.mark()
        with self._lock, self.store.begin(write=False) as tx:
            conn = tx.connection
            rows = conn.execute(select(_EXECUTIONS.c.phase, func.count()).group_by(_EXECUTIONS.c.phase))
            counts: dict[str, int] = {str(phase): int(count) for phase, count in rows}
            for phase in PHASES:
                self.executions.labels(phase=phase).set(counts.get(phase, 0))
            self.queue_depth.set(counts.get("pending", 0))
            self._observe_tasks(conn)
            self._observe_executions(conn)

    def _observe_tasks(self, conn: Any) -> None:
        j = _JOURNAL.c
        rows = conn.execute(
            select(j.id, j.type, j.data, j.at)
            .where(j.id > self._journal_mark, j.type.like("task.%"), j.type != "task.started")
            .order_by(j.id)
            .limit(_BATCH)
        ).all()
        for entry_id, type, data, at in rows:
            self._journal_mark = entry_id
            started = data.get("started_at") if isinstance(data, dict) else None
            if isinstance(started, str):  # entries journalled before it was kept have none
                seconds = (at - datetime.fromisoformat(started)).total_seconds()
                self.task_duration.labels(status=type.removeprefix("task.")).observe(max(seconds, 0.0))

    def _observe_executions(self, conn: Any) -> None:
        statement = select(
            _EXECUTIONS.c.id, _EXECUTIONS.c.completed_at, _EXECUTIONS.c.phase, _EXECUTIONS.c.body
        )
        statement = statement.where(_EXECUTIONS.c.completed_at.is_not(None))
        if self._completed_mark is not None:
            at, last_id = self._completed_mark
            statement = statement.where(
                or_(
                    _EXECUTIONS.c.completed_at > at,
                    and_(_EXECUTIONS.c.completed_at == at, _EXECUTIONS.c.id > last_id),
                )
            )
        rows = conn.execute(
            statement.order_by(_EXECUTIONS.c.completed_at, _EXECUTIONS.c.id).limit(_BATCH)
        ).all()
        for execution_id, completed_at, phase, body in rows:
            self._completed_mark = (completed_at, execution_id)
            started = _started_at(body)
            if started is not None:
                seconds = (completed_at - started).total_seconds()
                self.execution_duration.labels(phase=phase).observe(max(seconds, 0.0))

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


def _started_at(body: Any) -> datetime | None:
    status = body.get("status") if isinstance(body, dict) else None
    value = status.get("started_at") if isinstance(status, dict) else None
    if not isinstance(value, str):
        return None
    try:
        started = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return started if started.tzinfo is not None else None


class MetricsMiddleware:
    """Times each HTTP request to its response's first byte, labelled by route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                self.metrics.http_latency.labels(
                    method=scope["method"], route=template, status=str(message["status"])
                ).observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, timed_send)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text format", "content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(request: Request) -> Response:
    """Executions by phase, queue depth, task and execution durations, HTTP latency."""
    collected: Metrics = app_state(request).extra["metrics"]  # type: ignore[assignment]
    await run_in_threadpool(collected.refresh)
    return Response(collected.exposition(), media_type=CONTENT_TYPE_LATEST)
