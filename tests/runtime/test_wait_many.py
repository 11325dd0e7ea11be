"""`LocalRuntime.wait_many`: answered as the runs end in this worker (through unloads), by
the store for executions no run here holds, and at its timeout with the phases so far."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event

from tests.runtime.conftest import create_execution, create_workflow, document, running, wait_for
from treadle.resources import NotFound, ResourceService
from treadle.store import Store

QUICK = document([{"one": {"set": {"done": True}}}], name="quick")
NAP = document([{"nap": {"wait": {"milliseconds": 700}}}, {"after": {"set": {"woke": True}}}], name="nap")


async def test_runs_ending_here_answer_through_unloads_without_polling(service: ResourceService) -> None:
    napping = create_execution(service, create_workflow(service, NAP))
    quick_workflow = create_workflow(service, QUICK)
    quick = [create_execution(service, quick_workflow) for _ in range(3)]
    # A poll of 30 s: only the runs' own ends can answer within the 20 s given.
    async with running(service, poll_seconds=30) as runtime:
        runtime.wake()
        phases = await runtime.wait_many([napping, *quick, napping], timeout=20)
    assert phases == dict.fromkeys([napping, *quick], "completed")
    assert list(phases) == [napping, *quick]


async def test_a_run_ending_here_answers_with_its_phase_without_a_read(
    service: ResourceService, store: Store
) -> None:
    brief = document([{"pause": {"wait": {"milliseconds": 150}}}], name="brief")  # stays loaded
    workflow_id = create_workflow(service, brief)
    ids = [create_execution(service, workflow_id) for _ in range(3)]
    reads: list[str] = []
    async with running(service, poll_seconds=30) as runtime:
        runtime.wake()
        for execution_id in ids:
            await wait_for(service, execution_id, {"running"})

        @event.listens_for(store.engine, "before_cursor_execute")
        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.startswith("SELECT workflow_executions.id, workflow_executions.phase"):
                reads.append(statement)

        phases = await runtime.wait_many(ids, timeout=20)
        event.remove(store.engine, "before_cursor_execute", count)
    assert phases == dict.fromkeys(ids, "completed")
    assert reads == []  # each run is loaded here: its end came with the phase it wrote


async def test_a_run_unloading_while_its_phase_is_read_is_waited_for(service: ResourceService) -> None:
    """The first read answers `pending` from before the run was loaded, ran and unloaded
    (the unload resolved its watcher during the read): the wait must read again and go on
    until it ends."""
    execution_id = create_execution(service, create_workflow(service, NAP))
    async with running(service, poll_seconds=30) as runtime:
        read_phases = runtime._read_phases
        stale: list[dict[str, str]] = []

        async def read_then_unload(ids: list[str]) -> dict[str, str]:
            phases = await read_phases(ids)
            if not stale:  # hold this answer until the run has started and unloaded
                stale.append(phases)
                runtime.wake()
                await wait_for(service, execution_id, {"waiting"})
            return phases

        runtime._read_phases = read_then_unload  # type: ignore[method-assign]
        phases = await runtime.wait_many([execution_id], timeout=20)
    assert stale == [{execution_id: "pending"}]
    assert phases == {execution_id: "completed"}


async def test_executions_no_run_here_holds_are_read_from_the_store(service: ResourceService) -> None:
    execution_id = create_execution(service, create_workflow(service, NAP))
    async with running(service) as runtime:
        await wait_for(service, execution_id, {"waiting"})
        await asyncio.to_thread(runtime.suspend, execution_id)
        await wait_for(service, execution_id, {"suspended"})
        # Ended by another process: through the store, no run of this worker.
        ender = asyncio.get_running_loop().call_later(
            0.3, service.update_execution_status, execution_id, {"phase": "cancelled"}
        )
        try:
            assert await runtime.wait_many([execution_id], timeout=20) == {execution_id: "cancelled"}
        finally:
            ender.cancel()


async def test_the_timeout_answers_with_the_phases_so_far(service: ResourceService) -> None:
    napping = create_execution(service, create_workflow(service, NAP))
    async with running(service) as runtime:
        await wait_for(service, napping, {"waiting"})
        assert await runtime.wait_many([napping], timeout=0.1) == {napping: "waiting"}
        with pytest.raises(TimeoutError):
            await runtime.wait(napping, timeout=0.1)


async def test_an_unknown_execution_is_not_found(service: ResourceService) -> None:
    known = create_execution(service, create_workflow(service, QUICK))
    async with running(service) as runtime:
        with pytest.raises(NotFound) as raised:
            await runtime.wait_many([known, "wex-nope"], timeout=5)
    assert raised.value.ref == "wex-nope"
