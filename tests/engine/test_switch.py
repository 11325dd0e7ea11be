from __future__ import annotations

import pytest

from .conftest import Run

SWITCH = """
do:
  - route:
      switch:
        - electronic:
            when: .orderType == "electronic"
            then: electronicOrder
        - physical:
            when: .orderType == "physical"
            then: physicalOrder
        - default:
            then: unknownOrder
  - electronicOrder:
      set: {routed: electronic}
      then: exit
  - physicalOrder:
      set: {routed: physical}
      then: exit
  - unknownOrder:
      set: {routed: fallback}
"""

SWITCH_NO_DEFAULT = """
do:
  - route:
      switch:
        - big:
            when: .n > 10
            then: end
  - after:
      set: {passed: true}
"""


@pytest.mark.parametrize(
    ("kind", "routed", "case", "reason"),
    [
        ("electronic", "electronic", "electronic", 'when .orderType == "electronic"'),
        ("physical", "physical", "physical", 'when .orderType == "physical"'),
        ("unknown", "fallback", "default", "default"),
    ],
)
async def test_switch_takes_the_first_matching_case_else_the_default(
    run: Run, kind: str, routed: str, case: str, reason: str
) -> None:
    result, observer = await run(SWITCH, {"orderType": kind})
    assert result.output == {"routed": routed}
    first = observer.decisions[0]
    assert (first["from_node"], first["case"], first["reason"]) == ("/do/0/route", case, reason)
    assert len([t for t in observer.tasks if t["name"].endswith("Order")]) == 1


async def test_switch_records_the_target_task_pointer(run: Run) -> None:
    _, observer = await run(SWITCH, {"orderType": "physical"})
    assert observer.decisions[0]["to_node"] == "/do/2/physicalOrder"


async def test_switch_without_a_match_continues_and_says_so(run: Run) -> None:
    result, observer = await run(SWITCH_NO_DEFAULT, {"n": 1})
    assert result.output == {"passed": True}
    assert observer.decisions[0]["reason"] == "no case matched"
    assert observer.decisions[0]["to_node"] == "/do/1/after"


async def test_switch_case_then_end_finishes_the_workflow(run: Run) -> None:
    result, observer = await run(SWITCH_NO_DEFAULT, {"n": 11})
    assert result.status == "completed"
    assert result.output == {"n": 11}
    assert [t["name"] for t in observer.tasks] == ["route"]
