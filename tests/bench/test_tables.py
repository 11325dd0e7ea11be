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


def test_the_floors_are_the_medians_of_their_rounds_and_treadles_step_is_judged_against_its_own() -> None:
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
    ]
    assert run.target_lines(results) == [
        "chain / floor: treadle-sqlite 0.11 / floor-sqlite-step 0.02 = 5.5x (target <= 3x): missed",
        "chain / floor: treadle-sqlite-async 0.065 / floor-sqlite-step 0.02 = 3.25x (target <= 3x): missed",
        "chain / floor: treadle-sqlite-full 0.45 / floor-sqlite-step-full 0.3 = 1.5x (target <= 3x): holds",
    ]
    assert run.markdown(results).endswith(
        "- chain / floor: treadle-sqlite-full 0.45 / floor-sqlite-step-full 0.3 = 1.5x (target <= 3x): holds"
    )


def _at(workload: str, n: int, engine: str, value: float | None, **extra: Any) -> dict[str, Any]:
    return {"engine": engine, "workload": workload, "n": n, "per_step_ms": value, **extra}


def test_the_targets_compare_with_the_fastest_peer_that_persists_its_steps() -> None:
    results = [
        _at("chain", 100, "treadle-sqlite", 0.1),
        _at("chain", 100, "treadle-sqlite-async", 0.05),
        _at("chain", 100, "langgraph-memory", 0.2),  # keeps nothing: not a persisting peer
        _at("chain", 100, "langgraph-functional", 0.8),
        _at("chain", 100, "dbos-sqlite", 2.0),
        _at("chain", 100, "treadle-memory", 0.015),
        _at("chain", 100, "treadle-temporal", 52.0),
        _at("chain", 100, "temporal", 50.0),
        _at("throughput", 100, "treadle-sqlite", 0.3),
        _at("throughput", 100, "langgraph-sync", 1.8),
        _at("fanout", 10_000, "treadle-sqlite", 0.2),
        _at("fanout", 10_000, "treadle-postgres", None, error="timed out"),
        _at("waiting", 10_000, "treadle-sqlite", None, server_rss_mb=139.0),
        _at("list_executions", 1_000_000, "treadle-postgres", 7.2),
    ]
    assert run.target_lines(results) == [
        "W1 chain: treadle-sqlite 0.1 vs langgraph-functional 0.8: 8x (target 10x): missed",
        "W1 chain: treadle-sqlite-async 0.05 vs langgraph-functional 0.8: 16x (target 10x): holds",
        "W3 throughput: treadle-sqlite 0.3 vs langgraph-sync 1.8: 6x (target 5x): holds",
        "chain step: treadle-memory 0.015 / langgraph-memory 0.2 = 0.075x (target <= 2x): holds",
        "chain step: treadle-temporal 52 / temporal 50 = 1.04x (target <= 1.3x): holds",
        "fan-out of 10,000: treadle-sqlite completes: holds",
        "10,000 waiting: treadle-sqlite 139 MiB (target < 1024): holds",
        "fan-out of 10,000: treadle-postgres failed: missed",
        "a page of 1,000,000: treadle-postgres 7.2 ms (target < 50): holds",
    ]


def test_without_a_step_floor_there_is_no_ratio_to_it() -> None:
    results = [_line("treadle-sqlite", 0.1), _floor("floor-sqlite-wal-normal", 0.013)]
    assert run.floor_lines(results) == ["floor floor-sqlite-wal-normal: 0.013 ms per commit"]
