"""Benchmark: a chain of N steps on Temporal, treadle's interpreter vs a plain workflow.

Both run on one Temporal dev server (started here on free loopback ports, state in
memory, unless `--temporal-address` names one) with an in-process worker each:

- `treadle-temporal`: a treadle document of N sequential `call: bench.step` tasks, run by
  treadle's generic workflow; each call is a `treadle.call` activity performed by the
  `Dispatcher` (a registered Python function), with the default `RunOptions`.
- `temporal`: a plain temporalio workflow executing the same function as an activity N
  times one after another, written the way temporalio's docs write it.

The difference per step is the interpreter's overhead on Temporal (expressions, task
records, heartbeating calls). Prints one JSON line per engine (median of `--runs` runs
after a warm-up):

    {"engine": "treadle-temporal"|"temporal", "workload": "chain", "n": 100, "seconds": ...,
     "per_step_ms": ..., "rss_mb": ..., "versions": {...}}

Usage: .venv/bin/python bench/bench_temporal.py [-n 100] [--runs 5] [--temporal-address HOST:PORT]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn(name="bench_step")
async def plain_step(x: int) -> int:
    """The work of one step: the same as treadle's `bench.step`."""
    return x + 1


@workflow.defn(name="PlainChain")
class PlainChain:
    """N activities one after another."""

    @workflow.run
    async def run(self, n: int) -> int:
        x = 0
        for _ in range(n):
            x = await workflow.execute_activity(plain_step, x, start_to_close_timeout=timedelta(seconds=60))
        return x


def chain_document(n: int) -> str:
    header = "document: {dsl: '1.0.3', namespace: bench, name: chain, version: '0.1.0'}\n"
    step = "  - step{}:\n      call: bench.step\n      with: {{x: '${{ .x }}'}}\n"
    steps = "".join(step.format(i) for i in range(n))
    return header + "do:\n" + steps


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_dev_server() -> tuple[subprocess.Popen[bytes], str]:
    binary = Path(sys.executable).parent / "temporal"
    command = [str(binary) if binary.exists() else (shutil.which("temporal") or "temporal")]
    port = _free_port()
    command += ["server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port)]
    command += ["--http-port", str(_free_port()), "--metrics-port", str(_free_port())]
    command += ["--dynamic-config-value", 'history.timerProcessorMaxTimeShift="10ms"']
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, f"127.0.0.1:{port}"


async def connect(address: str) -> Client:
    deadline = time.monotonic() + 60
    while True:
        try:
            return await Client.connect(address)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def measure(run: Callable[[], Awaitable[Any]], runs: int) -> float:
    await run()  # warm-up
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        await run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


async def bench(address: str, n: int, runs: int) -> dict[str, float]:
    from treadle.effects import Dispatcher, function
    from treadle.runtime.temporal.activities import TreadleActivities
    from treadle.runtime.temporal.client import start_execution
    from treadle.runtime.temporal.worker import build_worker

    @function(name="bench.step")
    def step(x: int) -> dict[str, int]:
        return {"x": x + 1}

    # The plain workflow must come from an importable module (the sandbox re-imports it).
    plain = importlib.import_module("bench_temporal") if __name__ == "__main__" else sys.modules[__name__]
    client = await connect(address)
    document = chain_document(n)
    results: dict[str, float] = {}

    async with Dispatcher() as dispatcher:
        queue = f"bench-treadle-{uuid.uuid4().hex[:8]}"
        async with build_worker(client, queue, TreadleActivities(dispatcher.call)):

            async def treadle_run() -> None:
                handle = await start_execution(client, document, {"x": 0}, task_queue=queue)
                outcome = await handle.result()
                assert outcome.output == {"x": n}, outcome

            results["treadle-temporal"] = await measure(treadle_run, runs)

    queue = f"bench-plain-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[plain.PlainChain], activities=[plain.plain_step]):

        async def plain_run() -> None:
            result = await client.execute_workflow(
                "PlainChain", n, id=f"plain-{uuid.uuid4().hex}", task_queue=queue
            )
            assert result == n

        results["temporal"] = await measure(plain_run, runs)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=100, help="steps in the chain")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (after one warm-up)")
    parser.add_argument("--temporal-address", default=None, help="use this server instead of a dev server")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    server = None
    address = args.temporal_address
    if address is None:
        server, address = start_dev_server()
    try:
        results = asyncio.run(bench(address, args.n, args.runs))
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    server_version = subprocess.run(
        [str(Path(sys.executable).parent / "temporal"), "--version"], capture_output=True, text=True
    ).stdout.strip()
    versions = {
        "treadle": version("treadle"),
        "python": platform.python_version(),
        "temporalio": version("temporalio"),
        "temporal": server_version,
    }
    for engine, seconds in results.items():
        line = {
            "engine": engine,
            "workload": "chain",
            "n": args.n,
            "seconds": round(seconds, 4),
            "per_step_ms": round(seconds * 1000 / args.n, 3),
            "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "versions": versions,
            "runs": args.runs,
        }
        print(json.dumps(line))


if __name__ == "__main__":
    main()
