"""Starting, steering and awaiting treadle runs on Temporal.

`run_once` is `treadle run --runtime temporal`: it starts one execution (the workflow id
is the execution id), runs an in-process worker when no worker polls the task queue, and
returns what the embedded runtime returns (`RunResult` and a `RecordingObserver` holding
the task records), so the CLI prints the same contract on both runtimes. The other
functions are what the control plane maps its operations to.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any, Literal

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHandle
from ulid import ULID

from treadle.dsl import Workflow, parse
from treadle.dsl.models import build_workflow
from treadle.effects import Dispatcher
from treadle.engine import RunResult, WorkflowError
from treadle.runtime.memory import RecordingObserver
from treadle.runtime.temporal.activities import CallHandler, TreadleActivities
from treadle.runtime.temporal.messages import (
    EVENT_SIGNAL,
    PROGRESS_QUERY,
    RESUME_SIGNAL,
    SUSPEND_SIGNAL,
    WORKFLOW_TYPE,
    RunOptions,
    RunOutcome,
    RunRequest,
)
from treadle.runtime.temporal.worker import build_worker

__all__ = [
    "cancel",
    "has_worker",
    "progress",
    "recorded",
    "resume",
    "run_once",
    "send_event",
    "start_execution",
    "suspend",
]

WorkerMode = Literal["auto", "always", "never"]


def _document(document: str | Mapping[str, Any] | Workflow) -> dict[str, Any]:
    """The raw document of YAML/JSON text, a mapping or a built model (validated)."""
    if isinstance(document, Workflow):
        return document.definition
    if isinstance(document, str):
        return parse(document).definition
    build_workflow(dict(document))
    return dict(document)


async def start_execution(
    client: Client,
    document: str | Mapping[str, Any] | Workflow,
    input: Any = None,
    *,
    task_queue: str,
    execution_id: str | None = None,
    secrets: Mapping[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    runtime_info: Mapping[str, Any] | None = None,
    options: RunOptions | None = None,
) -> WorkflowHandle[Any, RunOutcome]:
    """Start one execution; its Temporal workflow id is the execution id.

    Raises:
        treadle.dsl.InvalidDocument: the document is not valid.
    """
    request = RunRequest(
        execution_id=execution_id or f"wex-{ULID()}",
        document=_document(document),
        input={} if input is None else input,
        secrets=dict(secrets or {}),
        runtime_info=dict(runtime_info or {}),
        events=list(events or []),
        options=options or RunOptions(),
    )
    return await client.start_workflow(
        WORKFLOW_TYPE, request, id=request.execution_id, task_queue=task_queue, result_type=RunOutcome
    )


async def send_event(client: Client, execution_id: str, event: Mapping[str, Any]) -> None:
    """Deliver a CloudEvent to the execution's `listen` tasks."""
    await client.get_workflow_handle(execution_id).signal(EVENT_SIGNAL, dict(event))


async def suspend(client: Client, execution_id: str) -> None:
    """Hold the execution's new effects until `resume`."""
    await client.get_workflow_handle(execution_id).signal(SUSPEND_SIGNAL)


async def resume(client: Client, execution_id: str) -> None:
    """Resume a suspended execution."""
    await client.get_workflow_handle(execution_id).signal(RESUME_SIGNAL)


async def cancel(client: Client, execution_id: str) -> None:
    """Cancel the execution (Temporal cancellation; the run ends `cancelled`)."""
    await client.get_workflow_handle(execution_id).cancel()


async def progress(client: Client, execution_id: str) -> dict[str, Any]:
    """What the execution recorded so far: `status`, `tasks`, `decisions`, `phases`, `runs`."""
    result: dict[str, Any] = await client.get_workflow_handle(execution_id).query(PROGRESS_QUERY)
    return result


async def has_worker(client: Client, task_queue: str) -> bool:
    """Whether some worker polls `task_queue` for workflow tasks.

    Temporal lists a poller for a while after its worker stopped, so a worker that just
    died still counts.
    """
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return bool(response.pollers)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def recorded(outcome: RunOutcome) -> tuple[RunResult, RecordingObserver]:
    """The workflow's result as the embedded runtime returns it: times as datetimes."""
    error = WorkflowError.from_problem(outcome.error) if outcome.error is not None else None
    status: Any = outcome.status
    result = RunResult(status, output=outcome.output, error=error)
    observer = RecordingObserver()
    observer.phases = [(phase, datetime.fromisoformat(at)) for phase, at in outcome.phases]  # type: ignore[misc]
    observer.tasks = [
        {**task, "started_at": _time(task["started_at"]), "completed_at": _time(task["completed_at"])}
        for task in outcome.tasks
    ]
    observer.decisions = [{**decision, "at": _time(decision["at"])} for decision in outcome.decisions]
    observer.error = error
    return result, observer


@contextlib.asynccontextmanager
async def _worker_if_needed(
    client: Client, task_queue: str, mode: WorkerMode, call_handler: CallHandler | None, allow_run: bool
) -> AsyncIterator[None]:
    if mode == "never" or (mode == "auto" and await has_worker(client, task_queue)):
        yield
        return
    async with contextlib.AsyncExitStack() as stack:
        if call_handler is None:
            dispatcher = await stack.enter_async_context(Dispatcher(allow_run=allow_run))
            call_handler = dispatcher.call
        worker = build_worker(client, task_queue, TreadleActivities(call_handler))
        await stack.enter_async_context(worker)
        yield


async def run_once(
    document: str | Mapping[str, Any] | Workflow,
    input: Any = None,
    *,
    address: str,
    namespace: str = "default",
    task_queue: str = "treadle",
    execution_id: str | None = None,
    secrets: Mapping[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    runtime_info: Mapping[str, Any] | None = None,
    options: RunOptions | None = None,
    worker: WorkerMode = "auto",
    allow_run: bool = False,
    call_handler: CallHandler | None = None,
    client: Client | None = None,
) -> tuple[RunResult, RecordingObserver]:
    """Run `document` once on Temporal and wait for it, like the embedded `run_document`.

    Args:
        worker: "auto" runs an in-process worker when no worker polls `task_queue`,
            "always"/"never" force it.
        allow_run, call_handler: the in-process worker's effects (default: a `Dispatcher`).
        client: a connected client (else one connects to `address`, `namespace`).

    Cancelling the awaiting task cancels the execution and returns its cancelled result.
    Pass `execution_id` (e.g. `wex-<ULID>`, as the embedded run makes) to know the id the
    output contract prints; one is made when it is not given.

    Raises:
        treadle.dsl.InvalidDocument: the document is not valid.
    """
    client = client or await Client.connect(address, namespace=namespace)
    async with _worker_if_needed(client, task_queue, worker, call_handler, allow_run):
        handle = await start_execution(
            client,
            document,
            input,
            task_queue=task_queue,
            execution_id=execution_id,
            secrets=secrets,
            events=events,
            runtime_info=runtime_info,
            options=options,
        )
        try:
            outcome = await asyncio.shield(handle.result())
        except asyncio.CancelledError:
            await handle.cancel()
            outcome = await handle.result()
    return recorded(outcome)
