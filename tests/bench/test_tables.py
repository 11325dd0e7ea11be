"""The benchmark's tables: each figure is the median of its rounds; ratios use those."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import run  # noqa: E402


def _line(engine: str, per_step_ms: float | None, error: str | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"engine": engine, "workload": "chain", "n": 100, "per_step_ms": per_step_ms}
    if error is not None:
        line["error"] = error
    return line


def test_each_figure_is_the_median_of_its_rounds_and_a_failed_round_is_left_out() -> None:
    results = [
        _line("treadle-sqlite", 0.1),
        _line("langgraph", 1.0),
        _line("treadle-sqlite", 0.3),  # a slow minute
        _line("langgraph", 0.8),
        _line("treadle-sqlite", 0.2),
        _line("langgraph", None, error="timed out"),
        _line("dbos-sqlite", None, error="install failed"),
    ]
    header, rows, ratio_header, ratio_rows = run.tables(results)
    assert header == ["workload", "n", "metric", "treadle-sqlite", "dbos-sqlite", "langgraph"]
    assert rows == [["chain", "100", "per_step_ms", "0.2", "err", "0.9"]]
    assert ratio_header == ["workload", "n", "treadle", "dbos-sqlite", "langgraph"]
    assert ratio_rows == [["chain", "100", "treadle-sqlite", "-", "0.222"]]
