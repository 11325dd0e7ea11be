"""The durable runtime's own tables: leases, event subscriptions and inboxes, schedule ticks.

They sit beside the resource tables (same `metadata`) but hold only what the local
runtime needs to run executions across processes:

- `execution_runs`: one row per execution a worker has taken up and not yet finished:
  its state (`ready`, `leased`, `waiting`, `suspended`), the lease (owner, expiry, epoch),
  when a waiting run wakes, and pending control requests (cancel, suspend) and event
  notifications for the worker that holds it. The row is deleted when the run ends.
- `event_subscriptions`: a `listen` waiting for events (filters as JSON, the effect key).
- `execution_inbox`: an event delivered to a subscription, until the run consumes it.
- `schedule_ticks`: one row per schedule tick fired; its primary key makes a tick fire once.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, PrimaryKeyConstraint, String, Table, Text

from treadle.store._tables import JSONType, UTCDateTime, _fk, metadata

__all__ = ["EVENT_SUBSCRIPTIONS", "EXECUTION_INBOX", "EXECUTION_RUNS", "SCHEDULE_TICKS"]

EXECUTION_RUNS = Table(
    "execution_runs",
    metadata,
    Column("execution_id", String(40), _fk("workflow_executions"), primary_key=True),
    Column("workflow_id", String(40), nullable=False),
    Column("state", String(16), nullable=False),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires", UTCDateTime, nullable=True),
    Column("epoch", Integer, nullable=False, server_default="0"),
    Column("wake_at", UTCDateTime, nullable=True),
    Column("control", String(16), nullable=True),
    Column("notify", Boolean, nullable=False, server_default="0"),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "state", "wake_at"),
    Index(None, "lease_owner"),
    Index(None, "workflow_id", "state"),
)

EVENT_SUBSCRIPTIONS = Table(
    "event_subscriptions",
    metadata,
    Column("execution_id", String(40), _fk("workflow_executions"), nullable=False),
    Column("key", Text, nullable=False),
    Column("event_type", String(253), nullable=True),
    Column("filters", JSONType, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("execution_id", "key"),
    Index(None, "event_type"),
)

EXECUTION_INBOX = Table(
    "execution_inbox",
    metadata,
    Column("execution_id", String(40), _fk("workflow_executions"), nullable=False),
    Column("key", Text, nullable=False),
    Column("event", JSONType, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("execution_id", "key"),
)

SCHEDULE_TICKS = Table(
    "schedule_ticks",
    metadata,
    Column("workflow_id", String(40), _fk("workflows"), nullable=False),
    Column("tick", String(64), nullable=False),
    Column("execution_id", String(40), nullable=True),
    Column("at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("workflow_id", "tick"),
)
