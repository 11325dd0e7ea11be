"""Run treadle's workloads and its peers' in one session; print per-step costs and ratios.

    .venv/bin/python bench/run.py                 # everything (core + scale workloads)
    .venv/bin/python bench/run.py --quick         # core workloads, fewer engines, < 5 min
    .venv/bin/python bench/run.py --engines treadle-memory,langgraph --workloads chain,fanout
    .venv/bin/python bench/run.py --no-scale --rounds 3   # each core figure: median of 3 rounds

What it does, in order:
1. Creates each peer's virtualenv under `.bench/venvs/<peer>` (`python3 -m venv` + pip
   install of `bench/peers/requirements-<peer>.txt`), only when missing or when the
   requirements file changed (a hash is kept in the venv). Never touches `.venv`.
2. Starts what the engines need: a PostgreSQL server (as the `postgres` user when run as
   root) in a temporary folder on a free loopback port, and, per Temporal workload, a
   fresh `temporal server start-dev`. Both are stopped by pid at the end.
3. Runs each engine x workload as a subprocess with a timeout; a failure or a timeout
   becomes a JSON line with `"error"`, never an exception here. `--rounds R` runs the
   core workloads R times, every engine in each round, so that a slow minute of the
   machine falls on one round of each engine rather than on one engine's whole figure.
4. Appends every line to `.bench/results-<date>.jsonl` and prints a table of
   `per_step_ms` (workload x engine; the median of the rounds) and the ratio
   treadle/peer for each peer (below 1: treadle is faster). `--markdown FILE` writes the
   same tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
STATE = ROOT / ".bench"
PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


@dataclass(frozen=True)
class Engine:
    """How to run one engine: its interpreter's venv (None: the project's), script, needs."""

    name: str
    venv: str | None
    script: str
    needs: tuple[str, ...] = ()
    args: tuple[str, ...] = ()


ENGINES: dict[str, Engine] = {
    e.name: e
    for e in (
        Engine("treadle-memory", None, "treadle_bench.py", (), ("--engine", "treadle-memory")),
        Engine("treadle-sqlite", None, "treadle_bench.py", (), ("--engine", "treadle-sqlite")),
        Engine("treadle-postgres", None, "treadle_bench.py", ("postgres",), ("--engine", "treadle-postgres")),
        # `durability: async`: results committed while the run goes on (LangGraph's default).
        Engine("treadle-sqlite-async", None, "treadle_bench.py", (), ("--engine", "treadle-sqlite-async")),
        # SQLite's `synchronous=FULL`: every commit fsynced, as the peers' SQLite commits are.
        Engine("treadle-sqlite-full", None, "treadle_bench.py", (), ("--engine", "treadle-sqlite-full")),
        # Treadle's Temporal runtime on the same dev server as the `temporal` peer.
        Engine("treadle-temporal", None, "treadle_bench.py", ("temporal",), ("--engine", "treadle-temporal")),
        Engine(
            "treadle-postgres-async",
            None,
            "treadle_bench.py",
            ("postgres",),
            ("--engine", "treadle-postgres-async"),
        ),
        Engine("temporal", "temporal", "peers/temporal_bench.py", ("temporal",)),
        Engine("dbos-sqlite", "dbos", "peers/dbos_bench.py", (), ("--engine", "dbos-sqlite")),
        Engine("dbos-postgres", "dbos", "peers/dbos_bench.py", ("postgres",), ("--engine", "dbos-postgres")),
        Engine("prefect", "prefect", "peers/prefect_bench.py"),
        Engine("langgraph", "langgraph", "peers/langgraph_bench.py", (), ("--engine", "langgraph")),
        Engine(
            "langgraph-functional",
            "langgraph",
            "peers/langgraph_bench.py",
            (),
            ("--engine", "langgraph-functional"),
        ),
        Engine(
            "langgraph-memory", "langgraph", "peers/langgraph_bench.py", (), ("--engine", "langgraph-memory")
        ),
        Engine("langgraph-sync", "langgraph", "peers/langgraph_bench.py", (), ("--engine", "langgraph-sync")),
        Engine(
            "langgraph-functional-sync",
            "langgraph",
            "peers/langgraph_bench.py",
            (),
            ("--engine", "langgraph-functional-sync"),
        ),
    )
}
TREADLE = [name for name in ENGINES if name.startswith("treadle-")]
#: Engines that keep nothing: never "the fastest peer that persists its steps".
IN_MEMORY = ("treadle-memory", "langgraph-memory")
DEFAULT_ENGINES = list(ENGINES)
QUICK_ENGINES = ["treadle-memory", "treadle-sqlite", "treadle-sqlite-async", "treadle-postgres",
                 "treadle-temporal", "langgraph", "langgraph-memory", "dbos-sqlite", "dbos-postgres",
                 "temporal"]  # fmt: skip

#: (workload, n, scale?) in the order they run; scale ones run once, without a warm-up.
CORE = [("chain", 100), ("fanout", 100), ("throughput", 100), ("branchloop", 10)]
SCALE = [("fanout", 10_000), ("waiting", 10_000), ("recovery", 1_000), ("list_executions", 1_000_000)]
#: What a scale workload's row shows instead of per_step_ms.
METRIC = {"waiting": "server_rss_mb", "recovery": "seconds", "list_executions": "per_step_ms"}


# -- peers' virtualenvs ---------------------------------------------------------------


def ensure_venv(peer: str) -> tuple[Path, float | None]:
    """The peer's interpreter, (re)creating its venv when missing or stale; install seconds."""
    requirements = BENCH / "peers" / f"requirements-{peer}.txt"
    folder = STATE / "venvs" / peer
    python = folder / "bin" / "python"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = folder / ".requirements.sha256"
    if python.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return python, None
    say(f"installing {peer} into {folder.relative_to(ROOT)} ...")
    began = time.perf_counter()
    subprocess.run(
        [shutil.which("python3") or sys.executable, "-m", "venv", "--clear", str(folder)], check=True
    )
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(requirements)], check=True)
    stamp.write_text(digest)
    return python, time.perf_counter() - began


