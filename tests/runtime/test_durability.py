"""`async` durability: effect results committed in the background while the run goes on.

What must hold: the run records exactly what a `sync` run records (journal, stages,
status), nothing of it is committed on the event loop (the writer thread takes it), it is
all committed before the run is seen ended, and an event the run emits is delivered only
once what led to it is committed. The kill -9 acceptance test of an `async` run is in
`test_fault.py`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.runtime.conftest import create_execution, create_workflow, document, running, wait_for
from treadle.effects import function
from treadle.resources import InvalidArgument, ResourceService, Workflow, WorkflowExecution
from treadle.runtime.local import LocalRuntime
from treadle.store import Store

STEPS = 30


@function
async def durability_increment(x: int) -> int:
    """A step that never yields to the event loop: a chain of them runs in one go."""
    return x + 1


def _chain(steps: int = STEPS, name: str = "chain") -> dict[str, Any]:
    calls = [{f"s{i}": {"call": "durability_increment", "with": {"x": "${ . }"}}} for i in range(steps)]
    return document(calls, name=name)


def _records(store: Store, execution_id: str) -> tuple[list[Any], list[Any]]:
    with store.begin(write=False) as tx:
        return tx.journal.read(execution_id), tx.stages.list(execution_id)


async def _run(service: ResourceService, runtime: LocalRuntime, workflow_id: str) -> str:
    execution_id = create_execution(service, workflow_id, 0)
    runtime.wake()
    (phase,) = (await runtime.wait_many([execution_id], timeout=20)).values()
    assert phase == "completed"
    return execution_id


async def test_an_async_run_records_what_a_sync_run_records(service: ResourceService, store: Store) -> None:
    sync_id = create_workflow(service, _chain())
    async_id = create_workflow(service, _chain(name="chain-async"), durability="async")
    async with running(service) as runtime:
        writer = runtime.worker.writer

        def commits() -> int:
            return writer.rounds + writer.loop_commits

        before = commits()
        sync_run = await _run(service, runtime, sync_id)
        await asyncio.sleep(0.05)  # the writer thread idle again (it says so once it has the GIL back)
        after_sync, loop_commits = commits(), writer.loop_commits
        async_run = await _run(service, runtime, async_id)
        after_async = commits()
    # A sync run commits each step before the next; an async one (whose steps never yield
    # to the loop) a few batches of them: on a SQLite file, each full batch (64 entries;
    # 30 steps write 90) on the loop, the rest with the run's end on the writer thread.
    assert after_sync - before >= STEPS
    assert after_async - after_sync <= STEPS // 3
    assert writer.loop_commits - loop_commits == (1 if store.dialect == "sqlite" else 0)

    runs = {}
    for execution_id in (sync_run, async_run):
        execution = service.get(WorkflowExecution, execution_id)
        journal, stages = _records(store, execution_id)
        assert execution.status.output == STEPS
        assert [e.seq for e in journal] == list(range(1, len(journal) + 1))
        runs[execution_id] = (
            [(e.type, {k: v for k, v in e.data.items() if k not in ("at", "started_at")}) for e in journal],
            [(s.node, s.status, s.input, s.output) for s in stages],
            [(t.path, t.phase) for t in execution.status.tasks],
        )
    assert runs[sync_run] == runs[async_run]
    assert service.get(WorkflowExecution, async_run).spec.durability == "async"
    assert service.get(WorkflowExecution, sync_run).spec.durability == "sync"


async def test_everything_is_committed_before_the_run_is_seen_ended(
    service: ResourceService, store: Store
) -> None:
    workflow_id = create_workflow(service, _chain(200), durability="async")
    async with running(service) as runtime:
        for _ in range(3):
            execution_id = await _run(service, runtime, workflow_id)
            journal, stages = _records(store, execution_id)
            assert len(stages) == 200
            assert journal[-1].type == "phase" and journal[-1].data["phase"] == "completed"
            assert sum(e.type == "effect" for e in journal) == 200


async def test_an_execution_may_ask_for_other_durability_than_its_workflow(service: ResourceService) -> None:
    workflow_id = create_workflow(service, _chain(3), durability="async")
    asked = create_execution(service, workflow_id, 0, durability="sync")
    inherited = create_execution(service, workflow_id, 0)
    assert service.get(WorkflowExecution, asked).spec.durability == "sync"
    assert service.get(WorkflowExecution, inherited).spec.durability == "async"
    async with running(service):
        for execution_id in (asked, inherited):
            assert (await wait_for(service, execution_id)).status.output == 3


@pytest.mark.parametrize("kind", ["Workflow", "WorkflowExecution"])
def test_an_unknown_durability_is_refused_with_its_pointer(service: ResourceService, kind: str) -> None:
    workflow_id = create_workflow(service, _chain(1))
    spec: dict[str, Any] = (
        {"document": _chain(1), "durability": "eventually"}
        if kind == "Workflow"
        else {"workflow_id": workflow_id, "durability": "eventually"}
    )
    with pytest.raises(InvalidArgument) as refused:
        service.create({"kind": kind, "metadata": {"name": "bad"}, "spec": spec})
    assert [v.pointer for v in refused.value.violations] == ["/spec/durability"]
    assert service.get(Workflow, workflow_id).spec.durability is None


EMITTER = document(
    [
        {"first": {"call": "durability_increment", "with": {"x": "${ . }"}}},
        {
            "tell": {
                "emit": {
                    "event": {"with": {"source": "https://tests.example", "type": "com.example.counted"}}
                }
            }
        },
    ],
    name="emitter",
)


async def test_an_async_run_emits_only_once_what_led_to_the_event_is_committed(
    service: ResourceService, store: Store
) -> None:
    workflow_id = create_workflow(service, EMITTER, durability="async")
    execution_id = create_execution(service, workflow_id, 0)
    seen: list[list[str]] = []
    async with running(service) as runtime:
        deliver = runtime.worker.deliver

        def deliver_after_looking(event: dict[str, Any]) -> Any:
            journal, _ = _records(store, execution_id)
            seen.append([e.data["key"] for e in journal if e.type == "effect"])
            return deliver(event)

        runtime.worker.deliver = deliver_after_looking  # type: ignore[method-assign]
        runtime.wake()
        execution = await wait_for(service, execution_id)
    assert execution.status.phase == "completed", execution.status.error
    # The first call's result was in the store when the event went out.
    assert len(seen) == 1 and any(key.startswith("/do/0/first") for key in seen[0]), seen
