"""Fixtures of the runtime tests: a service on each backend, a runtime factory, a counter
HTTP server on 127.0.0.1 that records requests per `Idempotency-Key`, and waiting helpers."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from treadle.resources import ResourceService, SecretCipher, Workflow, WorkflowExecution
from treadle.resources.phases import TERMINAL
from treadle.runtime.local import LocalRuntime, RuntimeSettings
from treadle.store import Store

FAST = RuntimeSettings(
    poll_seconds=0.05,
    lease_seconds=3.0,
    unload_after_seconds=0.3,
    idle_seconds=0.02,
    status_seconds=0.05,
    schedule_seconds=0.1,
    retention_sweep_seconds=3600,
)


def document(tasks: list[dict[str, Any]], name: str = "flow", **extra: Any) -> dict[str, Any]:
    """A DSL document running `tasks`."""
    return {
        "document": {"dsl": "1.0.3", "namespace": "tests", "name": name, "version": "1.0.0"},
        "do": tasks,
        **extra,
    }


@pytest.fixture
def service(store: Store) -> ResourceService:
    return ResourceService(store, SecretCipher.generate())


def create_workflow(service: ResourceService, doc: dict[str, Any], **spec: Any) -> str:
    name = doc["document"]["name"]
    created = service.create(
        Workflow.model_validate({"metadata": {"name": name}, "spec": {"document": doc, **spec}})
    )
    assert created.metadata.id is not None
    return created.metadata.id


def create_execution(service: ResourceService, workflow_id: str, input: Any = None, **spec: Any) -> str:
    created = service.create(
        WorkflowExecution.model_validate({"spec": {"workflow_id": workflow_id, "input": input, **spec}})
    )
    assert created.metadata.id is not None
    return created.metadata.id


async def wait_for(
    service: ResourceService,
    execution_id: str,
    phases: frozenset[str] | set[str] = TERMINAL,
    timeout: float = 20.0,
) -> WorkflowExecution:
    """Poll until the execution reaches one of `phases`."""
    deadline = time.monotonic() + timeout
    while True:
        execution = await asyncio.to_thread(service.get, WorkflowExecution, execution_id)
        if execution.status.phase in phases:
            return execution
        if time.monotonic() > deadline:
            raise AssertionError(f"{execution_id} stayed {execution.status.phase}, wanted {sorted(phases)}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running(
    service: ResourceService, settings: RuntimeSettings = FAST, **changes: Any
) -> AsyncIterator[LocalRuntime]:
    runtime = LocalRuntime(service, settings.with_changes(**changes) if changes else settings)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


@dataclass
class Counter:
    """What the counter server saw."""

    url: str
    requests: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    applied: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay: float = 0.0
    inflight: int = 0
    peak: int = 0

    def total(self) -> int:
        with self.lock:
            return sum(len(times) for times in self.requests.values())


def _handler(counter: Counter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            key = self.headers.get("idempotency-key") or ""
            with counter.lock:
                counter.requests[key].append(time.time())
                if key not in counter.applied:
                    counter.applied[key] = len(counter.applied) + 1
                counter.inflight += 1
                counter.peak = max(counter.peak, counter.inflight)
            if counter.delay:
                time.sleep(counter.delay)
            with counter.lock:
                counter.inflight -= 1
            reply = json.dumps({"value": (body.get("value") or 0) + 1}).encode()
            try:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the worker was killed while we answered

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # a whole worker's calls may connect at once
    daemon_threads = True


def serve_counter() -> tuple[Counter, ThreadingHTTPServer]:
    """Start a counter server on a free port of 127.0.0.1."""
    state = Counter("")
    server = _Server(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state, server


@pytest.fixture
def counter() -> Iterator[Counter]:
    state, server = serve_counter()
    yield state
    server.shutdown()
    server.server_close()
