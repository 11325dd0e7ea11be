"""What every benchmark script shares: the CLI, timing, memory, versions and the JSON line.

Each engine's script (`bench/treadle_bench.py`, `bench/peers/*_bench.py`) runs in its own
interpreter and virtualenv, imports only the standard library from here, and prints one
JSON line per workload (the contract `bench/run.py` collects):

    {"engine": "dbos-sqlite", "workload": "chain", "n": 100, "seconds": 0.31,
     "per_step_ms": 3.1, "rss_mb": 88.2, "versions": {"dbos": "3.4.0", "python": "3.11.7"},
     "steps": 100, "runs": [0.31, 0.30, 0.33], "warmup": 1}

`seconds` is the median of the timed runs after `warmup` untimed ones (at least `repeats`,
and more until they add up to `--min-seconds`: see `more_runs`); `per_step_ms`
divides it by the workload's step count (`steps`, see `WORKLOADS`). A run that fails
prints the same line with `"error"` set and `seconds`/`per_step_ms` null.

Workloads (n is the knob each scales; `steps` is what `per_step_ms` divides by):
- `chain`: n sequential steps, each calling a Python function (steps = n).
- `fanout`: a fork of n branches, each calling the function, joined (steps = n).
- `throughput`: n executions of a 3-step workflow submitted at once through the
  engine's own submit path (steps = 3n; `runs_per_s` added).
- `branchloop`: a loop of n rounds, each a switch on the round's parity then a call
  (steps = n).
- `waiting`: n executions parked in a `wait`/timer at once; reports the RSS of the
  process(es) holding them (`server_rss_mb`) and the time to park them all (steps = n).
- `recovery`: n executions in flight, the worker killed with SIGKILL, a new one started;
  `seconds` is the time from restart to all n completed (steps = n).
- `list_executions`: one filtered page of 50 from a store of n executions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

__all__ = [
    "WORKLOADS",
    "Measurement",
    "Unavailable",
    "bench_main",
    "build_parser",
    "emit",
    "error_line",
    "measure",
    "more_runs",
    "process_rss_mb",
    "rss_mb",
    "steps_of",
    "versions",
]

#: Every workload name and how many steps `n` of it makes.
WORKLOADS: Mapping[str, Callable[[int], int]] = {
    "chain": lambda n: n,
    "fanout": lambda n: n,
    "throughput": lambda n: 3 * n,
    "branchloop": lambda n: n,
    "waiting": lambda n: n,
    "recovery": lambda n: n,
    "list_executions": lambda n: 1,
}

#: The default n of each workload, and the smaller one `--quick` uses.
DEFAULT_N: Mapping[str, int] = {
    "chain": 100,
    "fanout": 100,
    "throughput": 100,
    "branchloop": 10,
    "waiting": 10_000,
    "recovery": 1_000,
    "list_executions": 1_000_000,
}


def steps_of(workload: str, n: int) -> int:
    """How many steps `n` of `workload` makes (the divisor of `per_step_ms`)."""
    return WORKLOADS[workload](n)


class Unavailable(Exception):
    """The engine cannot run this workload here; the message is the line's `error` as is."""


@dataclass
class Measurement:
    """What one workload measured: the timed runs and anything engine-specific."""

    runs: list[float]
    warmup: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        """The median of the timed runs, in seconds."""
        return statistics.median(self.runs)


#: Timed runs of one workload at the most, however short they are.
MAX_RUNS = 200


def more_runs(runs: list[float], repeats: int, min_seconds: float) -> bool:
    """Whether to time another run: until there are `repeats`, and then until they add up
    to `min_seconds` (at most `MAX_RUNS`). A 6 ms run's median then rests on tens of runs,
    not on five that one slow second of the machine can skew; a 1 s run still runs
    `repeats` times."""
    if len(runs) < repeats:
        return True
    return sum(runs) < min_seconds and len(runs) < MAX_RUNS


def measure(
    once: Callable[[], Any], *, warmup: int = 1, repeats: int = 5, min_seconds: float = 0.0
) -> Measurement:
    """Call `once()` `warmup` times untimed, then time it (wall clock) while `more_runs`.

    `once` may return a dict of extra fields; the last timed call's are kept.
    """
    for _ in range(warmup):
        once()
    runs: list[float] = []
    extra: dict[str, Any] = {}
    while more_runs(runs, repeats, min_seconds):
        began = time.perf_counter()
        returned = once()
        runs.append(time.perf_counter() - began)
        if isinstance(returned, dict):
            extra = returned
    return Measurement(runs, warmup, extra)


