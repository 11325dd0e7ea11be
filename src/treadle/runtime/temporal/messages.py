"""What crosses Temporal's boundary: the workflow's input and result, activity requests,
signal and query names.

Plain dataclasses of JSON-like values, so temporalio's default JSON converter carries
them and both sides of the sandbox (workflow code and activities) can import this module:
it touches nothing but `dataclasses`. Names of activities, signals and queries are
constants here so the workflow can call activities by name without importing
`activities.py`, which touches the world.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CALL_ACTIVITY",
    "EMIT_ACTIVITY",
    "EVENT_SIGNAL",
    "PROGRESS_ACTIVITY",
    "PROGRESS_QUERY",
    "RESUME_SIGNAL",
    "SUSPEND_SIGNAL",
    "WORKFLOW_TYPE",
    "CallRequest",
    "Carried",
    "EmitRequest",
    "ProgressBatch",
    "RunOptions",
    "RunOutcome",
    "RunRequest",
]

#: The one generic workflow type: it interprets whatever document it is given.
WORKFLOW_TYPE = "treadle.run"
CALL_ACTIVITY = "treadle.call"
EMIT_ACTIVITY = "treadle.emit"
PROGRESS_ACTIVITY = "treadle.progress"
EVENT_SIGNAL = "event"
SUSPEND_SIGNAL = "suspend"
RESUME_SIGNAL = "resume"
PROGRESS_QUERY = "progress"


@dataclass
class RunOptions:
    """How the workflow uses Temporal; every field has a production default.

    Attributes:
        call_timeout: start-to-close timeout of one call activity, in seconds. Generous on
            purpose: a task's own `timeout` is enforced by the engine (a timer racing the
            activity, which is then cancelled); this only bounds a call nobody ends.
        heartbeat_timeout: how long a call activity may go without heartbeating (it
            heartbeats on its own while it runs) before Temporal deems its worker lost.
        lost_worker_attempts: how many times Temporal starts a call whose worker was lost
            (heartbeat or start-to-close timeout). Faults the effect reports itself are
            never retried by Temporal: the DSL's `try`/`retry` are the engine's own.
        await_cancelled_calls: when the engine cancels a call (a timeout, a lost race, the
            run cancelled), wait until the activity has stopped, as the embedded runtime
            does (Temporal's WAIT_CANCELLATION_COMPLETED; the activity learns of it at its
            next heartbeat, within a second). Off: abandon it at once (TRY_CANCEL).
        max_concurrent_calls: call activities in flight at once per execution (Temporal
            refuses more than ~2,000 pending activities per workflow).
        continue_as_new_after: history length at which the run continues as new, carrying
            its effect journal; 0 disables it (and the journal).
        report_progress: send observer events in batches through the progress activity
            (the control plane's UpdateStatus when the server runs the worker).
        record_data: keep task inputs and outputs in the records (off: name, path,
            status, times and errors only, for long runs with large data).
    """

    call_timeout: float = 3600.0
    heartbeat_timeout: float = 30.0
    lost_worker_attempts: int = 5
    await_cancelled_calls: bool = True
    max_concurrent_calls: int = 500
    continue_as_new_after: int = 10_000
    report_progress: bool = False
    record_data: bool = True


@dataclass
class Carried:
    """What a run hands to its continuation (continue-as-new).

    Attributes:
        journal: effect key → outcome (`{"r": result}`, `{"e": problem}`, `{"c": True}` for
            a cancelled effect, `{"until": iso}` for a timer still running).
        inbox: events received but not yet consumed, in arrival order.
        tasks: task records so far; decisions: decisions so far; phases: `[phase, iso]`.
        runs: how many runs came before this one.
        batches: how many progress batches were sent before this run.
    """

    journal: dict[str, Any] = field(default_factory=dict)
    inbox: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    phases: list[list[str]] = field(default_factory=list)
    runs: int = 0
    batches: int = 0


@dataclass
class RunRequest:
    """The workflow's input: one execution of one document.

    `secrets` travel in the workflow's history like any input: configure a payload codec
    on the client and worker (temporalio `DataConverter(payload_codec=...)`) to encrypt them.
    """

    execution_id: str
    document: dict[str, Any]
    input: Any = None
    secrets: dict[str, Any] = field(default_factory=dict)
    runtime_info: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    options: RunOptions = field(default_factory=RunOptions)
    carried: Carried | None = None


@dataclass
class RunOutcome:
    """The workflow's result: the engine's `RunResult` plus what the run recorded.

    Times are ISO 8601 strings (UTC); `error` is a problem object.
    """

    execution_id: str
    status: str
    output: Any = None
    error: dict[str, Any] | None = None
    tasks: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    phases: list[list[str]] = field(default_factory=list)
    runs: int = 1


@dataclass
class CallRequest:
    """A `call`/`run` effect for the call activity: `kind`, evaluated `args`, engine `key`."""

    execution_id: str
    kind: str
    args: dict[str, Any]
    key: str


@dataclass
class EmitRequest:
    """An `emit` effect for the emit activity."""

    execution_id: str
    event: dict[str, Any]
    key: str


@dataclass
class ProgressBatch:
    """Observer events since the last batch, in order, for the progress activity.

    Each event is `{"kind": "phase"|"task"|"decision", "at": iso, ...}` (the terminal
    phase also carries the run's `output`); `sequence` counts
    batches within the execution, so a sink can drop a batch it already applied (the
    progress activity is retried by Temporal, unlike calls: it is treadle's own, idempotent).
    """

    execution_id: str
    sequence: int
    events: list[dict[str, Any]]
