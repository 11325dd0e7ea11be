"""The benchmark's treadle script keeps its JSON-line contract (no timings are checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = {"engine", "workload", "n", "seconds", "per_step_ms", "rss_mb", "versions"}


def test_treadle_memory_chain_prints_one_contract_line() -> None:
    command = [sys.executable, str(ROOT / "bench" / "treadle_bench.py"), "--engine", "treadle-memory",
               "--workload", "chain", "--n", "5", "--warmup", "0", "--repeats", "1"]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert finished.returncode == 0, finished.stderr
    (line,) = [json.loads(text) for text in finished.stdout.splitlines() if text.strip()]
    assert CONTRACT <= line.keys()
    assert (line["engine"], line["workload"], line["n"]) == ("treadle-memory", "chain", 5)
    assert "error" not in line
    assert isinstance(line["seconds"], float) and isinstance(line["per_step_ms"], float)
    assert line["versions"]["treadle"]


def test_the_floors_print_a_contract_line_each_the_step_floor_in_treadles_journal() -> None:
    command = [sys.executable, str(ROOT / "bench" / "sqlite_floor.py"), "--n", "20"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert finished.returncode == 0, finished.stderr
    lines = [json.loads(text) for text in finished.stdout.splitlines() if text.strip()]
    assert [line["engine"] for line in lines] == [
        "floor-sqlite-wal-normal",
        "floor-sqlite-wal-full",
        "floor-sqlite-rollback",
        "floor-sqlite-step",
        "floor-sqlite-step-full",
    ]
    for line in lines:
        assert CONTRACT <= line.keys() and "error" not in line
        assert isinstance(line["per_step_ms"], float)
