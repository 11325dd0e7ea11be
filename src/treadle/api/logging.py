"""Logs as JSON lines (or text for people), each carrying the request id and, when the
code logging knows them, the execution id and task path.

Other layers pass those as `extra={"execution_id": ..., "task_path": ...}`; this module
only formats. `RequestLogMiddleware` gives each request an id (`X-Request-ID`, taken
from the request or made up), binds it for every log line the request causes, echoes
it in the response and logs one access line per request.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "JsonFormatter",
    "RequestLogMiddleware",
    "TextFormatter",
    "configure_logging",
    "request_id",
]

LogFormat = Literal["json", "text"]

request_id: ContextVar[str | None] = ContextVar("treadle_request_id", default=None)

# `color_message` is uvicorn's ANSI-coloured copy of the message: noise in both formats.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}
_CONTEXT_FIELDS = ("request_id", "execution_id", "task_path")

access_log = logging.getLogger("treadle.access")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    extra = {key: value for key, value in vars(record).items() if key not in _STANDARD}
    if "request_id" not in extra and (current := request_id.get()) is not None:
        extra["request_id"] = current
    return extra


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `ts level logger msg`, the context ids, any `extra`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(_fields(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`HH:MM:SS level logger: message key=value ...` for people."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = _fields(record)
        ordered = [k for k in _CONTEXT_FIELDS if k in fields] + [
            k for k in fields if k not in _CONTEXT_FIELDS
        ]
        tail = "".join(f" {key}={fields[key]}" for key in ordered)
        text = f"{moment} {record.levelname.lower():7} {record.name}: {record.getMessage()}{tail}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(log_format: LogFormat = "json", level: int | str = logging.INFO) -> None:
    """Send every logger (uvicorn's included) to stderr in `log_format`."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the access line is ours


class RequestLogMiddleware:
    """Bind a request id for the request's logs, echo it, log one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if 0 < len(given) <= 128 and given.isprintable() else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "request_id": rid,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )
            request_id.reset(token)
