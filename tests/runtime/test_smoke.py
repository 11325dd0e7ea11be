"""A first run end to end: pending → running → completed, with records."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import event

from tests.runtime.conftest import (
    FAST,
    Counter,
    create_execution,
    create_workflow,
    document,
    running,
    wait_for,
)
from treadle.resources import NotFound, ResourceService, WorkflowExecution
from treadle.runtime.local import LocalRuntime
from treadle.store import Store


async def test_a_chain_of_calls_completes(service: ResourceService, store: Store, counter: Counter) -> None:
    doc = document(
        [
            {
                "one": {
                    "call": "http",
                    "with": {"method": "post", "endpoint": counter.url, "body": {"value": "${ .value }"}},
                }
            },
            {
                "two": {
                    "call": "http",
                    "with": {"method": "post", "endpoint": counter.url, "body": {"value": "${ .value }"}},
                }
            },
            {"three": {"set": {"result": "${ .value }"}}},
        ]
    )
    wid = create_workflow(service, doc)
    eid = create_execution(service, wid, {"value": 1})
    async with running(service) as runtime:
        runtime.wake()
        execution = await wait_for(service, eid)
    assert execution.status.phase == "completed", execution.status.error
    assert execution.status.output == {"result": 3}
    with store.begin(write=False) as tx:
        journal = tx.journal.read(eid)
        stages = tx.stages.list(eid)
    print([(e.type, e.data) for e in journal])
    assert [s.node for s in stages] == ["/do/0/one", "/do/1/two", "/do/2/three"]
    # `running` is written once, by the claim, before anything the run itself journals.
    phases = [(e.seq, e.data["phase"]) for e in journal if e.type == "phase"]
    assert phases == [(1, "running"), (journal[-1].seq, "completed")]
    assert [task.phase for task in execution.status.tasks] == ["completed"] * 3
    assert all(k.startswith(eid + "/") for k in counter.requests)


async def test_wait_returns_the_ended_execution(service: ResourceService) -> None:
    wid = create_workflow(service, document([{"double": {"set": {"x": "${ .x * 2 }"}}}]))
    eid = create_execution(service, wid, {"x": 21})
    async with running(service) as runtime:
        runtime.wake()
        execution = await runtime.wait(eid, timeout=20)
        assert execution.status.phase == "completed"
        assert execution.status.output == {"x": 42}
        again = await runtime.wait(eid)  # already ended: answered from the store
        assert again.metadata.version == execution.metadata.version


async def test_wait_hands_over_a_run_that_ends_here_as_a_read_would_give_it(
    service: ResourceService, store: Store
) -> None:
    doc = document(
        [
            {"double": {"set": {"x": "${ .x * 2 }"}}},
            {"greet": {"set": {"x": "${ .x }", "pin": "${ $secrets.pin }"}}},
        ]
    )
    wid = create_workflow(service, doc)
    reads: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def count_reads(conn: object, cursor: object, statement: str, *args: object) -> None:
        # A read of the execution outside the runtime's own threads (its writer's is one).
        thread = threading.current_thread().name
        reads_body = statement.startswith("SELECT") and "workflow_executions.body" in statement
        if reads_body and not thread.startswith("treadle-"):
            reads.append(statement)

    async with running(service) as runtime:
        await asyncio.sleep(0.2)  # a tick found the queue drained: the next run is taken as created
        eid = await asyncio.to_thread(
            create_execution,
            service,
            wid,
            {"x": 21},
            runtime_env={"pin": {"value": 1234, "is_secret": True}},
            labels={"team": "a"},
        )
        assert eid in runtime.worker.runs
        execution = await runtime.wait(eid, timeout=20)
    event.remove(store.engine, "before_cursor_execute", count_reads)
    assert reads == []
    assert execution.status.output == {"x": 42, "pin": "***"}
    assert execution.model_dump() == service.get(WorkflowExecution, eid).model_dump()


async def test_wait_sees_a_run_another_runtime_ends(service: ResourceService) -> None:
    wid = create_workflow(service, document([{"pause": {"wait": {"milliseconds": 200}}}]))
    eid = create_execution(service, wid)
    idle = LocalRuntime(service, FAST)  # never started: only reads the store
    async with running(service):
        execution = await idle.wait(eid, timeout=20)
    assert execution.status.phase == "completed"


async def test_wait_says_when_it_gives_up_or_there_is_nothing(service: ResourceService) -> None:
    wid = create_workflow(service, document([{"pause": {"wait": {"seconds": 60}}}]))
    eid = create_execution(service, wid)
    async with running(service) as runtime:
        with pytest.raises(TimeoutError, match=eid):
            await runtime.wait(eid, timeout=0.2)
        with pytest.raises(NotFound):
            await runtime.wait("wex-nothing")
        runtime.cancel(eid)
        assert (await runtime.wait(eid, timeout=20)).status.phase == "cancelled"


async def test_observations_without_an_effect_after_them_are_written_within_the_ride_along_delay(
    service: ResourceService, store: Store, counter: Counter
) -> None:
    # The call's commit leaves the ride-along timer armed for an earlier due time; the
    # entries buffered after it (the call's `task.completed`, the wait's `task.started`)
    # must still be written then, not with the wait's result a second later.
    call = {"call": "http", "with": {"method": "post", "endpoint": counter.url, "body": {}}}
    doc = document([{"one": call}, {"pause": {"wait": {"seconds": 1}}}])
    wid = create_workflow(service, doc)
    eid = create_execution(service, wid)
    async with running(service, unload_after_seconds=30.0) as runtime:
        runtime.wake()
        seen: list[tuple[str, str | None]] = []
        deadline = time.monotonic() + 0.8
        while time.monotonic() < deadline and ("task.started", "/do/1/pause") not in seen:
            with store.begin(write=False) as tx:
                seen = [(e.type, (e.data or {}).get("path")) for e in tx.journal.read(eid)]
            await asyncio.sleep(0.01)
        assert ("task.completed", "/do/0/one") in seen
        assert ("task.started", "/do/1/pause") in seen
        assert ("phase", None) not in seen[1:]  # still running: only the first `running` entry
        execution = await runtime.wait(eid, timeout=20)
    assert execution.status.phase == "completed"


async def test_records_redact_secrets_as_treadle_run_does(service: ResourceService, store: Store) -> None:
    """In keys too, a longer secret before a shorter one inside it, numbers when equal."""
    doc = document(
        [
            {
                "echo": {
                    "set": {
                        "greeting": '${ "hi " + $secrets.long }',
                        "keyed": "${ {($secrets.long): 1} }",
                        "pin": "${ $secrets.pin }",
                    }
                }
            }
        ]
    )
    secret = {"is_secret": True}
    runtime_env = {
        "short": {"value": "pass", **secret},
        "long": {"value": "password-1", **secret},
        "pin": {"value": 123456, **secret},
    }
    execution_id = create_execution(service, create_workflow(service, doc), {}, runtime_env=runtime_env)
    async with running(service) as runtime:
        runtime.wake()
        execution = await wait_for(service, execution_id)
    redacted = {"greeting": "hi ***", "keyed": {"***": 1}, "pin": "***"}
    assert execution.status.output == redacted
    with store.begin(write=False) as tx:
        journal = tx.journal.read(execution_id)
        (stage,) = tx.stages.list(execution_id)
    assert stage.output == redacted
    assert [e.data["output"] for e in journal if e.type == "task.completed"] == [redacted]
