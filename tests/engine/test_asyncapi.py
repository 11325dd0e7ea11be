"""`call: asyncapi` in the engine: a publish is one effect; a subscription is `open`, one
`next` per message and `close`, each with its own key, and the engine applies `filter`,
`foreach` and the lifetime (`amount`, `while`, `until`) to each message. The call
handler below plays the broker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from treadle.engine.errors import ErrorType

from .conftest import Run

PUBLISH = """
use:
  authentications:
    broker:
      bearer:
        token: ${ $secrets.token }
do:
  - greet:
      call: asyncapi
      with:
        document: {endpoint: 'https://broker.example/asyncapi.json'}
        operation: greet
        server:
          name: dev
          variables:
            environment: ${ .env }
        message:
          payload:
            greetings: ${ "Hello, " + .name }
          headers: {foo: bar}
        authentication:
          use: broker
      output:
        as: '${ {sent: ., scheme: $authorization.scheme} }'
"""

SUBSCRIBE_AMOUNT_FILTER = """
do:
  - inbox:
      call: asyncapi
      with:
        document: {endpoint: 'https://broker.example/asyncapi.json'}
        operation: chat-inbox
        protocol: ws
        subscription:
          filter: ${ .payload.room == $workflow.input.room }
          consume:
            amount: ${ .want }
            for: {seconds: 10}
"""

SUBSCRIBE_UNTIL_CONTEXT = """
do:
  - notifications:
      call: asyncapi
      with:
        document: {endpoint: 'https://broker.example/asyncapi.json'}
        channel: /notifications
        subscription:
          filter: ${ .correlationId == $workflow.input.userId }
          consume:
            for: {minutes: 30}
            until: '${ ($context.consumedMessages | length) == 2 }'
          foreach:
            item: message
            at: position
            do:
              - record:
                  call: audit
                  with:
                    text: ${ $message.payload.text }
                    position: ${ $position }
            output:
              as: ${ $message.payload.text }
            export:
              as: '${ $context + {consumedMessages: (($context.consumedMessages // []) + [.])} }'
