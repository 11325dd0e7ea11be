"""Cancel, suspend and resume, the workflow timeout, waits that unload, listens woken by events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.runtime.conftest import create_execution, create_workflow, document, running, wait_for
from treadle.resources import (
    ExecutionContext,
    FailedPrecondition,
    ListQuery,
    ResourceService,
    WorkflowExecution,
)
from treadle.store import Store


class SlowServer:
    """An HTTP server that never answers: it records requests and notices aborted ones."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.aborted = asyncio.Event()
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.arrived.set()
        if await reader.read(1) == b"":
            self.aborted.set()
        writer.close()


@contextlib.asynccontextmanager
async def slow_server() -> AsyncIterator[SlowServer]:
    state = SlowServer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield state
    finally:
        server.close()


def _slow_call(url: str) -> dict[str, Any]:
    return {"hang": {"call": "http", "with": {"method": "get", "endpoint": url}}}


async def test_cancel_aborts_the_http_call_in_flight(service: ResourceService, store: Store) -> None:
    async with slow_server() as slow:
        caught = {"try": {"try": [_slow_call(slow.url)], "catch": {"do": [{"caught": {"set": {"x": 1}}}]}}}
        workflow_id = create_workflow(service, document([caught]))
        execution_id = create_execution(service, workflow_id)
        async with running(service) as runtime:
            await asyncio.wait_for(slow.arrived.wait(), 10)
            runtime.cancel(execution_id)
            execution = await wait_for(service, execution_id, timeout=5)
            await asyncio.wait_for(slow.aborted.wait(), 5)
    assert execution.status.phase == "cancelled"
    with store.begin(write=False) as tx:
        journal = tx.journal.read(execution_id)
    assert "task.completed" not in [e.type for e in journal]  # no catch ran
    assert journal[-1].data == {"phase": "cancelled"}
    with pytest.raises(FailedPrecondition):
        runtime.cancel(execution_id)


async def test_cancel_a_waiting_execution_and_its_contexts_go(service: ResourceService, store: Store) -> None:
    workflow_id = create_workflow(service, document([{"nap": {"wait": {"seconds": 30}}}]))
    execution_id = create_execution(service, workflow_id)
    service.create(
        ExecutionContext.model_validate(
            {
                "spec": {
                    "execution_id": execution_id,
                    "data": {"token": {"value": "s3cret", "is_secret": True}},
                }
            }
        )
    )
    async with running(service) as runtime:
        await wait_for(service, execution_id, {"waiting"})
        execution = runtime.cancel(execution_id)
        assert execution.status.phase == "cancelled"
    contexts = service.list(ExecutionContext, ListQuery(execution_id=execution_id))
    assert contexts.total == 0
    with store.begin(write=False) as tx:
        assert tx.runtime.get_run(execution_id) is None


async def test_cancel_from_another_process_goes_through_the_store(service: ResourceService) -> None:
    workflow_id = create_workflow(service, document([{"spin": {"wait": {"milliseconds": 200}}}] * 1))
    async with slow_server() as slow:
        workflow_id = create_workflow(service, document([_slow_call(slow.url)], name="other"))
        execution_id = create_execution(service, workflow_id)
        async with running(service) as worker:
            await asyncio.wait_for(slow.arrived.wait(), 10)
            # A runtime that does not hold the execution (the API's process) asks.
            bystander = type(worker)(service, worker.settings, worker_id="api")
            bystander.cancel(execution_id)
            execution = await wait_for(service, execution_id, timeout=3)
    assert execution.status.phase == "cancelled"


async def test_suspend_then_resume_continues_where_it_paused(service: ResourceService, store: Store) -> None:
    steps = [{f"s{i}": {"wait": {"milliseconds": 100}}} for i in range(6)]
    workflow_id = create_workflow(service, document([*steps, {"done": {"set": {"ok": True}}}]))
    execution_id = create_execution(service, workflow_id)
    async with running(service) as runtime:
        await wait_for(service, execution_id, {"running"})
        await asyncio.sleep(0.15)
        runtime.suspend(execution_id)
        suspended = await wait_for(service, execution_id, {"suspended"}, timeout=5)
        done_before = sum(1 for t in suspended.status.tasks if t.phase == "completed")
        await asyncio.sleep(0.5)
        assert (
            await asyncio.to_thread(service.get, WorkflowExecution, execution_id)
        ).status.phase == "suspended"
        runtime.resume(execution_id)
        execution = await wait_for(service, execution_id)
    assert execution.status.phase == "completed"
    assert execution.status.output == {"ok": True}
    assert done_before < 7
    with store.begin(write=False) as tx:
        stages = tx.stages.list(execution_id)
    assert sorted(s.node for s in stages) == sorted([f"/do/{i}/s{i}" for i in range(6)] + ["/do/6/done"])


