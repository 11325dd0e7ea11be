from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from .conftest import Run

FORK_JOIN = """
do:
  - both:
      fork:
        branches:
          - slow:
              call: work
              with: {name: slow, delay: 0.03}
          - fast:
              call: work
              with: {name: fast, delay: 0.0}
"""

FORK_COMPETE = """
do:
  - race:
      fork:
        compete: true
        branches:
          - slow:
              call: work
              with: {name: slow, delay: 0.5}
          - fast:
              call: work
              with: {name: fast, delay: 0.01}
"""

FORK_FAULT = """
do:
  - both:
      fork:
        branches:
          - slow:
              call: work
              with: {name: slow, delay: 0.5}
          - broken:
              raise:
                error: {type: https://example.com/broken, status: 418}
"""

FORK_ALL_FAIL_COMPETE = """
do:
  - race:
      fork:
        compete: true
        branches:
          - a:
              raise: {error: {type: https://example.com/a, status: 500}}
          - b:
              raise: {error: {type: https://example.com/b, status: 500}}
"""


class Worker:
    def __init__(self) -> None:
        self.cancelled: list[str] = []

    async def __call__(self, kind: str, args: Mapping[str, Any], key: str) -> Any:
        arguments = args["arguments"]
        try:
            await asyncio.sleep(arguments["delay"])
        except asyncio.CancelledError:
            self.cancelled.append(arguments["name"])
            raise
        return {"branch": arguments["name"]}


async def test_fork_outputs_every_branch_in_declaration_order(run: Run) -> None:
    result, observer = await run(FORK_JOIN, call_handler=Worker())
    assert result.output == [{"branch": "slow"}, {"branch": "fast"}]
    ended = {t["name"]: t["completed_at"] for t in observer.tasks}
    assert ended["fast"] < ended["slow"]  # they ran at once: the fast one finished first


async def test_compete_takes_the_first_to_finish_and_cancels_the_rest(run: Run) -> None:
    worker = Worker()
    result, observer = await run(FORK_COMPETE, call_handler=worker)
    assert result.output == {"branch": "fast"}
    assert worker.cancelled == ["slow"]
    by_name = {t["name"]: t["status"] for t in observer.tasks}
    assert by_name == {"race": "completed", "slow": "cancelled", "fast": "completed"}
    assert observer.decisions[0]["case"] == "fast"
    assert observer.decisions[0]["to_node"] == "/do/0/race/fork/branches/1/fast"


async def test_a_faulted_branch_cancels_its_siblings_and_faults_the_fork(run: Run) -> None:
    worker = Worker()
    result, _ = await run(FORK_FAULT, call_handler=worker)
    assert result.status == "faulted"
    assert result.error is not None
    assert result.error.type == "https://example.com/broken"
    assert result.error.instance == "/do/0/both/fork/branches/1/broken"
    assert worker.cancelled == ["slow"]


async def test_compete_faults_when_every_branch_faults(run: Run) -> None:
    result, _ = await run(FORK_ALL_FAIL_COMPETE)
    assert result.status == "faulted"
    assert result.error is not None
    assert result.error.type == "https://example.com/a"
