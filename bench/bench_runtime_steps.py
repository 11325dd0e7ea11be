"""Per-step cost of the durable local runtime on SQLite: chains of 100 steps.

Prints JSON lines: for a chain of 100 Python-function calls (each result journalled and
made durable before the next step) and a chain of 100 `set` tasks, the wall time per
step of a durable run, of the same workflow run in memory (`treadle run`'s runtime), and
their difference: treadle's durability overhead per step.

    python bench/bench_runtime_steps.py [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from treadle.dsl.models import build_workflow
from treadle.effects import Dispatcher, function
from treadle.resources import ResourceService, SecretCipher, Workflow, WorkflowExecution
from treadle.runtime.local import LocalRuntime, RuntimeSettings
from treadle.runtime.memory import MemoryEffects, run_document
from treadle.store import Store

STEPS = 100


@function
def bench_increment(n: int) -> int:
    """One step of the chain."""
    return n + 1


def _document(kind: str) -> dict[str, Any]:
    if kind == "function":
        step: dict[str, Any] = {"call": "bench_increment", "with": {"n": "${ . }"}}
    else:
        step = {"set": {"n": "${ .n + 1 }"}}
    tasks = [{f"s{i}": step} for i in range(STEPS)]
    return {
        "document": {"dsl": "1.0.3", "namespace": "bench", "name": f"chain-{kind}", "version": "1.0.0"},
        "do": tasks,
    }


async def _durable(service: ResourceService, runtime: LocalRuntime, workflow_id: str, start: Any) -> float:
    created = service.create(
        WorkflowExecution.model_validate({"spec": {"workflow_id": workflow_id, "input": start}})
    )
    runtime.wake()
    while True:
        execution = service.get(WorkflowExecution, created.metadata.id or "")
        if execution.status.phase == "completed":
            break
        await asyncio.sleep(0.02)
    # From the first task's start to the run's end, as the journal timestamps them.
    with service.store.begin(write=False) as tx:
        journal = tx.journal.read(created.metadata.id or "")
    first = next(e.at for e in journal if e.type == "task.started")
    return (journal[-1].at - first).total_seconds()


async def _memory(document: dict[str, Any], start: Any) -> float:
    workflow = build_workflow(document)
    async with Dispatcher() as dispatcher:
        effects = MemoryEffects(dispatcher.call)
        started = time.perf_counter()
        result, _ = await run_document(workflow, start, effects=effects)
        assert result.status == "completed"
        return time.perf_counter() - started


async def main(runs: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="treadle-bench-"))
    store = Store.open(f"sqlite:///{folder / 'bench.db'}", migrate=True)
    service = ResourceService(store, SecretCipher.generate())
    settings = RuntimeSettings(poll_seconds=0.01, status_seconds=0.5, schedules=False, retention=False)
    async with LocalRuntime(service, settings) as runtime:
        for kind, start in (("function", 0), ("set", {"n": 0})):
            document = _document(kind)
            workflow = service.create(Workflow.model_validate({"spec": {"document": document}}))
            workflow_id = workflow.metadata.id or ""
            await _durable(service, runtime, workflow_id, start)  # warm up
            durable = [await _durable(service, runtime, workflow_id, start) for _ in range(runs)]
            memory = [await _memory(document, start) for _ in range(runs)]
            d, m = statistics.median(durable), statistics.median(memory)
            writer = runtime.worker.writer
            print(
                json.dumps(
                    {
                        "bench": f"runtime.chain.{kind}",
                        "steps": STEPS,
                        "durable_ms_per_step": round(d / STEPS * 1000, 4),
                        "memory_ms_per_step": round(m / STEPS * 1000, 4),
                        "overhead_ms_per_step": round((d - m) / STEPS * 1000, 4),
                        # Cumulative over the process: writer-thread rounds, and
                        # the commits made on the event loop while the writer was idle.
                        "writer_rounds": writer.rounds,
                        "loop_commits": writer.loop_commits,
                    }
                )
            )
    store.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    asyncio.run(main(parser.parse_args().runs))
