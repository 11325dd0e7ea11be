from __future__ import annotations

from .conftest import Run

GOTO_BACKWARDS = """
do:
  - init:
      set: {n: 0}
  - increment:
      set: {n: '${ .n + 1 }'}
  - check:
      switch:
        - again:
            when: .n < 3
            then: increment
        - done:
            then: continue
  - finish:
      set: {total: '${ .n }'}
"""

THEN_DIRECTIVES = """
do:
  - first:
      set: {step: 1}
      then: third
  - second:
      set: {step: 2}
  - third:
      do:
        - inner:
            set: {step: 3}
            then: exit
        - skipped:
            set: {step: 99}
  - fourth:
      set: {step: 4}
      then: end
  - never:
      set: {step: 5}
"""

IF_SKIPS = """
do:
  - maybe:
      if: .run == true
      set: {ran: true}
  - after:
      set: '${ . + {after: true} }'
"""

NESTED_END = """
do:
  - outer:
      do:
        - stop:
            set: {stopped: true}
            then: end
  - never:
      set: {never: true}
"""

UNKNOWN_THEN = """
do:
  - first:
      set: {}
      then: nowhere
"""


async def test_then_can_jump_backwards_to_loop(run: Run) -> None:
    result, observer = await run(GOTO_BACKWARDS)
    assert result.output == {"total": 3}
    assert [t["name"] for t in observer.tasks].count("increment") == 3


async def test_then_names_exit_and_end(run: Run) -> None:
    result, observer = await run(THEN_DIRECTIVES)
    assert result.output == {"step": 4}
    assert [t["name"] for t in observer.tasks] == ["first", "third", "inner", "fourth"]
    reasons = [d["reason"] for d in observer.decisions]
    assert reasons == ["then: third", "then: exit", "then: end"]
    assert observer.decisions[0]["to_node"] == "/do/2/third"


async def test_if_false_skips_and_passes_the_raw_input_through(run: Run) -> None:
    result, observer = await run(IF_SKIPS, {"run": False})
    assert result.output == {"run": False, "after": True}
    assert observer.tasks[0]["status"] == "skipped"
    assert observer.decisions[0]["reason"] == "if was false"
    assert observer.decisions[0]["to_node"] == "/do/1/after"


async def test_if_true_runs_the_task(run: Run) -> None:
    result, observer = await run(IF_SKIPS, {"run": True})
    assert result.output == {"ran": True, "after": True}
    assert observer.tasks[0]["status"] == "completed"


async def test_end_inside_a_nested_do_ends_the_workflow(run: Run) -> None:
    result, observer = await run(NESTED_END)
    assert result.output == {"stopped": True}
    assert "never" not in [t["name"] for t in observer.tasks]


async def test_then_to_an_unknown_task_is_a_configuration_error(run: Run) -> None:
    result, _ = await run(UNKNOWN_THEN)
    assert result.error is not None
    assert result.error.type.endswith("/configuration")
    assert result.error.instance == "/do/0/first"
