"""The local runtime's repository: claiming and leasing runs, subscriptions, inbox, ticks.

Statements only, no policy: the runtime decides what to claim, when to renew and what a
control request means. Claims lock their candidate rows with `FOR UPDATE SKIP LOCKED` on
PostgreSQL, so several workers share the work without waiting on each other; on SQLite
the write transaction (`BEGIN IMMEDIATE`) serializes claims.

The statements a worker runs for every execution (claiming, lease ticks, releasing,
ending) are built once, with bound parameters, and reused: SQLAlchemy memoizes a built
statement's cache key, so a reused one costs ~20 µs to execute where building it anew
cost ~120 µs (constructing the expression, then its cache key), most of a lease tick.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Delete,
    Insert,
    Select,
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
from sqlalchemy.exc import IntegrityError

from treadle.store._inserts import Inserts
from treadle.store._records import _INSERT_JOURNAL
from treadle.store._runtime_tables import EVENT_SUBSCRIPTIONS, EXECUTION_INBOX, EXECUTION_RUNS, SCHEDULE_TICKS
from treadle.store._tables import CONTEXTS, EXECUTIONS, WORKFLOWS

__all__ = ["Claim", "RuntimeRepository"]

RUNS = EXECUTION_RUNS
# Any constant: the advisory lock taken by claims that count per-workflow caps (PostgreSQL).
_CAPPED_CLAIM_LOCK = 0x7472_6561_6463

_r = RUNS.c
_mine = and_(_r.lease_owner == bindparam("b_owner"), _r.state == "leased")

_LEASED_PER_WORKFLOW = (
    select(_r.workflow_id, func.count())
    .where(_r.state == "leased", _r.lease_expires >= bindparam("b_now"))
    .group_by(_r.workflow_id)
)
_TAKE_LEASE = (
    update(RUNS)
    .where(_r.execution_id == bindparam("b_id"))
    .values(
        state="leased",
        lease_owner=bindparam("b_owner"),
        lease_expires=bindparam("b_until"),
        epoch=bindparam("b_epoch"),
        notify=False,
        updated_at=bindparam("b_now"),
    )
)
_RENEW = (
    update(RUNS)
    .where(_mine, _r.execution_id.in_(bindparam("b_ids", expanding=True)))
    .values(lease_expires=bindparam("b_until"))
)
# Only leases taken before the previous renewal: a newer one may be a run the worker's
# loop does not know yet (taken as its execution was created, in another thread).
_RELEASE_ALL = (
    update(RUNS)
    .where(_mine, _r.lease_expires <= bindparam("b_leased_before"))
    .values(state="ready", lease_owner=None, lease_expires=None, updated_at=bindparam("b_now"))
)
_RELEASE_OTHERS = _RELEASE_ALL.where(_r.execution_id.not_in(bindparam("b_ids", expanding=True)))
_HELD = select(_r.execution_id, _r.epoch, _r.control, _r.notify).where(_mine)
_CLEAR_NOTIFY = (
    update(RUNS).where(_r.execution_id.in_(bindparam("b_ids", expanding=True))).values(notify=False)
)
_GET_RUN = select(RUNS).where(_r.execution_id == bindparam("b_id"))
_GET_RUN_FOR_UPDATE = _GET_RUN.with_for_update()
_INSERT_RUN = insert(RUNS)
_RELEASE = (
    update(RUNS)
    .where(
        _r.execution_id == bindparam("b_id"),
        _r.lease_owner == bindparam("b_owner"),
        _r.epoch == bindparam("b_epoch"),
    )
    .values(
        state=bindparam("b_state"),
        lease_owner=None,
        lease_expires=None,
        wake_at=bindparam("b_wake_at"),
        updated_at=bindparam("b_now"),
    )
)
# One statement, both cases: on PostgreSQL an UPDATE that waited for a row lock re-reads
# the row it then changes. Two statements (waiting -> ready, then leased -> notify) lost
# the wake-up when a worker released the run as `waiting` while the second waited for its
# lock: the first had already seen it `leased`.
_WAKE = (
    update(RUNS)
    .where(_r.execution_id.in_(bindparam("b_ids", expanding=True)), _r.state.in_(("waiting", "leased")))
    .values(
        state=case((_r.state == "waiting", "ready"), else_=_r.state),
        notify=case((_r.state == "leased", True), else_=_r.notify),
        updated_at=case((_r.state == "waiting", bindparam("b_now")), else_=_r.updated_at),
    )
)
_s = EVENT_SUBSCRIPTIONS.c
_SUBSCRIPTION_KEY = select(_s.key).where(_s.execution_id == bindparam("b_id"), _s.key == bindparam("b_key"))
_INSERT_SUBSCRIPTION = insert(EVENT_SUBSCRIPTIONS)
_DELETE_SUBSCRIPTION = delete(EVENT_SUBSCRIPTIONS).where(
    _s.execution_id == bindparam("b_id"), _s.key == bindparam("b_key")
)
_i = EXECUTION_INBOX.c
_INBOX = select(_i.key, _i.event).where(
    _i.execution_id == bindparam("b_id"), _i.key.in_(bindparam("b_keys", expanding=True))
)
_TAKE_INBOX = delete(EXECUTION_INBOX).where(
    _i.execution_id == bindparam("b_id"), _i.key == bindparam("b_key")
)
_DELETE_CONTEXTS = delete(CONTEXTS).where(CONTEXTS.c.execution_id == bindparam("b_id"))


_ENDED_TABLES = (RUNS, EVENT_SUBSCRIPTIONS, EXECUTION_INBOX, CONTEXTS)
#: The deletes of the runs' ends, one per table (the contexts' last).
_END_RUNS = tuple(
    delete(table).where(table.c.execution_id.in_(bindparam("b_ids", expanding=True)))
    for table in _ENDED_TABLES
)


def _end_runs_at_once() -> Delete:
    """PostgreSQL: the four deletes in one statement (data-modifying CTEs), one round trip
    instead of four."""
    first, *others = _END_RUNS
    statement = first
    for table, gone in zip(_ENDED_TABLES[1:], others, strict=True):
        statement = statement.add_cte(gone.cte(f"gone_{table.name}"))
    return statement


_END_RUNS_AT_ONCE = _end_runs_at_once()
#: SQLite, on the DBAPI cursor: the leases of some runs (`IN (...)` to add).
_LEASES = f"SELECT execution_id, lease_owner, epoch FROM {RUNS.name} WHERE execution_id IN"


def _marks(values: Sequence[Any]) -> str:
    """SQLite's parameter marks for `values`, to go in `IN (...)`."""
    return ", ".join("?" for _ in values)


