"""`Recorder`: the engine's notifications turned into what a run records.

Each task notification becomes a journal observation entry (the live event stream, see
`treadle.resources.control.STREAMED_JOURNAL_TYPES`; the store reads stages from them) and
an entry of `status.tasks[]`; each decision a journal entry (decisions are read from
them). Nothing is written here: entries accumulate in the run's pending batch, which the
group-commit writer makes durable with the next effect (or sooner). Snapshots have secret
values redacted.

On a replay the engine repeats notifications for work already recorded: those whose
identity (see `treadle.runtime.local.replay`) is in the journal only refresh the status
(with the times recorded then), so nothing is written twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from treadle.engine import Decision, Phase, TaskEvent, WorkflowError
from treadle.runtime.local.replay import IdentityCounter, Replay
from treadle.runtime.records import decision_data, task_data, task_keys, task_status

__all__ = ["Recorder"]


class _Sink(Protocol):
    """Where the recorder puts what it makes: the run's pending batch."""

    execution_id: str

    def journal(self, type: str, data: Any, at: datetime) -> None:
        """An observation entry, stamped `at`."""
        ...

    def status_changed(self) -> None:
        """`status.tasks[]` changed."""
        ...


class Recorder:
    """The engine's observer for a durable run.

    Attributes:
        tasks: `status.tasks[]` entries by task path, not yet written.
        detached: set while the run unloads: notifications of the engine being
            stopped (tasks cancelled) are not part of the run and are ignored.
    """

    def __init__(self, sink: _Sink, replay: Replay, redact: Callable[[Any], Any]) -> None:
        self.sink = sink
        self.replay = replay
        self.redact = redact
        self.tasks: dict[str, dict[str, Any]] = {}
        self.detached = False
        self._ids = IdentityCounter()
        # Journalled observations the engine has not repeated yet: once none is left, no
        # identity can be found any more (each is unique), so a live run counts none.
        self._unmatched = len(replay.recorded)
        #: When each task running now started, by (position, attempt).
        self._started: dict[tuple[str, int], datetime] = {}

    def on_phase(self, phase: Phase, error: WorkflowError | None = None) -> None:
        """Phases are the run's to record (it knows about unloading and waking)."""

    def on_task(self, event: TaskEvent) -> None:
        """Journal the notification, refresh the task's status."""
        if self.detached:
            return
        status = event.status
        type = "task." + status
        keys = task_keys(event.name, event.path, event.position, event.attempt)
        recorded_at = self._recorded_at(type, keys)
        at = recorded_at or datetime.now(UTC)
        slot = (event.position, event.attempt)
        if status == "started":
            self._started[slot] = at
            self._status(keys, "running", at, None)
            if recorded_at is None:
                self.sink.journal(type, task_data(keys, status, event.input, None, None, self.redact), at)
            return
        error = event.error.to_problem() if event.error is not None else None
        started_at = self._started.pop(slot, at)
        self._status(keys, status, started_at, at, error)
        if recorded_at is None:
            self.sink.journal(
                type, task_data(keys, status, event.input, event.output, error, self.redact, started_at), at
            )

    def on_decision(self, decision: Decision) -> None:
        """Journal the decision."""
        if self.detached:
            return
        data = decision_data(
            decision.from_node, decision.to_node, decision.case, decision.result, decision.reason
        )
        if self._recorded_at("decision", data) is not None:
            return
        self.sink.journal("decision", data, datetime.now(UTC))

    def _recorded_at(self, type: str, data: dict[str, Any]) -> datetime | None:
        """When the journal recorded this observation, None if it did not."""
        if not self._unmatched:
            return None
        identity = self._ids.identity(type, data)
        recorded_at = self.replay.recorded.get(identity) if identity is not None else None
        if recorded_at is not None:
            self._unmatched -= 1
        return recorded_at

    def running_tasks_cancelled(self, at: datetime) -> None:
        """Mark tasks still running as cancelled (the run was cancelled while unloaded)."""
        for task in self.tasks.values():
            if task["phase"] == "running":
                task["phase"] = "cancelled"
                task["completed_at"] = at

    def _status(
        self,
        keys: dict[str, Any],
        phase: str,
        started_at: datetime,
        completed_at: datetime | None,
        error: dict[str, Any] | None = None,
    ) -> None:
        self.tasks[keys["path"]] = task_status(keys, phase, started_at, completed_at, error)
        self.sink.status_changed()
