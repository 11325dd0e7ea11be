from __future__ import annotations

import asyncio

from treadle.engine import run_workflow
from treadle.runtime.memory import MemoryEffects, RecordingObserver

from .conftest import Run, build

SIMPLE = """
do:
  - one:
      set: {a: 1}
"""

FAULTING = """
do:
  - boom:
      raise:
        error: {type: https://example.com/boom, status: 500}
"""

LONG = """
do:
  - first:
      set: {started: true}
  - long:
      wait: PT5S
"""


def phases(observer: RecordingObserver) -> list[str]:
    return [phase for phase, _ in observer.phases]


async def test_completed_run_goes_pending_running_completed(run: Run) -> None:
    result, observer = await run(SIMPLE)
    assert result.status == "completed"
    assert phases(observer) == ["pending", "running", "completed"]
    (task,) = observer.tasks
    assert task["status"] == "completed"
    assert task["started_at"] <= task["completed_at"]


async def test_faulted_run_goes_pending_running_faulted(run: Run) -> None:
    result, observer = await run(FAULTING)
    assert result.status == "faulted"
    assert result.output is None
    assert phases(observer) == ["pending", "running", "faulted"]
    assert observer.error is result.error


async def test_cancelling_the_run_ends_it_cancelled_and_cancels_the_running_task() -> None:
    observer = RecordingObserver()
    running = asyncio.ensure_future(
        run_workflow(build(LONG), {}, MemoryEffects(), execution_id="wex-1", observer=observer)
    )
    while len(observer.tasks) < 2:
        await asyncio.sleep(0.001)
    running.cancel()
    result = await running
    assert result.status == "cancelled"
    assert phases(observer) == ["pending", "running", "cancelled"]
    assert [(t["name"], t["status"]) for t in observer.tasks] == [
        ("first", "completed"),
        ("long", "cancelled"),
    ]


async def test_runtime_info_and_execution_id_reach_the_expressions() -> None:
    workflow = build("""
do:
  - who:
      set: '${ {id: $workflow.id, meta: $runtime.metadata} }'
""")
    result = await run_workflow(
        workflow, {}, MemoryEffects(), execution_id="wex-42", runtime_info={"metadata": {"org": "acme"}}
    )
    assert result.output == {"id": "wex-42", "meta": {"org": "acme"}}
