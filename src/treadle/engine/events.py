"""`emit` and `listen`: CloudEvents through the port.

`emit` evaluates the event's attributes on the task's input, fills `id` (from
`effects.new_id`), `time` (from `effects.now`) and `specversion` ("1.0") when absent,
and publishes it; the output is the input. `listen` waits through
`effects.wait_event`: `one` for one event, `all` for one event per filter (in filter
order), `any` for the first event matching any filter, or with `until` for events until
a condition holds (evaluated on the array consumed so far) or until the `until`
strategy's events arrive (those are not part of the output). The output is the array
of consumed events, read as `data` (default), `envelope` or `raw`, each passed through
`foreach` when given. Filter attributes are passed unevaluated: expressions in them are
predicates the runtime evaluates on each event; correlation `expect` values are
evaluated here, on the task's input.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from treadle.dsl.models import EmitTask, EventConsumption, EventFilterSpec, ListenTask, SubscriptionIterator
from treadle.engine.effects import EventFilter
from treadle.engine.flow import Outcome, run_task_list
from treadle.engine.state import Frame
from treadle.expr import is_expression

__all__ = ["run_emit", "run_listen"]


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
    effects = frame.state.effects
    if strategy.one is not None:
        return [dict(await effects.wait_event(_filters([strategy.one], frame), None, frame.key()))]
    if strategy.all is not None:
        waits = [effects.wait_event(_filters([spec], frame), None, frame.key()) for spec in strategy.all]
        return [dict(event) for event in await asyncio.gather(*waits)]
    filters = _filters(strategy.any or (), frame)
    if strategy.until is None:
        return [dict(await effects.wait_event(filters, None, frame.key()))]
    if isinstance(strategy.until, str):
        return await _consume_until_condition(filters, strategy.until, frame)
    return await _consume_until_events(filters, strategy.until, frame)


async def _consume_until_condition(
    filters: list[EventFilter], until: str, frame: Frame
) -> list[dict[str, Any]]:
    consumed: list[dict[str, Any]] = []
    while True:
        consumed.append(dict(await frame.state.effects.wait_event(filters, None, frame.key())))
        if frame.test(until, consumed):
            return consumed


async def _consume_until_events(
    filters: list[EventFilter], until: EventConsumption, frame: Frame
) -> list[dict[str, Any]]:
    consumed: list[dict[str, Any]] = []

    async def collect() -> None:
        while True:
            consumed.append(dict(await frame.state.effects.wait_event(filters, None, frame.key())))

    collector = asyncio.ensure_future(collect())
    try:
        await _consume(until, frame)
    finally:
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
    return consumed


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
    outputs = []
    for index, item in enumerate(items):
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
        outputs.append(output)
    return outputs


def _transform(frame: Frame, spec: Any, data: Any, variables: Any) -> Any:
    if isinstance(spec, str):
        return frame.evaluate(spec, data, data, variables)
    return frame.render(spec, data, data)
