"""One-shot runs, signals, queries and cancellation of runs on Temporal."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from tests.temporal.devserver import DevServer, Harness
from treadle.dsl import InvalidDocument, parse
from treadle.runtime.memory import run_document
from treadle.runtime.temporal.client import (
    cancel,
    progress,
    resume,
    run_once,
    send_event,
    start_execution,
    suspend,
)
from treadle.runtime.temporal.messages import RunOptions

HEADER = "document: {dsl: '1.0.3', namespace: test, name: temporal, version: '0.1.0'}\n"

HELLO = (
    HEADER
    + """
do:
  - greet:
      set: {greeting: '${ "hello " + .name }'}
  - shout:
      set: {greeting: '${ .greeting | ascii_upcase }'}
"""
)

PROBE = (
    HEADER
    + """
do:
  - first:
      call: probe
  - second:
      call: probe
"""
)

LISTEN = (
    HEADER
    + """
do:
  - paid:
      listen:
        to:
          one:
            with: {type: paid}
"""
)

LONG_WAIT = (
    HEADER
    + """
do:
  - started:
      set: {started: true}
  - long:
      wait: PT30S
"""
)


class Probe:
    """Counts calls; answers `{"by": name, "n": count}`."""

    def __init__(self, name: str = "probe") -> None:
        self.name = name
        self.calls = 0

    async def __call__(self, kind: str, args: Mapping[str, Any], key: str) -> Any:
        self.calls += 1
        return {"by": self.name, "n": self.calls}


def queue() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


async def test_run_once_returns_what_the_embedded_run_returns(temporal_server: DevServer) -> None:
    execution_id = f"wex-{uuid.uuid4().hex}"
    result, observer = await run_once(
        HELLO,
        {"name": "world"},
        address=temporal_server.address,
        task_queue=queue(),
        execution_id=execution_id,
        worker="always",
    )
    expected, expected_observer = await run_document(parse(HELLO), {"name": "world"})
    assert result == expected
    assert [(t["name"], t["path"], t["status"]) for t in observer.tasks] == [
        (t["name"], t["path"], t["status"]) for t in expected_observer.tasks
    ]
    for task in observer.tasks:
        assert isinstance(task["started_at"], datetime)
        assert task["started_at"] <= task["completed_at"]
    assert [phase for phase, _ in observer.phases] == ["pending", "running", "completed"]
    client = await Client.connect(temporal_server.address)
    description = await client.get_workflow_handle(execution_id).describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
    assert description.workflow_type == "treadle.run"


async def test_run_once_rejects_an_invalid_document_before_starting(temporal_server: DevServer) -> None:
    with pytest.raises(InvalidDocument):
        await run_once(
            HEADER + "do:\n  - broken:\n      then: nowhere\n",
            address=temporal_server.address,
            task_queue=queue(),
            worker="never",
        )


async def test_run_once_uses_the_running_worker_when_one_polls(harness: Harness) -> None:
    execution_id = f"wex-{uuid.uuid4().hex}"
    harness.handlers[execution_id] = Probe("session worker")
    try:
        result, _ = await run_once(
            PROBE,
            address=harness.server.address,
            task_queue=harness.task_queue,
            execution_id=execution_id,
            worker="auto",
            call_handler=Probe("in-process worker"),
        )
    finally:
        harness.handlers.pop(execution_id)
    assert result.output == {"by": "session worker", "n": 2}


async def test_the_event_signal_reaches_a_listen(harness: Harness) -> None:
    async def scenario() -> Any:
        handle = await start_execution(harness.client, LISTEN, task_queue=harness.task_queue)
        await send_event(harness.client, handle.id, {"type": "ignored"})
        await send_event(harness.client, handle.id, {"type": "paid", "data": {"order": 7}})
        return await handle.result()

    outcome = await harness.submit(scenario())
    assert outcome.status == "completed"
    assert outcome.output == [{"order": 7}]


async def test_suspend_holds_new_effects_until_resume(harness: Harness) -> None:
    probe = Probe()
    execution_id = f"wex-{uuid.uuid4().hex}"

    async def scenario() -> tuple[Any, dict[str, Any], int]:
        harness.handlers[execution_id] = probe
        handle = await start_execution(
            harness.client, PROBE, task_queue=harness.task_queue, execution_id=execution_id
        )
        await suspend(harness.client, handle.id)
        await asyncio.sleep(0.5)
        held = await progress(harness.client, handle.id)
        calls_while_suspended = probe.calls
        await asyncio.sleep(0.3)
        assert probe.calls == calls_while_suspended
        await resume(harness.client, handle.id)
        return await handle.result(), held, calls_while_suspended

    outcome, held, calls_while_suspended = await harness.submit(scenario())
    assert held["status"] == "suspended"
    assert calls_while_suspended < 2
    assert outcome.status == "completed"
    assert probe.calls == 2
    assert [phase for phase, _ in outcome.phases] == [
        "pending",
        "running",
        "suspended",
        "running",
        "completed",
    ]


async def test_cancelling_the_workflow_ends_the_run_cancelled(harness: Harness) -> None:
    async def scenario() -> Any:
        handle = await start_execution(harness.client, LONG_WAIT, task_queue=harness.task_queue)
        while len((await progress(harness.client, handle.id))["tasks"]) < 2:
            await asyncio.sleep(0.05)
        await cancel(harness.client, handle.id)
        return await handle.result()

    outcome = await harness.submit(scenario())
    assert outcome.status == "cancelled"
    assert [(t["name"], t["status"]) for t in outcome.tasks] == [
        ("started", "completed"),
        ("long", "cancelled"),
    ]


async def test_progress_reaches_the_sink_in_batches(harness: Harness) -> None:
    async def scenario() -> Any:
        handle = await start_execution(
            harness.client, HELLO, {"name": "x"}, task_queue=harness.task_queue,
            options=RunOptions(report_progress=True),
        )  # fmt: skip
        return await handle.result()

    outcome = await harness.submit(scenario())
    events = harness.progress.events[outcome.execution_id]
    assert [e["phase"] for e in events if e["kind"] == "phase"] == ["pending", "running", "completed"]
    assert [(e["name"], e["status"]) for e in events if e["kind"] == "task"] == [
        ("greet", "running"),
        ("greet", "completed"),
        ("shout", "running"),
        ("shout", "completed"),
    ]
