"""`treadle run --runtime temporal` keeps the embedded run's output contract, and
`treadle worker --runtime temporal` serves runs started elsewhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from tests.temporal.devserver import DevServer

ORDER = """
document: { dsl: '1.0.3', namespace: test, name: order, version: '1.0.0' }
do:
  - price:
      set:
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
        total: ${ .total }
        bulk: true
"""

FAULTY = """
document: { dsl: '1.0.3', namespace: test, name: faulty, version: '1.0.0' }
do:
  - boom:
      raise:
        error:
          type: https://example.com/errors/out-of-stock
          status: 409
          title: Out of stock
"""


def _treadle(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "treadle", *args], capture_output=True, text=True, timeout=timeout
    )


def _comparable(report: dict[str, object]) -> dict[str, object]:
    tasks = report["tasks"]
    assert isinstance(tasks, list)
    return {
        "status": report["status"],
        "output": report["output"],
        "error": report["error"],
        "tasks": [(task["name"], task["path"], task["status"]) for task in tasks],
    }


def test_run_on_temporal_prints_what_the_embedded_run_prints(
    temporal_server: DevServer, tmp_path: Path
) -> None:
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    for text, given, code in ((ORDER, {"qty": 5}, 0), (ORDER, {"qty": 1}, 0), (FAULTY, {}, 1)):
        flow = tmp_path / "flow.yaml"
        flow.write_text(text)
        embedded = _treadle("run", str(flow), "--input", json.dumps(given), "--json")
        on_temporal = _treadle(
            "run", str(flow), "--input", json.dumps(given), "--json",
            "--runtime", "temporal", "--temporal-address", temporal_server.address, "--task-queue", queue,
        )  # fmt: skip
        assert (embedded.returncode, on_temporal.returncode) == (code, code), on_temporal.stderr
        report = json.loads(on_temporal.stdout)
        assert set(report) == {"id", "status", "output", "error", "tasks"}
        assert _comparable(report) == _comparable(json.loads(embedded.stdout))


def test_worker_process_serves_runs_started_elsewhere(temporal_server: DevServer, tmp_path: Path) -> None:
    queue = f"worker-{uuid.uuid4().hex[:8]}"
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "treadle", "worker", "--runtime", "temporal",
            "--temporal-address", temporal_server.address, "--task-queue", queue,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        flow = tmp_path / "order.yaml"
        flow.write_text(ORDER)
        result = _treadle(
            "run", str(flow), "--input", '{"qty": 5}', "--json", "--runtime", "temporal",
            "--temporal-address", temporal_server.address, "--task-queue", queue,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["output"] == {"total": 15, "bulk": True}
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)


def test_temporal_runtime_needs_an_address(tmp_path: Path) -> None:
    flow = tmp_path / "order.yaml"
    flow.write_text(ORDER)
    for command in (["run", str(flow)], ["worker"]):
        result = _treadle(*command, "--runtime", "temporal")
        assert result.returncode == 2
        assert "--temporal-address" in result.stderr
