from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from .conftest import Run

TASK_TIMEOUT = """
do:
  - slow:
      call: work
      timeout:
        after: PT0.01S
"""

NAMED_TIMEOUT_CAUGHT = """
use:
  timeouts:
    short:
      after: {milliseconds: 10}
do:
  - guarded:
      try:
        - slow:
            call: work
            timeout: short
      catch:
        errors:
          with: {type: https://serverlessworkflow.io/spec/1.0.0/errors/timeout}
        do:
          - fallback:
              set: {fallback: true}
"""

WORKFLOW_TIMEOUT = """
timeout:
  after: PT0.01S
do:
  - slow:
      wait: PT1S
"""

FAST_ENOUGH = """
do:
  - quick:
      set: {done: true}
      timeout:
        after: PT1S
"""


class Slow:
    def __init__(self) -> None:
        self.cancelled = False

    async def __call__(self, kind: str, args: Mapping[str, Any], key: str) -> Any:
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return "too late"


async def test_task_timeout_faults_with_the_timeout_error_and_cancels_the_effect(run: Run) -> None:
    slow = Slow()
    result, observer = await run(TASK_TIMEOUT, call_handler=slow)
    assert result.status == "faulted"
    assert result.error is not None
    problem = result.error.to_problem()
    assert problem["type"] == "https://serverlessworkflow.io/spec/1.0.0/errors/timeout"
    assert problem["status"] == 408
    assert problem["instance"] == "/do/0/slow"
    assert slow.cancelled
    assert observer.tasks[0]["status"] == "faulted"


async def test_named_timeout_can_be_caught(run: Run) -> None:
    result, observer = await run(NAMED_TIMEOUT_CAUGHT, call_handler=Slow())
    assert result.output == {"fallback": True}
    assert observer.decisions[0]["reason"] == "caught https://serverlessworkflow.io/spec/1.0.0/errors/timeout"


async def test_workflow_timeout_faults_the_run_and_cancels_the_running_task(run: Run) -> None:
    result, observer = await run(WORKFLOW_TIMEOUT)
    assert result.status == "faulted"
    assert result.error is not None
    assert result.error.status == 408
    assert "the workflow timed out" in (result.error.detail or "")
    assert observer.tasks[0]["status"] == "cancelled"


async def test_a_task_within_its_timeout_completes(run: Run) -> None:
    result, _ = await run(FAST_ENOUGH)
    assert result.output == {"done": True}
