"""Run records: the journal of an execution, and its stages and decisions read from it.

The journal is append-only and written in batches, one statement per batch, inside the
caller's transaction, so a scheduling round costs one commit however many events it
produced. Stages and decisions are views of it (`_projections`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from treadle.store._errors import JournalConflict
from treadle.store._tables import JOURNAL

__all__ = [
    "Decision",
    "JournalEntry",
    "JournalEvent",
    "JournalRepository",
    "Stage",
]


# Built once: a reused statement's cache key is memoized (see `_repositories`).
_INSERT_JOURNAL = insert(JOURNAL)
# Every column but the global `id`: what a `JournalEvent` holds.
_ENTRY = [column for column in JOURNAL.c if column.name != "id"]
_LAST_SEQS = (
    select(JOURNAL.c.execution_id, func.max(JOURNAL.c.seq))
    .where(JOURNAL.c.execution_id.in_(bindparam("b_ids", expanding=True)))
    .group_by(JOURNAL.c.execution_id)
)
_READ_JOURNALS = (
    select(*_ENTRY)
    .where(JOURNAL.c.execution_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(JOURNAL.c.execution_id, JOURNAL.c.seq)
)
_READ_JOURNAL = (
    select(*_ENTRY)
    .where(JOURNAL.c.execution_id == bindparam("b_id"), JOURNAL.c.seq > bindparam("b_after"))
    .order_by(JOURNAL.c.seq)
)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class JournalEntry:
    """An event to append: its `type` (e.g. "effect.completed") and JSON `data`."""

    type: str
    data: Any = None
    at: datetime | None = None


@dataclass(frozen=True)
class JournalEvent:
    """An event read back from the journal, numbered from 1 per execution."""

    execution_id: str
    seq: int
    type: str
    data: Any
    at: datetime


@dataclass(frozen=True)
class Stage:
    """One run of one task: `node` is the task path, `iteration` counts loop passes, `id`
    is the seq of the journal entry that ended it."""

    execution_id: str
    node: str
    status: str
    iteration: int = 0
    input: Any = None
    output: Any = None
    error: Any = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: float | None = None
    id: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Decision:
    """One branch taken: from `from_node` to `to_node` because `case_name` gave `result`;
    `id` is the seq of its journal entry."""

    execution_id: str
    from_node: str
    to_node: str | None
    case_name: str | None = None
    result: Any = None
    reason: str = ""
    at: datetime = field(default_factory=_now)
    id: int | None = field(default=None, compare=False)


class JournalRepository:
    """The append-only journal of each execution, keyed `(execution_id, seq)`."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def last_seq(self, execution_id: str) -> int:
        """The seq of the execution's last event, 0 when it has none."""
        statement = select(func.coalesce(func.max(JOURNAL.c.seq), 0)).where(
            JOURNAL.c.execution_id == execution_id
        )
        return int(self.connection.execute(statement).scalar_one())

    def last_seqs(self, execution_ids: Sequence[str]) -> dict[str, int]:
        """`last_seq` of many executions in one statement (those with no event are absent)."""
        if not execution_ids:
            return {}
        rows = self.connection.execute(_LAST_SEQS, {"b_ids": sorted(set(execution_ids))})
        return {row[0]: int(row[1]) for row in rows}

    def append(self, execution_id: str, entries: Sequence[JournalEntry], *, after: int | None = None) -> int:
        """Append `entries` in one statement and return the new last seq.

        Args:
            execution_id: whose journal.
            entries: the events, in order.
            after: the last seq the caller has seen; if the journal has moved on since,
                nothing is written and `JournalConflict` is raised.

        Raises:
            JournalConflict: the journal is not where the caller thought, or a concurrent
                append took the same seq (the transaction must then be rolled back).
        """
        last = self.last_seq(execution_id)
        if after is not None and after != last:
            raise JournalConflict(execution_id, after, last)
        if not entries:
            return last
        now = _now()
        rows = [
            {
                "execution_id": execution_id,
                "seq": last + offset,
                "type": entry.type,
                "data": entry.data,
                "at": entry.at or now,
            }
            for offset, entry in enumerate(entries, start=1)
        ]
        try:
            self.connection.execute(_INSERT_JOURNAL, rows)
        except IntegrityError as error:
            raise JournalConflict(execution_id, after, None) from error
        return last + len(entries)

    def read(self, execution_id: str, *, after: int = 0, limit: int | None = None) -> list[JournalEvent]:
        """Events with seq greater than `after`, in order (at most `limit`)."""
        statement = _READ_JOURNAL if limit is None else _READ_JOURNAL.limit(limit)
        rows = self.connection.execute(statement, {"b_id": execution_id, "b_after": after}).mappings()
        return [JournalEvent(**row) for row in rows]

    def read_many(self, execution_ids: Sequence[str]) -> dict[str, list[JournalEvent]]:
        """The whole journal of each execution, in order, in one statement (those with an
        empty journal are absent)."""
        if not execution_ids:
            return {}
        found: dict[str, list[JournalEvent]] = {}
        rows = self.connection.execute(_READ_JOURNALS, {"b_ids": sorted(set(execution_ids))}).mappings()
        for row in rows:
            found.setdefault(row["execution_id"], []).append(JournalEvent(**row))
        return found