"""

SUBSCRIBE_WHILE = """
do:
  - readings:
      call: asyncapi
      with:
        document: {endpoint: 'https://broker.example/asyncapi.json'}
        operation: readings
        subscription:
          consume:
            while: ${ (map(.payload.value) | add // 0) < 10 }
"""

SUBSCRIBE_WHILE_FALSE_AT_START = """
do:
  - readings:
      call: asyncapi
      with:
        document: {endpoint: 'https://broker.example/asyncapi.json'}
        operation: readings
        subscription:
          consume:
            while: ${ $workflow.input.listen }
"""

SUBSCRIBE_FOREACH_FAILS = """
do:
  - readings:
      call: asyncapi
      with:
        document: {endpoint: 'https://broker.example/asyncapi.json'}
        operation: readings
        subscription:
          consume:
            amount: 3
          foreach:
            do:
              - check:
                  raise:
                    error:
                      type: https://serverlessworkflow.io/spec/1.0.0/errors/validation
                      status: 400
                      title: Bad reading
"""


class Broker:
    """A call handler answering AsyncAPI effects from a list of messages, recording every call."""

    def __init__(self, messages: list[Any] | None = None) -> None:
        self.messages = list(messages or [])
        self.calls: list[tuple[str, dict[str, Any], str]] = []
        self.open: set[str] = set()
        self.audit: list[Any] = []

    async def __call__(self, kind: str, args: Mapping[str, Any], key: str) -> Any:
        self.calls.append((kind, dict(args), key))
        if kind == "function":
            self.audit.append(dict(args["arguments"]))
            return None
        assert kind == "asyncapi"
        action = args.get("action")
        if action is None:
            return {"published": args["message"]}
        if action == "open":
            handle = f"sub-{len(self.calls)}"
            self.open.add(handle)
            return handle
        assert args["subscription"] in self.open
        if action == "close":
            self.open.discard(args["subscription"])
            return None
        assert action == "next"
        return self.messages.pop(0) if self.messages else None

    def actions(self) -> list[str]:
        return [args.get("action", "publish") for kind, args, _ in self.calls if kind == "asyncapi"]

    def keys(self) -> list[str]:
        return [key for kind, _, key in self.calls if kind == "asyncapi"]


def message(value: Any, *, room: str = "r1", correlation: str | None = None) -> dict[str, Any]:
    return {
        "payload": {"room": room, "value": value, "text": f"m{value}"},
        "headers": {},
        "correlationId": correlation,
    }


async def test_publish_is_one_effect_with_the_evaluated_with_and_the_input(run: Run) -> None:
    broker = Broker()
    result, _ = await run(
        PUBLISH, {"name": "World", "env": "dev"}, call_handler=broker, secrets={"token": "t0k"}
    )
    assert result.status == "completed", result.error
    ((kind, args, key),) = broker.calls
    assert kind == "asyncapi" and key == "/do/0/greet@0#0"
    assert args["message"] == {"payload": {"greetings": "Hello, World"}, "headers": {"foo": "bar"}}
    assert args["server"] == {"name": "dev", "variables": {"environment": "dev"}}
    assert args["authentication"] == {"bearer": {"token": "t0k"}}
    assert args["_input"] == {"name": "World", "env": "dev"}
    assert result.output == {"sent": {"published": args["message"]}, "scheme": "Bearer"}


async def test_subscription_consumes_the_amount_skipping_filtered_messages(run: Run) -> None:
    broker = Broker([message(1), message(2, room="other"), message(3), message(4), message(5)])
    result, _ = await run(SUBSCRIBE_AMOUNT_FILTER, {"room": "r1", "want": 2}, call_handler=broker)
    assert result.status == "completed", result.error
    assert [item["payload"]["value"] for item in result.output] == [1, 3]
    assert broker.actions() == ["open", "next", "next", "next", "close"]
    assert broker.messages == [message(4), message(5)]
    assert not broker.open
    # One fresh key per effect, so a durable runtime journals every message.
    assert broker.keys() == [f"/do/0/inbox@0#{n}" for n in range(5)]


async def test_open_gets_the_evaluated_with_without_the_per_message_fields(run: Run) -> None:
    broker = Broker([message(1)])
    await run(SUBSCRIBE_AMOUNT_FILTER, {"room": "r1", "want": 1}, call_handler=broker)
    _, opened, _ = broker.calls[0]
    assert opened == {
        "document": {"endpoint": "https://broker.example/asyncapi.json"},
        "operation": "chat-inbox",
        "protocol": "ws",
        "subscription": {"consume": {"amount": 1, "for": {"seconds": 10}}},
        "action": "open",
    }


async def test_until_sees_the_context_foreach_exported_and_foreach_runs_per_message(run: Run) -> None:
    broker = Broker(
        [
            message(1, correlation="u1"),
            message(2, correlation="u2"),
            message(3, correlation="u1"),
            message(4, correlation="u1"),
        ]
    )
    result, _ = await run(SUBSCRIBE_UNTIL_CONTEXT, {"userId": "u1"}, call_handler=broker)
    assert result.status == "completed", result.error
    assert result.output == ["m1", "m3"]
    assert broker.audit == [{"text": "m1", "position": 0}, {"text": "m3", "position": 1}]
    # The foreach's own effects are keyed by the message's iteration.
    audit_keys = [key for kind, _, key in broker.calls if kind == "function"]
    assert audit_keys == [
        "/do/0/notifications/with/subscription/foreach/do/0/record[0]@0#0",
        "/do/0/notifications/with/subscription/foreach/do/0/record[1]@0#0",
    ]
    assert broker.messages == [message(4, correlation="u1")]


async def test_while_stops_consuming_once_false(run: Run) -> None:
    broker = Broker([message(4), message(5), message(6), message(7)])
    result, _ = await run(SUBSCRIBE_WHILE, call_handler=broker)
    assert [item["payload"]["value"] for item in result.output] == [4, 5, 6]
    assert broker.actions()[-1] == "close"


async def test_while_false_before_the_first_message_opens_nothing(run: Run) -> None:
    broker = Broker([message(1)])
    result, _ = await run(SUBSCRIBE_WHILE_FALSE_AT_START, {"listen": False}, call_handler=broker)
    assert result.status == "completed"
    assert result.output == []
    assert broker.calls == []


async def test_the_end_of_the_stream_ends_the_subscription_with_what_was_consumed(run: Run) -> None:
    broker = Broker([message(1)])
    result, _ = await run(SUBSCRIBE_AMOUNT_FILTER, {"room": "r1", "want": 5}, call_handler=broker)
    assert result.status == "completed"
    assert [item["payload"]["value"] for item in result.output] == [1]
    assert broker.actions() == ["open", "next", "next", "close"]


async def test_a_fault_in_foreach_still_closes_the_subscription(run: Run) -> None:
    broker = Broker([message(1), message(2)])
    result, _ = await run(SUBSCRIBE_FOREACH_FAILS, call_handler=broker)
    assert result.status == "faulted"
    assert result.error is not None and result.error.type == ErrorType.VALIDATION
    assert broker.actions() == ["open", "next", "close"]
    assert not broker.open
