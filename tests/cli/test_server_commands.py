"""`treadle server`, `apply`, `get`, `delete`, `start`, `logs`, `cancel` run as subprocesses.

The server is a real `treadle server` process over a SQLite file, with its local worker.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "examples" / "hello.yaml"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "treadle.db"
        self.url = f"http://127.0.0.1:{_free_port()}"
        self.env = {**os.environ, "TREADLE_DATABASE_URL": f"sqlite:///{self.db}", "TREADLE_SERVER": self.url}
        self.env.pop("TREADLE_API_TOKEN", None)
        self.cwd = tmp_path

    def treadle(
        self, *args: str, timeout: float = 60, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "treadle", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=self.cwd,
        )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path)
    port = proc.url.rsplit(":", 1)[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "treadle", "server", "--port", port, "--log-format", "text"],
        env=proc.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{proc.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"treadle server did not start:\n{process.communicate()[0]}")
            time.sleep(0.1)
        yield proc
    finally:
        process.terminate()
        process.wait(timeout=15)


FAILING = """
document: { dsl: '1.0.3', namespace: examples, name: failing, version: '1.0.0' }
do:
  - boom:
      raise:
        error: { type: https://example.com/errors/boom, status: 400, title: boom }
"""

SLOW = """
document: { dsl: '1.0.3', namespace: examples, name: slow, version: '1.0.0' }
do:
  - nap:
      wait: { seconds: 30 }
"""


def test_apply_get_start_logs_delete(server: ServerProcess) -> None:
    applied = server.treadle("apply", "-f", str(HELLO))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.startswith("workflow/examples/hello created (wfl-")
    assert "configured" in server.treadle("apply", "-f", str(HELLO)).stdout

    table = server.treadle("get", "workflows")
    assert table.returncode == 0 and "hello" in table.stdout and "ID" in table.stdout
    one = json.loads(server.treadle("get", "workflow", "hello", "-o", "json").stdout)
    assert one["metadata"]["slug"] == "hello" and one["kind"] == "Workflow"
    listed = yaml.safe_load(server.treadle("get", "wf", "-o", "yaml").stdout)
    assert [w["metadata"]["slug"] for w in listed] == ["hello"]

    started = server.treadle("start", "hello", "--input", '{"name": "you"}')
    assert started.returncode == 0, started.stderr
    execution_id = started.stdout.strip()
    assert execution_id.startswith("wex-")

    followed = server.treadle("logs", execution_id, "-f", timeout=30)
    assert followed.returncode == 0, followed.stderr
    lines = followed.stdout.splitlines()
    assert "phase running" in lines[0] and "phase completed" in lines[-1]
    assert any("task.completed /do/0/greet" in line for line in lines)
    assert any("decision /do/1/classify" in line for line in lines)
    run = json.loads(server.treadle("get", "execution", execution_id, "-o", "json").stdout)
    assert run["spec"]["input"] == {"name": "you"} and run["status"]["phase"] == "completed"
    logs = server.treadle("logs", execution_id)
    assert logs.returncode == 0 and "stage /do/0/greet [completed]" in logs.stdout

    refused = server.treadle("cancel", execution_id)
    assert refused.returncode == 1 and "412" in refused.stderr  # it has ended

    deleted = server.treadle("delete", "workflow", "examples/hello")
    assert deleted.returncode == 0 and "deleted" in deleted.stdout
    missing = server.treadle("get", "workflow", "hello")
    assert missing.returncode == 1 and "404" in missing.stderr


def test_start_watch_exits_like_treadle_run(server: ServerProcess) -> None:
    assert server.treadle("apply", "-f", str(HELLO)).returncode == 0
    watched = server.treadle("start", "hello", "--input", '{"name": "you"}', "--watch", timeout=40)
    assert watched.returncode == 0, watched.stderr
    assert json.loads(watched.stdout)["greeting"] == "HELLO, YOU!"
    assert "greet" in watched.stderr and "completed in" in watched.stderr

    (server.cwd / "failing.yaml").write_text(FAILING)
    assert server.treadle("apply", "-f", str(server.cwd / "failing.yaml")).returncode == 0
    faulted = server.treadle("start", "failing", "--watch", timeout=40)
    assert faulted.returncode == 1, faulted.stderr
    assert "faulted" in faulted.stderr and "boom" in faulted.stderr


def test_start_many_from_json_lines(server: ServerProcess) -> None:
    assert server.treadle("apply", "-f", str(HELLO)).returncode == 0
    (server.cwd / "runs.jsonl").write_text('{"name": "ada"}\n\n{"name": "bob"}\n{"name": "cy"}\n')
    started = server.treadle("start", "hello", "--inputs", "runs.jsonl")
    assert started.returncode == 0, started.stderr
    ids = started.stdout.split()
    assert len(ids) == 3 and all(i.startswith("wex-") for i in ids)
    for execution_id, name in zip(ids, ["ada", "bob", "cy"], strict=True):
        run = json.loads(server.treadle("get", "execution", execution_id, "-o", "json").stdout)
        assert run["spec"]["input"] == {"name": name}
    piped = server.treadle("start", "hello", "--inputs", "-", stdin='{"name": "dee"}\n')
    assert piped.returncode == 0 and len(piped.stdout.split()) == 1

    (server.cwd / "bad.jsonl").write_text('{"name": "ada"}\n{"name": \n')
    bad = server.treadle("start", "hello", "--inputs", "bad.jsonl")
    assert bad.returncode == 2 and "line 2: not JSON" in bad.stderr
    both = server.treadle("start", "hello", "--inputs", "runs.jsonl", "--watch")
    assert both.returncode == 2 and "not with" in both.stderr
    listed = json.loads(server.treadle("get", "executions", "-o", "json").stdout)
    assert len(listed) == 4  # nothing started by the refused commands


def test_start_and_wait_until_they_end(server: ServerProcess) -> None:
    assert server.treadle("apply", "-f", str(HELLO)).returncode == 0
    (server.cwd / "runs.jsonl").write_text('{"name": "ada"}\n{"name": "bob"}\n{"name": "cy"}\n')
    waited = server.treadle("start", "hello", "--inputs", "runs.jsonl", "--wait")
    assert waited.returncode == 0, waited.stderr
    assert len(waited.stdout.split()) == 3 and "3 completed" in waited.stderr
    for execution_id in waited.stdout.split():
        run = json.loads(server.treadle("get", "execution", execution_id, "-o", "json").stdout)
        assert run["status"]["phase"] == "completed"
        assert run["spec"]["durability"] == "sync"  # the workflow's (none: sync)

    behind = server.treadle("start", "hello", "--inputs", "runs.jsonl", "--durability", "async", "--wait")
    assert behind.returncode == 0 and "3 completed" in behind.stderr, behind.stderr
    for execution_id in behind.stdout.split():
        run = json.loads(server.treadle("get", "execution", execution_id, "-o", "json").stdout)
        assert run["spec"]["durability"] == "async" and run["status"]["output"]["greeting"]
    one = server.treadle("start", "hello", "--durability", "async", "--wait")
    assert one.returncode == 0, one.stderr
    run = json.loads(server.treadle("get", "execution", one.stdout.strip(), "-o", "json").stdout)
    assert run["spec"]["durability"] == "async"
    unknown = server.treadle("start", "hello", "--durability", "later")
    assert unknown.returncode == 2 and "--durability" in unknown.stderr

    (server.cwd / "failing.yaml").write_text(FAILING)
    assert server.treadle("apply", "-f", str(server.cwd / "failing.yaml")).returncode == 0
    faulted = server.treadle("start", "failing", "--wait")
    assert faulted.returncode == 1 and "1 faulted" in faulted.stderr, faulted.stderr
    assert faulted.stdout.strip().startswith("wex-")
    both = server.treadle("start", "hello", "--watch", "--wait")
    assert both.returncode == 2 and "not with --wait" in both.stderr


def test_wait_for_executions_started_before(server: ServerProcess) -> None:
    assert server.treadle("apply", "-f", str(HELLO)).returncode == 0
    (server.cwd / "slow.yaml").write_text(SLOW)
    assert server.treadle("apply", "-f", str(server.cwd / "slow.yaml")).returncode == 0
    started = server.treadle("start", "hello", "--inputs", "-", stdin='{"name": "ada"}\n{"name": "bob"}\n')
    piped = server.treadle("wait", "-", stdin=started.stdout)
    assert piped.returncode == 0 and "2 completed" in piped.stderr, piped.stderr
    slow = server.treadle("start", "slow").stdout.strip()
    timed_out = server.treadle("wait", started.stdout.split()[0], slow, "--timeout", "0.5")
    assert timed_out.returncode == 124 and slow in timed_out.stderr, timed_out.stderr
    missing = server.treadle("wait", "wex-01jnothere000000000000000")
    assert missing.returncode != 0 and "not found" in missing.stderr
    assert server.treadle("wait", "-", stdin="").returncode == 2


def test_start_many_batches_like_the_server() -> None:
    from treadle.cli.executions import BATCH
    from treadle.resources.service import MAX_BATCH

    assert BATCH == MAX_BATCH


def test_cancel_a_running_execution(server: ServerProcess) -> None:
    (server.cwd / "slow.yaml").write_text(SLOW)
    assert server.treadle("apply", "-f", str(server.cwd / "slow.yaml")).returncode == 0
    execution_id = server.treadle("start", "slow").stdout.strip()
    cancelled = server.treadle("cancel", execution_id)
    assert cancelled.returncode == 0, cancelled.stderr
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        run = json.loads(server.treadle("get", "execution", execution_id, "-o", "json").stdout)
        if run["status"]["phase"] == "cancelled":
            break
        time.sleep(0.2)
    assert run["status"]["phase"] == "cancelled"


def test_usage_errors_and_unreachable_server(tmp_path: Path) -> None:
    env = {**os.environ, "TREADLE_SERVER": f"http://127.0.0.1:{_free_port()}"}
    env.pop("TREADLE_API_TOKEN", None)

    def treadle(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "treadle", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )

    unreachable = treadle("get", "workflows")
    assert unreachable.returncode == 3 and "treadle server" in unreachable.stderr
    assert treadle("get", "gizmos").returncode == 2
    assert treadle("start").returncode == 2
    exposed = treadle("server", "--host", "0.0.0.0", "--port", str(_free_port()))
    assert exposed.returncode == 2 and "TREADLE_API_TOKEN" in exposed.stderr


def test_a_refused_batch_names_the_input_lines() -> None:
    from treadle.cli.remote import at_lines
    from treadle.client import ApiError

    problem = {
        "detail": "invalid",
        "errors": [
            {"pointer": "/items/1/spec/input", "code": "type", "message": "bad"},
            {"pointer": "/items/0", "code": "not-found", "message": "gone"},
            {"pointer": "/other", "code": "x", "message": "kept"},
        ],
    }
    located = at_lines(ApiError(400, problem), [3, 7])
    assert [e["pointer"] for e in located.errors] == ["line 7: /spec/input", "line 3", "/other"]
    assert located.status == 400


@pytest.mark.parametrize("command", ["server", "worker"])
def test_a_store_that_cannot_be_opened_is_named_without_a_traceback(tmp_path: Path, command: str) -> None:
    env = {**os.environ}
    env.pop("TREADLE_API_TOKEN", None)

    def treadle(database_url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "treadle", command, "--database-url", database_url]
            + (["--port", str(_free_port())] if command == "server" else []),
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )

    unknown = treadle("mysql://db/treadle")
    assert unknown.returncode == 2, unknown.stderr
    assert "cannot open the store mysql://db/treadle: unsupported database 'mysql'" in unknown.stderr
    refused = treadle(f"postgresql://treadle:s3cret@127.0.0.1:{_free_port()}/treadle")
    assert refused.returncode == 3, refused.stderr
    assert "cannot open the store postgresql://treadle:***@127.0.0.1:" in refused.stderr
    assert "s3cret" not in refused.stderr
    bad_option = treadle(f"sqlite:///{tmp_path / 'x.db'}?synchronous=off")
    assert bad_option.returncode == 2 and "synchronous='off'" in bad_option.stderr
    for finished in (unknown, refused, bad_option):
        assert "Traceback" not in finished.stderr


def test_the_worker_module_names_a_store_it_cannot_open(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "treadle.runtime.local", "--database-url", "mysql://db/treadle"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert finished.returncode == 2
    assert "cannot open the store mysql://db/treadle" in finished.stderr
    assert "Traceback" not in finished.stderr
