"""Progress of runs on Temporal, written to treadle's store: the control plane's UpdateStatus.

`StoreProgressSink` is the `ProgressSink` of a worker that serves a treadle server
(`treadle worker --runtime temporal --database-url ...`, or the server's own worker). It
turns each batch of the workflow's observer events into what the local runtime records
for the same run, in one transaction:

- journal observation entries (`STREAMED_JOURNAL_TYPES`, the SSE stream) with the same
  data, snapshots with secret values redacted (the store reads the run's stages and
  decisions from them);
- the status (`phase`, `tasks[]`, `output`, `error`, times) through the UpdateStatus
  pipeline, one phase step at a time (so `pending -> running -> completed` passes the
  lifecycle rules).

Batches come at least once (the progress activity is retried, possibly on another worker
after a `kill -9`), so each batch's sequence number is journalled as a bookkeeping entry
(`temporal.progress`, not streamed) in the same transaction, and a batch at or below it is
dropped. A batch for an execution that already ended (cancelled before its workflow
reported) or was deleted is dropped too: a run's bookkeeping must not fail the run.

What a workflow start needs (document snapshot, input, secrets) is `treadle.runtime.loading`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from treadle.resources import (
    FailedPrecondition,
    NotFound,
    ResourceService,
)
from treadle.resources.phases import TERMINAL
from treadle.runtime.loading import load_run
from treadle.runtime.records import decision_data, task_data, task_keys, task_status
from treadle.runtime.redaction import Redactor
from treadle.runtime.temporal.messages import ProgressBatch
from treadle.runtime.transitions import record_status
from treadle.store import JournalEntry, Transaction

__all__ = ["MARKER", "StoreProgressSink"]

log = logging.getLogger(__name__)

#: The bookkeeping journal entry holding the last applied batch's sequence.
MARKER = "temporal.progress"


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class StoreProgressSink:
    """Writes progress batches to the store of `service` (one transaction per batch)."""

    def __init__(self, service: ResourceService) -> None:
        self.service = service
        self._redactors: dict[str, Callable[[Any], Any]] = {}

    async def report(self, batch: ProgressBatch) -> None:
        """Apply `batch` in a thread (the store is synchronous)."""
        await asyncio.to_thread(self.apply, batch)

    def apply(self, batch: ProgressBatch) -> bool:
        """Apply `batch` unless it was applied already; whether it was applied."""
        try:
            with self.service.store.begin() as tx:
                return self._apply(tx, batch)
        except (NotFound, FailedPrecondition) as error:
            log.warning(
                "execution %s: progress batch %d dropped: %s", batch.execution_id, batch.sequence, error
            )
            return False

    def _apply(self, tx: Transaction, batch: ProgressBatch) -> bool:
        execution_id = batch.execution_id
        # Locked: serializes batches (PostgreSQL); phase and tasks alone are read.
        row = tx.executions.get(execution_id, for_update=True, document=False)
        if row is None:
            raise NotFound("WorkflowExecution", execution_id)
        if batch.sequence <= _applied(tx, execution_id):
            return False
        phase: str = row["phase"]
        if phase in TERMINAL:
            raise FailedPrecondition("WorkflowExecution", execution_id, f"the execution is {phase}")
        redact = self._redactor(tx, execution_id)
        stored = row["body"].get("status", {}).get("tasks") or []
        projection = _Projection(execution_id, redact, phase, stored)
        for event in batch.events:
            projection.add(event)
        projection.entries.append(JournalEntry(MARKER, {"sequence": batch.sequence}))
        for update in projection.updates():
            record_status(self.service, tx, execution_id, update)  # nothing reads the result back
        tx.journal.append(execution_id, projection.entries)
        if projection.ended:
            self._redactors.pop(execution_id, None)
            tx.runtime.delete_contexts(execution_id)
        return True

    def _redactor(self, tx: Transaction, execution_id: str) -> Callable[[Any], Any]:
        redact = self._redactors.get(execution_id)
        if redact is None:
            loaded = load_run(self.service, tx, execution_id)
            redact = Redactor.of_values(loaded.secret_values if loaded is not None else []).value
            if len(self._redactors) > 10_000:
                self._redactors.clear()
            self._redactors[execution_id] = redact
        return redact


def _applied(tx: Transaction, execution_id: str) -> int:
    """The sequence of the last batch applied (0: none): the newest marker entry."""
    last = tx.journal.last_seq(execution_id)
    if last == 0:
        return 0
    tail = tx.journal.read(execution_id, after=last - 1)
    entries = tail if tail and tail[-1].type == MARKER else tx.journal.read(execution_id)
    for entry in reversed(entries):
        if entry.type == MARKER:
            return int(entry.data["sequence"])
    return 0


class _Projection:
    """One batch's events as journal entries and status steps."""

    def __init__(
        self,
        execution_id: str,
        redact: Callable[[Any], Any],
        phase: str,
        stored_tasks: list[dict[str, Any]],
    ) -> None:
        self.execution_id = execution_id
        self.stored_tasks = stored_tasks
        self.redact = redact
        self.phase = phase
        self.entries: list[JournalEntry] = []
        self.ended = False
        self._steps: list[dict[str, Any]] = []
        self._tasks: dict[str, dict[str, Any]] = {}

    def add(self, event: Mapping[str, Any]) -> None:
        kind = event.get("kind")
        if kind == "task":
            self._task(event)
        elif kind == "decision":
            self._decision(event)
        elif kind == "phase":
            self._phase(event)

    def updates(self) -> list[dict[str, Any]]:
        """The status reports, in order; the last one carries the tasks left."""
        steps = self._steps
        if self._tasks:
            steps.append({"tasks": list(self._tasks.values())})
            self._tasks = {}
        return steps

    def _phase(self, event: Mapping[str, Any]) -> None:
        phase = event["phase"]
        if phase == "pending" or phase == self.phase:
            return  # the engine's start: the execution is pending already
        at = _time(event.get("at"))
        data: dict[str, Any] = {"phase": phase}
        update: dict[str, Any] = {"phase": phase}
        if self._tasks:
            update["tasks"] = list(self._tasks.values())
            self._tasks = {}
        if phase == "completed":
            data["output"] = update["output"] = self.redact(event.get("output"))
        if event.get("error") is not None:
            data["error"] = update["error"] = event["error"]
        if phase in TERMINAL:
            self.ended = True
            if phase == "cancelled":
                self._cancel_running(update, at)
        self.entries.append(JournalEntry("phase", data, at))
        self._steps.append(update)
        self.phase = phase

    def _cancel_running(self, update: dict[str, Any], at: datetime | None) -> None:
        """Tasks still running when the run was cancelled end cancelled (as locally)."""
        reported = {task["path"] for task in update.get("tasks", [])}
        tasks = update.get("tasks", []) + [dict(t) for t in self.stored_tasks if t["path"] not in reported]
        for task in tasks:
            if task.get("phase") == "running":
                task["phase"] = "cancelled"
                task["completed_at"] = at
        if tasks:
            update["tasks"] = tasks

    def _task(self, event: Mapping[str, Any]) -> None:
        status = event["status"]
        started_at, completed_at = _time(event.get("started_at")), _time(event.get("completed_at"))
        keys = task_keys(event["name"], event["path"], event["position"], event["attempt"])
        error = event.get("error")
        path = event["path"]
        self._tasks[path] = task_status(keys, status, started_at, completed_at, error)
        input, output = event.get("input"), event.get("output")
        if status == "running":
            data = task_data(keys, "started", input, None, None, self.redact)
            self.entries.append(JournalEntry("task.started", data, started_at))
            return
        data = task_data(keys, status, input, output, error, self.redact, started_at)
        self.entries.append(JournalEntry("task." + status, data, completed_at))

    def _decision(self, event: Mapping[str, Any]) -> None:
        data = decision_data(
            event["from_node"], event["to_node"], event["case"], event["result"], event["reason"]
        )
        at = _time(event.get("at")) or datetime.now(UTC)
        self.entries.append(JournalEntry("decision", data, at))
