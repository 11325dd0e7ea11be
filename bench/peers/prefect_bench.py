"""Prefect 3.8 against a local Prefect server (SQLite), written the way Prefect's docs write it.

`@flow` functions call `@task` functions; fan-out is `.submit()` of each task, joined
with `.result()`. Every flow and task run is recorded by the server over its HTTP API.
`throughput` runs n async flows at once with `asyncio.gather` (each creates its flow run
through the API). The server is `prefect server start` on a free loopback port with
`PREFECT_HOME` in a temporary folder, started here for the run. `waiting` and `recovery`
are not measured: a paused flow run needs a process per run, and Prefect does not resume
crashed flow runs on its own.

Usage (in the peer's venv): python bench/peers/prefect_bench.py --workload chain --n 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import Measurement, Unavailable, bench_main, measure, versions

ENGINES = ["prefect"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(folder: str) -> subprocess.Popen[bytes]:
    """`prefect server start` on a free port; sets PREFECT_API_URL and PREFECT_HOME here."""
    port = _free_port()
    os.environ["PREFECT_HOME"] = folder
    os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    prefect = str(Path(sys.executable).parent / "prefect")
    command = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    log = open(Path(folder) / "server.log", "wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited with {process.returncode}: see {folder}/server.log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise TimeoutError("prefect server did not answer /api/health within 180 s")


def workload(args: argparse.Namespace, warmup: int, repeats: int) -> Measurement:
    """Start a server, define the flows, run one workload."""
    if args.workload in ("waiting", "recovery"):
        raise Unavailable("not implemented: a paused flow run needs a process; crashed runs are not resumed")
    with tempfile.TemporaryDirectory(prefix="prefect-bench-") as folder:
        server = start_server(args.workdir or folder)
        try:
            return _run(args, warmup, repeats)
        finally:
            server.terminate()
            server.wait(30)


def _run(args: argparse.Namespace, warmup: int, repeats: int) -> Measurement:
    # Imported after PREFECT_API_URL is set, as a user's script reads its profile.
    from prefect import flow, task

    n = args.n

    @task
    def step(x: int) -> int:
        return x + 1

    @flow
    def chain(n: int) -> int:
        x = 0
        for _ in range(n):
            x = step(x)
        return x

    @flow
    def fanout(n: int) -> int:
        futures = [step.submit(i) for i in range(n)]
        return len([future.result() for future in futures])

    @flow
    def branchloop(n: int) -> int:
        x = 0
        for round in range(n):
            if round % 2 == 0:
                x = step(x)
            else:
                x = step(x)
        return x

    @task
    async def step_async(x: int) -> int:
        return x + 1

    @flow
    async def three(x: int) -> int:
        for _ in range(3):
            x = await step_async(x)
        return x

    if args.workload == "throughput":

        def submit() -> None:
            async def all_at_once() -> list[int]:
                return list(await asyncio.gather(*(three(0) for _ in range(n))))

            assert all(r == 3 for r in asyncio.run(all_at_once()))

        return measure(submit, warmup=warmup, repeats=repeats, min_seconds=args.min_seconds)
    run = {"chain": chain, "fanout": fanout, "branchloop": branchloop}[args.workload]

    def once() -> None:
        assert run(n) == n

    return measure(once, warmup=warmup, repeats=repeats, min_seconds=args.min_seconds)


def engine_versions(engine: str) -> dict[str, str]:
    """Prefect's version and the server stack's."""
    return versions("prefect", "fastapi", "sqlalchemy")


if __name__ == "__main__":
    names = ["chain", "fanout", "throughput", "branchloop", "waiting", "recovery"]
    sys.exit(bench_main(__doc__.splitlines()[0], ENGINES, dict.fromkeys(names, workload), engine_versions))
