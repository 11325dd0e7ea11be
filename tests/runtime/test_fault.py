"""The acceptance test of durable execution: workers killed with SIGKILL at random moments.

50 executions of a workflow with several steps (HTTP calls to a counter server on
127.0.0.1, a wait long enough to unload, a fork) run in a `treadle server` process (on
SQLite; created through its HTTP API, so the first ones are taken at their creation and
the rest queue) that is killed with `kill -9` and restarted several times. Every execution must
complete with the right output, no step whose result was journalled may reach the
counter server again, and the journal, stages and status must agree. On PostgreSQL two
`treadle worker` processes share the work and one of them is killed repeatedly.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter as Tally
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.runtime.conftest import Counter, create_execution, create_workflow, document
from treadle.client import ApiError, AsyncClient
from treadle.resources import ResourceService, SecretCipher, WorkflowExecution
from treadle.resources.phases import TERMINAL
from treadle.store import Store

EXECUTIONS = 50


def _call(name: str, url: str, value: str) -> dict[str, Any]:
    return {name: {"call": "http", "with": {"method": "post", "endpoint": url, "body": {"value": value}}}}


def _workflow(url: str) -> dict[str, Any]:
    return document(
        [
            _call("first", url, "${ .value }"),
            {"pause": {"wait": {"milliseconds": 400}}},
            _call("second", url, "${ .value }"),
            {
                "split": {
                    "fork": {
                        "branches": [
                            _call("left", url, "${ .value }"),
                            _call("right", url, "${ .value * 10 }"),
                        ]
                    }
                }
            },
            {"last": {"set": {"left": "${ .[0].value }", "right": "${ .[1].value }"}}},
        ],
        name="fault",
    )


def _expected(value: int) -> dict[str, int]:
    second = value + 2
    return {"left": second + 1, "right": second * 10 + 1}


class Workers:
    """Worker processes on one store, started, killed and restarted by name."""

    def __init__(self, url: str, key: str, logs: Path) -> None:
        self.url = url
        self.logs = logs
        self.env = {
            **os.environ,
            "TREADLE_SECRET_KEY": key,
            "TREADLE_RUNTIME_POLL_SECONDS": "0.05",
            "TREADLE_RUNTIME_LEASE_SECONDS": "1.5",
            "TREADLE_RUNTIME_UNLOAD_AFTER_SECONDS": "0.3",
            "TREADLE_RUNTIME_IDLE_SECONDS": "0.02",
            "TREADLE_RUNTIME_STATUS_SECONDS": "0.1",
            "TREADLE_RUNTIME_MAX_RUNNING": "8",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}
        self.starts = 0
        #: More arguments for every worker (`--functions FILE`).
        self.extra: list[str] = []

    def start(self, name: str) -> None:
        self.starts += 1
        log = (self.logs / f"{name}-{self.starts}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            self._command(name),
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def _command(self, name: str) -> list[str]:
        # "server" is the whole `treadle server` (HTTP API and worker in one process, as
        # the issue has it); other names are bare `treadle worker`s sharing the store.
        if name == "server":
            self.ports[name] = _free_port()
            return [
                sys.executable, "-m", "treadle", "server", "--host", "127.0.0.1",
                "--port", str(self.ports[name]), "--database-url", self.url, "--log-format", "text",
            ]  # fmt: skip
        return [
            sys.executable, "-m", "treadle", "worker",
            "--database-url", self.url, "--worker-id", f"{name}-{self.starts}", *self.extra,
        ]  # fmt: skip

    def kill(self, name: str) -> None:
        process = self.processes[name]
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


async def _create_over_http(port: int, workflow_id: str) -> tuple[list[str], int]:
    """Start the executions through the server with treadle's client once it is ready:
    their ids, and how many it took at their creation (answered `running`)."""
    async with AsyncClient(f"http://127.0.0.1:{port}") as client:
        for _ in range(300):
            try:
                await client.ready()
                break
            except (ApiError, httpx.TransportError):  # not ready, or not listening yet
                await asyncio.sleep(0.1)
        started = [await client.start(workflow_id, input={"value": value}) for value in range(EXECUTIONS)]
    return [str(e.metadata.id) for e in started], sum(e.status.phase == "running" for e in started)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _all_done(service: ResourceService, ids: list[str], timeout: float) -> list[WorkflowExecution]:
    deadline = time.monotonic() + timeout
    while True:
        executions = [await asyncio.to_thread(service.get, WorkflowExecution, i) for i in ids]
        if all(e.status.phase in TERMINAL for e in executions):
            return executions
        if time.monotonic() > deadline:
            phases = Tally(e.status.phase for e in executions)
            raise AssertionError(f"not all executions ended: {dict(phases)}")
        await asyncio.sleep(0.2)


def _check_records(store: Store, executions: list[WorkflowExecution], counter: Counter) -> None:
    journalled: dict[str, float] = {}
    for execution in executions:
        eid = execution.metadata.id
        assert eid is not None
        with store.begin(write=False) as tx:
            journal = tx.journal.read(eid)
            stages = tx.stages.list(eid)
        seqs = [e.seq for e in journal]
        assert seqs == list(range(1, len(journal) + 1))
        observed = [
            (e.type, e.data.get("position"), e.data.get("attempt"))
            for e in journal
            if e.type.startswith("task.")
        ]
        assert len(observed) == len(set(observed)), f"{eid}: an observation was recorded twice"
        completed = sorted(e.data["path"] for e in journal if e.type == "task.completed")
        assert completed == sorted(s.node for s in stages), f"{eid}: journal and stages disagree"
        assert all(s.status == "completed" for s in stages)
        status_paths = sorted(t.path for t in execution.status.tasks)
        assert status_paths == completed, f"{eid}: status and journal disagree"
        assert all(t.phase == "completed" for t in execution.status.tasks)
        final = journal[-1]
        assert final.type == "phase" and final.data == {
            "phase": "completed",
            "output": execution.status.output,
        }
        for entry in journal:
            if entry.type == "effect" and entry.data.get("op") == "call":
                journalled[f"{eid}/{entry.data['key']}"] = entry.at.timestamp()
    assert set(counter.requests) == set(journalled), (
        "a call reached the server without being journalled, or not at all"
    )
    for key, times in counter.requests.items():
        # Requests may repeat while in flight at a crash; never once the result was journalled.
        assert max(times) <= journalled[key] + 0.001, f"{key} was re-applied after it completed"


async def _fault_run(
    service: ResourceService,
    store: Store,
    url: str,
    key: str,
    counter: Counter,
    tmp_path: Path,
    names: list[str],
    victim: str,
    kills: int,
    over_http: bool = False,
    durability: str = "sync",
) -> None:
    counter.delay = 0.05
    workflow_id = create_workflow(service, _workflow(counter.url), durability=durability)
    ids = (
        [] if over_http else [create_execution(service, workflow_id, {"value": i}) for i in range(EXECUTIONS)]
    )
    workers = Workers(url, key, tmp_path)
    rng = random.Random(os.getpid())
    try:
        for name in names:
            workers.start(name)
        if over_http:
            ids, taken = await _create_over_http(workers.ports[victim], workflow_id)
            assert 0 < taken < EXECUTIONS  # some taken at their creation, the others queued
        for _ in range(kills):
            # Kill once the (re)started worker makes progress, at a random moment.
            before = counter.total()
            deadline = time.monotonic() + 20
            while counter.total() <= before + 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            await asyncio.sleep(rng.uniform(0.0, 0.4))
            workers.kill(victim)
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            workers.start(victim)
        try:
            executions = await _all_done(service, ids, timeout=90)
        except AssertionError as error:
            with store.begin(write=False) as tx:
                stuck = [tx.runtime.get_run(i) for i in ids]
                journals = {
                    i: [(e.type, e.data) for e in tx.journal.read(i)][-6:]
                    for i, r in zip(ids, stuck, strict=True)
                    if r is not None
                }
            raise AssertionError(f"{error}: {[r for r in stuck if r]} {journals}") from None
    finally:
        workers.stop_all()
    logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted(tmp_path.glob("*.log")))
    for i, execution in zip(range(EXECUTIONS), executions, strict=True):
        assert execution.status.phase == "completed", (execution.status.error, logs)
        assert execution.status.output == _expected(i)
    _check_records(store, executions, counter)
    duplicates = sum(len(times) - 1 for times in counter.requests.values())
    print(f"requests={counter.total()} duplicates={duplicates}")
    # A kill repeats the calls in flight; with `async` durability also those whose results
    # were not committed yet (the fork's two branches at most, the calls being sequential).
    assert duplicates <= kills * EXECUTIONS * (2 if durability == "async" else 1)


@pytest.fixture
def secret_key() -> str:
    return Fernet.generate_key().decode()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_server_killed_and_restarted(
    store: Store, counter: Counter, tmp_path: Path, secret_key: str
) -> None:
    service = ResourceService(store, SecretCipher(secret_key))
    url = store.engine.url.render_as_string(hide_password=False)
    await _fault_run(
        service, store, url, secret_key, counter, tmp_path, ["server"], "server", kills=4, over_http=True
    )


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_server_killed_with_async_durability(
    store: Store, counter: Counter, tmp_path: Path, secret_key: str
) -> None:
    """Results committed behind the run: a kill loses the uncommitted ones, which run
    again; nothing journalled runs twice, and every run still completes right."""
    service = ResourceService(store, SecretCipher(secret_key))
    url = store.engine.url.render_as_string(hide_password=False)
    await _fault_run(
        service, store, url, secret_key, counter, tmp_path, ["server"], "server", kills=3,
        over_http=True, durability="async",
    )  # fmt: skip


#: A Python function that logs each call (time, idempotency key) to a file, for the
#: test to compare with the journal: as the counter server does for HTTP calls.
TALLY = """
import os, time
from treadle.effects import function

