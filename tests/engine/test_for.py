from __future__ import annotations

from .conftest import Run, statuses

FOR_DEFAULT_NAMES = """
do:
  - loop:
      for:
        in: .numbers
      do:
        - add:
            set: '${ {sum: (.sum + $item), last: $index} }'
"""

FOR_CUSTOM_NAMES_WHILE = """
do:
  - checkup:
      for:
        each: pet
        in: .pets
        at: position
      while: (.seen | length) < 2
      do:
        - visit:
            set: '${ {seen: (.seen + [{id: $pet.id, at: $position}])} }'
"""

FOR_NESTED = """
do:
  - rows:
      for: {each: row, in: '${ [1, 2] }'}
      do:
        - cols:
            for: {each: col, in: '${ ["a", "b"] }'}
            do:
              - cell:
                  set: '${ . + [($row | tostring) + $col] }'
"""

FOR_NOT_ARRAY = """
do:
  - loop:
      for: {in: .value}
      do:
        - noop:
            set: {}
"""

FOR_EMPTY = """
do:
  - loop:
      for: {in: .missing}
      do:
        - noop:
            set: {touched: true}
"""


async def test_for_binds_item_and_index_and_threads_the_data(run: Run) -> None:
    result, observer = await run(FOR_DEFAULT_NAMES, {"numbers": [1, 2, 3], "sum": 0})
    assert result.output == {"sum": 6, "last": 2}
    assert statuses(observer) == [
        ("/do/0/loop", "completed"),
        ("/do/0/loop/do/0/add[0]", "completed"),
        ("/do/0/loop/do/0/add[1]", "completed"),
        ("/do/0/loop/do/0/add[2]", "completed"),
    ]


async def test_for_custom_names_and_while_stops_early(run: Run) -> None:
    pets = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    result, observer = await run(FOR_CUSTOM_NAMES_WHILE, {"pets": pets, "seen": []})
    assert result.output == {"seen": [{"id": "a", "at": 0}, {"id": "b", "at": 1}]}
    assert observer.decisions[-1]["reason"].startswith("while ")


async def test_nested_for_sees_both_variables_and_positions_carry_both_iterations(run: Run) -> None:
    result, observer = await run(FOR_NESTED, [])
    assert result.output == ["1a", "1b", "2a", "2b"]
    positions = [t["position"] for t in observer.tasks if t["name"] == "cell"]
    assert positions == [
        "/do/0/rows/do/0/cols/do/0/cell[0][0]",
        "/do/0/rows/do/0/cols/do/0/cell[0][1]",
        "/do/0/rows/do/0/cols/do/0/cell[1][0]",
        "/do/0/rows/do/0/cols/do/0/cell[1][1]",
    ]


async def test_for_over_a_non_array_is_an_expression_error(run: Run) -> None:
    result, _ = await run(FOR_NOT_ARRAY, {"value": 3})
    assert result.error is not None
    assert result.error.type.endswith("/expression")
    assert result.error.instance == "/do/0/loop"


async def test_for_over_null_runs_nothing(run: Run) -> None:
    result, observer = await run(FOR_EMPTY, {"x": 1})
    assert result.output == {"x": 1}
    assert len(observer.tasks) == 1
