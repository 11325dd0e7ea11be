"""`run_workflow`: one run of a workflow, from raw input to a `RunResult`.

The workflow is run as the root of the task tree: a `do` of the document's tasks with
the workflow's `input` (schema, then `from`), `output` (`as`, then schema) and
`timeout`, so the same pipeline as any task applies. Whatever happens inside ends up in
the result: a `WorkflowError` makes it `faulted` with the problem object, any other
exception a runtime error, and cancellation from outside makes it `cancelled`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from treadle.dsl.models import DoTask, TaskEntry, Workflow
from treadle.engine import runners as _runners  # noqa: F401  (fills the dispatch table)
from treadle.engine.effects import Effects
from treadle.engine.errors import WorkflowError, runtime_error
from treadle.engine.flow import run_task
from treadle.engine.observer import NullObserver, Observer
from treadle.engine.state import RunState, Scope, date_time_descriptor

__all__ = ["RUNTIME_NAME", "RUNTIME_VERSION", "RunResult", "RunStatus", "run_workflow"]

RUNTIME_NAME = "treadle"
RUNTIME_VERSION = "0.1.0"

RunStatus = Literal["completed", "faulted", "cancelled"]


@dataclass(frozen=True)
class RunResult:
    """How a run ended: its status, its output (completed) or its error (faulted)."""

    status: RunStatus
    output: Any = None
    error: WorkflowError | None = None


async def run_workflow(
    workflow: Workflow,
    input: Any,
    effects: Effects,
    *,
    execution_id: str,
    observer: Observer | None = None,
    secrets: Mapping[str, Any] | None = None,
    runtime_info: Mapping[str, Any] | None = None,
) -> RunResult:
    """Run `workflow` on `input`, performing every side effect through `effects`.

    Args:
        workflow: the built document (`treadle.dsl.models.build_workflow`).
        input: the raw workflow input (JSON-like).
        effects: the port the runtime provides.
        execution_id: the run's id (`$workflow.id`).
        observer: told about phases, tasks and decisions as they happen.
        secrets: the values of `$secrets`.
        runtime_info: merged into `$runtime` (`name`, `version`, `metadata`).

    Never raises for a workflow fault; returns the faulted result instead.
    """
    watcher: Observer = observer if observer is not None else NullObserver()
    watcher.on_phase("pending")
    state = _initial_state(workflow, input, effects, watcher, execution_id, secrets, runtime_info)
    try:
        watcher.on_phase("running")
        output = await _run_root(state, input)
    except WorkflowError as error:
        watcher.on_phase("faulted", error)
        return RunResult("faulted", error=error)
    except asyncio.CancelledError:
        watcher.on_phase("cancelled")
        return RunResult("cancelled")
    except Exception as unexpected:  # a bug: still a fault with a problem object, not a traceback
        fault = runtime_error(f"{type(unexpected).__name__}: {unexpected}")
        watcher.on_phase("faulted", fault)
        return RunResult("faulted", error=fault)
    watcher.on_phase("completed")
    return RunResult("completed", output=output)


def _initial_state(
    workflow: Workflow,
    raw_input: Any,
    effects: Effects,
    observer: Observer,
    execution_id: str,
    secrets: Mapping[str, Any] | None,
    runtime_info: Mapping[str, Any] | None,
) -> RunState:
    runtime: dict[str, Any] = {"name": RUNTIME_NAME, "version": RUNTIME_VERSION, "metadata": {}}
    runtime.update(runtime_info or {})
    references = workflow.references
    return RunState(
        workflow=workflow,
        effects=effects,
        observer=observer,
        execution_id=execution_id,
        secrets=dict(secrets or {}),
        runtime=runtime,
        workflow_descriptor={"id": execution_id, "definition": workflow.definition, "input": raw_input},
        context={},
        needs_task_descriptor="task" in references,
        needs_started_at="startedAt" in references and "task" in references,
    )


async def _run_root(state: RunState, raw_input: Any) -> Any:
    workflow = state.workflow
    scope = Scope(state)
    if "startedAt" in workflow.references and "workflow" in workflow.references:
        started = await state.effects.now(scope.key(""))
        state.workflow_descriptor["startedAt"] = date_time_descriptor(started)
    root = TaskEntry(
        name=workflow.document.name,
        pointer="",
        task=DoTask(do=workflow.do, input=workflow.input, output=workflow.output, timeout=workflow.timeout),
        definition=workflow.definition,
    )
    outcome = await run_task(root, raw_input, scope, silent=True)
    return outcome.output
