from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from treadle.engine import ErrorType, WorkflowError

from .conftest import Run

TRY_CATCH_DO = """
do:
  - attempt:
      try:
        - call:
            call: flaky
      catch:
        errors:
          with:
            type: https://serverlessworkflow.io/spec/1.0.0/errors/communication
            status: 503
        as: failure
        do:
          - recover:
              set: '${ {recovered: $failure.status, title: $failure.title, from: $failure.instance} }'
  - next:
      set: '${ . + {next: true} }'
"""

TRY_LEGACY_TYPE = """
do:
  - attempt:
      try:
        - call:
            call: flaky
      catch:
        errors:
          with:
            type: https://serverlessworkflow.io.io/dsl/errors/types/communication
"""

TRY_WHEN = """
do:
  - attempt:
      try:
        - call:
            call: flaky
      catch:
        when: ${ $error.status == 503 }
        exceptWhen: ${ .ignore == true }
"""

TRY_NESTED = """
do:
  - outer:
      try:
        - inner:
            try:
              - fail:
                  raise:
                    error: {type: https://example.com/first, status: 400}
            catch:
              errors: {with: {type: https://example.com/other}}
      catch:
        errors: {with: {type: https://example.com/first}}
        do:
          - handled:
              set: {handled: '${ $error.type }'}
"""


def failing(status: int) -> Any:
    async def handler(kind: str, args: Mapping[str, Any], key: str) -> Any:
        raise WorkflowError(ErrorType.COMMUNICATION, status=status, title="Service Unavailable")

    return handler


async def test_catch_runs_its_tasks_with_the_error_under_its_name(run: Run) -> None:
    result, observer = await run(TRY_CATCH_DO, {"x": 1}, call_handler=failing(503))
    assert result.status == "completed"
    assert result.output == {
        "recovered": 503,
        "title": "Service Unavailable",
        "from": "/do/0/attempt/try/0/call",
        "next": True,
    }
    caught = observer.decisions[0]
    assert caught["case"] == "catch"
    assert caught["reason"] == f"caught {ErrorType.COMMUNICATION}"
    assert caught["to_node"] == "/do/0/attempt/catch/do/0/recover"
    by_path = {t["path"]: t["status"] for t in observer.tasks}
    assert by_path["/do/0/attempt/try/0/call"] == "faulted"
    assert by_path["/do/0/attempt"] == "completed"


async def test_an_error_the_filter_rejects_propagates(run: Run) -> None:
    result, _ = await run(TRY_CATCH_DO, call_handler=failing(500))
    assert result.status == "faulted"
    assert result.error is not None
    assert result.error.status == 500
    assert result.error.instance == "/do/0/attempt/try/0/call"


async def test_filter_matches_the_legacy_spelling_of_standard_types(run: Run) -> None:
    result, _ = await run(TRY_LEGACY_TYPE, {"kept": True}, call_handler=failing(503))
    assert result.status == "completed"
    assert result.output == {"kept": True}


@pytest.mark.parametrize(
    ("status", "ignore", "outcome"),
    [(503, False, "completed"), (500, False, "faulted"), (503, True, "faulted")],
)
async def test_when_and_except_when_decide_with_the_error_variable(
    run: Run, status: int, ignore: bool, outcome: str
) -> None:
    result, _ = await run(TRY_WHEN, {"ignore": ignore}, call_handler=failing(status))
    assert result.status == outcome


async def test_an_inner_try_that_does_not_catch_lets_the_outer_one_catch(run: Run) -> None:
    result, _ = await run(TRY_NESTED)
    assert result.output == {"handled": "https://example.com/first"}
