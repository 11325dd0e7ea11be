"""The floor under every durable engine: one small INSERT + COMMIT, timed.

Prints one JSON line per store in the contract of `bench/common.py`, with `per_step_ms`
the median cost of one committed insert:

- `floor-sqlite-wal-normal`: SQLite, `journal_mode=WAL`, `synchronous=NORMAL`;
- `floor-sqlite-wal-full`: SQLite, `journal_mode=WAL`, `synchronous=FULL`;
- `floor-sqlite-rollback`: SQLite's defaults (rollback journal, `synchronous=FULL`);
- `floor-sqlite-step`: what one step of a `sync` treadle run commits: its three journal
  rows (`task.started`, the call's result, `task.completed`, as a 100-step chain writes
  them, already serialized) committed in one multi-row INSERT, as treadle commits them,
  into treadle's own journal table (made by its migrations: its indexes, its foreign key
  checked), on a connection with treadle's pragmas: the limit treadle's per-step cost is
  compared with;
- `floor-sqlite-step-full`: the same with `synchronous=FULL` (every commit fsynced), the
  limit of `treadle-sqlite-full`;
- `floor-postgres-socket`: PostgreSQL over a Unix socket (`--pg-url`, e.g.
  `postgresql://postgres@/postgres?host=/tmp/sock&port=5433`), skipped without one.

Usage: .venv/bin/python bench/sqlite_floor.py [--n 2000] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, error_line, rss_mb, versions

PAYLOAD = '{"x": 1, "task": "/do/0/step0", "output": {"x": 2}}'


def _time_commits(insert: Callable[[int], None], n: int) -> list[float]:
    for i in range(min(100, n)):  # warm-up: pages allocated, statements cached
        insert(-i - 1)
    timings = []
    for i in range(n):
        began = time.perf_counter()
        insert(i)
        timings.append(time.perf_counter() - began)
    return timings


def sqlite_floor(folder: str, n: int, journal: str | None, synchronous: str | None) -> list[float]:
    """Median-ready timings of n single-row INSERT+COMMITs in a fresh SQLite file."""
    connection = sqlite3.connect(
        str(Path(folder) / f"floor-{journal}-{synchronous}.db"), isolation_level=None
    )
    if journal:
        connection.execute(f"PRAGMA journal_mode={journal}")
    if synchronous:
        connection.execute(f"PRAGMA synchronous={synchronous}")
    connection.execute("CREATE TABLE journal (seq INTEGER PRIMARY KEY, run TEXT, data TEXT)")

    def insert(i: int) -> None:
        connection.execute("BEGIN")
        connection.execute("INSERT INTO journal (run, data) VALUES (?, ?)", (f"run-{i}", PAYLOAD))
        connection.execute("COMMIT")

    try:
        return _time_commits(insert, n)
    finally:
        connection.close()


def step_floor(folder: str, n: int, synchronous: str = "NORMAL") -> list[float]:
    """Median-ready timings of n step batches committed into treadle's journal table."""
    from treadle.resources import ResourceService, SecretCipher
    from treadle.store import Store

    path = Path(folder) / f"floor-step-{synchronous.lower()}.db"
    store = Store.open(f"sqlite:///{path}", migrate=True)
    service = ResourceService(store, SecretCipher.generate())
    document = {
        "document": {"dsl": "1.0.3", "namespace": "bench", "name": "floor", "version": "1.0.0"},
        "do": [{"step0": {"set": {"x": 1}}}],
    }
    workflow = service.create(
        {"kind": "Workflow", "metadata": {"name": "floor"}, "spec": {"document": document}}
    )
    execution = service.create({"kind": "WorkflowExecution", "spec": {"workflow_id": workflow.metadata.id}})
    execution_id = execution.metadata.id
    store.dispose()
    connection = sqlite3.connect(str(path), isolation_level=None)
    for pragma in ("journal_mode=WAL", f"synchronous={synchronous}", "foreign_keys=ON"):
        connection.execute(f"PRAGMA {pragma}")
    # One multi-row INSERT outside a transaction: SQLite commits it as it ends. The cheapest
    # commit of these rows found (BEGIN IMMEDIATE, executemany, COMMIT: ~2 µs more), and how
    # treadle commits a step's rows.
    insert = (
        "INSERT INTO execution_journal (execution_id, seq, type, data, at) "
        "VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)"
    )
    at = "2026-11-25 00:00:00.000000"

    def step(i: int) -> None:
        seq = 3 * (i + 101)  # after the execution's first entry (the warm-up's i goes down to -100)
        task = f'{{"name": "step{i}", "path": "/do/{i}/step{i}", "position": "/do/{i}/step{i}", "attempt": 0'
        rows = [
            (execution_id, seq, "task.started", f'{task}, "input": {{"x": {i}}}}}', at),
            (
                execution_id,
                seq + 1,
                "effect",
                f'{{"key": "do/{i}/step{i}", "op": "call", "value": {{"x": {i + 1}}}}}',
                at,
            ),
            (
                execution_id,
                seq + 2,
                "task.completed",
                f'{task}, "output": {{"x": {i + 1}}}, "started_at": "{at}"}}',
                at,
            ),
        ]
        connection.execute(insert, [value for row in rows for value in row])

    try:
        return _time_commits(step, n)
    finally:
        connection.close()


def postgres_floor(url: str, n: int) -> list[float]:
    """The same against PostgreSQL (psycopg 3, autocommit off, one commit per insert)."""
    import psycopg

    with psycopg.connect(url) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_floor")
        connection.execute("CREATE TABLE bench_floor (seq BIGSERIAL PRIMARY KEY, run TEXT, data TEXT)")
        connection.commit()

        def insert(i: int) -> None:
            connection.execute("INSERT INTO bench_floor (run, data) VALUES (%s, %s)", (f"run-{i}", PAYLOAD))
            connection.commit()

        try:
            return _time_commits(insert, n)
        finally:
            connection.execute("DROP TABLE bench_floor")
            connection.commit()


def _line(engine: str, n: int, timings: list[float], found: dict[str, str]) -> dict[str, object]:
    median = statistics.median(timings)
    return {
        "engine": engine,
        "workload": "commit",
        "n": n,
        "seconds": round(median, 9),
        "per_step_ms": round(median * 1000, 4),
        "rss_mb": rss_mb(),
        "versions": found,
        "steps": 1,
        "p90_ms": round(statistics.quantiles(timings, n=10)[-1] * 1000, 4),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure each floor and print its line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="commits timed per store")
    parser.add_argument("--pg-url", help="PostgreSQL over a Unix socket (libpq URL)")
    args = parser.parse_args(argv)
    found = versions("psycopg")
    found["sqlite"] = sqlite3.sqlite_version
    with tempfile.TemporaryDirectory(prefix="floor-") as folder:
        for engine, journal, synchronous in (
            ("floor-sqlite-wal-normal", "WAL", "NORMAL"),
            ("floor-sqlite-wal-full", "WAL", "FULL"),
            ("floor-sqlite-rollback", None, None),
        ):
            emit(_line(engine, args.n, sqlite_floor(folder, args.n, journal, synchronous), found))
        emit(_line("floor-sqlite-step", args.n, step_floor(folder, args.n), found))
        emit(_line("floor-sqlite-step-full", args.n, step_floor(folder, args.n, "FULL"), found))
    if args.pg_url:
        try:
            emit(_line("floor-postgres-socket", args.n, postgres_floor(args.pg_url, args.n), found))
        except Exception as exc:  # report, never crash the run
            emit(error_line("floor-postgres-socket", "commit", args.n, f"{type(exc).__name__}: {exc}", found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
