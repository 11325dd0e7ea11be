"""The Temporal runtime: the same interpreter inside a Temporal workflow, effects as
activities, Temporal's history as the durability.

Code is split by where it may run (as temporalio itself splits it): `workflow.py` runs in
Temporal's workflow sandbox and holds only deterministic code; `activities.py` touches
the world; `worker.py` hosts both; `client.py` starts and steers runs; `control.py` (the
server's `TemporalRuntime`) and `store.py` (progress into treadle's store) tie runs to the
control plane. The names below are imported lazily, so that the sandbox, which re-imports
`workflow.py` (and so this package) for each run, never imports the activities' HTTP,
process and database code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from treadle.runtime.temporal.activities import EventSink, TreadleActivities
    from treadle.runtime.temporal.client import run_once, start_execution
    from treadle.runtime.temporal.control import TemporalRuntime
    from treadle.runtime.temporal.messages import RunOptions, RunOutcome, RunRequest
    from treadle.runtime.temporal.progress import MemoryProgressSink, ProgressSink
    from treadle.runtime.temporal.store import StoreProgressSink
    from treadle.runtime.temporal.worker import build_worker, run_worker
    from treadle.runtime.temporal.workflow import TreadleWorkflow

__all__ = [
    "EventSink",
    "MemoryProgressSink",
    "ProgressSink",
    "RunOptions",
    "RunOutcome",
    "RunRequest",
    "StoreProgressSink",
    "TemporalRuntime",
    "TreadleActivities",
    "TreadleWorkflow",
    "build_worker",
    "run_once",
    "run_worker",
    "start_execution",
]

_HOMES = {
    "EventSink": "activities",
    "TreadleActivities": "activities",
    "run_once": "client",
    "start_execution": "client",
    "RunOptions": "messages",
    "RunOutcome": "messages",
    "RunRequest": "messages",
    "MemoryProgressSink": "progress",
    "ProgressSink": "progress",
    "StoreProgressSink": "store",
    "TemporalRuntime": "control",
    "build_worker": "worker",
    "run_worker": "worker",
    "TreadleWorkflow": "workflow",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
