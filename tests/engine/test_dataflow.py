from __future__ import annotations

from .conftest import Run

WORKFLOW_INPUT_OUTPUT = """
input:
  schema:
    format: json
    document:
      type: object
      required: [order]
  from: .order
output:
  as: '${ {id: .id, total: .total, raw: $workflow.input.order.id} }'
  schema:
    document: {type: object, required: [id, total]}
do:
  - price:
      set: '${ . + {total: (.qty * 2)} }'
"""

TASK_TRANSFORMS = """
do:
  - compute:
      input:
        from: '${ {n: .value} }'
      set:
        doubled: ${ $input.n * 2 }
        secret: ${ $secrets.apiKey }
      output:
        as: '${ {result: .doubled, seen: $input.n, key: .secret} }'
      export:
        as: '${ $context + {last: .result} }'
  - useContext:
      set: '${ . + {fromContext: $context.last} }'
"""

TASK_INPUT_SCHEMA = """
do:
  - strict:
      input:
        schema:
          format: json
          document: {type: object, required: [needed]}
      set: {ok: true}
"""

EXPORT_NOT_OBJECT = """
do:
  - bad:
      set: {a: 1}
      export:
        as: .a
"""

EXPORT_SCHEMA = """
do:
  - checked:
      set: {a: 1}
      export:
        as: .
        schema:
          format: json
          document: {type: object, required: [b]}
"""

TASK_DESCRIPTOR = """
do:
  - describe:
      set: {x: 1}
      output:
        as: >-
          ${ {name: $task.name, ref: $task.reference, raw: $task.output, runtime: $runtime.name,
          started: ($task.startedAt.epoch.seconds > 0), wf: $workflow.id} }
"""


async def test_workflow_input_schema_from_and_output_as(run: Run) -> None:
    result, _ = await run(WORKFLOW_INPUT_OUTPUT, {"order": {"id": 9, "qty": 3}, "noise": True})
    assert result.output == {"id": 9, "total": 6, "raw": 9}


async def test_invalid_workflow_input_is_a_validation_error(run: Run) -> None:
    result, observer = await run(WORKFLOW_INPUT_OUTPUT, {"nothing": 1})
    assert result.status == "faulted"
    assert result.error is not None
    assert result.error.type.endswith("/validation")
    assert result.error.status == 400
    assert observer.tasks == []


async def test_task_input_from_output_as_export_as_and_secrets(run: Run) -> None:
    result, _ = await run(TASK_TRANSFORMS, {"value": 4}, secrets={"apiKey": "k"})
    assert result.output == {"result": 8, "seen": 4, "key": "k", "fromContext": 8}


async def test_task_input_schema_is_checked_on_the_raw_input(run: Run) -> None:
    result, _ = await run(TASK_INPUT_SCHEMA, {"other": 1})
    assert result.error is not None
    assert result.error.type.endswith("/validation")
    assert result.error.instance == "/do/0/strict"
    ok, _ = await run(TASK_INPUT_SCHEMA, {"needed": 1})
    assert ok.output == {"ok": True}


async def test_export_must_produce_an_object(run: Run) -> None:
    result, _ = await run(EXPORT_NOT_OBJECT)
    assert result.error is not None
    assert result.error.type.endswith("/validation")


async def test_export_schema_is_checked(run: Run) -> None:
    result, _ = await run(EXPORT_SCHEMA)
    assert result.error is not None
    assert result.error.type.endswith("/validation")
    assert "exported context" in (result.error.detail or "")


async def test_task_workflow_and_runtime_descriptors(run: Run) -> None:
    result, _ = await run(TASK_DESCRIPTOR)
    assert result.output["name"] == "describe"
    assert result.output["ref"] == "/do/0/describe"
    assert result.output["raw"] == {"x": 1}
    assert result.output["runtime"] == "treadle"
    assert result.output["started"] is True
    assert result.output["wf"].startswith("wex-")
