"""Executions run from their creation: a worker takes what its own process creates.

While a `LocalRuntime` runs, it is the `ExecutionStarter` of its service: an execution
created through that service (`treadle server`'s HTTP API, a program that creates
executions with the service beside its runtime) is written
`running` and leased to the worker in the creating transaction, with its journal's first
entry, and its run starts from the model the create pipeline built. Without this, the
execution was written `pending`, then a worker tick claimed it and marked it running (a
second write transaction) and a load thread read back what had just been written: ~2 ms
of a 100-step run on SQLite, and a fifth of the server's CPU a run under a burst of
short runs over HTTP (docs/benchmarks.md, "Sixth round").

A worker takes an execution only when it has room and its last look at the queue found
the queue drained (older pending executions go first), and never one of a workflow
under a concurrency cap (caps are counted across workers, by the claim): other
workflows' executions still are. Otherwise the
execution is created `pending`, as without a runtime, and a tick claims it.

A lease taken this way is the same as a claimed one: if the process dies before the run
starts, the lease lapses and another worker resumes the run from its journal.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from treadle.resources import WorkflowExecution
from treadle.runtime.loading import loaded_run
from treadle.runtime.local.runner import Loaded
from treadle.runtime.transitions import journal_running
from treadle.store import Claim, Row, Transaction

if TYPE_CHECKING:
    from treadle.runtime.local.worker import Worker

__all__ = ["Handoff"]

log = logging.getLogger(__name__)


class Handoff:
    """A worker's side of `ExecutionStarter`: room reserved for executions being created
    (from any thread), their runs handed to the worker's loop once they are committed."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._lock = threading.Lock()
        #: Executions being created with room reserved here, not yet started.
        self.reserved = 0
        #: Runs started from their creation (counted on the worker's loop).
        self.taken = 0

    def reserve(self, execution: WorkflowExecution) -> _Reservation | None:
        """Room for `execution` now, or None: it waits in the queue."""
        worker, settings = self.worker, self.worker.settings
        cap = settings.workflow_caps.get(str(execution.spec.workflow_id), settings.max_running_per_workflow)
        if not worker.running or cap is not None:  # a cap is counted across workers, by the claim
            return None
        with self._lock:
            if not worker.queue_drained:
                return None
            if len(worker.runs) + self.reserved >= settings.max_running:
                # Later executions queue behind this one: the next tick claims them in order.
                worker.queue_drained = False
                return None
            self.reserved += 1
        return _Reservation(self)

    def unreserve(self) -> None:
        """Give back room reserved for one execution (started, or not created)."""
        with self._lock:
            self.reserved -= 1


class _Reservation:
    """Room for one execution being created: its lease, then its run."""

    def __init__(self, handoff: Handoff) -> None:
        self.handoff = handoff
        self._claim: Claim | None = None
        self._execution: WorkflowExecution | None = None
        self._instance: Row | None = None

    def claim(self, tx: Transaction, execution: WorkflowExecution, instance: Row) -> None:
        """Lease the execution to the worker and journal it `running` (seq 1)."""
        worker = self.handoff.worker
        execution_id, workflow_id = execution.metadata.id, execution.spec.workflow_id
        assert execution_id is not None and workflow_id is not None
        now = datetime.now(UTC)
        until = now + timedelta(seconds=worker.settings.lease_seconds)
        self._claim = tx.runtime.lease_new(execution_id, workflow_id, worker.worker_id, until=until, now=now)
        journal_running(tx, {execution_id: 1}, now)
        self._execution, self._instance = execution, instance

    def start(self) -> None:
        """The execution is committed: hand its run to the worker's loop (the room stays
        reserved until the run is among the worker's runs)."""
        if self._claim is None:  # the pipeline stopped before `claim`
            self.release()
            return
        self.handoff.worker.start_taken(self._claim, self._preload())

    def release(self) -> None:
        """The execution was not created: nothing to run."""
        self.handoff.unreserve()

    def _preload(self) -> Loaded | None:
        """What the run starts from, built from the models at hand (None: it loads them)."""
        worker, execution, claim = self.handoff.worker, self._execution, self._claim
        assert execution is not None and claim is not None
        try:
            return Loaded.created(worker, loaded_run(worker.service, execution, self._instance))
        except Exception:
            log.exception("execution %s: cannot start it as created; it loads", claim.execution_id)
            return None
