"""Benchmark: list executions with a filter and a page of 50, over N stored executions.

Fills a fresh store (SQLite in a temporary folder by default, `--database-url` for
PostgreSQL: its tables are emptied first) with N executions spread over 10 workflows and
5 phases, inserted in bulk through the repositories, then times
`ResourceService.list(WorkflowExecution, workflow_id=..., phase=..., page_size=50)`
(the count included) and prints one JSON line:

    {"engine": "treadle-sqlite", "workload": "list_executions", "n": 100000,
     "seconds": <median of one list call>, "per_step_ms": <the same, ms>, "rss_mb": ..., ...}

Usage: .venv/bin/python bench/bench_list_executions.py [-n 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from ulid import ULID

from treadle.resources import ResourceService, SecretCipher, Workflow, WorkflowExecution
from treadle.store import ListQuery, Store, metadata

PHASES = ("pending", "running", "completed", "faulted", "cancelled")
WORKFLOWS = 10
BATCH = 5_000


def _document(i: int) -> dict[str, Any]:
    return {
        "document": {"dsl": "1.0.3", "namespace": "bench", "name": f"wf-{i}", "version": "1.0.0"},
        "do": [{"greet": {"set": {"greeting": "${ .name }"}}}],
    }


def _empty(store: Store) -> None:
    with store.begin() as tx:
        if store.dialect == "postgresql":
            names = ", ".join(t.name for t in metadata.sorted_tables)
            tx.connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        else:
            for table in reversed(metadata.sorted_tables):
                tx.connection.execute(table.delete())


def fill(service: ResourceService, n: int) -> list[Workflow]:
    """N executions over 10 workflows, bulk-inserted in batches."""
    workflows: list[Workflow] = []
    for i in range(WORKFLOWS):
        created = service.create(
            {"kind": "Workflow", "metadata": {"name": f"wf {i}"}, "spec": {"document": _document(i)}}
        )
        assert isinstance(created, Workflow)
        workflows.append(created)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for offset in range(0, n, BATCH):
        rows = []
        for i in range(offset, min(n, offset + BATCH)):
            wf = workflows[i % WORKFLOWS]
            phase = PHASES[(i // WORKFLOWS) % len(PHASES)]
            at = start + timedelta(seconds=i)
            id = f"wex-{ULID.from_datetime(at)}"
            done = at + timedelta(seconds=3) if phase in ("completed", "faulted", "cancelled") else None
            labels = {"batch": str(i % 100)}
            body = {
                "metadata": {"id": id, "name": id.lower(), "slug": id.lower(), "labels": labels},
                "spec": {"workflow_id": wf.metadata.id, "workflow_instance_id": wf.status.default_instance_id,
                         "input": {"order": i}},
                "status": {"audit": {"created_at": at.isoformat(), "created_by": "bench",
                                     "updated_at": at.isoformat(), "updated_by": "bench"},
                           "phase": phase, "document": wf.spec.document},
            }  # fmt: skip
            rows.append(
                {
                    "id": id,
                    "slug": id.lower(),
                    "name": id.lower(),
                    "org": "",
                    "owner": "",
                    "version": 1,
                    "created_at": at,
                    "updated_at": at,
                    "labels": labels,
                    "body": body,
                    "instance_id": wf.status.default_instance_id,
                    "workflow_id": wf.metadata.id,
                    "phase": phase,
                    "completed_at": done,
                }
            )
        with service.store.begin() as tx:
            tx.executions.insert_many(rows)
    if service.store.dialect == "postgresql":
        with service.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    return workflows


def main(argv: list[str] | None = None) -> None:
    """Fill, time, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="executions to store")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--runs", type=int, default=15, help="timed list calls (median reported)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="treadle-bench-") as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        store = Store.open(url, migrate=True)
        _empty(store)
        service = ResourceService(store, SecretCipher.generate())
        began = time.perf_counter()
        workflows = fill(service, args.n)
        fill_seconds = time.perf_counter() - began

        query = ListQuery(workflow_id=workflows[3].metadata.id, phase="completed", page_size=50)
        page = service.list(WorkflowExecution, query)  # warm up caches and the pool
        assert len(page.items) == min(50, page.total) and page.total > 0
        timings = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            service.list(WorkflowExecution, query)
            timings.append(time.perf_counter() - t0)
        median = statistics.median(timings)
        store.dispose()

    engine = "treadle-" + ("postgresql" if url.startswith("postgresql") else "sqlite")
    print(
        json.dumps(
            {
                "engine": engine,
                "workload": "list_executions",
                "n": args.n,
                "seconds": round(median, 6),
                "per_step_ms": round(median * 1000, 3),
                "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "versions": {
                    "treadle": version("treadle"),
                    "python": platform.python_version(),
                    "sqlalchemy": version("sqlalchemy"),
                    "sqlite": __import__("sqlite3").sqlite_version,
                    "psycopg": version("psycopg"),
                },
                "matched": page.total,
                "fill_seconds": round(fill_seconds, 2),
                "runs": args.runs,
            }
        )
    )


if __name__ == "__main__":
    main()
