"""Building and running a Temporal worker that hosts treadle's workflow and activities.

Several workers on several machines may poll the same task queue: Temporal spreads the
workflow tasks and activities between them, and a workflow whose worker dies is replayed
from its history on another.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from treadle.effects import Dispatcher
from treadle.runtime.temporal.activities import EventSink, TreadleActivities
from treadle.runtime.temporal.progress import ProgressSink
from treadle.runtime.temporal.workflow import TreadleWorkflow

__all__ = ["PASSTHROUGH_MODULES", "build_worker", "run_worker", "sandbox_runner"]

# Modules the workflow sandbox takes from the worker's process instead of re-importing
# them for every run. The treadle ones are deterministic by design (the engine reaches
# the world only through the Effects port; the DSL models and the jq wrapper only compute)
# and re-importing them per run would cost more than the run. `jq` is a C extension
# (the sandbox cannot re-import it; it evaluates fine passed through), as is
# `jsonschema_rs` (the schema's quick check). pydantic (the DSL models), yaml and
# jsonschema (document loading) are pure libraries the models import.
PASSTHROUGH_MODULES = (
    "treadle.errors",
    "treadle.dsl",
    "treadle.expr",
    "treadle.engine",
    "treadle.runtime.temporal.messages",
    "treadle.runtime.temporal.progress",
    "jq",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "yaml",
    "jsonschema",
    "jsonschema_rs",
)


def sandbox_runner() -> SandboxedWorkflowRunner:
    """Temporal's sandbox with treadle's deterministic modules passed through."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def build_worker(
    client: Client,
    task_queue: str,
    activities: TreadleActivities,
    *,
    identity: str | None = None,
    max_concurrent_activities: int = 200,
    sticky_timeout: float = 10.0,
    heartbeat_throttle: float = 1.0,
) -> Worker:
    """A worker hosting `TreadleWorkflow` and `activities` on `task_queue`.

    Args:
        sticky_timeout: how long a workflow task waits on this worker's sticky queue
            before any worker may take it (how fast a dead worker's runs move on).
        heartbeat_throttle: the longest interval between the heartbeats a running call
            sends, and so how late it learns that it was cancelled.
    """
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[TreadleWorkflow],
        activities=activities.all(),
        workflow_runner=sandbox_runner(),
        identity=identity,
        max_concurrent_activities=max_concurrent_activities,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=sticky_timeout),
        max_heartbeat_throttle_interval=timedelta(seconds=heartbeat_throttle),
    )


async def run_worker(
    address: str,
    namespace: str = "default",
    task_queue: str = "treadle",
    *,
    allow_run: bool = False,
    events: EventSink | None = None,
    progress: ProgressSink | None = None,
    identity: str | None = None,
    sticky_timeout: float = 10.0,
    stop: asyncio.Event | None = None,
) -> None:
    """Connect to Temporal at `address` and run a worker until `stop` is set (or cancelled).

    Calls are performed by a `treadle.effects.Dispatcher`; `allow_run` lets
    `run: shell|script|container` start processes on this machine; `events` and
    `progress` receive emitted events and progress batches (see `TreadleActivities`).
    """
    client = await Client.connect(address, namespace=namespace)
    async with Dispatcher(allow_run=allow_run) as dispatcher:
        activities = TreadleActivities(dispatcher.call, events=events, progress=progress)
        worker = build_worker(
            client, task_queue, activities, identity=identity, sticky_timeout=sticky_timeout
        )
        if stop is None:
            await worker.run()
            return
        async with worker:
            await stop.wait()
