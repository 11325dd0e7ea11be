"""DBOS Transact 3.4 on SQLite and on PostgreSQL, written the way DBOS's docs write it.

`@DBOS.workflow()` functions call `@DBOS.step()` functions; each step's result is
committed to the system database. Fan-out starts one child workflow per branch with
`DBOS.start_workflow` and waits on the handles (the docs' pattern for running work in
parallel; the queue pattern polls once a second, see PEERS.md). `throughput` starts n
workflows at once with `DBOS.start_workflow` (DBOS is a library: that is the submit
path). `waiting` parks n workflows in `DBOS.sleep` (each holds a thread). `recovery`
starts n workflows in a child process, kills it with SIGKILL while they sleep, waits until
every timer is due, and times a fresh process's `DBOS.launch()` recovering and finishing
them all.

Engines: `dbos-sqlite` (a SQLite file in a temporary folder), `dbos-postgres`
(`--database-url postgresql://user@host:port/db`; a fresh database is created per run).

Usage (in the peer's venv): python bench/peers/dbos_bench.py --engine dbos-sqlite --workload chain
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from dbos import DBOS, DBOSConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import Measurement, bench_main, measure, rss_mb, versions

ENGINES = ["dbos-sqlite", "dbos-postgres"]
HERE = Path(__file__).resolve()
#: `recovery`: the parked workflows' timer; the restart waits until every one is due.
TIMER_SECONDS = 2.0
_parked = 0
_parked_lock = threading.Lock()


@DBOS.step()
def step(x: int) -> int:
    """The Python function every step calls: add one."""
    return x + 1


@DBOS.workflow()
def chain(n: int) -> int:
    """n sequential steps."""
    x = 0
    for _ in range(n):
        x = step(x)
    return x


@DBOS.workflow()
def branch(i: int) -> int:
    """One branch of the fan-out: a child workflow of one step."""
    return step(i)


@DBOS.workflow()
def fanout(n: int) -> int:
    """Start n child workflows in the background, then join them."""
    handles = [DBOS.start_workflow(branch, i) for i in range(n)]
    return len([handle.get_result() for handle in handles])


@DBOS.workflow()
def three(x: int) -> int:
    """The workflow `throughput` starts n times: three steps."""
    return step(step(step(x)))


@DBOS.workflow()
def branchloop(n: int) -> int:
    """n rounds, each choosing a step by the round's parity."""
    x = 0
    for round in range(n):
        if round % 2 == 0:
            x = step(x)
        else:
            x = step(x)
    return x


@DBOS.workflow()
def parked(seconds: float) -> int:
    """Sleep durably (counting the sleepers), then one step."""
    global _parked
    with _parked_lock:
        _parked += 1
    DBOS.sleep(seconds)
    return step(0)


def database_url(args: argparse.Namespace, folder: str) -> str:
    """A fresh system database for this run."""
    if args.engine == "dbos-sqlite":
        return f"sqlite:///{Path(folder) / 'dbos.sqlite'}"
    if not args.database_url:
        raise ValueError("dbos-postgres needs --database-url")
    base = str(args.database_url).rsplit("/", 1)[0]
    return f"{base}/dbos_bench_{uuid.uuid4().hex[:12]}"


def launch(url: str) -> None:
    """Configure and launch DBOS on `url`."""
    config: DBOSConfig = {"name": "bench", "system_database_url": url, "log_level": "WARNING"}
    DBOS(config=config)
    DBOS.launch()


def _wait_parked(n: int, deadline: float) -> None:
    while _parked < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {_parked} of {n} workflows parked")
        time.sleep(0.01)


def workload(args: argparse.Namespace, warmup: int, repeats: int) -> Measurement:
    """Run one workload on a freshly launched DBOS."""
    n = args.n
    with tempfile.TemporaryDirectory(prefix="dbos-bench-") as folder:
        url = database_url(args, args.workdir or folder)
        if args.workload == "recovery":
            return _recovery(args, url)
        launch(url)
        if args.workload == "waiting":
            began = time.perf_counter()
            for _ in range(n):
                DBOS.start_workflow(parked, 3600.0)
            _wait_parked(n, time.monotonic() + 1800)
            return Measurement([time.perf_counter() - began], 0, {"server_rss_mb": rss_mb(), "parked": n})
        if args.workload == "throughput":

            def submit() -> None:
                handles = [DBOS.start_workflow(three, 0) for _ in range(n)]
                assert all(handle.get_result() == 3 for handle in handles)

            return measure(submit, warmup=warmup, repeats=repeats, min_seconds=args.min_seconds)
        flow = {"chain": chain, "fanout": fanout, "branchloop": branchloop}[args.workload]

        def once() -> None:
            assert flow(n) == n

        measured = measure(once, warmup=warmup, repeats=repeats, min_seconds=args.min_seconds)
        DBOS.destroy()
        return measured


def _recovery(args: argparse.Namespace, url: str) -> Measurement:
    """Park n workflows in a child, SIGKILL it, time a new child recovering them all."""
    n = args.n
    first = subprocess.Popen(
        [sys.executable, str(HERE), "child", "start", url, str(n)], stdout=subprocess.PIPE, text=True
    )
    assert first.stdout is not None
    if first.stdout.readline().strip() != "parked":
        raise RuntimeError(f"the first worker did not park its workflows (exit {first.wait()})")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    time.sleep(TIMER_SECONDS)  # every timer is due: what follows is recovery alone
    began = time.perf_counter()
    second = subprocess.run(
        [sys.executable, str(HERE), "child", "recover", url, str(n)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    elapsed = time.perf_counter() - began
    if second.returncode != 0 or "recovered" not in second.stdout:
        raise RuntimeError(f"recovery failed: {second.stderr.strip()[-300:]}")
    return Measurement([elapsed], 0, {"in_flight": n})


def child(role: str, url: str, n: int) -> None:
    """The recovery workload's worker processes."""
    launch(url)
    if role == "start":
        for _ in range(n):
            DBOS.start_workflow(parked, TIMER_SECONDS)
        _wait_parked(n, time.monotonic() + 1800)
        print("parked", flush=True)
        time.sleep(3600)  # until killed
        return
    # `recover`: DBOS.launch() resumed the pending workflows; wait until all succeeded.
    deadline = time.monotonic() + 1800
    while len(DBOS.list_workflows(status="SUCCESS", name=parked.__qualname__)) < n:
        if time.monotonic() > deadline:
            raise TimeoutError("not all workflows recovered")
        time.sleep(0.05)
    print("recovered", flush=True)


def engine_versions(engine: str) -> dict[str, str]:
    """DBOS's version and its database driver's."""
    found = versions("dbos", "sqlalchemy", "psycopg")
    found["sqlite"] = __import__("sqlite3").sqlite_version
    return found


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        os._exit(0)
    names = ["chain", "fanout", "throughput", "branchloop", "waiting", "recovery"]
    status = bench_main(__doc__.splitlines()[0], ENGINES, dict.fromkeys(names, workload), engine_versions)
    # Parked workflows hold non-daemon threads: leave without waiting for them.
    os._exit(status)
