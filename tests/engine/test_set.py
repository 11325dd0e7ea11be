from __future__ import annotations

from .conftest import Run

SET_MAP = """
do:
  - shape:
      set:
        shape: circle
        size: ${ .configuration.size }
        nested: {fill: '${ .configuration.fill }', list: ['${ .configuration.size * 2 }', plain]}
"""

SET_EXPRESSION = """
do:
  - color:
      set: ${ .configuration.color }
"""

SET_BAD_EXPRESSION = """
do:
  - ok:
      set: {a: 1}
  - broken:
      set: ${ .a | error("boom") }
"""

SET_CHAIN = """
do:
  - one:
      set: {n: '${ .n + 1 }'}
  - two:
      set: {n: '${ .n * 10 }'}
"""


async def test_set_evaluates_every_expression_of_a_map(run: Run) -> None:
    result, _ = await run(SET_MAP, {"configuration": {"size": 3, "fill": "red"}})
    assert result.status == "completed"
    assert result.output == {"shape": "circle", "size": 3, "nested": {"fill": "red", "list": [6, "plain"]}}


async def test_set_with_an_expression_string_replaces_the_data(run: Run) -> None:
    result, _ = await run(SET_EXPRESSION, {"configuration": {"color": "blue"}})
    assert result.output == "blue"


async def test_output_of_one_set_is_the_input_of_the_next(run: Run) -> None:
    result, observer = await run(SET_CHAIN, {"n": 1})
    assert result.output == {"n": 20}
    assert [task["input"] for task in observer.tasks] == [{"n": 1}, {"n": 2}]


async def test_failing_expression_faults_with_the_expression_error_at_the_task(run: Run) -> None:
    result, observer = await run(SET_BAD_EXPRESSION)
    assert result.status == "faulted"
    assert result.error is not None
    problem = result.error.to_problem()
    assert problem["type"] == "https://serverlessworkflow.io/spec/1.0.0/errors/expression"
    assert problem["status"] == 400
    assert problem["instance"] == "/do/1/broken"
    assert "boom" in problem["detail"]
    assert [(t["path"], t["status"]) for t in observer.tasks] == [
        ("/do/0/ok", "completed"),
        ("/do/1/broken", "faulted"),
    ]
