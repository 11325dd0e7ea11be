"""Helpers for engine tests: build a document from YAML and run it, on each runtime.

The `run` fixture is parametrized over `memory` (the in-process runtime of `treadle
run`) and `temporal` (the same document as a Temporal workflow on the session's dev
server, through the session's in-process worker), so every behaviour test runs on both.
On Temporal the test's call handler is registered under the execution id the activities
look it up by; events published on a test's `MemoryEffects` bus before the run are
delivered as the run's initial events, and what the run emits is appended to the bus's
`published`. A test that brings its own `Effects` implementation (a `MemoryEffects`
subclass) tests that implementation, not the engine on a runtime: it is skipped on
Temporal with that reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
import yaml

from tests.temporal.devserver import shared_harness
from treadle.dsl.models import Workflow, build_workflow
from treadle.engine import RunResult
from treadle.runtime.memory import CallHandler, MemoryEffects, RecordingObserver, run_document
from treadle.runtime.temporal.client import recorded, start_execution
from treadle.runtime.temporal.messages import RunOptions

HEADER = "document: {dsl: '1.0.3', namespace: test, name: test, version: '0.1.0'}\n"

Run = Callable[..., Awaitable[tuple[RunResult, RecordingObserver]]]

RUNTIMES = [pytest.param("memory"), pytest.param("temporal", marks=pytest.mark.temporal)]

# Tests whose assertion depends on a timing Temporal cannot give, and why. Their memory
# variant runs; the temporal one is skipped with the reason, never silently.
NOT_ON_TEMPORAL = {
    "test_fork.py::test_fork_outputs_every_branch_in_declaration_order": (
        "compares completion times 30 ms apart: on Temporal a task's time is its workflow "
        "task's (workflow.now()), and both completions may arrive in one workflow task"
    ),
    "test_fork.py::test_a_faulted_branch_cancels_its_siblings_and_faults_the_fork": (
        "asserts the sibling's call handler saw its cancellation: on Temporal the sibling is "
        "cancelled in the same workflow task that schedules its activity, which then never starts"
    ),
    "test_retry.py::test_retry_stops_once_the_total_duration_would_be_exceeded": (
        "a 30 ms total retry budget: one activity round trip through the Temporal server "
        "takes about as long, so fewer attempts fit"
    ),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("runtime") != "temporal":
            continue
        reason = NOT_ON_TEMPORAL.get(f"{item.path.name}::{item.originalname}")  # type: ignore[attr-defined]
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"not on Temporal: {reason}"))


def build(text: str) -> Workflow:
    """Build a workflow from YAML, adding the `document` header when it is missing."""
    document = yaml.safe_load(text)
    if "document" not in document:
        document = yaml.safe_load(HEADER + text)
    return build_workflow(document)


@pytest.fixture(params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    """The runtime a test runs on: `memory` or `temporal`."""
    return str(request.param)


@pytest.fixture
def run(runtime: str, request: pytest.FixtureRequest) -> Run:
    if runtime == "temporal":
        return _temporal_run(request)

    async def run_text(
        text: str,
        input: Any = None,
        *,
        call_handler: CallHandler | None = None,
        secrets: Mapping[str, Any] | None = None,
        effects: MemoryEffects | None = None,
    ) -> tuple[RunResult, RecordingObserver]:
        return await run_document(
            build(text),
            {} if input is None else input,
            call_handler=call_handler,
            secrets=secrets,
            effects=effects,
        )

    return run_text


def _temporal_run(request: pytest.FixtureRequest) -> Run:
    harness = shared_harness(request)

    async def run_text(
        text: str,
        input: Any = None,
        *,
        call_handler: CallHandler | None = None,
        secrets: Mapping[str, Any] | None = None,
        effects: MemoryEffects | None = None,
    ) -> tuple[RunResult, RecordingObserver]:
        if effects is not None and type(effects) is not MemoryEffects:
            pytest.skip(
                f"brings its own Effects implementation ({type(effects).__name__}): "
                "on Temporal the port is TemporalEffects"
            )
        execution_id = f"wex-test-{uuid.uuid4().hex}"
        events = [dict(event) for event in effects.bus.published] if effects is not None else []
        if call_handler is not None:
            harness.handlers[execution_id] = call_handler
        if effects is not None:
            harness.buses[execution_id] = effects.bus

        async def start_and_wait() -> Any:
            handle = await start_execution(
                harness.client,
                build(text),
                {} if input is None else input,
                task_queue=harness.task_queue,
                execution_id=execution_id,
                secrets=secrets,
                events=events,
                # Short enough that a test's leftover activity never holds the worker long.
                options=RunOptions(call_timeout=60, heartbeat_timeout=10),
            )
            return await handle.result()

        try:
            outcome = await harness.submit(start_and_wait())
        finally:
            harness.handlers.pop(execution_id, None)
            harness.buses.pop(execution_id, None)
        return recorded(outcome)

    return run_text


def statuses(observer: RecordingObserver) -> list[tuple[str, str]]:
    """(position, status) of each task record, in start order."""
    return [(task["position"], task["status"]) for task in observer.tasks]