async def test_resume_refuses_an_execution_that_is_not_suspended(service: ResourceService) -> None:
    workflow_id = create_workflow(service, document([{"nap": {"wait": {"seconds": 30}}}]))
    execution_id = create_execution(service, workflow_id)
    async with running(service) as runtime:
        await wait_for(service, execution_id, {"waiting"})
        with pytest.raises(FailedPrecondition):
            runtime.resume(execution_id)
        runtime.suspend(execution_id)
        assert (await wait_for(service, execution_id, {"suspended"})).status.phase == "suspended"
        runtime.resume(execution_id)
        await wait_for(service, execution_id, {"waiting"})
        runtime.cancel(execution_id)


async def test_the_workflow_timeout_faults_a_long_wait(service: ResourceService) -> None:
    doc = document([{"nap": {"wait": {"seconds": 30}}}], timeout={"after": {"milliseconds": 600}})
    workflow_id = create_workflow(service, doc)
    execution_id = create_execution(service, workflow_id)
    async with running(service):
        execution = await wait_for(service, execution_id, timeout=10)
    assert execution.status.phase == "faulted"
    assert execution.status.error is not None and execution.status.error["status"] == 408


async def test_a_long_wait_unloads_and_a_timer_wakes_it(service: ResourceService, store: Store) -> None:
    doc = document([{"nap": {"wait": {"milliseconds": 700}}}, {"after": {"set": {"woke": True}}}])
    workflow_id = create_workflow(service, doc)
    execution_id = create_execution(service, workflow_id)
    async with running(service) as runtime:
        await wait_for(service, execution_id, {"waiting"})
        assert execution_id not in runtime.worker.runs  # unloaded: nothing held in memory
        with store.begin(write=False) as tx:
            run = tx.runtime.get_run(execution_id)
        assert run is not None and run["state"] == "waiting" and run["wake_at"] is not None
        execution = await wait_for(service, execution_id)
    assert execution.status.output == {"woke": True}
    with store.begin(write=False) as tx:
        phases = [e.data["phase"] for e in tx.journal.read(execution_id) if e.type == "phase"]
    assert phases == ["running", "waiting", "running", "completed"]


LISTEN = document(
    [
        {
            "hear": {
                "listen": {
                    "to": {"one": {"with": {"type": "com.example.order", "data": {"id": "${ . == 7 }"}}}}
                }
            }
        },
        {"after": {"set": {"got": "${ .[0].id }"}}},
    ],
    name="listener",
)


async def test_listen_unloads_and_deliver_event_wakes_it(service: ResourceService) -> None:
    workflow_id = create_workflow(service, LISTEN)
    execution_id = create_execution(service, workflow_id)
    async with running(service) as runtime:
        await wait_for(service, execution_id, {"waiting"})
        assert runtime.deliver_event({"type": "com.example.order", "data": {"id": 3}}) == []
        woke = runtime.deliver_event(
            {"specversion": "1.0", "id": "e1", "type": "com.example.order", "data": {"id": 7}}
        )
        assert woke == [execution_id]
        execution = await wait_for(service, execution_id)
    assert execution.status.output == {"got": 7}


async def test_an_event_reaches_a_listen_while_it_is_loaded(service: ResourceService) -> None:
    workflow_id = create_workflow(service, LISTEN)
    execution_id = create_execution(service, workflow_id)
    async with running(service, unload_after_seconds=60) as runtime:
        await wait_for(service, execution_id, {"running"})
        for _ in range(100):
            if runtime.deliver_event({"type": "com.example.order", "data": {"id": 7}}):
                break
            await asyncio.sleep(0.02)
        execution = await wait_for(service, execution_id)
    assert execution.status.output == {"got": 7}


async def test_a_listen_that_timed_out_stops_taking_events(service: ResourceService, store: Store) -> None:
    doc = document(
        [
            {
                "guarded": {
                    "try": [
                        {
                            "hear": {
                                "listen": {"to": {"one": {"with": {"type": "com.example.order"}}}},
                                "timeout": {"after": {"milliseconds": 200}},
                            }
                        }
                    ],
                    "catch": {"as": "error"},
                }
            },
            {"nap": {"wait": {"seconds": 30}}},
        ],
        name="impatient",
    )
    workflow_id = create_workflow(service, doc)
    execution_id = create_execution(service, workflow_id)
    async with running(service) as runtime:
        await wait_for(service, execution_id, {"waiting"})  # timed out, caught, napping
        with store.begin(write=False) as tx:
            left = [
                s
                for s in tx.runtime.subscriptions_for("com.example.order")
                if s["execution_id"] == execution_id
            ]
        assert left == []
        assert runtime.deliver_event({"type": "com.example.order", "data": {}}) == []
        with store.begin(write=False) as tx:
            stages = [(s.node, s.status) for s in tx.stages.list(execution_id)]
        assert ("/do/0/guarded/try/0/hear", "faulted") in stages
