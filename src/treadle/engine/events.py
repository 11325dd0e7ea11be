"""`emit` and `listen`: CloudEvents through the port.

`emit` evaluates the event's attributes on the task's input, fills `id` (from
`effects.new_id`), `time` (from `effects.now`) and `specversion` ("1.0") when absent,
and publishes it; the output is the input. `listen` waits through
`effects.wait_event`, one event at a time in arrival order: `one` for one event, `all`
for one event per filter, `any` for the first event matching any filter, or with `until` for events until
a condition holds (evaluated on the array consumed so far) or until the `until`
strategy's events arrive (those are not part of the output). The output is the array
of consumed events, read as `data` (default), `envelope` or `raw`, each passed through
`foreach` when given. Filter attributes are passed unevaluated: expressions in them are
predicates the runtime evaluates on each event; correlation `expect` values are
evaluated here, on the task's input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from treadle.dsl.models import EmitTask, EventConsumption, EventFilterSpec, ListenTask, SubscriptionIterator
from treadle.engine.effects import EventFilter
from treadle.engine.event_filters import correlation_values, first_match
from treadle.engine.flow import Outcome, run_task_list
from treadle.engine.state import Frame
from treadle.expr import is_expression

__all__ = ["iterate_item", "run_emit", "run_listen"]


async def run_emit(task: EmitTask, frame: Frame) -> Outcome:
    """Publish the event."""
    effects = frame.state.effects
    event = dict(frame.render(task.emit.event.with_, frame.input))
    if "id" not in event:
        event["id"] = await effects.new_id(frame.key())
    if "time" not in event:
        event["time"] = (await effects.now(frame.key())).isoformat().replace("+00:00", "Z")
    event.setdefault("specversion", "1.0")
    await effects.emit(event, frame.key())
    return Outcome(frame.input)


async def run_listen(task: ListenTask, frame: Frame) -> Outcome:
    """Consume events as `listen.to` says, read them, iterate `foreach` over them."""
    events = await _consume(task.listen.to, frame)
    read = [_read(event, task.listen.read) for event in events]
    if task.foreach is None:
        return Outcome(read)
    return Outcome(await _iterate(task.foreach, read, frame))


async def _consume(strategy: EventConsumption, frame: Frame) -> list[dict[str, Any]]:
    """Consume events one at a time, in arrival order, until the strategy is satisfied.

    Sequential waits keep the effect keys in a deterministic order, so a durable runtime
    replays a listen exactly; an event is offered to `until` before it is collected,
    and events that satisfy `until` are not part of the output (the spec says so).
    """
    if strategy.one is not None:
        return await _consume_all([strategy.one], frame)
    if strategy.all is not None:
        return await _consume_all(list(strategy.all), frame)
    filters = _filters(strategy.any or (), frame)
    if strategy.until is None:
        return [await _next_event(filters, frame)]
    if isinstance(strategy.until, str):
        return await _consume_until_condition(filters, strategy.until, frame)
    return await _consume_until_events(filters, strategy.until, frame)


async def _next_event(filters: list[EventFilter], frame: Frame) -> dict[str, Any]:
    return dict(await frame.state.effects.wait_event(filters, None, frame.key()))


async def _consume_all(specs: list[EventFilterSpec], frame: Frame) -> list[dict[str, Any]]:
    """One event for each filter, each event taken by the first filter still waiting."""
    remaining = _filters(specs, frame)
    consumed: list[dict[str, Any]] = []
    while remaining:
        event = await _next_event(remaining, frame)
        index = first_match(event, remaining)
        if index is None:
            continue  # the runtime offered an event no remaining filter takes
        remaining = _expect_correlations(remaining, event, index)
        del remaining[index]
        consumed.append(event)
    return consumed


async def _consume_until_condition(
    filters: list[EventFilter], until: str, frame: Frame
) -> list[dict[str, Any]]:
    consumed: list[dict[str, Any]] = []
    while True:
        consumed.append(await _next_event(filters, frame))
        if frame.test(until, consumed):
            return consumed


async def _consume_until_events(
    filters: list[EventFilter], until: EventConsumption, frame: Frame
) -> list[dict[str, Any]]:
    """Collect events matching `filters` until the `until` strategy's events arrive."""
    if until.one is not None:
        ending, need_all = _filters([until.one], frame), False
    elif until.all is not None:
        ending, need_all = _filters(until.all, frame), True
    else:
        ending, need_all = _filters(until.any or (), frame), False
    consumed: list[dict[str, Any]] = []
    while True:
        event = await _next_event(ending + filters, frame)
        index = first_match(event, ending)
        if index is None:
            if first_match(event, filters) is not None:
                consumed.append(event)
            continue
        if not need_all:
            return consumed
        ending = _expect_correlations(ending, event, index)
        del ending[index]
        if not ending:
            return consumed


def _expect_correlations(filters: list[EventFilter], event: dict[str, Any], index: int) -> list[EventFilter]:
    """After a first correlated match, the other filters expect the same values."""
    values = {
        name: value
        for name, value in correlation_values(event, filters[index]).items()
        if filters[index].correlate[name].get("expect") is None
    }
    if not values:
        return list(filters)
    return [
        EventFilter(
            with_=accepted.with_,
            correlate={
                name: {**correlation, "expect": values[name]}
                if correlation.get("expect") is None and name in values
                else correlation
                for name, correlation in accepted.correlate.items()
            },
        )
        for accepted in filters
    ]


def _filters(specs: Sequence[EventFilterSpec], frame: Frame) -> list[EventFilter]:
    return [
        EventFilter(
            with_=dict(spec.with_),
            correlate={
                name: {"from": correlation.from_, "expect": _expectation(correlation.expect, frame)}
                for name, correlation in (spec.correlate or {}).items()
            },
        )
        for spec in specs
    ]


def _expectation(expect: Any, frame: Frame) -> Any:
    return frame.evaluate(expect, frame.input) if is_expression(expect) else expect


def _read(event: dict[str, Any], how: str) -> Any:
    return event if how == "envelope" else event.get("data")


async def _iterate(foreach: SubscriptionIterator, items: list[Any], frame: Frame) -> list[Any]:
    return [await iterate_item(foreach, item, index, frame) for index, item in enumerate(items)]


async def iterate_item(foreach: SubscriptionIterator, item: Any, index: int, frame: Frame) -> Any:
    """Run `foreach` on one consumed item (an event, an AsyncAPI message): its output.

    `do` runs on the item as iteration `index` (`$<item>`, `$<at>` set), then `output.as`
    transforms the result and `export.as` replaces `$context` (when it gives an object).
    """
    scope = frame.scope.with_variables({foreach.item: item, foreach.at: index}, iteration=index)
    output = item
    if foreach.do is not None:
        output = (await run_task_list(foreach.do, item, scope)).output
    variables = scope.variables
    if foreach.output is not None and foreach.output.as_ is not None:
        output = _transform(frame, foreach.output.as_, output, variables)
    if foreach.export is not None and foreach.export.as_ is not None:
        context = _transform(frame, foreach.export.as_, output, variables)
        if isinstance(context, dict):
            frame.state.context = context
    return output


def _transform(frame: Frame, spec: Any, data: Any, variables: Any) -> Any:
    if isinstance(spec, str):
        return frame.evaluate(spec, data, data, variables)
    return frame.render(spec, data, data)
