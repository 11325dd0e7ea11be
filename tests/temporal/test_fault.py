"""A worker process killed with `kill -9` mid-run: every execution still completes.

Two worker processes (the real entry point, `python -m treadle.runtime.temporal worker`,
plus one function) poll one task queue; six executions run a chain of calls. Once the
first worker has performed some calls, it is killed with SIGKILL. Its runs' next workflow
tasks move to the other worker after the sticky timeout, which replays them from
history; the calls it was performing are noticed lost at the heartbeat timeout and
started again there. Every execution must complete with the right output, and Temporal
and the `progress` query must say so.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from tests.temporal.devserver import DevServer
from treadle.runtime.temporal.client import progress, start_execution
from treadle.runtime.temporal.messages import RunOptions

HEADER = "document: {dsl: '1.0.3', namespace: test, name: chain, version: '0.1.0'}\n"
STEPS = 8
RUNS = 6
ROOT = Path(__file__).resolve().parents[2]
#: The worker processes import this checkout's treadle (`src`, before any installed one: a
#: git worktree may share another checkout's venv) and its test modules (`tests.…`).
SOURCES = os.pathsep.join([str(ROOT / "src"), str(ROOT)])


def chain(steps: int) -> str:
    tasks = "".join(
        f"  - step{n}:\n      call: fault.step\n      with: {{x: '${{ .x }}', run: '${{ $workflow.id }}'}}\n"
        for n in range(steps)
    )
    return HEADER + "do:\n" + tasks


Workers = tuple[str, Path, list[subprocess.Popen[bytes]]]


@pytest.fixture
def workers(temporal_server: DevServer, tmp_path: Path) -> Iterator[Workers]:
    """Two worker processes on a fresh task queue; the calls they make are logged."""
    task_queue = f"fault-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "steps.log"
    log.touch()
    env = {**os.environ, "TREADLE_FAULT_LOG": str(log), "PYTHONPATH": SOURCES}
    processes = []
    for index in range(2):
        command = [sys.executable, "-m", "tests.temporal.fault_worker", "worker"]
        command += ["--temporal-address", temporal_server.address, "--task-queue", task_queue]
        command += ["--identity", f"worker-{index}", "--sticky-timeout", "1"]
        with (tmp_path / f"worker-{index}.log").open("wb") as output:
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output))
    try:
        yield task_queue, log, processes
    finally:
        for process in processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait()


def _calls_by(log: Path, pid: int) -> int:
    return sum(1 for line in log.read_text().splitlines() if line.endswith(f" {pid}"))


async def test_killing_a_worker_mid_run_loses_no_execution(
    temporal_server: DevServer, workers: Workers
) -> None:
    task_queue, log, processes = workers
    client = await Client.connect(temporal_server.address)
    options = RunOptions(heartbeat_timeout=2)
    handles = [
        await start_execution(client, chain(STEPS), {"x": 0}, task_queue=task_queue, options=options)
        for _ in range(RUNS)
    ]
    deadline = time.monotonic() + 30
    busy: list[subprocess.Popen[bytes]] = []
    while not busy:  # kill a worker once it is busy: some of its calls are in flight
        assert all(p.poll() is None for p in processes), "a worker exited on its own"
        assert time.monotonic() < deadline, "no worker performed a call"
        busy = [p for p in processes if _calls_by(log, p.pid) >= 3]
        await asyncio.sleep(0.05)
    victim = busy[0]
    survivor = next(p for p in processes if p is not victim)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()

    outcomes: list[Any] = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 90)

    assert [outcome.status for outcome in outcomes] == ["completed"] * RUNS
    assert [outcome.output for outcome in outcomes] == [{"x": STEPS}] * RUNS
    for handle in handles:
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
        recorded = await progress(client, handle.id)
        assert recorded["status"] == "completed"
        assert [t["status"] for t in recorded["tasks"]] == ["completed"] * STEPS
    lines = log.read_text().splitlines()
    for handle in handles:  # every step ran, some twice (in flight when the worker died)
        steps = {int(line.split()[1]) for line in lines if line.startswith(handle.id + " ")}
        assert steps == set(range(STEPS))
    assert _calls_by(log, survivor.pid) > 0