async def measure_async(
    once: Callable[[], Awaitable[Any]], *, warmup: int = 1, repeats: int = 5, min_seconds: float = 0.0
) -> Measurement:
    """`measure` for a coroutine function (awaited on the running loop)."""
    for _ in range(warmup):
        await once()
    runs: list[float] = []
    while more_runs(runs, repeats, min_seconds):
        began = time.perf_counter()
        await once()
        runs.append(time.perf_counter() - began)
    return Measurement(runs, warmup)


def rss_mb() -> float:
    """The peak resident set size of this process, in MiB (`getrusage`, KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def process_rss_mb(pid: int) -> float | None:
    """The current resident set size of another process, in MiB (None if unreadable)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def versions(*distributions: str) -> dict[str, str]:
    """The installed version of each distribution (missing ones say so), plus Python's."""
    found: dict[str, str] = {"python": platform.python_version()}
    for name in distributions:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def emit(line: Mapping[str, Any]) -> None:
    """Print one JSON line and flush, so the orchestrator sees it even if we crash next."""
    sys.stdout.write(json.dumps(line, default=str) + "\n")
    sys.stdout.flush()


def result_line(
    engine: str, workload: str, n: int, measured: Measurement, engine_versions: Mapping[str, str]
) -> dict[str, Any]:
    """The JSON line of a successful measurement."""
    seconds = measured.median
    steps = steps_of(workload, n)
    line: dict[str, Any] = {
        "engine": engine,
        "workload": workload,
        "n": n,
        "seconds": round(seconds, 6),
        "per_step_ms": round(seconds * 1000 / steps, 4),
        "rss_mb": rss_mb(),
        "versions": dict(engine_versions),
        "steps": steps,
        "runs": [round(r, 6) for r in measured.runs],
        "warmup": measured.warmup,
    }
    if workload == "throughput" and seconds > 0:
        line["runs_per_s"] = round(n / seconds, 2)
    line.update(measured.extra)
    return line


def error_line(
    engine: str, workload: str, n: int, error: str, engine_versions: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The JSON line of a workload that could not be measured."""
    return {
        "engine": engine,
        "workload": workload,
        "n": n,
        "seconds": None,
        "per_step_ms": None,
        "rss_mb": rss_mb(),
        "versions": dict(engine_versions or versions()),
        "error": error,
    }


def build_parser(description: str, engines: list[str]) -> argparse.ArgumentParser:
    """The CLI every engine script shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--n", type=int, help="the workload's size (default: see bench/common.py)")
    parser.add_argument("--engine", choices=engines, default=engines[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (1 warm-up, 3 timed)")
    parser.add_argument("--repeats", type=int, help="timed runs (default 5, 3 with --quick)")
    parser.add_argument("--warmup", type=int, help="untimed runs first (default 1)")
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=0.5,
        help="after --repeats, more timed runs until they add up to this (default 0.5; 0: no more)",
    )
    parser.add_argument("--database-url", help="PostgreSQL URL for the engines that use one")
    parser.add_argument("--temporal-address", help="host:port of a running Temporal server")
    parser.add_argument("--workdir", help="a scratch folder (default: a new temporary one)")
    return parser


Workload = Callable[[argparse.Namespace, int, int], Measurement]


def bench_main(
    description: str,
    engines: list[str],
    workloads: Mapping[str, Workload],
    engine_versions: Callable[[str], Mapping[str, str]],
    argv: list[str] | None = None,
) -> int:
    """Parse the CLI, run one workload, print its JSON line; never raise.

    Each workload callable takes `(args, warmup, repeats)` with `args.n` filled in and
    returns a `Measurement`. Exceptions become an `"error"` line (exit status 1).
    """
    args = build_parser(description, engines).parse_args(argv)
    args.n = args.n or DEFAULT_N[args.workload]
    repeats = args.repeats or (3 if args.quick else 5)
    warmup = args.warmup if args.warmup is not None else 1
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
    known = engine_versions(args.engine)
    run = workloads.get(args.workload)
    if run is None:
        emit(
            error_line(args.engine, args.workload, args.n, "workload not implemented for this engine", known)
        )
        return 1
    try:
        measured = run(args, warmup, repeats)
    except Unavailable as exc:
        emit(error_line(args.engine, args.workload, args.n, str(exc), known))
        return 1
    except Exception as exc:  # a peer's failure is a result, not a crash
        traceback.print_exc(file=sys.stderr)
        emit(error_line(args.engine, args.workload, args.n, f"{type(exc).__name__}: {exc}"[:500], known))
        return 1
    emit(result_line(args.engine, args.workload, args.n, measured, known))
    return 0
