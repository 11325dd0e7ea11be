"""`treadle server --runtime temporal --no-temporal-worker` with two `treadle worker
--runtime temporal --database-url ...` processes; one is killed with `kill -9` mid-run.

Executions are created over HTTP; the server starts them on Temporal; the workers run
them and write their progress to the server's store. Once a worker has performed some
calls it is killed: its runs move to the other worker (after the sticky timeout, replayed
from history), the calls it was performing are started again after the heartbeat timeout,
and progress batches it may have committed without Temporal knowing are sent again and
dropped by their sequence number. Every execution must end `completed` in treadle's store,
with the right output, every task completed once in `status.tasks[]`, and one terminal
phase in its journal.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.api.conftest import LiveServer
from tests.temporal.devserver import DevServer
from tests.temporal.test_fault import chain
from treadle.api import create_app
from treadle.resources import ResourceService, SecretCipher
from treadle.runtime.temporal.control import TemporalRuntime
from treadle.runtime.temporal.messages import RunOptions
from treadle.store import Store

STEPS = 6
RUNS = 4
ROOT = Path(__file__).resolve().parents[2]
#: The worker processes import this checkout's treadle (`src`, before any installed one: a
#: git worktree may share another checkout's venv) and its test modules (`tests.…`).
SOURCES = os.pathsep.join([str(ROOT / "src"), str(ROOT)])

Setup = tuple[httpx.Client, Path, list[subprocess.Popen[bytes]], ResourceService]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def setup(temporal_server: DevServer, sqlite_template: Path, tmp_path: Path) -> Iterator[Setup]:
    """The server (no worker of its own) and two worker processes on one SQLite store."""
    database = tmp_path / "treadle.db"
    shutil.copyfile(sqlite_template, database)
    url = f"sqlite:///{database}"
    key = Fernet.generate_key().decode()
    task_queue = f"server-fault-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "steps.log"
    log.touch()
    env = {
        **os.environ,
        "TREADLE_FAULT_LOG": str(log),
        "TREADLE_SECRET_KEY": key,
        "PYTHONPATH": SOURCES,
    }
    processes = []
    for index in range(2):
        command = [sys.executable, "-m", "treadle", "worker", "--runtime", "temporal"]
        command += ["--temporal-address", temporal_server.address, "--task-queue", task_queue]
        command += ["--database-url", url, "--functions", "tests.temporal.fault_worker"]
        with (tmp_path / f"worker-{index}.log").open("wb") as output:
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output))
    service = ResourceService(Store.open(url), SecretCipher(key))
    runtime = TemporalRuntime(
        service,
        address=temporal_server.address,
        task_queue=task_queue,
        options=RunOptions(heartbeat_timeout=2),
        poll_seconds=0.2,
    )
    server = LiveServer(create_app(service, runtime=runtime, poll_interval=0.05)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield client, log, processes, service
    finally:
        server.stop()
        for process in processes:
            _stop(process)
        service.store.dispose()


def _calls_by(log: Path, pid: int) -> int:
    return sum(1 for line in log.read_text().splitlines() if line.endswith(f" {pid}"))


def test_killing_a_worker_mid_run_leaves_the_store_right(setup: Setup) -> None:
    api, log, processes, service = setup
    headers = {"Content-Type": "application/yaml"}
    workflow = api.post("/v1/workflows:apply", content=chain(STEPS), headers=headers)
    assert workflow.status_code in (200, 201), workflow.text
    wid = workflow.json()["metadata"]["id"]
    ids = []
    for _ in range(RUNS):
        created = api.post("/v1/workflow-executions", json={"spec": {"workflow_id": wid, "input": {"x": 0}}})
        assert created.status_code == 201, created.text
        ids.append(created.json()["metadata"]["id"])

    deadline = time.monotonic() + 30
    busy: list[subprocess.Popen[bytes]] = []
    while not busy:  # kill a worker once it is busy: some of its calls are in flight
        assert all(p.poll() is None for p in processes), "a worker exited on its own"
        assert time.monotonic() < deadline, "no worker performed a call"
        busy = [p for p in processes if _calls_by(log, p.pid) >= 3]
        time.sleep(0.05)
    victim = busy[0]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()

    deadline = time.monotonic() + 90
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        runs = [api.get(f"/v1/workflow-executions/{i}").json() for i in ids]
        if all(run["status"]["phase"] == "completed" for run in runs):
            break
        time.sleep(0.2)
    for run in runs:
        status = run["status"]
        assert status["phase"] == "completed", status
        assert status["output"] == {"x": STEPS}
        assert status["temporal_workflow_id"] == run["metadata"]["id"]
        tasks = [(task["name"], task["phase"]) for task in status["tasks"]]
        assert tasks == [(f"step{n}", "completed") for n in range(STEPS)]
    with service.store.begin(write=False) as tx:
        for execution_id in ids:
            journal = tx.journal.read(execution_id)
            phases = [e.data["phase"] for e in journal if e.type == "phase"]
            assert phases == ["running", "completed"], phases
            completed = [e.data["name"] for e in journal if e.type == "task.completed"]
            assert completed == [f"step{n}" for n in range(STEPS)]
            stages = tx.stages.list(execution_id)
            assert [(s.node, s.iteration) for s in stages] == [(f"/do/{n}/step{n}", 0) for n in range(STEPS)]
    assert _calls_by(log, next(p for p in processes if p is not victim).pid) > 0
