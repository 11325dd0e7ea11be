"""`call: asyncapi`: publish one message, or consume a subscription message by message.

A publish is one effect, `call("asyncapi", <with, evaluated> + {"_input": input})`, whose
result is the task's output. A subscription is a conversation of effects, each with its
own key, so that a durable runtime journals every message as it arrives and a replay
walks the same messages in the same order: `open` (the evaluated `with`, without the
per-message fields below) answers a handle; each `next` answers the following inbound
message (`{payload, headers, correlationId}`) or null once the stream ended or
`consume.for` elapsed (a wall-clock bound, so the effect keeps it, not the engine);
`close` always follows, after a fault or a cancellation too.

Per message, in arrival order: `filter` is evaluated on the message (false: skipped, not
counted); `foreach` runs as a listen's does (`do` on the message, `output.as`,
`export.as`); then the lifetime decides whether to go on: `amount` messages consumed,
`while` false, or `until` true. `while` and `until` see the array consumed so far as `.`
and `$context` as `export.as` left it, which the spec's example `until: ${
($context.consumedMessages | length) == 5 }` relies on. A `while` already false before
the first message consumes nothing and opens nothing, and so does `amount: 0`. The
output is the array of consumed messages, each as `foreach` transformed it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from treadle.dsl.models import CallTask, SubscriptionIterator, build_task_list
from treadle.engine.errors import configuration_error, runtime_error
from treadle.engine.events import iterate_item
from treadle.engine.flow import Outcome
from treadle.engine.state import Frame

__all__ = ["KIND", "run_asyncapi", "without_per_message"]

#: The effect kind of every AsyncAPI effect (publish, open, next, close).
KIND = "asyncapi"

# Fields evaluated per message by the engine, never handed to the effect.
_PER_MESSAGE = ("filter", "foreach")
_CONDITIONS = ("while", "until")


def without_per_message(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The call's `with` without the fields evaluated per message, to evaluate at once.

    `subscription.filter`, `subscription.foreach`, `consume.while` and `consume.until`
    are about each message: they are read from the task as written when messages arrive.
    """
    trimmed = dict(arguments)
    subscription = trimmed.get("subscription")
    if isinstance(subscription, Mapping):
        kept = {name: value for name, value in subscription.items() if name not in _PER_MESSAGE}
        consume = kept.get("consume")
        if isinstance(consume, Mapping):
            kept["consume"] = {name: value for name, value in consume.items() if name not in _CONDITIONS}
        trimmed["subscription"] = kept
    return trimmed


async def run_asyncapi(task: CallTask, arguments: dict[str, Any], frame: Frame) -> Outcome:
    """Publish the message, or consume the subscription.

    `arguments` is the task's `with` evaluated, without the per-message fields.
    """
    raw = (task.with_ or {}).get("subscription")
    if raw is None:
        if isinstance(frame.input, dict):
            arguments["_input"] = frame.input
        return Outcome(await frame.state.effects.call(KIND, arguments, frame.key()))
    if not isinstance(raw, Mapping):
        raise configuration_error("'subscription' must be an object", frame.pointer)
    lifetime = _Lifetime.build(raw, arguments, frame)
    return Outcome(await _consume(lifetime, arguments, frame))


@dataclass(frozen=True, slots=True)
class _Lifetime:
    """What decides, message by message, what is kept and when to stop."""

    filter: str | None
    foreach: SubscriptionIterator | None
    amount: int | None
    while_: str | None
    until: str | None

    @classmethod
    def build(cls, raw: Mapping[str, Any], arguments: Mapping[str, Any], frame: Frame) -> _Lifetime:
        consume = raw.get("consume")
        if not isinstance(consume, Mapping):
            raise configuration_error("'subscription.consume' must be an object", frame.pointer)
        amount = ((arguments.get("subscription") or {}).get("consume") or {}).get("amount")
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int) or amount < 0):
            raise configuration_error(
                f"'subscription.consume.amount' must be a non-negative integer, not {amount!r}", frame.pointer
            )
        return cls(
            filter=_expression(raw, "filter", frame),
            foreach=_iterator(raw.get("foreach"), frame),
            amount=amount,
            while_=_expression(consume, "while", frame),
            until=_expression(consume, "until", frame),
        )

    def may_start(self, frame: Frame) -> bool:
        """Whether consuming may begin at all."""
        if self.amount == 0:
            return False
        return self.while_ is None or frame.test(self.while_, [])

    def done(self, consumed: list[Any], frame: Frame) -> bool:
        """Whether to stop after the messages `consumed` so far."""
        if self.amount is not None and len(consumed) >= self.amount:
            return True
        if self.while_ is not None and not frame.test(self.while_, consumed):
            return True
        return self.until is not None and frame.test(self.until, consumed)


def _expression(fields: Mapping[str, Any], name: str, frame: Frame) -> str | None:
    value = fields.get(name)
    if value is None or isinstance(value, str):
        return value
    raise configuration_error(f"'{name}' must be a runtime expression (a string)", frame.pointer)


def _iterator(raw: Any, frame: Frame) -> SubscriptionIterator | None:
    """The `foreach` of the subscription as the typed iterator a listen's `foreach` is."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise configuration_error("'subscription.foreach' must be an object", frame.pointer)
    data = dict(raw)
    try:
        if data.get("do") is not None:
            data["do"] = build_task_list(data["do"], f"{frame.pointer}/with/subscription/foreach/do")
        return SubscriptionIterator.model_validate(data)
    except (ValidationError, ValueError, TypeError, AttributeError) as error:
        raise configuration_error(f"'subscription.foreach' is malformed: {error}", frame.pointer) from None


async def _consume(lifetime: _Lifetime, arguments: dict[str, Any], frame: Frame) -> list[Any]:
    """Open the subscription, take its messages one effect at a time, close it."""
    consumed: list[Any] = []
    if not lifetime.may_start(frame):
        return consumed
    effects = frame.state.effects
    handle = await effects.call(KIND, {**arguments, "action": "open"}, frame.key())
    if not isinstance(handle, str):
        raise runtime_error(f"opening the subscription answered {handle!r}, not a handle", frame.pointer)
    try:
        while True:
            message = await effects.call(KIND, {"action": "next", "subscription": handle}, frame.key())
            if message is None:
                break
            if lifetime.filter is not None and not frame.test(lifetime.filter, message):
                continue
            if lifetime.foreach is not None:
                message = await iterate_item(lifetime.foreach, message, len(consumed), frame)
            consumed.append(message)
            if lifetime.done(consumed, frame):
                break
    except BaseException:
        # The fault (or cancellation) being raised matters more than a failed close.
        with contextlib.suppress(Exception):
            await _close(handle, frame)
        raise
    await _close(handle, frame)
    return consumed


async def _close(handle: str, frame: Frame) -> None:
    await frame.state.effects.call(KIND, {"action": "close", "subscription": handle}, frame.key())
