"""Which CloudEvents a `listen` accepts: the DSL's event filters, evaluated purely.

A filter's `with` lists attributes the event must have: a literal equals (or, for
strings, fully matches as a regular expression), a `${ }` expression must hold when
evaluated against the attribute, and a nested object matches member by member.
`correlate` extracts a value with `from`; it must equal `expect` (when set). Runtimes
use this same function to route events to waiting executions, so they and the engine
never disagree on what matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from treadle.engine.effects import EventFilter
from treadle.expr import ExpressionError, evaluate, is_expression

__all__ = ["correlation_values", "event_matches", "first_match"]


def event_matches(event: Mapping[str, Any], accepted: EventFilter) -> bool:
    """Tell whether `event` passes the filter (attributes and correlations)."""
    if not all(_attribute_matches(event.get(name), wanted) for name, wanted in accepted.with_.items()):
        return False
    for name, value in correlation_values(event, accepted).items():
        expected = accepted.correlate[name].get("expect")
        if expected is not None and value != expected:
            return False
    return True


def first_match(event: Mapping[str, Any], filters: Sequence[EventFilter]) -> int | None:
    """The index of the first filter `event` passes, or None."""
    for index, accepted in enumerate(filters):
        if event_matches(event, accepted):
            return index
    return None


def correlation_values(event: Mapping[str, Any], accepted: EventFilter) -> dict[str, Any]:
    """The value each correlation's `from` extracts from `event` (None when it fails)."""
    values: dict[str, Any] = {}
    for name, correlation in accepted.correlate.items():
        try:
            values[name] = evaluate(str(correlation["from"]), event)
        except ExpressionError:
            values[name] = None
    return values


def _attribute_matches(actual: Any, wanted: Any) -> bool:
    if is_expression(wanted):
        try:
            result = evaluate(wanted, actual)
        except ExpressionError:
            return False
        return result is not None and result is not False
    if isinstance(wanted, Mapping):
        return isinstance(actual, Mapping) and all(
            _attribute_matches(actual.get(key), item) for key, item in wanted.items()
        )
    if actual == wanted:
        return True
    if isinstance(wanted, str) and isinstance(actual, str):
        try:
            return re.fullmatch(wanted, actual) is not None
        except re.error:
            return False
    return False
