from __future__ import annotations

from .conftest import Run

EMIT = """
do:
  - announce:
      emit:
        event:
          with:
            source: https://shop.example
            type: com.shop.order.placed.v1
            data:
              id: ${ .id }
"""

FORK_EMIT_LISTEN = """
do:
  - meet:
      fork:
        branches:
          - listener:
              listen:
                to:
                  one:
                    with:
                      type: com.shop.order.placed.v1
          - emitter:
              emit:
                event:
                  with:
                    source: https://shop.example
                    type: com.shop.order.placed.v1
                    data: {id: 42}
"""

LISTEN_ALL_ENVELOPE = """
do:
  - both:
      listen:
        to:
          all:
            - with: {type: a}
            - with: {type: b}
        read: envelope
"""

LISTEN_ANY_UNTIL = """
do:
  - collect:
      listen:
        to:
          any:
            - with:
                type: reading
                data: ${ .value > 10 }
          until: ${ length >= 2 }
      foreach:
        item: reading
        output:
          as: ${ $reading.value }
"""

LISTEN_CORRELATED = """
do:
  - wait:
      listen:
        to:
          one:
            with: {type: paid}
            correlate:
              order:
                from: ${ .data.order }
                expect: ${ .order }
"""


async def test_emit_fills_id_time_and_specversion(run: Run) -> None:
    from treadle.runtime.memory import MemoryEffects

    effects = MemoryEffects()
    result, _ = await run(EMIT, {"id": 7}, effects=effects)
    assert result.output == {"id": 7}
    (event,) = effects.bus.published
    assert event["type"] == "com.shop.order.placed.v1"
    assert event["data"] == {"id": 7}
    assert event["specversion"] == "1.0"
    assert event["id"] and event["time"].endswith("Z")


async def test_one_branch_can_listen_to_what_another_emits(run: Run) -> None:
    result, _ = await run(FORK_EMIT_LISTEN)
    assert result.status == "completed"
    assert result.output[0] == [{"id": 42}]


async def test_listen_all_takes_one_event_per_filter_in_arrival_order(run: Run) -> None:
    from treadle.runtime.memory import MemoryEffects

    effects = MemoryEffects()
    effects.bus.publish({"type": "b", "id": "2"})
    effects.bus.publish({"type": "ignored", "id": "x"})
    effects.bus.publish({"type": "a", "id": "1"})
    result, _ = await run(LISTEN_ALL_ENVELOPE, effects=effects)
    assert [event["id"] for event in result.output] == ["2", "1"]


async def test_listen_any_until_with_a_data_predicate_and_foreach(run: Run) -> None:
    from treadle.runtime.memory import MemoryEffects

    effects = MemoryEffects()
    for value in (5, 11, 3, 12, 13):
        effects.bus.publish({"type": "reading", "data": {"value": value}})
    result, _ = await run(LISTEN_ANY_UNTIL, effects=effects)
    assert result.output == [11, 12]


async def test_listen_correlates_on_the_expected_value(run: Run) -> None:
    from treadle.runtime.memory import MemoryEffects

    effects = MemoryEffects()
    effects.bus.publish({"type": "paid", "data": {"order": 1}})
    effects.bus.publish({"type": "paid", "data": {"order": 2}})
    result, _ = await run(LISTEN_CORRELATED, {"order": 2}, effects=effects)
    assert result.output == [{"order": 2}]


LISTEN_ANY_UNTIL_EVENT = """
do:
  - watch:
      listen:
        to:
          any:
            - with: {type: reading}
          until:
            one:
              with: {type: done}
"""

LISTEN_ALL_CORRELATED = """
do:
  - both:
      listen:
        to:
          all:
            - with: {type: paid}
              correlate:
                order: {from: ".data.order"}
            - with: {type: shipped}
              correlate:
                order: {from: ".data.order"}
"""


async def test_until_events_end_the_listen_in_arrival_order_and_are_not_collected(run: Run) -> None:
    from treadle.runtime.memory import MemoryEffects

    effects = MemoryEffects()
    for event in (
        {"type": "reading", "data": 1},
        {"type": "reading", "data": 2},
        {"type": "done", "data": "bye"},
        {"type": "reading", "data": 3},
    ):
        effects.bus.publish(event)
    result, _ = await run(LISTEN_ANY_UNTIL_EVENT, effects=effects)
    assert result.output == [1, 2]


async def test_listen_all_correlates_later_events_with_the_first(run: Run) -> None:
    from treadle.runtime.memory import MemoryEffects

    effects = MemoryEffects()
    for event in (
        {"type": "paid", "data": {"order": "A"}},
        {"type": "shipped", "data": {"order": "B"}},
        {"type": "shipped", "data": {"order": "A"}},
    ):
        effects.bus.publish(event)
    result, _ = await run(LISTEN_ALL_CORRELATED, effects=effects)
    assert result.output == [{"order": "A"}, {"order": "A"}]
