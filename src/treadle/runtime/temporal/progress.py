"""What a run on Temporal records, and where its progress goes.

`ProgressRecorder` is the engine's `Observer` inside the workflow: it stamps each
notification with the time the runtime gives it (`workflow.now()`), keeps the task
records, decisions and phases the result and the `progress` query return, and queues
the same notifications as events for the progress activity to send in batches.
`ProgressSink` is what that activity hands the batches to: the control plane's
UpdateStatus once the server runs the worker; `MemoryProgressSink` keeps them in memory.

Sandbox-safe (no I/O, no clock of its own), so the workflow imports it.

A continued run (continue-as-new) re-runs the interpreter from the start, answering
effects from the journal, so the engine tells the observer again what it already told
the previous run. The recorder then matches the n-th notification for a task position
and attempt with the n-th record carried over, instead of recording it twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from treadle.engine.errors import WorkflowError
from treadle.engine.observer import Decision, Phase, TaskEvent
from treadle.runtime.temporal.messages import Carried, ProgressBatch

__all__ = ["MemoryProgressSink", "ProgressRecorder", "ProgressSink"]

Slot = tuple[str, int]
_TERMINAL = frozenset({"completed", "faulted", "cancelled"})


class ProgressSink(Protocol):
    """Receives a run's observer events in batches, in order (at least once)."""

    async def report(self, batch: ProgressBatch) -> None:
        """Apply `batch`; a batch whose `sequence` was applied already may come again."""
        ...


class MemoryProgressSink:
    """Keeps every execution's events in memory, each batch once."""

    def __init__(self) -> None:
        self.events: dict[str, list[dict[str, Any]]] = {}
        self._applied: dict[str, int] = {}

    async def report(self, batch: ProgressBatch) -> None:
        """Append the batch's events unless this sequence was applied already."""
        if batch.sequence <= self._applied.get(batch.execution_id, -1):
            return
        self._applied[batch.execution_id] = batch.sequence
        self.events.setdefault(batch.execution_id, []).extend(batch.events)


class ProgressRecorder:
    """The workflow's observer: task records, decisions and phases, times as ISO strings.

    Args:
        clock: the current time (`workflow.now`).
        record_data: keep task inputs and outputs.
        queue_events: also queue each notification in `pending` for the progress activity.
        carried: the records of the runs before this one (continue-as-new).
    """

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        record_data: bool = True,
        queue_events: bool = False,
        carried: Carried | None = None,
    ) -> None:
        self._clock = clock
        self._record_data = record_data
        self._queue_events = queue_events
        self.tasks: list[dict[str, Any]] = list(carried.tasks) if carried else []
        self.decisions: list[dict[str, Any]] = list(carried.decisions) if carried else []
        self.phases: list[list[str]] = list(carried.phases) if carried else []
        self.pending: list[dict[str, Any]] = []
        self.muted = False
        self._end: dict[str, Any] | None = None
        self._suspend_on_start = False
        self._open: dict[Slot, dict[str, Any]] = {}
        self._prior: dict[Slot, list[dict[str, Any]]] = {}
        self._replayed: set[Slot] = set()
        self._skip_decisions = len(self.decisions)
        self._skip_phases = 2 if carried else 0  # a continued run says pending, running again
        for record in self.tasks:
            self._prior.setdefault((record["position"], record["attempt"]), []).append(record)

    def _now(self) -> str:
        return self._clock().isoformat()

    def _queue(self, kind: str, body: dict[str, Any]) -> None:
        if self._queue_events:
            self.pending.append({"kind": kind, **body})

    def note_phase(self, phase: str, error: dict[str, Any] | None = None) -> None:
        """Record a phase the engine does not know (`suspended`)."""
        if self.muted:
            return
        at = self._now()
        self.phases.append([phase, at])
        event = {"phase": phase, "at": at, "error": error}
        if phase in _TERMINAL and self._queue_events:
            self._end = event  # queued by `finish`, with the run's output
            return
        self._queue("phase", event)

    def finish(self, output: Any) -> None:
        """Queue the terminal phase with the run's output: the control plane records the
        end of a run (phase, output or error) as one entry, as the local runtime does."""
        end, self._end = self._end, None
        if end is not None and not self.muted:
            self._queue("phase", {**end, "output": output})

    def suspend(self, suspended: bool) -> None:
        """The run was suspended or resumed (before it started: once it is running)."""
        if not any(phase == "running" for phase, _ in self.phases):
            self._suspend_on_start = suspended
        else:
            self.note_phase("suspended" if suspended else "running")

    def on_phase(self, phase: Phase, error: WorkflowError | None = None) -> None:
        """Record a phase change."""
        if self._skip_phases and phase in ("pending", "running"):
            self._skip_phases -= 1
            return
        self.note_phase(phase, error.to_problem() if error is not None else None)
        if phase == "running" and self._suspend_on_start:
            self._suspend_on_start = False
            self.note_phase("suspended")

    def on_task(self, event: TaskEvent) -> None:
        """Open a record when a task starts; close it when it ends."""
        if self.muted:
            return
        slot = (event.position, event.attempt)
        if self._replaying(slot, event):
            return
        at = self._now()
        if event.status == "started":
            record = self._record(event, "running", at)
            self._open[slot] = record
            self.tasks.append(record)
        else:
            record = self._open.pop(slot, {})
            if not record:  # skipped, or faulted before it started
                record = self._record(event, event.status, at)
                self.tasks.append(record)
            record["status"] = event.status
            record["completed_at"] = at
            record["output"] = event.output if self._record_data else None
            record["error"] = event.error.to_problem() if event.error is not None else None
        self._queue("task", dict(record))

    def _replaying(self, slot: Slot, event: TaskEvent) -> bool:
        """Match a notification with a record carried over; True when it needs no new one."""
        if slot in self._replayed:  # the end of a task the previous run saw end
            self._replayed.discard(slot)
            return True
        prior = self._prior.get(slot)
        if not prior or slot in self._open:
            return False
        record = prior.pop(0)
        if event.status == "started" and record["status"] == "running":
            self._open[slot] = record  # it was running when the previous run ended: go on live
        elif event.status == "started":
            self._replayed.add(slot)
        return True

    def on_decision(self, decision: Decision) -> None:
        """Record a branch taken."""
        if self.muted:
            return
        if self._skip_decisions:
            self._skip_decisions -= 1
            return
        record = {
            "from_node": decision.from_node,
            "to_node": decision.to_node,
            "case": decision.case,
            "result": decision.result,
            "reason": decision.reason,
            "position": decision.position,
            "at": self._now(),
        }
        self.decisions.append(record)
        self._queue("decision", dict(record))

    def take_pending(self) -> list[dict[str, Any]]:
        """The queued events, emptying the queue."""
        taken, self.pending = self.pending, []
        return taken

    def _record(self, event: TaskEvent, status: str, at: str) -> dict[str, Any]:
        return {
            "name": event.name,
            "path": event.path,
            "position": event.position,
            "status": status,
            "attempt": event.attempt,
            "started_at": at,
            "completed_at": None,
            "input": event.input if self._record_data else None,
            "output": None,
            "error": None,
        }
