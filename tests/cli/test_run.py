"""`treadle run`: the output contract other tools rely on, and its exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.cli.conftest import REPO, Treadle

ORDER = """
document: { dsl: '1.0.3', namespace: test, name: order, version: '1.0.0' }
do:
  - price:
      set:
        id: ${ .id }
        total: ${ .qty * 3 }
  - route:
      switch:
        - big:
            when: .total > 10
            then: bulk
        - small:
            then: end
  - bulk:
      set:
        id: ${ .id }
        total: ${ .total }
        bulk: true
"""

FAULTY = """
document: { dsl: '1.0.3', namespace: test, name: faulty, version: '1.0.0' }
do:
  - ok:
      set: { a: 1 }
  - boom:
      raise:
        error:
          type: https://example.com/errors/out-of-stock
          status: 409
          title: Out of stock
          detail: ${ "item \\(.a) is gone" }
"""

SLOW = """
document: { dsl: '1.0.3', namespace: test, name: slow, version: '1.0.0' }
do:
  - nap:
      wait: PT60S
"""

CALLS_HTTP = """
document: { dsl: '1.0.3', namespace: test, name: pets, version: '1.0.0' }
do:
  - getPet:
      call: http
      with:
        method: get
        endpoint: ${ "http://127.0.0.1:\\(.port)/pets/\\(.id)" }
  - summarize:
      set:
        name: ${ .name }
        legs: ${ .legs }
"""


class _PetHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/pets/7":
            body = json.dumps({"id": 7, "name": "Rex", "legs": 4}).encode()
            self.send_response(200)
        else:
            body = json.dumps({"message": "no such pet"}).encode()
            self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def pet_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PetHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_run_prints_pretty_output_and_a_summary(treadle: Treadle, write: Callable[[str, str], Path]) -> None:
    flow = write("order.yaml", ORDER)
    result = treadle("run", str(flow), "--input", '{"id": 42, "qty": 5}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"id": 42, "total": 15, "bulk": True}
    assert result.stdout.startswith("{\n")
    assert result.stderr.startswith("completed")


def test_run_json_is_one_object_with_tasks_in_start_order(
    treadle: Treadle, write: Callable[[str, str], Path]
) -> None:
    flow = write("order.yaml", ORDER)
    result = treadle("run", str(flow), "--input", '{"id": 1, "qty": 1}', "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"id", "status", "output", "error", "tasks"}
    assert report["status"] == "completed"
    assert report["error"] is None
    assert report["output"] == {"id": 1, "total": 3}
    assert [task["name"] for task in report["tasks"]] == ["price", "route"]
    assert [task["path"] for task in report["tasks"]] == ["/do/0/price", "/do/1/route"]
    for task in report["tasks"]:
        assert set(task) == {"name", "path", "status", "started_at", "completed_at"}
        assert task["status"] == "completed"
        assert task["started_at"] <= task["completed_at"]


def test_input_file_accepts_json(treadle: Treadle, write: Callable[[str, str], Path]) -> None:
    flow = write("order.yaml", ORDER)
    given = write("in.json", '{"id": 9, "qty": 4}')
    result = treadle("run", str(flow), "--input-file", str(given), "--json")
    assert json.loads(result.stdout)["output"] == {"id": 9, "total": 12, "bulk": True}


def test_faulted_run_exits_one_with_the_problem_object(
    treadle: Treadle, write: Callable[[str, str], Path]
) -> None:
    flow = write("faulty.yaml", FAULTY)
    result = treadle("run", str(flow), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["status"] == "faulted"
    assert report["output"] is None
    assert report["error"] == {
        "type": "https://example.com/errors/out-of-stock",
        "status": 409,
        "title": "Out of stock",
        "detail": "item 1 is gone",
        "instance": "/do/1/boom",
    }
    assert [task["status"] for task in report["tasks"]] == ["completed", "faulted"]


def test_faulted_run_without_json_says_where_on_stderr(
    treadle: Treadle, write: Callable[[str, str], Path]
) -> None:
    flow = write("faulty.yaml", FAULTY)
    result = treadle("run", str(flow))
    assert result.returncode == 1
    assert "Out of stock" in result.stderr
    assert "/do/1/boom" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_document_exits_two_with_pointers(
    treadle: Treadle, write: Callable[[str, str], Path]
) -> None:
    flow = write("bad.yaml", ORDER.replace("then: bulk", "then: nowhere"))
    result = treadle("run", str(flow), "--json")
    assert result.returncode == 2
    assert f"{flow}: /do/1/route/switch/0/big/then: " in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["--input", "{not json"],
        ["--input", "{}", "--input-file", "in.json"],
        ["--input-file", "missing.json"],
    ],
)
def test_bad_input_is_a_usage_error(
    treadle: Treadle, write: Callable[[str, str], Path], args: list[str]
) -> None:
    flow = write("order.yaml", ORDER)
    result = treadle("run", str(flow), *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip()


def test_http_call_against_a_real_server(
    treadle: Treadle, write: Callable[[str, str], Path], pet_server: int
) -> None:
    flow = write("pets.yaml", CALLS_HTTP)
    result = treadle("run", str(flow), "--input", json.dumps({"port": pet_server, "id": 7}), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["output"] == {"name": "Rex", "legs": 4}


def test_http_404_faults_with_the_communication_error(
    treadle: Treadle, write: Callable[[str, str], Path], pet_server: int
) -> None:
    flow = write("pets.yaml", CALLS_HTTP)
    result = treadle("run", str(flow), "--input", json.dumps({"port": pet_server, "id": 1}), "--json")
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "https://serverlessworkflow.io/spec/1.0.0/errors/communication"
    assert error["status"] == 404
    assert error["instance"] == "/do/0/getPet"


def test_interrupt_cancels_the_run_and_exits_130(write: Callable[[str, str], Path], tmp_path: Path) -> None:
    flow = write("slow.yaml", SLOW)
    process = subprocess.Popen(
        [sys.executable, "-m", "treadle", "run", str(flow), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    time.sleep(2.5)  # let the interpreter start and reach the wait
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    report = json.loads(stdout)
    assert report["status"] == "cancelled"
    assert "Traceback" not in stderr


INTERRUPTED_WHILE_IMPORTING = """
import importlib.abc
import sys


class CtrlC(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "treadle.cli.run":
            raise KeyboardInterrupt  # the user's Ctrl-C, while the commands are imported
        return None


sys.meta_path.insert(0, CtrlC())
sys.argv = ["treadle", "run", sys.argv[1]]
from treadle.cli import main

main()
"""


def test_an_interrupt_while_the_commands_load_exits_130_without_a_traceback(
    write: Callable[[str, str], Path],
) -> None:
    flow = write("slow.yaml", SLOW)
    process = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_WHILE_IMPORTING, str(flow)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert process.returncode == 130, process.stderr
    assert "Traceback" not in process.stderr and process.stdout == ""


def test_task_times_are_iso_8601_utc(treadle: Treadle, write: Callable[[str, str], Path]) -> None:
    flow = write("order.yaml", ORDER)
    report = json.loads(treadle("run", str(flow), "--input", '{"id": 1, "qty": 1}', "--json").stdout)
    for task in report["tasks"]:
        for moment in (task["started_at"], task["completed_at"]):
            assert moment.endswith("Z") and "T" in moment
            datetime.fromisoformat(moment)
