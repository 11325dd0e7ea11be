"""Memory of many waiting executions: they are unloaded, so the worker holds almost nothing.

Creates N executions of a workflow that waits 10 minutes, lets a `LocalRuntime` start
them all until each is unloaded (`waiting`), and prints one JSON line with the worker
process's RSS before and after and the time it took.

    python bench/bench_waiting_memory.py [--executions 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from treadle.resources import ResourceService, SecretCipher, Workflow, WorkflowExecution
from treadle.runtime.local import LocalRuntime, RuntimeSettings
from treadle.store import Store


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def main(count: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="treadle-bench-"))
    store = Store.open(f"sqlite:///{folder / 'bench.db'}", migrate=True)
    service = ResourceService(store, SecretCipher.generate())
    document = {
        "document": {"dsl": "1.0.3", "namespace": "bench", "name": "nap", "version": "1.0.0"},
        "do": [{"nap": {"wait": {"minutes": 10}}}],
    }
    workflow = service.create(Workflow.model_validate({"spec": {"document": document}}))
    for _ in range(count):
        service.create(WorkflowExecution.model_validate({"spec": {"workflow_id": workflow.metadata.id}}))
    before = rss_mb()
    started = time.perf_counter()
    settings = RuntimeSettings(max_running=500, schedules=False, retention=False)
    async with LocalRuntime(service, settings) as runtime:
        while True:
            with store.begin(write=False) as tx:
                counts = tx.runtime.counts()
            if counts.get("waiting", 0) >= count:
                break
            await asyncio.sleep(0.5)
        after = rss_mb()
        loaded = len(runtime.worker.runs)
    print(
        json.dumps(
            {
                "bench": "runtime.waiting.memory",
                "executions": count,
                "rss_before_mb": round(before, 1),
                "rss_after_mb": round(after, 1),
                "rss_growth_mb": round(after - before, 1),
                "loaded_after": loaded,
                "seconds_to_unload_all": round(time.perf_counter() - started, 1),
            }
        )
    )
    store.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().executions))
