from __future__ import annotations

from .conftest import Run

RAISE_INLINE = """
do:
  - reject:
      raise:
        error:
          type: https://example.com/errors/rejected
          status: 422
          title: Rejected
          detail: ${ "order " + (.id | tostring) + " was rejected" }
"""

RAISE_NAMED = """
use:
  errors:
    notFound:
      type: https://serverlessworkflow.io/spec/1.0.0/errors/runtime
      status: 404
      title: Not Found
      instance: /custom/place
do:
  - missing:
      raise:
        error: notFound
"""

RAISE_UNKNOWN = """
do:
  - missing:
      raise:
        error: nope
"""


async def test_raise_evaluates_the_error_and_points_at_the_task(run: Run) -> None:
    result, observer = await run(RAISE_INLINE, {"id": 7})
    assert result.status == "faulted"
    assert result.error is not None
    assert result.error.to_problem() == {
        "type": "https://example.com/errors/rejected",
        "status": 422,
        "title": "Rejected",
        "detail": "order 7 was rejected",
        "instance": "/do/0/reject",
    }
    assert observer.tasks[0]["status"] == "faulted"
    assert observer.tasks[0]["error"]["status"] == 422


async def test_raise_by_name_keeps_the_defined_instance(run: Run) -> None:
    result, _ = await run(RAISE_NAMED)
    assert result.error is not None
    assert (result.error.status, result.error.title, result.error.instance) == (
        404,
        "Not Found",
        "/custom/place",
    )


async def test_raise_of_an_unknown_name_is_a_configuration_error(run: Run) -> None:
    result, _ = await run(RAISE_UNKNOWN)
    assert result.error is not None
    assert result.error.type.endswith("/configuration")
    assert result.error.instance == "/do/0/missing"
