"""Timeouts reach the outside: a task that times out aborts its HTTP call or process."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.cli.conftest import Treadle

TIMEOUT = "https://serverlessworkflow.io/spec/1.0.0/errors/timeout"

SLOW_CALL = """
document: { dsl: '1.0.3', namespace: test, name: slow-call, version: '1.0.0' }
do:
  - fetch:
      timeout:
        after: PT0.5S
      call: http
      with:
        method: get
        endpoint: ${ "http://127.0.0.1:\\(.port)/slow" }
"""

SLOW_PROCESS = """
document: { dsl: '1.0.3', namespace: test, name: slow-process, version: '1.0.0' }
do:
  - nap:
      timeout:
        after: PT0.5S
      run:
        shell:
          command: ${ "echo $$ > \\(.pidfile); exec sleep 30" }
"""


class _SlowServer(ThreadingHTTPServer):
    aborted = threading.Event()


class _Slow(BaseHTTPRequestHandler):
    server: _SlowServer

    def do_GET(self) -> None:
        # Dribble the response out; a client that gave up makes the writes fail.
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        try:
            for _ in range(100):
                time.sleep(0.1)
                self.wfile.write(b"x")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.server.aborted.set()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[_SlowServer]:
    server = _SlowServer(("127.0.0.1", 0), _Slow)
    server.aborted = threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_task_timeout_aborts_the_http_call(
    treadle: Treadle, write: Callable[[str, str], Path], slow_server: _SlowServer
) -> None:
    flow = write("slow.yaml", SLOW_CALL)
    result = treadle(
        "run", str(flow), "--input", json.dumps({"port": slow_server.server_address[1]}), "--json"
    )
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert (error["type"], error["status"], error["instance"]) == (TIMEOUT, 408, "/do/0/fetch")
    assert slow_server.aborted.wait(timeout=15), "the server kept sending: the request was not aborted"


def test_task_timeout_kills_the_process(
    treadle: Treadle, write: Callable[[str, str], Path], tmp_path: Path
) -> None:
    flow = write("nap.yaml", SLOW_PROCESS)
    pidfile = tmp_path / "pid"
    result = treadle(
        "run", str(flow), "--allow-run", "--input", json.dumps({"pidfile": str(pidfile)}), "--json"
    )
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert (error["type"], error["instance"]) == (TIMEOUT, "/do/0/nap")
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), f"process {pid} outlived its task"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
