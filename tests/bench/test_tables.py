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


def _floor(engine: str, per_step_ms: float) -> dict[str, Any]:
    return {"engine": engine, "workload": "commit", "n": 1000, "per_step_ms": per_step_ms}


def test_the_floors_are_the_medians_of_their_rounds_and_treadles_step_is_divided_by_the_steps() -> None:
    results = [
        _floor("floor-sqlite-step", 0.021),
        _line("treadle-sqlite", 0.10),
        _line("treadle-sqlite-async", 0.06),
        _floor("floor-sqlite-step", 0.017),  # a faster minute of the machine
        _line("treadle-sqlite", 0.12),
        _line("treadle-sqlite-async", 0.07),
        _floor("floor-sqlite-step", 0.02),
        _floor("floor-sqlite-wal-normal", 0.013),
        _floor("floor-sqlite-step-full", 0.3),
        _line("treadle-sqlite-full", 0.45),
        {**_floor("floor-postgres-socket", 0.0), "per_step_ms": None, "error": "no server"},
    ]
    assert run.floor_lines(results) == [
        "floor floor-sqlite-step: 0.02 ms per commit (rounds 0.021, 0.017, 0.02)",
        "floor floor-sqlite-wal-normal: 0.013 ms per commit",
        "floor floor-sqlite-step-full: 0.3 ms per commit",
        "chain per step / floor-sqlite-step: treadle-sqlite 5.50x",
        "chain per step / floor-sqlite-step: treadle-sqlite-async 3.25x",
        "chain per step / floor-sqlite-step-full: treadle-sqlite-full 1.50x",
    ]
    assert run.markdown(results).endswith(
        "- chain per step / floor-sqlite-step-full: treadle-sqlite-full 1.50x"
    )


def test_without_a_step_floor_there_is_no_ratio_to_it() -> None:
    results = [_line("treadle-sqlite", 0.1), _floor("floor-sqlite-wal-normal", 0.013)]
    assert run.floor_lines(results) == ["floor floor-sqlite-wal-normal: 0.013 ms per commit"]
