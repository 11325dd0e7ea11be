"""`GET /v1/workflow-executions/{id}/events`: an execution's journal as Server-Sent Events.

Each streamed journal entry (`STREAMED_JOURNAL_TYPES`) is one event: `id` its journal
seq, `event` its type, `data` its JSON data. `Last-Event-ID` (or `?after=`) resumes after
that seq, so a client that reconnects loses nothing. The journal is polled; idle streams
send a comment as heartbeat. The stream ends after the terminal `phase` event, or at
once after replaying history when the execution has already ended.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from treadle.api.problems import ApiProblem, problems
from treadle.api.state import AppState, app_state
from treadle.resources import TERMINAL, NotFound, WorkflowExecution
from treadle.resources.control import STREAMED_JOURNAL_TYPES
from treadle.store import JournalEvent

__all__ = ["format_event", "router"]

router = APIRouter(prefix="/v1/workflow-executions", tags=["workflow-executions"])

BATCH = 500


def format_event(event: JournalEvent) -> str:
    """One SSE message: `id`, `event` and a single `data` line of JSON."""
    data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n"


def _is_end(event: JournalEvent) -> bool:
    return event.type == "phase" and isinstance(event.data, dict) and event.data.get("phase") in TERMINAL


def _read(state: AppState, execution_id: str, after: int) -> list[JournalEvent]:
    with state.service.store.begin(write=False) as tx:
        return tx.journal.read(execution_id, after=after, limit=BATCH)


def _has_ended(state: AppState, execution_id: str) -> bool:
    try:
        return state.service.get(WorkflowExecution, execution_id).status.phase in TERMINAL
    except NotFound:  # deleted while streaming: nothing more will come
        return True


async def _stream(state: AppState, request: Request, execution_id: str, after: int) -> AsyncIterator[str]:
    yield "retry: 1000\n\n"
    last_sent = time.monotonic()
    while True:
        events = await run_in_threadpool(_read, state, execution_id, after)
        for event in events:
            after = event.seq
            if event.type in STREAMED_JOURNAL_TYPES:
                yield format_event(event)
                last_sent = time.monotonic()
                if _is_end(event):
                    return
        if len(events) == BATCH:
            continue
        if not events and await run_in_threadpool(_has_ended, state, execution_id):
            # Ended without a terminal phase entry after `after` (or it was before it):
            # flush whatever was written meanwhile, then close.
            for event in await run_in_threadpool(_read, state, execution_id, after):
                if event.type in STREAMED_JOURNAL_TYPES:
                    yield format_event(event)
            return
        if await request.is_disconnected():
            return
        if time.monotonic() - last_sent >= state.heartbeat_interval:
            yield ": heartbeat\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(state.poll_interval)


@router.get(
    "/{id}/events",
    summary="Stream an execution's events (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`text/event-stream`: phase, task.* and decision events; ends with the run.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problems(400, 404, 422),
    },
)
async def stream_events(
    request: Request,
    id: Annotated[str, Path(max_length=200, description="The execution's id.")],
    after: Annotated[
        int | None, Query(ge=0, description="Resume after this seq (for clients that cannot set headers).")
    ] = None,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description="Resume after this seq.")
    ] = None,
) -> Any:
    """Replay the execution's events from the start (or after `Last-Event-ID`), then follow."""
    state = app_state(request)
    start = after or 0
    if last_event_id is not None and last_event_id.strip():
        try:
            start = max(start, int(last_event_id))
        except ValueError:
            raise ApiProblem.at(
                400,
                "last-event-id",
                "/header/Last-Event-ID",
                "Last-Event-ID must be a journal seq (an integer)",
            ) from None
    await run_in_threadpool(state.service.get, WorkflowExecution, id)  # 404 before the stream starts
    return StreamingResponse(
        _stream(state, request, id, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
