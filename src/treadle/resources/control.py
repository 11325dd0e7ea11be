"""The contract between the transports and a runtime: steering executions that run.

The HTTP and gRPC transports call an `ExecutionControl`; each runtime (local durable,
Temporal) implements it. It is synchronous like `ResourceService`, so transports call it
from worker threads. Requests are durable: they are written to the store (or to
Temporal) before the call returns, so a worker in another process acts on them.

What a run records is streamed from the execution's journal (`Transaction.journal`):
entries whose `type` is in `STREAMED_JOURNAL_TYPES` are the live events people see
(`GET /v1/workflow-executions/{id}/events`), numbered by their journal `seq`; the
other entry types are the runtime's own bookkeeping (effect results, timers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from treadle.resources.models import WorkflowExecution

__all__ = ["STREAMED_JOURNAL_TYPES", "ExecutionControl"]

#: Journal entry types shown to people, with the `data` each carries:
#: - "phase": {"phase", "error"?, "output"?}  (output on completion, error on fault)
#: - "task.started": {"name", "path", "position", "attempt", "input"}
#: - "task.completed": {"name", "path", "position", "attempt", "output"}
#: - "task.faulted": {"name", "path", "position", "attempt", "error"}
#: - "task.skipped" / "task.cancelled": {"name", "path", "position", "attempt"}
#: - "decision": {"from", "to", "case", "result", "reason"}
#: Input and output snapshots have secret values redacted.
STREAMED_JOURNAL_TYPES = frozenset(
    {"phase", "task.started", "task.completed", "task.faulted", "task.skipped", "task.cancelled", "decision"}
)


class ExecutionControl(Protocol):
    """Cancel, suspend, resume executions and deliver events to them.

    Raises (from `treadle.resources.errors`): `NotFound` for an unknown execution,
    `FailedPrecondition` when the execution's phase does not allow the request (e.g.
    cancelling a completed one, resuming one that is not suspended).
    """

    def cancel(self, execution_id: str) -> WorkflowExecution:
        """Stop the execution: effects in flight are aborted, no `catch` runs; phase `cancelled`."""
        ...

    def suspend(self, execution_id: str) -> WorkflowExecution:
        """Pause the execution after the effects in flight; phase `suspended`."""
        ...

    def resume(self, execution_id: str) -> WorkflowExecution:
        """Continue a suspended execution where it paused."""
        ...

    def deliver_event(self, event: Mapping[str, Any]) -> list[str]:
        """Deliver a CloudEvent (1.0, structured as a dict) to every execution listening
        for it and to every workflow whose `schedule.on` it triggers; returns the ids of
        the executions it woke or started."""
        ...