# -- services -------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
        time.sleep(0.1)
    return False


class Postgres:
    """A throwaway PostgreSQL server: trust auth, loopback, a private port and socket folder."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="treadle-bench-pg-"))
        self.port = free_port()
        self.pid: int | None = None

    @property
    def url(self) -> str:
        """The TCP URL of the `postgres` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def socket_url(self) -> str:
        """The same over the Unix socket."""
        return f"postgresql://postgres@/postgres?host={self.folder}&port={self.port}"

    def _as_postgres(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def start(self) -> None:
        """initdb, then start the server and wait until it accepts connections."""
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        data = self.folder / "data"
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        subprocess.run(self._as_postgres(initdb), check=True, **quiet)  # type: ignore[call-overload]
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=300"
        start = [
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(self.folder / "log"),
            "-w",
            "start",
        ]
        subprocess.run(self._as_postgres(start), check=True, **quiet)  # type: ignore[call-overload]
        self.pid = int((data / "postmaster.pid").read_text().split()[0])

    def create_database(self, name: str) -> str:
        """A fresh database; its TCP URL."""
        createdb = [
            str(PG_BIN / "createdb"),
            "-h",
            str(self.folder),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            name,
        ]
        subprocess.run(createdb, check=True)
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Stop the server by its pid (SIGINT: fast shutdown), then remove its folder."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGINT)
                for _ in range(100):
                    os.kill(self.pid, 0)
                    time.sleep(0.1)
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def temporal_server(binary: Path) -> Iterator[tuple[str, int]]:
    """A fresh `temporal server start-dev` (state in memory) on free loopback ports."""
    port, ui = free_port(), free_port()
    command = [str(binary), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
               "--port", str(port), "--ui-port", str(ui), "--log-level", "error"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not _wait_port(port, 60):
            raise RuntimeError("the Temporal dev server did not open its port within 60 s")
        yield f"127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- running one engine x workload ------------------------------------------------------


def say(message: str) -> None:
    """Progress, on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _error(engine: str, workload: str, n: int, error: str) -> dict[str, Any]:
    return {"engine": engine, "workload": workload, "n": n, "seconds": None, "per_step_ms": None,
            "rss_mb": None, "versions": {}, "error": error}  # fmt: skip


def run_one(command: Sequence[str], engine: str, workload: str, n: int, timeout: float,
            env: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Run one benchmark subprocess (its own process group) and return its JSON line."""
    process = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return _error(engine, workload, n, f"timeout after {timeout:g} s")
    for line in reversed(out.splitlines()):
        with contextlib.suppress(ValueError):
            parsed = json.loads(line)
            if isinstance(parsed, dict) and "engine" in parsed:
                if parsed.get("error") and err.strip():
                    parsed.setdefault("stderr_tail", err.strip()[-400:])
                return parsed
    tail = (err.strip() or out.strip())[-400:]
    return _error(engine, workload, n, f"no JSON line (exit {process.returncode}): {tail}")


class Session:
    """One benchmark run: services, interpreters, results."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        self.results: list[dict[str, Any]] = []
        self.pythons: dict[str, Path | str] = {}
        self.postgres: Postgres | None = None
        self.path = STATE / f"results-{dt.date.today().isoformat()}.jsonl"

    def record(self, line: dict[str, Any]) -> None:
        """Keep a line and append it to the results file."""
        line = {**line, "session": self.id}
        self.results.append(line)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, default=str) + "\n")
        shown = line.get("per_step_ms") if line.get("error") is None else f"ERROR {line['error'][:120]}"
        say(f"{line['engine']:<22} {line['workload']:<16} n={line['n']:<8} {shown}")

    def prepare(self, engines: list[str]) -> None:
        """Make the interpreters and start PostgreSQL when an engine needs it."""
        project = PROJECT_PYTHON if PROJECT_PYTHON.exists() else Path(sys.executable)
        for peer in sorted({ENGINES[e].venv for e in engines if ENGINES[e].venv}):
            assert peer is not None
            try:
                python, seconds = ensure_venv(peer)
                self.pythons[peer] = python
                if seconds is not None:
                    self.record({"engine": peer, "workload": "install", "n": 1, "seconds": round(seconds, 1),
                                 "per_step_ms": None, "rss_mb": None, "versions": {}})  # fmt: skip
            except (subprocess.CalledProcessError, OSError) as exc:
                self.pythons[peer] = f"install failed: {exc}"
        self.pythons["project"] = project
        if any("postgres" in ENGINES[e].needs for e in engines):
            try:
                self.postgres = Postgres()
                self.postgres.start()
                say(f"PostgreSQL on 127.0.0.1:{self.postgres.port} (pid {self.postgres.pid})")
            except (subprocess.CalledProcessError, OSError) as exc:
                say(f"PostgreSQL could not start: {exc}")
                self.postgres = None

    def floor(self) -> None:
        """The floors: one INSERT+COMMIT in SQLite and PostgreSQL, one step's rows in treadle's journal."""
        command = [str(self.pythons["project"]), str(BENCH / "sqlite_floor.py"), "--n", "1000"]
        if self.postgres is not None:
            command += ["--pg-url", self.postgres.socket_url]
        process = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
        for line in process.stdout.splitlines():
            with contextlib.suppress(ValueError):
                self.record(json.loads(line))

    def run(self, engine_name: str, workload: str, n: int, scale: bool) -> None:
        """One engine x workload, with whatever service it needs."""
        engine = ENGINES[engine_name]
        python = self.pythons["project" if engine.venv is None else engine.venv]
        if isinstance(python, str):
            self.record(_error(engine_name, workload, n, python))
            return
        timeout = self.args.scale_timeout if scale else self.args.timeout
        command = [
            str(python),
            str(BENCH / engine.script),
            "--workload",
            workload,
            "--n",
            str(n),
            *engine.args,
        ]
        if scale:
            command += ["--warmup", "0", "--repeats", "1", "--min-seconds", "0"]
        elif self.args.quick:
            command += ["--quick"]
        if workload == "list_executions" and engine_name.endswith(("-async", "-full")):
            return  # the same store as treadle-sqlite's or treadle-postgres's: nothing to run
        if workload == "list_executions" and engine_name in ("treadle-sqlite", "treadle-postgres"):
            command = [str(python), str(BENCH / "bench_list_executions.py"), "-n", str(n)]
        if "postgres" in engine.needs:
            if self.postgres is None:
                self.record(_error(engine_name, workload, n, "PostgreSQL not available"))
                return
            if engine_name == "dbos-postgres":
                command += ["--database-url", self.postgres.url]  # DBOS creates its own database
            else:
                command += ["--database-url", self.postgres.create_database(f"bench_{uuid.uuid4().hex[:10]}")]
        if "temporal" in engine.needs:
            binary = Path(python).parent / "temporal"
            try:
                with temporal_server(binary) as (address, pid):
                    with_server = [*command, "--temporal-address", address]
                    env = {"BENCH_SERVER_PID": str(pid)}
                    line = run_one(with_server, engine_name, workload, n, timeout, env)
            except RuntimeError as exc:
                line = _error(engine_name, workload, n, str(exc))
        else:
            line = run_one(command, engine_name, workload, n, timeout)
        if line.get("engine") == "treadle-postgresql":
            line["engine"] = "treadle-postgres"
        self.record(line)

    def close(self) -> None:
        """Stop the services this session started."""
        if self.postgres is not None:
            self.postgres.stop()


# -- the tables -----------------------------------------------------------------------


def _metric(line: dict[str, Any]) -> float | None:
    value = line.get(METRIC.get(line["workload"], "per_step_ms")) if not line.get("error") else None
    return float(value) if isinstance(value, int | float) else None


def medians(results: list[dict[str, Any]]) -> dict[tuple[str, int, str], float | None]:
    """Each (workload, n, engine)'s figure: the median of its rounds that did not fail
    (None: every round failed)."""
    figures: dict[tuple[str, int, str], list[float]] = {}
    for line in results:
        if line.get("workload") in ("install", "commit"):
            continue
        values = figures.setdefault((line["workload"], line["n"], line["engine"]), [])
        value = _metric(line)
        if value is not None:
            values.append(value)
    return {key: statistics.median(values) if values else None for key, values in figures.items()}


def tables(results: list[dict[str, Any]]) -> tuple[list[str], list[list[str]], list[str], list[list[str]]]:
    """(header, rows) of the per-step table and of the ratio table (medians of the rounds)."""
    figure = medians(results)
    engines = [e for e in ENGINES if any(engine == e for _, _, engine in figure)]
    keys = list(dict.fromkeys((workload, n) for workload, n, _ in figure))
    header = ["workload", "n", "metric", *engines]
    rows = []
    for workload, n in keys:
        row = [workload, str(n), METRIC.get(workload, "per_step_ms")]
        for engine in engines:
            key = (workload, n, engine)
            value = figure.get(key)
            row.append("-" if key not in figure else (f"{value:.4g}" if value is not None else "err"))
        rows.append(row)
    peers = [e for e in engines if e not in TREADLE]
    ratio_header = ["workload", "n", "treadle", *peers]
    ratio_rows = []
    for workload, n in keys:
        for mine in TREADLE:
            value = figure.get((workload, n, mine))
            if value is None:
                continue
            row = [workload, str(n), mine]
            for peer in peers:
                other = figure.get((workload, n, peer))
                row.append(f"{value / other:.3f}" if other else "-")
            ratio_rows.append(row)
    return header, rows, ratio_header, ratio_rows


#: treadle's engines on SQLite and the floor of their step (see bench/sqlite_floor.py).
ON_THE_FLOOR = {
    "treadle-sqlite": "floor-sqlite-step",
    "treadle-sqlite-async": "floor-sqlite-step",
    "treadle-sqlite-full": "floor-sqlite-step-full",
}


def _floor_readings(results: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Each floor's readings, one a round."""
    readings: dict[str, list[float]] = {}
    for line in results:
        if line.get("workload") == "commit" and not line.get("error"):
            readings.setdefault(line["engine"], []).append(float(line["per_step_ms"]))
    return readings


def floor_lines(results: list[dict[str, Any]]) -> list[str]:
    """Each floor's median over the rounds (and each round's readings)."""
    lines = []
    for engine, values in _floor_readings(results).items():
        rounds = f" (rounds {', '.join(f'{v:g}' for v in values)})" if len(values) > 1 else ""
        lines.append(f"floor {engine}: {statistics.median(values):g} ms per commit{rounds}")
    return lines


def _ratio_line(name: str, mine: str, value: float, other: str, figure: float, target: float) -> str:
    """`value` (treadle's) against `figure` (the other's), both ms: at most `target` times."""
    ratio = value / figure
    verdict = "holds" if ratio <= target else "missed"
    return (
        f"{name}: {mine} {value:.4g} / {other} {figure:.4g} = {ratio:.3g}x (target <= {target:g}x): {verdict}"
    )


def _faster_line(name: str, mine: str, value: float, other: str, figure: float, times: float) -> str:
    """`value` (treadle's ms) against `figure` (the peer's ms): at least `times` faster."""
    speedup = figure / value
    verdict = "holds" if speedup >= times else "missed"
    return (
        f"{name}: {mine} {value:.4g} vs {other} {figure:.4g}: {speedup:.3g}x (target {times:g}x): {verdict}"
    )


def target_lines(results: list[dict[str, Any]]) -> list[str]:
    """The targets of the benchmark's issue, judged on this run's medians (one line each
    that this run measured): W1 and W3 against the fastest peer that persists its steps,
    the chain step against its floor, the in-memory and Temporal overheads, the scale
    workloads' limits."""
    figure = medians(results)
    size = dict(CORE)
    persisting = [e for e in ENGINES if e not in TREADLE and e not in IN_MEMORY]

    def at(workload: str, engine: str, n: int | None = None) -> float | None:
        return figure.get((workload, size[workload] if n is None else n, engine))

    lines = []
    for workload, label, times in (("chain", "W1 chain", 10.0), ("throughput", "W3 throughput", 5.0)):
        peers = [(value, peer) for peer in persisting if (value := at(workload, peer)) is not None]
        if not peers:
            continue
        best, peer = min(peers)
        for mine in ON_THE_FLOOR:
            value = at(workload, mine)
            if value is not None:
                lines.append(_faster_line(label, mine, value, peer, best, times))
    floors = _floor_readings(results)
    for mine, floor_engine in ON_THE_FLOOR.items():
        value = at("chain", mine)
        if value is not None and floor_engine in floors:
            floor = statistics.median(floors[floor_engine])
            lines.append(_ratio_line("chain / floor", mine, value, floor_engine, floor, 3.0))
    for mine, other, target in (
        ("treadle-memory", "langgraph-memory", 2.0),
        ("treadle-temporal", "temporal", 1.3),
    ):
        value, theirs = at("chain", mine), at("chain", other)
        if value is not None and theirs is not None:
            lines.append(_ratio_line("chain step", mine, value, other, theirs, target))
    for mine in TREADLE:
        if (("fanout", 10_000, mine)) in figure:
            done = at("fanout", mine, 10_000) is not None
            lines.append(f"fan-out of 10,000: {mine} {'completes: holds' if done else 'failed: missed'}")
        rss = at("waiting", mine, 10_000)
        if rss is not None:
            lines.append(
                f"10,000 waiting: {mine} {rss:.0f} MiB (target < 1024): {'holds' if rss < 1024 else 'missed'}"
            )
        page = at("list_executions", mine, 1_000_000)
        if page is not None:
            verdict = "holds" if page < 50 else "missed"
            lines.append(f"a page of 1,000,000: {mine} {page:.3g} ms (target < 50): {verdict}")
    return lines


def print_tables(results: list[dict[str, Any]]) -> None:
    """Print both tables (Rich when installed, plain text otherwise) and the floor."""
    header, rows, ratio_header, ratio_rows = tables(results)
    floors = floor_lines(results) + target_lines(results)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for title, h, rs in (("per step (ms)", header, rows), ("treadle / peer", ratio_header, ratio_rows)):
            print(f"\n{title}\n" + "\t".join(h))
            for r in rs:
                print("\t".join(r))
        for line in floors:
            print(line)
        return
    console = Console(width=max(shutil.get_terminal_size().columns, 200))
    for title, h, rs in (
        ("ms per step (lower is better); waiting: server RSS MiB; recovery: seconds", header, rows),
        ("ratio treadle / peer (below 1: treadle is faster)", ratio_header, ratio_rows),
    ):
        table = Table(title=title)
        for column in h:
            justify = "left" if column in ("workload", "metric", "treadle") else "right"
            table.add_column(column, justify=justify, no_wrap=True)
        for r in rs:
            table.add_row(*r)
        console.print(table)
    for line in floors:
        console.print(line)


def markdown(results: list[dict[str, Any]]) -> str:
    """The same tables in Markdown, for docs/benchmarks.md."""
    header, rows, ratio_header, ratio_rows = tables(results)
    out = []
    for h, rs in ((header, rows), (ratio_header, ratio_rows)):
        out.append("| " + " | ".join(h) + " |")
        out.append("|" + "---|" * len(h))
        out += ["| " + " | ".join(r) + " |" for r in rs]
        out.append("")
    out += [f"- {line}" for line in floor_lines(results) + target_lines(results)]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(OSError, ValueError):
        memory = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": memory, "os": platform.platform(),
            "python": platform.python_version(), "load": os.getloadavg()}  # fmt: skip


def _names(text: str | None, known: Sequence[str], default: Sequence[str]) -> list[str]:
    if not text:
        return list(default)
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise SystemExit(f"unknown: {', '.join(unknown)} (known: {', '.join(known)})")
    return chosen


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the session, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="core workloads, fewer engines, 3 repeats")
    parser.add_argument("--engines", help=f"comma-separated, from: {', '.join(ENGINES)}")
    parser.add_argument("--workloads", help="comma-separated: chain, fanout, throughput, branchloop, "
                        "waiting, recovery, list_executions")  # fmt: skip
    parser.add_argument("--no-scale", action="store_true", help="skip the scale workloads")
    parser.add_argument("--no-floor", action="store_true", help="skip the floors (each round opens)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per core run (300; quick 120)")
    parser.add_argument("--scale-timeout", type=float, default=1800, help="seconds per scale run")
    parser.add_argument("--markdown", type=Path, help="also write the tables as Markdown to this file")
    parser.add_argument("--rounds", type=int, default=1, help="run the core workloads this many times, "
                        "every engine in each round; the tables give each figure's median")  # fmt: skip
    args = parser.parse_args(argv)
    args.timeout = args.timeout or (120 if args.quick else 300)
    engines = _names(args.engines, list(ENGINES), QUICK_ENGINES if args.quick else DEFAULT_ENGINES)
    all_workloads = sorted({w for w, _ in CORE + SCALE})
    workloads = _names(args.workloads, all_workloads, all_workloads)
    # Rounds interleave the engines: a slow minute of the machine falls on one round of
    # every engine, not on every run of one engine. The floors open each round: they drift
    # with the machine as much as the engines do, so they are a figure of the run like the
    # others (the median of the rounds), not one reading taken before it.
    rounds = [[(w, n, False) for w, n in CORE if w in workloads] for _ in range(max(args.rounds, 1))]
    scale_plan = [] if args.quick or args.no_scale else [(w, n, True) for w, n in SCALE if w in workloads]

    STATE.mkdir(exist_ok=True)
    session = Session(args)
    session.record({"engine": "session", "workload": "machine", "n": 0, "seconds": None, "per_step_ms": None,
                    "rss_mb": None, "versions": {}, "machine": machine(), "quick": args.quick})  # fmt: skip
    began = time.monotonic()
    try:
        session.prepare(engines)
        for plan in [*rounds, scale_plan]:
            if plan is not scale_plan and not args.no_floor:
                session.floor()
            for workload, n, scale in plan:
                for engine in engines:
                    session.run(engine, workload, n, scale)
    except KeyboardInterrupt:
        say("interrupted: printing what was measured")
    finally:
        session.close()
    results = [r for r in session.results if r["engine"] != "session"]
    print_tables(results)
    if args.markdown:
        args.markdown.write_text(markdown(results), encoding="utf-8")
    say(f"done in {time.monotonic() - began:.0f} s; results in {session.path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
