"""Routing CloudEvents to the executions listening for them, durably.

A `listen` subscribes with its effect key and filters (`event_subscriptions`). Delivering
an event matches it against the subscriptions that may take it (by literal type, or any
type) with the engine's own `event_filters`, so the runtime and the engine never
disagree on what matches. Each listening execution takes the event on its oldest matching
subscription: the event moves to that execution's inbox, the subscription is removed,
and the run is woken (made claimable if it was unloaded, notified if a worker holds it).
Events nobody listens for are not kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from treadle.engine import EventFilter
from treadle.engine.event_filters import first_match
from treadle.store import Store

__all__ = ["deliver_to_listeners", "filters_from_json"]


def filters_from_json(data: Any) -> list[EventFilter]:
    """Rebuild a subscription's filters."""
    return [
        EventFilter(with_=dict(item.get("with") or {}), correlate=dict(item.get("correlate") or {}))
        for item in data or []
    ]


def deliver_to_listeners(store: Store, event: Mapping[str, Any]) -> list[str]:
    """Deliver `event` to every execution with a matching subscription; their ids."""
    now = datetime.now(UTC)
    delivered: list[str] = []
    event_type = event.get("type")
    with store.begin() as tx:
        candidates = tx.runtime.subscriptions_for(event_type if isinstance(event_type, str) else None)
        for subscription in candidates:
            execution_id = subscription["execution_id"]
            if execution_id in delivered:
                continue
            filters = filters_from_json(subscription["filters"])
            if filters and first_match(event, filters) is None:
                continue
            if tx.runtime.deliver(execution_id, subscription["key"], dict(event), now):
                delivered.append(execution_id)
        tx.runtime.wake(delivered, now)
    return delivered
