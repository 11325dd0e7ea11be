"""`POST /v1/events`: CloudEvents 1.0 delivered to listening executions and `schedule.on`.

Structured mode: the body is the event (`application/cloudevents+json`, or JSON/YAML
carrying `specversion`); batched mode: `application/cloudevents-batch+json`, a list.
Binary mode: the attributes are `ce-*` headers and the body is `data`, typed by
`Content-Type` (JSON is parsed, other text kept as a string, bytes as `data_base64`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from treadle.api.bodies import MAX_BODY_BYTES, media_type, parse_body
from treadle.api.problems import ApiProblem, ProblemError, problems
from treadle.api.state import app_state

__all__ = ["Delivery", "from_binary", "router", "validate_event"]

router = APIRouter(tags=["events"])

REQUIRED = ("id", "source", "type")
BATCH_TYPE = "application/cloudevents-batch+json"

EVENT_SCHEMA: dict[str, Any] = {
    "title": "CloudEvent",
    "type": "object",
    "required": ["specversion", "id", "source", "type"],
    "properties": {
        "specversion": {"type": "string", "enum": ["1.0"]},
        "id": {"type": "string", "minLength": 1},
        "source": {"type": "string", "minLength": 1},
        "type": {"type": "string", "minLength": 1},
        "subject": {"type": "string"},
        "time": {"type": "string"},
        "datacontenttype": {"type": "string"},
        "dataschema": {"type": "string"},
        "data": {},
    },
}


class Delivery(BaseModel):
    """Which executions each accepted event woke or started."""

    events: list[str]
    executions: list[str]


def validate_event(event: Any, pointer: str = "") -> dict[str, Any]:
    """Check a CloudEvent's required attributes; returns it as a dict.

    Raises:
        ApiProblem: 400 listing every missing or malformed attribute.
    """
    if not isinstance(event, Mapping):
        raise ApiProblem.at(400, "cloudevent", pointer, "a CloudEvent must be an object")
    faults: list[ProblemError] = []
    if event.get("specversion") != "1.0":
        faults.append(
            ProblemError(
                pointer=f"{pointer}/specversion", code="specversion", message="specversion must be '1.0'"
            )
        )
    for name in REQUIRED:
        value = event.get(name)
        if not isinstance(value, str) or not value:
            faults.append(
                ProblemError(
                    pointer=f"{pointer}/{name}", code="required", message=f"{name} must be a non-empty string"
                )
            )
    if faults:
        raise ApiProblem(400, "invalid-cloudevent", "; ".join(f.message for f in faults), errors=faults)
    return dict(event)


def from_binary(headers: Mapping[str, str], body: bytes, content_type: str) -> dict[str, Any]:
    """A CloudEvent from binary mode: `ce-*` headers are the attributes, the body its data."""
    event: dict[str, Any] = {
        key[3:].lower(): value for key, value in headers.items() if key.lower().startswith("ce-")
    }
    if content_type:
        event["datacontenttype"] = content_type
    if body:
        media = content_type.split(";", 1)[0].strip().lower()
        if media == "application/json" or media.endswith("+json"):
            event["data"] = parse_body(body, "application/json", require_object=False)
        else:
            try:
                event["data"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["data_base64"] = base64.b64encode(body).decode("ascii")
    return event


async def _events_of(request: Request) -> list[dict[str, Any]]:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise ApiProblem(413, "body-too-large", f"the body exceeds {MAX_BODY_BYTES} bytes")
    media = media_type(request)
    if any(key.lower() == "ce-specversion" for key in request.headers):
        return [validate_event(from_binary(request.headers, body, request.headers.get("content-type", "")))]
    if media == BATCH_TYPE:
        batch = parse_body(body, "application/json", require_object=False)
        if not isinstance(batch, list):
            raise ApiProblem.at(400, "cloudevent-batch", "", "a batch is a JSON array of CloudEvents")
        return [validate_event(item, f"/{index}") for index, item in enumerate(batch)]
    return [validate_event(parse_body(body, media))]


@router.post(
    "/v1/events",
    status_code=202,
    response_model=Delivery,
    summary="Publish CloudEvents (structured, batched or binary mode)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/cloudevents+json": {"schema": EVENT_SCHEMA},
                "application/json": {"schema": EVENT_SCHEMA},
                BATCH_TYPE: {"schema": {"type": "array", "items": EVENT_SCHEMA}},
            },
        }
    },
    responses=problems(400, 413, 415, 503),
)
async def publish(request: Request) -> Any:
    """Deliver each event to the executions listening for it and the workflows it triggers."""
    state = app_state(request)
    events = await _events_of(request)
    control = state.require_control()
    woken: list[str] = []
    for event in events:
        for execution_id in await run_in_threadpool(control.deliver_event, event):
            if execution_id not in woken:
                woken.append(execution_id)
    state.wake_runtime()
    return Delivery(events=[str(e["id"]) for e in events], executions=woken)