_GET_RUNS_FOR_UPDATE = (
    select(RUNS)
    .where(_r.execution_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(_r.execution_id)
    .with_for_update()
)


@functools.cache
def _claimable(postgres: bool) -> Select[Any]:
    """Runs ready, due (a timer) or whose lease lapsed, oldest change first."""
    due = or_(
        _r.state == "ready",
        and_(_r.state == "waiting", _r.wake_at.is_not(None), _r.wake_at <= bindparam("b_now")),
        and_(_r.state == "leased", _r.lease_expires < bindparam("b_now")),
    )
    statement = (
        select(_r.execution_id, _r.workflow_id, _r.epoch, _r.control)
        .where(due)
        .order_by(_r.updated_at)
        .limit(bindparam("b_limit"))
    )
    return statement.with_for_update(skip_locked=True) if postgres else statement


@functools.cache
def _pending(postgres: bool) -> Select[Any]:
    """Executions created and never run, oldest first."""
    e = EXECUTIONS.c
    statement = (
        select(e.id, e.workflow_id)
        .where(e.phase == "pending", ~exists().where(_r.execution_id == e.id))
        .order_by(e.created_at, e.id)
        .limit(bindparam("b_limit"))
    )
    return statement.with_for_update(skip_locked=True, of=EXECUTIONS) if postgres else statement


@functools.cache
def _insert_claims(postgres: bool) -> Insert:
    # Another worker's claim may commit between our read and our insert (its run rows
    # are invisible to our snapshot): skip those rather than fail. SQLite says so with
    # `OR IGNORE`: SQLAlchemy cannot cache an `ON CONFLICT` statement's compiled form.
    statement: Insert = (
        pg_insert(RUNS).on_conflict_do_nothing(index_elements=["execution_id"])
        if postgres
        else insert(RUNS).prefix_with("OR IGNORE", dialect="sqlite")
    )
    return statement.returning(_r.execution_id)


@dataclass(frozen=True)
class Claim:
    """A run a worker just leased: its execution, workflow, lease epoch and pending control."""

    execution_id: str
    workflow_id: str
    epoch: int
    control: str | None
    #: A pending execution no worker ever took up (it had no run row).
    fresh: bool = False


class RuntimeRepository:
    """Runtime bookkeeping over one connection (inside the caller's transaction)."""

    def __init__(self, connection: Connection, inserts: Inserts | None = None) -> None:
        self.connection = connection
        self.inserts = inserts or Inserts(connection)

    @property
    def _postgres(self) -> bool:
        return self.connection.dialect.name == "postgresql"

    # -- journal -------------------------------------------------------------------------

    def append_journal(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert journal rows whose `seq` the caller numbered (one executemany).

        Raises:
            IntegrityError: a seq is taken: another worker wrote to the same journal.
        """
        self.inserts(_INSERT_JOURNAL, rows)

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
        running: dict[str, int] = {}
        if default_workflow_cap is not None or workflow_caps:
            if self._postgres:
                # Counting then claiming must not interleave between workers, or two of
                # them could both see room for the last slot: serialize capped claims.
                self.connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_CAPPED_CLAIM_LOCK})")
            counted = self.connection.execute(_LEASED_PER_WORKFLOW, {"b_now": now})
            running = {row[0]: int(row[1]) for row in counted}

        def admit(workflow_id: str) -> bool:
            cap = (workflow_caps or {}).get(workflow_id, default_workflow_cap)
            if cap is None:
                return True
            if running.get(workflow_id, 0) >= cap:
                return False
            running[workflow_id] = running.get(workflow_id, 0) + 1
            return True

        # Capped claims read more candidates than they may take: some are over their cap.
        over_read = 4 if running else 1
        claimed: list[Claim] = []
        candidates = self.connection.execute(
            _claimable(self._postgres), {"b_now": now, "b_limit": limit * over_read}
        )
        found = [row for row in candidates if admit(row.workflow_id)][:limit]
        if found:
            self.connection.execute(
                _TAKE_LEASE,
                [
                    {
                        "b_id": row.execution_id,
                        "b_epoch": row.epoch + 1,
                        "b_owner": owner,
                        "b_until": lease_until,
                        "b_now": now,
                    }
                    for row in found
                ],
            )
            claimed.extend(Claim(r.execution_id, r.workflow_id, r.epoch + 1, r.control) for r in found)
        remaining = limit - len(claimed)
        if remaining <= 0:
            return claimed
        pending = self.connection.execute(_pending(self._postgres), {"b_limit": remaining * over_read})
        fresh = [row for row in pending if admit(row.workflow_id)][:remaining]
        if fresh:
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
            inserted = set(self.connection.execute(_insert_claims(self._postgres), rows).scalars())
            claimed.extend(
                Claim(row.id, row.workflow_id, 1, None, fresh=True) for row in fresh if row.id in inserted
            )
        return claimed

    def renew(
        self,
        owner: str,
        lease_until: datetime,
        now: datetime,
        keep: Sequence[str],
        *,
        leased_before: datetime,
    ) -> None:
        """Extend the leases `owner` holds on the executions in `keep`; release the others
        it holds that expire by `leased_before` (runs it gave up without releasing),
        making them claimable at once.

        `leased_before` is the expiry the owner's previous renewal set: a lease expiring
        later was taken since, maybe for a run the owner is only starting (it is kept
        until the next renewal, which knows it).
        """
        ids = list(keep)
        released = {"b_owner": owner, "b_now": now, "b_leased_before": leased_before}
        if ids:
            self.connection.execute(_RENEW, {"b_owner": owner, "b_until": lease_until, "b_ids": ids})
            self.connection.execute(_RELEASE_OTHERS, {**released, "b_ids": ids})
        else:
            self.connection.execute(_RELEASE_ALL, released)

    def held(self, owner: str) -> list[dict[str, Any]]:
        """The runs `owner` holds: `execution_id`, `epoch`, `control`, `notify`."""
        rows = self.connection.execute(_HELD, {"b_owner": owner}).mappings()
        return [dict(row) for row in rows]

    def clear_notify(self, execution_ids: Sequence[str]) -> None:
        """Reset the event notification flag of these runs."""
        if execution_ids:
            self.connection.execute(_CLEAR_NOTIFY, {"b_ids": list(execution_ids)})

    def get_run(self, execution_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        """The run row of an execution, None when no worker has it."""
        statement = _GET_RUN_FOR_UPDATE if for_update else _GET_RUN
        found = self.connection.execute(statement, {"b_id": execution_id}).mappings().first()
        return dict(found) if found is not None else None

    def lease_new(
        self, execution_id: str, workflow_id: str, owner: str, *, until: datetime, now: datetime
    ) -> Claim:
        """Lease an execution created in this transaction to `owner` (it never was pending)."""
        values = {
            "execution_id": execution_id,
            "workflow_id": workflow_id,
            "state": "leased",
            "lease_owner": owner,
            "lease_expires": until,
            "epoch": 1,
            "notify": False,
            "updated_at": now,
        }
        self.inserts(_INSERT_RUN, [values])
        return Claim(execution_id, workflow_id, 1, None)

    def insert_run(self, values: Mapping[str, Any]) -> None:
        """Insert a run row (an execution a worker has not taken up yet, e.g. suspended)."""
        self.inserts(_INSERT_RUN, [values])

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
        return self.release_many([(execution_id, owner, epoch, state, wake_at)], now=now) == 1

    def release_many(
        self, leases: Sequence[tuple[str, str, int, str, datetime | None]], *, now: datetime
    ) -> int:
        """`release` for many runs in one executemany: each `(execution_id, owner, epoch,
        state, wake_at)`; how many leases were given up."""
        if not leases:
            return 0
        params = [
            {
                "b_id": id,
                "b_owner": owner,
                "b_epoch": epoch,
                "b_state": state,
                "b_wake_at": wake_at,
                "b_now": now,
            }
            for id, owner, epoch, state, wake_at in leases
        ]
        return int(self.connection.execute(_RELEASE, params).rowcount)

    def set_run(self, execution_id: str, **values: Any) -> int:
        """Update a run row unconditionally; the number of rows changed."""
        result = self.connection.execute(
            update(RUNS).where(RUNS.c.execution_id == execution_id).values(**values)
        )
        return int(result.rowcount)

    def delete_run(self, execution_id: str) -> None:
        """Forget the run (the execution ended), with its subscriptions and inbox."""
        for statement in _END_RUNS[:3]:  # not the contexts
            self.connection.execute(statement, {"b_ids": [execution_id]})

    def runs_for_update(self, execution_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The run rows of these executions by execution id, locked (PostgreSQL) in id order."""
        rows = self.connection.execute(_GET_RUNS_FOR_UPDATE, {"b_ids": sorted(set(execution_ids))})
        return {row["execution_id"]: dict(row) for row in rows.mappings()}

    def end_run(self, execution_id: str) -> None:
        """The execution ended: forget its run, subscriptions, inbox and contexts."""
        self.end_runs([execution_id])

    def end_runs(self, execution_ids: Sequence[str]) -> None:
        """`end_run` for many executions: one statement on PostgreSQL; on SQLite, four on
        the DBAPI cursor (through SQLAlchemy each cost ~70 us, and a run's end pays them)."""
        ids = list(execution_ids)
        if not ids:
            return
        if self._postgres:
            self.connection.execute(_END_RUNS_AT_ONCE, {"b_ids": ids})
            return
        marks = _marks(ids)
        with closing(self.connection.connection.cursor()) as cursor:
            for table in _ENDED_TABLES:
                cursor.execute(f"DELETE FROM {table.name} WHERE execution_id IN ({marks})", ids)

    def end_held_runs(self, leases: Sequence[tuple[str, str, int]]) -> list[str]:
        """`end_runs` for the executions of `(execution_id, owner, epoch)` leases, if each
        one is still held so; else nothing is deleted. Returns the ids no longer held."""
        ids = sorted({execution_id for execution_id, _, _ in leases})
        held = self._leases(ids)
        lost = [
            execution_id for execution_id, owner, epoch in leases if held.get(execution_id) != (owner, epoch)
        ]
        if not lost:
            self.end_runs(ids)
        return lost

    def _leases(self, execution_ids: list[str]) -> dict[str, tuple[str | None, int]]:
        """The lease owner and epoch of each run, locked (PostgreSQL, in id order)."""
        if not execution_ids:
            return {}
        if self._postgres:
            runs = self.runs_for_update(execution_ids)
            return {execution_id: (row["lease_owner"], row["epoch"]) for execution_id, row in runs.items()}
        with closing(self.connection.connection.cursor()) as cursor:
            found = cursor.execute(f"{_LEASES} ({_marks(execution_ids)})", execution_ids).fetchall()
        return {execution_id: (owner, epoch) for execution_id, owner, epoch in found}

    def wake(self, execution_ids: Iterable[str], now: datetime) -> None:
        """Make waiting runs claimable now; tell leased ones to look at their inbox."""
        ids = list(execution_ids)
        if not ids:
            return
        self.connection.execute(_WAKE, {"b_ids": ids, "b_now": now})

    def counts(self) -> dict[str, int]:
        """How many runs are in each state."""
        rows = self.connection.execute(select(RUNS.c.state, func.count()).group_by(RUNS.c.state))
        return {row[0]: int(row[1]) for row in rows}

    # -- events --------------------------------------------------------------------------

    def subscribe(
        self, execution_id: str, key: str, event_type: str | None, filters: Any, now: datetime
    ) -> None:
        """Record that a `listen` (effect `key`) waits for events matching `filters`."""
        if self.connection.execute(_SUBSCRIPTION_KEY, {"b_id": execution_id, "b_key": key}).first():
            return
        self.connection.execute(
            _INSERT_SUBSCRIPTION,
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

    def unsubscribe(self, execution_id: str, key: str) -> None:
        """A listen gave up: forget its subscription and any event delivered to it since."""
        self.connection.execute(_DELETE_SUBSCRIPTION, {"b_id": execution_id, "b_key": key})
        self.connection.execute(_TAKE_INBOX, {"b_id": execution_id, "b_key": key})

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
        rows = self.connection.execute(_INBOX, {"b_id": execution_id, "b_keys": list(keys)})
        return {row[0]: row[1] for row in rows}

    def take_inbox(self, execution_id: str, key: str) -> None:
        """Remove a consumed event."""
        self.connection.execute(_TAKE_INBOX, {"b_id": execution_id, "b_key": key})

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
        """Delete executions; the database cascades to their journals and contexts."""
        if not ids:
            return 0
        result = self.connection.execute(delete(EXECUTIONS).where(EXECUTIONS.c.id.in_(list(ids))))
        return int(result.rowcount)

    def delete_contexts(self, execution_id: str) -> int:
        """Delete the ExecutionContexts of an execution (it ended)."""
        result = self.connection.execute(_DELETE_CONTEXTS, {"b_id": execution_id})
        return int(result.rowcount)
