"""The workflow itself: replay determinism and continue-as-new for long runs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from temporalio.worker import Replayer

from tests.temporal.devserver import Harness
from treadle.dsl import parse
from treadle.runtime.memory import run_document
from treadle.runtime.temporal.client import start_execution
from treadle.runtime.temporal.messages import RunOptions
from treadle.runtime.temporal.worker import sandbox_runner
from treadle.runtime.temporal.workflow import TreadleWorkflow

HEADER = "document: {dsl: '1.0.3', namespace: test, name: temporal, version: '0.1.0'}\n"

MIXED = (
    HEADER
    + """
do:
  - both:
      fork:
        branches:
          - left:
              call: count
          - right:
              wait: PT0.02S
  - stamp:
      emit:
        event:
          with: {source: https://test, type: stamped}
  - guarded:
      try:
        - slow:
            call: count
            timeout: {after: PT5S}
      catch:
        do:
          - fallback:
              set: {fallback: true}
"""
)

LOOP = (
    HEADER
    + """
do:
  - each:
      for:
        each: item
        in: ${ .items }
      do:
        - count:
            call: count
            with: {item: '${ $item }'}
        - pause:
            wait: PT0.01S
  - done:
      set: {calls: '${ .n }'}
"""
)


class Counter:
    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def __call__(self, kind: str, args: Mapping[str, Any], key: str) -> Any:
        self.seen.append(args.get("arguments"))
        return {"n": len(self.seen)}


async def test_a_recorded_history_replays_without_nondeterminism(harness: Harness) -> None:
    counter = Counter()
    execution_id = f"wex-{uuid.uuid4().hex}"

    async def scenario() -> Any:
        harness.handlers[execution_id] = counter
        handle = await start_execution(
            harness.client, MIXED, task_queue=harness.task_queue, execution_id=execution_id
        )
        outcome = await handle.result()
        return outcome, await handle.fetch_history()

    outcome, history = await harness.submit(scenario())
    assert outcome.status == "completed"
    replayer = Replayer(workflows=[TreadleWorkflow], workflow_runner=sandbox_runner())
    replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert replayed.replay_failure is None


async def test_a_long_loop_continues_as_new_and_records_each_task_once(harness: Harness) -> None:
    items = list(range(24))
    counter = Counter()
    execution_id = f"wex-{uuid.uuid4().hex}"

    async def scenario() -> Any:
        harness.handlers[execution_id] = counter
        handle = await start_execution(
            harness.client, LOOP, {"items": items}, task_queue=harness.task_queue,
            execution_id=execution_id, options=RunOptions(continue_as_new_after=40),
        )  # fmt: skip
        return await handle.result()

    outcome = await harness.submit(scenario())
    assert outcome.status == "completed", outcome.error
    assert outcome.runs > 2
    assert outcome.output == {"calls": 24}
    assert counter.seen == [{"item": item} for item in items]  # each call once

    expected_result, expected = await run_document(parse(LOOP), {"items": items}, call_handler=Counter())
    assert outcome.output == expected_result.output
    assert [(t["position"], t["status"]) for t in outcome.tasks] == [
        (t["position"], t["status"]) for t in expected.tasks
    ]
    assert len(outcome.decisions) == len(expected.decisions)
    assert [phase for phase, _ in outcome.phases] == ["pending", "running", "completed"]
