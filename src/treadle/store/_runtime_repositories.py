"""The local runtime's repository: claiming and leasing runs, subscriptions, inbox, ticks.

Statements only, no policy: the runtime decides what to claim, when to renew and what a
control request means. Claims lock their candidate rows with `FOR UPDATE SKIP LOCKED` on
PostgreSQL, so several workers share the work without waiting on each other; on SQLite
the write transaction (`BEGIN IMMEDIATE`) serializes claims.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from treadle.store._runtime_tables import EVENT_SUBSCRIPTIONS, EXECUTION_INBOX, EXECUTION_RUNS, SCHEDULE_TICKS
from treadle.store._tables import CONTEXTS, EXECUTIONS, JOURNAL, WORKFLOWS

__all__ = ["Claim", "RuntimeRepository"]

RUNS = EXECUTION_RUNS
# Any constant: the advisory lock taken by claims that count per-workflow caps (PostgreSQL).
_CAPPED_CLAIM_LOCK = 0x7472_6561_6463


@dataclass(frozen=True)
class Claim:
    """A run a worker just leased: its execution, workflow, lease epoch and pending control."""

    execution_id: str
    workflow_id: str
    epoch: int
    control: str | None


class RuntimeRepository:
    """Runtime bookkeeping over one connection (inside the caller's transaction)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    @property
    def _postgres(self) -> bool:
        return self.connection.dialect.name == "postgresql"

    # -- journal -------------------------------------------------------------------------

    def append_journal(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert journal rows whose `seq` the caller numbered (one executemany).

        Raises:
            IntegrityError: a seq is taken: another worker wrote to the same journal.
        """
        if rows:
            self.connection.execute(insert(JOURNAL), list(rows))

    # -- runs and leases -----------------------------------------------------------------

    def claim(
        self,
        owner: str,
        *,
        now: datetime,
        lease_until: datetime,
        limit: int,
        workflow_caps: Mapping[str, int] | None = None,
        default_workflow_cap: int | None = None,
    ) -> list[Claim]:
        """Lease up to `limit` runnable executions: ready, due, expired, or pending and new.

        `default_workflow_cap` (and `workflow_caps` per workflow id) bound how many leased
        runs one workflow may have at once, counted across every worker.
        """
        if limit <= 0:
            return []
        c = RUNS.c
        running: dict[str, int] = {}
        if default_workflow_cap is not None or workflow_caps:
            if self._postgres:
                # Counting then claiming must not interleave between workers, or two of
                # them could both see room for the last slot: serialize capped claims.
                self.connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_CAPPED_CLAIM_LOCK})")
            counted = self.connection.execute(
                select(c.workflow_id, func.count())
                .where(c.state == "leased", c.lease_expires >= now)
                .group_by(c.workflow_id)
            )
            running = {row[0]: int(row[1]) for row in counted}

        def admit(workflow_id: str) -> bool:
            cap = (workflow_caps or {}).get(workflow_id, default_workflow_cap)
            if cap is None:
                return True
            if running.get(workflow_id, 0) >= cap:
                return False
            running[workflow_id] = running.get(workflow_id, 0) + 1
            return True

        claimed: list[Claim] = []
        due = or_(
            c.state == "ready",
            and_(c.state == "waiting", c.wake_at.is_not(None), c.wake_at <= now),
            and_(c.state == "leased", c.lease_expires < now),
        )
        statement = (
            select(c.execution_id, c.workflow_id, c.epoch, c.control)
            .where(due)
            .order_by(c.updated_at)
            .limit(limit * 4 if running else limit)
        )
        if self._postgres:
            statement = statement.with_for_update(skip_locked=True)
        found = [row for row in self.connection.execute(statement) if admit(row.workflow_id)][:limit]
        if found:
            self.connection.execute(
                update(RUNS)
                .where(c.execution_id == bindparam("b_id"))
                .values(
                    state="leased",
                    lease_owner=owner,
                    lease_expires=lease_until,
                    epoch=bindparam("b_epoch"),
                    notify=False,
                    updated_at=now,
                ),
                [{"b_id": row.execution_id, "b_epoch": row.epoch + 1} for row in found],
            )
            claimed.extend(Claim(r.execution_id, r.workflow_id, r.epoch + 1, r.control) for r in found)
        remaining = limit - len(claimed)
        if remaining <= 0:
            return claimed
        e = EXECUTIONS.c
        pending = (
            select(e.id, e.workflow_id)
            .where(e.phase == "pending", ~exists().where(c.execution_id == e.id))
            .order_by(e.created_at, e.id)
            .limit(remaining * 4 if running else remaining)
        )
        if self._postgres:
            pending = pending.with_for_update(skip_locked=True, of=EXECUTIONS)
        fresh = [row for row in self.connection.execute(pending) if admit(row.workflow_id)][:remaining]
        if fresh:
            # Another worker's claim may commit between our read and our insert (its run
            # rows are invisible to our snapshot): skip those rather than fail.
            dialect_insert = pg_insert if self._postgres else sqlite_insert
            upsert = (
                dialect_insert(RUNS)
                .on_conflict_do_nothing(index_elements=["execution_id"])
                .returning(c.execution_id)
            )
            rows = [
                {
                    "execution_id": row.id,
                    "workflow_id": row.workflow_id,
                    "state": "leased",
                    "lease_owner": owner,
                    "lease_expires": lease_until,
                    "epoch": 1,
                    "notify": False,
                    "updated_at": now,
                }
                for row in fresh
            ]
            inserted = set(self.connection.execute(upsert, rows).scalars())
            claimed.extend(Claim(row.id, row.workflow_id, 1, None) for row in fresh if row.id in inserted)
        return claimed

    def renew(self, owner: str, lease_until: datetime, now: datetime, keep: Sequence[str]) -> None:
        """Extend the leases `owner` holds on the executions in `keep`; release the others
        it holds (runs it gave up without releasing), making them claimable at once."""
        c = RUNS.c
        mine = and_(c.lease_owner == owner, c.state == "leased")
        ids = list(keep)
        if ids:
            self.connection.execute(
                update(RUNS).where(mine, c.execution_id.in_(ids)).values(lease_expires=lease_until)
            )
        stale = update(RUNS).where(mine)
        if ids:
            stale = stale.where(c.execution_id.not_in(ids))
        self.connection.execute(
            stale.values(state="ready", lease_owner=None, lease_expires=None, updated_at=now)
        )

    def held(self, owner: str) -> list[dict[str, Any]]:
        """The runs `owner` holds: `execution_id`, `epoch`, `control`, `notify`."""
        c = RUNS.c
        rows = self.connection.execute(
            select(c.execution_id, c.epoch, c.control, c.notify).where(
                c.lease_owner == owner, c.state == "leased"
            )
        ).mappings()
        return [dict(row) for row in rows]

    def clear_notify(self, execution_ids: Sequence[str]) -> None:
        """Reset the event notification flag of these runs."""
        if execution_ids:
            self.connection.execute(
                update(RUNS).where(RUNS.c.execution_id.in_(list(execution_ids))).values(notify=False)
            )

    def get_run(self, execution_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        """The run row of an execution, None when no worker has it."""
        statement = select(RUNS).where(RUNS.c.execution_id == execution_id)
        if for_update:
            statement = statement.with_for_update()
        found = self.connection.execute(statement).mappings().first()
        return dict(found) if found is not None else None

    def insert_run(self, values: Mapping[str, Any]) -> None:
        """Insert a run row (an execution a worker has not taken up yet, e.g. suspended)."""
        self.connection.execute(insert(RUNS), [dict(values)])

    def release(
        self,
        execution_id: str,
        owner: str,
        epoch: int,
        *,
        state: str,
        wake_at: datetime | None,
        now: datetime,
    ) -> bool:
        """Give up the lease, leaving the run in `state`; False if the lease was lost."""
        c = RUNS.c
        result = self.connection.execute(
            update(RUNS)
            .where(c.execution_id == execution_id, c.lease_owner == owner, c.epoch == epoch)
            .values(state=state, lease_owner=None, lease_expires=None, wake_at=wake_at, updated_at=now)
        )
        return result.rowcount == 1

    def set_run(self, execution_id: str, **values: Any) -> int:
        """Update a run row unconditionally; the number of rows changed."""
        result = self.connection.execute(
            update(RUNS).where(RUNS.c.execution_id == execution_id).values(**values)
        )
        return int(result.rowcount)

    def delete_run(self, execution_id: str) -> None:
        """Forget the run (the execution ended), with its subscriptions and inbox."""
        for table in (RUNS, EVENT_SUBSCRIPTIONS, EXECUTION_INBOX):
            self.connection.execute(delete(table).where(table.c.execution_id == execution_id))

    def wake(self, execution_ids: Iterable[str], now: datetime) -> None:
        """Make waiting runs claimable now; tell leased ones to look at their inbox."""
        ids = list(execution_ids)
        if not ids:
            return
        c = RUNS.c
        # One statement, both cases: on PostgreSQL an UPDATE that waited for a row lock
        # re-reads the row it then changes. Two statements (waiting -> ready, then leased
        # -> notify) lost the wake-up when a worker released the run as `waiting` while
        # the second waited for its lock: the first had already seen it `leased`.
        self.connection.execute(
            update(RUNS)
            .where(c.execution_id.in_(ids), c.state.in_(("waiting", "leased")))
            .values(
                state=case((c.state == "waiting", "ready"), else_=c.state),
                notify=case((c.state == "leased", True), else_=c.notify),
                updated_at=case((c.state == "waiting", now), else_=c.updated_at),
            )
        )

    def counts(self) -> dict[str, int]:
        """How many runs are in each state."""
        rows = self.connection.execute(select(RUNS.c.state, func.count()).group_by(RUNS.c.state))
        return {row[0]: int(row[1]) for row in rows}

    # -- events --------------------------------------------------------------------------

    def subscribe(
        self, execution_id: str, key: str, event_type: str | None, filters: Any, now: datetime
    ) -> None:
        """Record that a `listen` (effect `key`) waits for events matching `filters`."""
        if self.connection.execute(
            select(EVENT_SUBSCRIPTIONS.c.key).where(
                EVENT_SUBSCRIPTIONS.c.execution_id == execution_id, EVENT_SUBSCRIPTIONS.c.key == key
            )
        ).first():
            return
        self.connection.execute(
            insert(EVENT_SUBSCRIPTIONS),
            [
                {
                    "execution_id": execution_id,
                    "key": key,
                    "event_type": event_type,
                    "filters": filters,
                    "created_at": now,
                }
            ],
        )

    def subscriptions_for(self, event_type: str | None) -> list[dict[str, Any]]:
        """Subscriptions that may take an event of `event_type`, oldest first."""
        s = EVENT_SUBSCRIPTIONS.c
        condition: ColumnElement[bool] = s.event_type.is_(None)
        if event_type is not None:
            condition = or_(condition, s.event_type == event_type)
        rows = self.connection.execute(
            select(s.execution_id, s.key, s.filters).where(condition).order_by(s.created_at, s.key)
        ).mappings()
        return [dict(row) for row in rows]

    def deliver(self, execution_id: str, key: str, event: Any, now: datetime) -> bool:
        """Hand `event` to the subscription `(execution_id, key)`; False if it was taken."""
        s = EVENT_SUBSCRIPTIONS.c
        removed = self.connection.execute(
            delete(EVENT_SUBSCRIPTIONS).where(s.execution_id == execution_id, s.key == key)
        )
        if removed.rowcount != 1:
            return False
        self.connection.execute(
            insert(EXECUTION_INBOX), [{"execution_id": execution_id, "key": key, "event": event, "at": now}]
        )
        return True

    def inbox(self, execution_id: str, keys: Sequence[str]) -> dict[str, Any]:
        """Events delivered to these keys of an execution, by key."""
        if not keys:
            return {}
        i = EXECUTION_INBOX.c
        rows = self.connection.execute(
            select(i.key, i.event).where(i.execution_id == execution_id, i.key.in_(list(keys)))
        )
        return {row[0]: row[1] for row in rows}

    def take_inbox(self, execution_id: str, key: str) -> None:
        """Remove a consumed event."""
        i = EXECUTION_INBOX.c
        self.connection.execute(delete(EXECUTION_INBOX).where(i.execution_id == execution_id, i.key == key))

    # -- schedules -----------------------------------------------------------------------

    def record_tick(self, workflow_id: str, tick: str, now: datetime) -> bool:
        """Record a schedule tick; False if it was already fired (by anyone)."""
        t = SCHEDULE_TICKS.c
        if self.connection.execute(
            select(t.tick).where(t.workflow_id == workflow_id, t.tick == tick)
        ).first():
            return False
        try:
            with self.connection.begin_nested():
                self.connection.execute(
                    insert(SCHEDULE_TICKS), [{"workflow_id": workflow_id, "tick": tick, "at": now}]
                )
        except IntegrityError:
            return False
        return True

    def set_tick_execution(self, workflow_id: str, tick: str, execution_id: str) -> None:
        """Remember which execution a tick started."""
        t = SCHEDULE_TICKS.c
        self.connection.execute(
            update(SCHEDULE_TICKS)
            .where(t.workflow_id == workflow_id, t.tick == tick)
            .values(execution_id=execution_id)
        )

    def last_tick(self, workflow_id: str) -> dict[str, Any] | None:
        """The most recent tick of a workflow's schedule."""
        t = SCHEDULE_TICKS.c
        row = (
            self.connection.execute(
                select(SCHEDULE_TICKS).where(t.workflow_id == workflow_id).order_by(t.at.desc()).limit(1)
            )
            .mappings()
            .first()
        )
        return dict(row) if row is not None else None

    def scheduled_workflows(self) -> list[dict[str, Any]]:
        """`id`, `created_at` and `body` of every workflow (the scheduler reads their schedule)."""
        w = WORKFLOWS.c
        rows = self.connection.execute(select(w.id, w.created_at, w.body)).mappings()
        return [dict(row) for row in rows]

    # -- retention -----------------------------------------------------------------------

    def ended_before(
        self, workflow_id: str | None, before: datetime, limit: int, *, exclude: Sequence[str] = ()
    ) -> list[str]:
        """Ids of terminal executions completed before `before` (of one workflow, or of
        all but the `exclude`d workflows)."""
        e = EXECUTIONS.c
        statement = select(e.id).where(
            e.phase.in_(("completed", "faulted", "cancelled")), e.completed_at < before
        )
        if workflow_id is not None:
            statement = statement.where(e.workflow_id == workflow_id)
        if exclude:
            statement = statement.where(e.workflow_id.not_in(list(exclude)))
        return list(self.connection.execute(statement.order_by(e.completed_at).limit(limit)).scalars())

    def delete_executions(self, ids: Sequence[str]) -> int:
        """Delete executions; the database cascades to journal, stages, decisions, contexts."""
        if not ids:
            return 0
        result = self.connection.execute(delete(EXECUTIONS).where(EXECUTIONS.c.id.in_(list(ids))))
        return int(result.rowcount)

    def delete_contexts(self, execution_id: str) -> int:
        """Delete the ExecutionContexts of an execution (it ended)."""
        result = self.connection.execute(delete(CONTEXTS).where(CONTEXTS.c.execution_id == execution_id))
        return int(result.rowcount)