_log = os.open(os.environ["TREADLE_TEST_CALL_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)


@function
async def tally(x: int, idempotency_key: str) -> int:
    os.write(_log, f"{time.time()} {idempotency_key}\\n".encode())
    return x + 1
"""
TALLY_STEPS = 300


def _calls(log: Path) -> dict[str, list[float]]:
    calls: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        at, key = line.split(" ", 1)
        calls.setdefault(key, []).append(float(at))
    return calls


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_worker_killed_amid_async_batches(store: Store, tmp_path: Path, secret_key: str) -> None:
    """Chains of Python calls that never yield, with `async` durability: results wait in
    batches (up to 64 entries, or what piles up while the last one commits), so a kill
    loses whole batches, which run again. Every run still completes right, the journal
    is a prefix of what ran (no gap, nothing twice), and no committed call runs again."""
    service = ResourceService(store, SecretCipher(secret_key))
    url = store.engine.url.render_as_string(hide_password=False)
    (tmp_path / "tally.py").write_text(TALLY)
    log = tmp_path / "calls.log"
    log.touch()
    chain = [{f"s{i}": {"call": "tally", "with": {"x": "${ . }"}}} for i in range(TALLY_STEPS)]
    workflow_id = create_workflow(service, document(chain, name="tally"), durability="async")
    ids = [create_execution(service, workflow_id, 0) for _ in range(EXECUTIONS)]
    workers = Workers(url, secret_key, tmp_path)
    workers.env["TREADLE_TEST_CALL_LOG"] = str(log)
    workers.extra = ["--functions", str(tmp_path / "tally.py")]
    rng = random.Random(os.getpid())
    kills = 3
    try:
        workers.start("w1")
        for _ in range(kills):
            before = log.stat().st_size
            deadline = time.monotonic() + 20
            while log.stat().st_size < before + 20_000 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            await asyncio.sleep(rng.uniform(0.0, 0.1))
            workers.kill("w1")
            await asyncio.sleep(rng.uniform(0.0, 0.2))
            workers.start("w1")
        executions = await _all_done(service, ids, timeout=90)
    finally:
        workers.stop_all()
    for execution in executions:
        assert execution.status.phase == "completed", execution.status.error
        assert execution.status.output == TALLY_STEPS
    calls = Counter(url="")
    calls.requests.update(_calls(log))
    _check_records(store, executions, calls)
    repeated = sum(len(times) - 1 for times in calls.requests.values())
    print(f"calls={sum(len(t) for t in calls.requests.values())} repeated={repeated}")


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])
async def test_postgres_two_workers_one_killed(
    store: Store, counter: Counter, tmp_path: Path, secret_key: str
) -> None:
    service = ResourceService(store, SecretCipher(secret_key))
    url = store.engine.url.render_as_string(hide_password=False)
    await _fault_run(service, store, url, secret_key, counter, tmp_path, ["w1", "w2"], "w1", kills=3)
