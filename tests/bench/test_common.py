"""The benchmark's timing rule: at least `repeats` timed runs, more while they are short."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402


def _timed_runs(seconds_each: float, repeats: int, min_seconds: float) -> int:
    runs: list[float] = []
    while common.more_runs(runs, repeats, min_seconds):
        runs.append(seconds_each)
    return len(runs)


def test_long_runs_are_timed_repeats_times() -> None:
    assert _timed_runs(1.0, repeats=5, min_seconds=0.5) == 5


def test_short_runs_go_on_until_they_add_up_to_min_seconds() -> None:
    assert _timed_runs(1 / 64, repeats=5, min_seconds=0.5) == 32  # exact in binary


def test_no_more_than_max_runs_however_short() -> None:
    assert _timed_runs(0.0001, repeats=5, min_seconds=0.5) == common.MAX_RUNS


def test_min_seconds_zero_times_exactly_repeats() -> None:  # the scale workloads: once
    assert _timed_runs(0.0001, repeats=1, min_seconds=0.0) == 1


def test_measure_keeps_every_timed_run() -> None:
    calls: list[int] = []
    measured = common.measure(lambda: calls.append(1), warmup=2, repeats=3, min_seconds=0.0)
    assert len(calls) == 5 and len(measured.runs) == 3 and measured.warmup == 2


def test_measure_async_awaits_the_warmup_then_times_the_runs() -> None:
    calls: list[int] = []

    async def once() -> None:
        await asyncio.sleep(0)
        calls.append(1)

    measured = asyncio.run(common.measure_async(once, warmup=2, repeats=3, min_seconds=0.0))
    assert len(calls) == 5 and len(measured.runs) == 3 and measured.warmup == 2
