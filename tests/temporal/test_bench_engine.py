"""The benchmark's `treadle-temporal` engine runs its workloads on a real dev server and
keeps the JSON-line contract (no timings are checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.temporal.devserver import DevServer

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = {"engine", "workload", "n", "seconds", "per_step_ms", "rss_mb", "versions"}


@pytest.mark.parametrize("workload", ["chain", "throughput"])
def test_treadle_temporal_prints_one_contract_line(temporal_server: DevServer, workload: str) -> None:
    command = [sys.executable, str(ROOT / "bench" / "treadle_bench.py"), "--engine", "treadle-temporal",
               "--workload", workload, "--n", "3", "--warmup", "0", "--repeats", "1", "--min-seconds", "0",
               "--temporal-address", temporal_server.address]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert finished.returncode == 0, finished.stderr
    (line,) = [json.loads(text) for text in finished.stdout.splitlines() if text.strip()]
    assert CONTRACT <= line.keys()
    assert "error" not in line, line["error"]
    assert (line["engine"], line["workload"], line["n"]) == ("treadle-temporal", workload, 3)
    assert line["versions"]["temporalio"] != "not installed"


def test_treadle_temporal_without_a_server_says_what_it_needs() -> None:
    command = [sys.executable, str(ROOT / "bench" / "treadle_bench.py"), "--engine", "treadle-temporal",
               "--workload", "chain", "--n", "3"]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    (line,) = [json.loads(text) for text in finished.stdout.splitlines() if text.strip()]
    assert "needs --temporal-address" in line["error"]
