"""`use.extensions`: tasks run before and after the tasks they extend."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.engine.conftest import Run

MOCKED_CALL = """
use:
  extensions:
    - mock:
        extend: call
        when: $task.with.endpoint | startswith("https://mocked.example")
        before:
          - answer:
              set:
                statusCode: 200
                content: { mocked: true }
              then: exit
do:
  - mocked:
      call: http
      with: { method: get, endpoint: "https://mocked.example/a" }
  - real:
      call: http
      with: { method: get, endpoint: "https://real.example/b" }
"""

AUDITED = """
use:
  extensions:
    - audit:
        extend: all
        before:
          - note:
              call: audit
              with: { phase: before, task: "${ $task.reference }" }
        after:
          - note:
              call: audit
              with: { phase: after, task: "${ $task.reference }" }
do:
  - double:
      set: { n: "${ .n * 2 }" }
  - more:
      do:
        - inc:
            set: { n: "${ .n + 1 }" }
"""

ONLY_SETS = """
use:
  extensions:
    - stop:
        extend: set
        when: .skip == true
        before:
          - replace:
              set: { replaced: true }
              then: exit
do:
  - first:
      set: { skip: true, n: 1 }
  - second:
      set: { skip: "${ .skip }", n: 2 }
"""


async def test_before_ending_in_exit_bypasses_the_task_with_its_output(run: Run) -> None:
    calls: list[str] = []

    async def handler(kind: str, args: Mapping[str, Any], key: str) -> Any:
        calls.append(args["endpoint"])
        return {"real": True}

    result, _ = await run(MOCKED_CALL, call_handler=handler)
    assert result.status == "completed"
    assert calls == ["https://real.example/b"]
    assert result.output == {"real": True}


async def test_mocked_call_output_is_what_before_set(run: Run) -> None:
    result, _ = await run(MOCKED_CALL.split("  - real:")[0])
    assert result.output == {"statusCode": 200, "content": {"mocked": True}}


async def test_before_and_after_run_around_every_task_but_not_around_themselves(run: Run) -> None:
    notes: list[tuple[str, str]] = []

    async def handler(kind: str, args: Mapping[str, Any], key: str) -> Any:
        arguments = args["arguments"]
        notes.append((arguments["phase"], arguments["task"]))
        return {"logged": True}

    result, _ = await run(AUDITED, {"n": 1}, call_handler=handler)
    assert result.output == {"n": 3}  # the audit calls' outputs do not replace the data
    assert notes == [
        ("before", "/do/0/double"),
        ("after", "/do/0/double"),
        ("before", "/do/1/more"),
        ("before", "/do/1/more/do/0/inc"),
        ("after", "/do/1/more/do/0/inc"),
        ("after", "/do/1/more"),
    ]


async def test_when_chooses_the_tasks_an_extension_applies_to(run: Run) -> None:
    # `first` runs and sets skip, so `second` is replaced.
    result, _ = await run(ONLY_SETS, {"skip": False})
    assert result.output == {"replaced": True}
    # `first` is replaced, its output has no skip, so `second` runs.
    result, _ = await run(ONLY_SETS, {"skip": True})
    assert result.output == {"skip": None, "n": 2}
