"""Stages and decisions: what an execution's journal says, in the shape people read.

The runtimes journal every task notification (`task.started`, then one of
`task.completed`, `task.faulted`, `task.cancelled`, `task.skipped`) and every branch
taken (`decision`); `treadle.runtime.records` writes their data. A stage and a decision
hold nothing the journal does not, so they are read from it rather than written a second
time (a step of a run wrote four rows with its input and output three times; it writes
three now).

A stage is one task run that ended: its end entry, paired with the task's `task.started`
entry by position and attempt (its input and start time; a skipped task has no start
and carries its input itself). Its `iteration` counts the earlier stages of the same task
path in the execution, so it counts `for` iterations, retries and `then` loops alike; its
`id` is the end entry's seq. A decision is a `decision` entry as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, select

from treadle.store._records import Decision, JournalEvent, Stage
from treadle.store._tables import JOURNAL

__all__ = ["DecisionRepository", "StageRepository", "decisions_from", "stages_from"]

_DECISION = "decision"
#: Every `task.<status>` entry but `task.started` ends a task run: its stage has that status.
_TASK = "task."
_STARTED = "task.started"
#: Statuses whose stage keeps the task's output (a faulted or cancelled task has none).
_WITH_OUTPUT = frozenset({"completed", "skipped"})

_ENTRIES_LIKE = (
    select(JOURNAL.c.execution_id, JOURNAL.c.seq, JOURNAL.c.type, JOURNAL.c.data, JOURNAL.c.at)
    .where(JOURNAL.c.execution_id == bindparam("b_id"), JOURNAL.c.type.like(bindparam("b_type")))
    .order_by(JOURNAL.c.seq)
)


class StageRepository:
    """An execution's stages, read from its journal."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def list(self, execution_id: str) -> list[Stage]:
        """Every stage of an execution, in the order its task runs ended."""
        return stages_from(execution_id, _entries(self.connection, execution_id, _TASK + "%"))


class DecisionRepository:
    """An execution's decisions, read from its journal."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def list(self, execution_id: str) -> list[Decision]:
        """Every decision of an execution, oldest first."""
        return decisions_from(execution_id, _entries(self.connection, execution_id, _DECISION))


def _entries(connection: Connection, execution_id: str, type: str) -> list[JournalEvent]:
    """The execution's entries whose type is `LIKE type`, in seq order."""
    rows = connection.execute(_ENTRIES_LIKE, {"b_id": execution_id, "b_type": type}).mappings()
    return [JournalEvent(**row) for row in rows]


def stages_from(execution_id: str, events: Iterable[JournalEvent]) -> list[Stage]:
    """The stages of an execution from its `task.*` journal entries, read in seq order."""
    started: dict[tuple[Any, Any], JournalEvent] = {}
    runs: Counter[str] = Counter()
    stages: list[Stage] = []
    for event in events:
        data = _mapping(event.data)
        slot = (data.get("position"), data.get("attempt"))
        if event.type == _STARTED:
            started[slot] = event
            continue
        if not event.type.startswith(_TASK):
            continue
        status = event.type[len(_TASK) :]
        start = started.pop(slot, None)
        path = str(data.get("path"))
        iteration = runs[path]
        runs[path] = iteration + 1
        started_at = start.at if start is not None else event.at
        stages.append(
            Stage(
                execution_id=execution_id,
                node=path,
                status=status,
                iteration=iteration,
                input=_mapping(start.data).get("input") if start is not None else data.get("input"),
                output=data.get("output") if status in _WITH_OUTPUT else None,
                error=data.get("error"),
                started_at=started_at,
                completed_at=event.at,
                duration_ms=(event.at - started_at).total_seconds() * 1000.0,
                id=event.seq,
            )
        )
    return stages


def decisions_from(execution_id: str, events: Iterable[JournalEvent]) -> list[Decision]:
    """The decisions of an execution from its `decision` journal entries, in seq order."""
    decisions = []
    for event in events:
        if event.type != _DECISION:
            continue
        data = _mapping(event.data)
        decisions.append(
            Decision(
                execution_id=execution_id,
                from_node=str(data.get("from")),
                to_node=data.get("to"),
                case_name=data.get("case"),
                result=data.get("result"),
                reason=data.get("reason") or "",
                at=event.at,
                id=event.seq,
            )
        )
    return decisions


def _mapping(data: Any) -> Mapping[str, Any]:
    return data if isinstance(data, Mapping) else {}
