"""Executions created beside a running worker are taken at their creation (handoff.py)."""

from __future__ import annotations

import asyncio
import inspect
import threading
from datetime import UTC, datetime, timedelta

import pytest

from tests.runtime.conftest import FAST, create_execution, create_workflow, document, running, wait_for
from treadle.resources import AlreadyExists, NotFound, ResourceService, WorkflowExecution
from treadle.runtime.local import LocalRuntime
from treadle.runtime.local.runner import Loaded
from treadle.store import Claim, Store

SHORT = document([{"double": {"set": {"x": "${ .x * 2 }"}}}])
#: A run that stays loaded (and its room taken) for a while.
PARKED = document([{"park": {"wait": {"milliseconds": 400}}}, {"done": {"set": {"x": 1}}}], name="parked")


async def queue_drained(runtime: LocalRuntime) -> None:
    """Until a tick found the queue drained: from then on the worker takes new executions."""
    for _ in range(500):
        if runtime.worker.queue_drained:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no tick found the queue drained")


def _run_row(store: Store, execution_id: str) -> dict[str, object] | None:
    with store.begin(write=False) as tx:
        return tx.runtime.get_run(execution_id)


def _journal(store: Store, execution_id: str) -> list[tuple[int, str, object]]:
    with store.begin(write=False) as tx:
        return [(e.seq, e.type, e.data) for e in tx.journal.read(execution_id)]


async def test_a_created_execution_is_running_and_leased_from_its_creation(
    service: ResourceService, store: Store
) -> None:
    wid = create_workflow(service, SHORT)
    async with running(service, max_running=4) as runtime:
        await queue_drained(runtime)
        loads = runtime.worker.loader.groups
        created = service.create(
            WorkflowExecution.model_validate({"spec": {"workflow_id": wid, "input": {"x": 21}}})
        )
        assert created.status.phase == "running"
        assert created.status.started_at is not None
        eid = created.metadata.id
        assert eid is not None
        run = _run_row(store, eid)
        assert run is not None and run["lease_owner"] == runtime.worker_id and run["epoch"] == 1
        execution = await runtime.wait(eid, timeout=10)
        assert runtime.worker.handoff.taken == 1
        assert runtime.worker.handoff.reserved == 0
        assert runtime.worker.loader.groups == loads  # started from the model, nothing read back
    assert execution.status.phase == "completed"
    assert execution.status.output == {"x": 42}
    journal = _journal(store, eid)
    assert journal[0] == (1, "phase", {"phase": "running"})
    assert [data["phase"] for _, kind, data in journal if kind == "phase"] == ["running", "completed"]  # type: ignore[index]
    assert _run_row(store, eid) is None


async def test_its_secrets_reach_the_run_and_are_redacted(service: ResourceService, store: Store) -> None:
    # The length shows the run had the value itself, not its redacted form.
    shown = {
        "token": "${ $secrets.token }",
        "length": "${ $secrets.token | length }",
        "region": "${ $secrets.region }",
        "password": "${ $secrets.password | length }",
    }
    doc = document([{"show": {"set": shown}}])
    wid = create_workflow(service, doc)
    instance = service.create(
        {
            "kind": "WorkflowInstance",
            "metadata": {"name": "with-env"},
            "spec": {
                "workflow_id": wid,
                "env": {
                    "region": {"value": "eu-west", "is_secret": False},
                    "password": {"value": "hunter22", "is_secret": True},
                },
            },
        }
    )
    async with running(service) as runtime:
        await queue_drained(runtime)
        secret = {"token": {"value": "s3cr3t-value", "is_secret": True}}
        eid = create_execution(
            service, wid, {}, workflow_instance_id=instance.metadata.id, runtime_env=secret
        )
        execution = await runtime.wait(eid, timeout=10)
        assert runtime.worker.handoff.taken == 1
    assert execution.status.output == {"token": "***", "length": 12, "region": "eu-west", "password": 8}


async def test_a_batch_is_taken_while_there_is_room_and_queued_after(
    service: ResourceService, store: Store
) -> None:
    wid = create_workflow(service, SHORT)
    async with running(service, max_running=3) as runtime:
        await queue_drained(runtime)
        bodies = [
            {"kind": "WorkflowExecution", "spec": {"workflow_id": wid, "input": {"x": n}}} for n in range(8)
        ]
        created = await asyncio.to_thread(service.create_many, bodies)
        assert [e.status.phase for e in created] == ["running"] * 3 + ["pending"] * 5
        runtime.wake()  # as the API does for the pending ones
        ended = [await runtime.wait(str(e.metadata.id), timeout=10) for e in created]
        assert runtime.worker.handoff.taken == 3
        assert runtime.worker.handoff.reserved == 0
    assert [e.status.output for e in ended] == [{"x": 2 * n} for n in range(8)]


async def test_a_failed_batch_gives_its_room_back(service: ResourceService, store: Store) -> None:
    wid = create_workflow(service, SHORT)
    async with running(service, max_running=3) as runtime:
        await queue_drained(runtime)
        good = {"kind": "WorkflowExecution", "spec": {"workflow_id": wid}}
        with pytest.raises(NotFound):
            await asyncio.to_thread(
                service.create_many,
                [good, good, {"kind": "WorkflowExecution", "spec": {"workflow_id": "wfl-x"}}],
            )
        assert runtime.worker.handoff.reserved == 0 and runtime.worker.handoff.taken == 0
        assert runtime.worker.runs == {}
        again = await asyncio.to_thread(service.create_many, [good] * 3)
        assert [e.status.phase for e in again] == ["running"] * 3  # the room is whole


async def test_a_full_worker_leaves_new_executions_to_the_queue_in_order(
    service: ResourceService, store: Store
) -> None:
    parked, short = create_workflow(service, PARKED), create_workflow(service, SHORT)
    async with running(service, max_running=1, unload_after_seconds=5) as runtime:
        await queue_drained(runtime)
        first = create_execution(service, parked)
        queued = [create_execution(service, short, {"x": n}) for n in range(3)]
        assert [service.get(WorkflowExecution, e).status.phase for e in queued] == ["pending"] * 3
        for eid in queued:
            assert _run_row(store, eid) is None
        ended = [await runtime.wait(eid, timeout=10) for eid in [first, *queued]]
        assert runtime.worker.handoff.taken == 1
    assert [e.status.phase for e in ended] == ["completed"] * 4
    started = [e.status.started_at for e in ended[1:]]
    assert started == sorted(started)  # the queue ran them oldest first


async def test_capped_workflows_are_left_to_the_claim(service: ResourceService) -> None:
    wid = create_workflow(service, SHORT)
    async with running(service, max_running_per_workflow=2) as runtime:
        await queue_drained(runtime)
        eid = create_execution(service, wid, {"x": 1})
        assert service.get(WorkflowExecution, eid).status.phase == "pending"
        runtime.wake()
        assert (await runtime.wait(eid, timeout=10)).status.output == {"x": 2}
        assert runtime.worker.handoff.taken == 0


async def test_only_the_capped_workflow_is_left_to_the_claim(service: ResourceService) -> None:
    capped, free = create_workflow(service, SHORT), create_workflow(service, PARKED)
    async with running(service, workflow_caps={capped: 1}) as runtime:
        await queue_drained(runtime)
        left, taken = create_execution(service, capped, {"x": 1}), create_execution(service, free)
        assert service.get(WorkflowExecution, left).status.phase == "pending"
        assert service.get(WorkflowExecution, taken).status.phase == "running"
        runtime.wake()
        assert (await runtime.wait(left, timeout=10)).status.output == {"x": 2}
        assert (await runtime.wait(taken, timeout=10)).status.output == {"x": 1}
        assert runtime.worker.handoff.taken == 1


async def test_a_create_that_fails_gives_its_room_back(service: ResourceService, store: Store) -> None:
    wid = create_workflow(service, SHORT)
    async with running(service, max_running=1) as runtime:
        await queue_drained(runtime)
        body = {"metadata": {"name": "only-once"}, "spec": {"workflow_id": wid, "input": {"x": 1}}}
        first = service.create(WorkflowExecution.model_validate(body))
        await runtime.wait(str(first.metadata.id), timeout=10)
        with pytest.raises(AlreadyExists):
            service.create(WorkflowExecution.model_validate(body))
        assert runtime.worker.handoff.reserved == 0
        await queue_drained(runtime)
        again = create_execution(service, wid, {"x": 5})
        assert (await runtime.wait(again, timeout=10)).status.output == {"x": 10}
        assert runtime.worker.handoff.taken == 2


async def test_without_a_running_worker_executions_are_created_pending(service: ResourceService) -> None:
    wid = create_workflow(service, SHORT)
    async with running(service):
        pass
    assert service.starter is None
    eid = create_execution(service, wid, {"x": 1})
    assert service.get(WorkflowExecution, eid).status.phase == "pending"
    async with running(service) as runtime:
        runtime.wake()
        execution = await wait_for(service, eid)
    assert execution.status.output == {"x": 2}


def test_a_renewal_keeps_leases_taken_since_the_previous_one(service: ResourceService, store: Store) -> None:
    wid = create_workflow(service, SHORT)
    given_up, taken = create_execution(service, wid), create_execution(service, wid)
    now = datetime.now(UTC)
    previous_until = now + timedelta(seconds=30)
    with store.begin() as tx:
        tx.runtime.lease_new(given_up, wid, "me", until=previous_until, now=now)
        # Taken after the previous renewal: its lease expires later than that renewal's.
        tx.runtime.lease_new(taken, wid, "me", until=previous_until + timedelta(seconds=1), now=now)
    with store.begin() as tx:
        tx.runtime.renew("me", now + timedelta(seconds=40), now, [], leased_before=previous_until)
    given_up_row, taken_row = _run_row(store, given_up), _run_row(store, taken)
    assert given_up_row is not None and given_up_row["state"] == "ready"
    assert given_up_row["lease_owner"] is None
    assert taken_row is not None and taken_row["state"] == "leased" and taken_row["lease_owner"] == "me"


async def test_runs_taken_during_a_tick_are_not_mistaken_for_lost(
    service: ResourceService, caplog: pytest.LogCaptureFixture
) -> None:
    # Creates from API threads, each waking the worker as the HTTP API does: ticks read
    # the leases while other creates commit theirs. With a 30 s lease a run wrongly
    # stopped as lost would only come back when its lease lapsed.
    wid = create_workflow(service, SHORT)
    async with running(service, lease_seconds=30.0) as runtime:
        await queue_drained(runtime)
        loads = runtime.worker.loader.groups

        async def create(n: int) -> str:
            eid = await asyncio.to_thread(create_execution, service, wid, {"x": n})
            runtime.wake()
            return eid

        ids = await asyncio.gather(*(create(n) for n in range(40)))
        ended = [await runtime.wait(eid, timeout=10) for eid in ids]
        assert runtime.worker.loader.groups == loads
    assert [e.status.output for e in ended] == [{"x": 2 * n} for n in range(40)]
    assert "lost the lease" not in caplog.text


async def test_an_execution_taken_as_the_worker_stops_is_released_not_left_leased(
    service: ResourceService, store: Store
) -> None:
    wid = create_workflow(service, PARKED)  # still running when `stop` unloads it
    runtime = LocalRuntime(service, FAST.with_changes(lease_seconds=30.0))
    await runtime.start()
    await queue_drained(runtime)
    # Its create commits, then the run reaches the worker only once `stop` has begun.
    stop_began = threading.Event()
    hand_over = runtime.worker.start_taken

    def late(claim: Claim, loaded: Loaded | None) -> None:
        stop_began.wait(5)
        hand_over(claim, loaded)

    runtime.worker.start_taken = late  # type: ignore[method-assign]
    creating = asyncio.ensure_future(asyncio.to_thread(create_execution, service, wid))
    while runtime.worker.handoff.reserved == 0:
        await asyncio.sleep(0.001)
    stopping = asyncio.ensure_future(runtime.stop())
    await asyncio.sleep(0.05)
    stop_began.set()
    eid = await creating
    await stopping
    run = _run_row(store, eid)
    assert run is not None and run["state"] == "ready" and run["lease_owner"] is None
    async with running(service, lease_seconds=30.0) as other:
        other.wake()
        assert (await other.wait(eid, timeout=10)).status.output == {"x": 1}


@pytest.mark.parametrize("stop", ["unload", "cancel"])
async def test_a_run_stopped_before_its_engine_takes_a_step_still_settles(
    service: ResourceService, store: Store, stop: str
) -> None:
    """The worker stopping (or a cancel) just as a run has created its engine's task, before
    that task's first step: the task is cancelled without the engine's own handling. The
    run is still released (or ended cancelled), not left leased until the lease lapses."""
    wid = create_workflow(service, PARKED)
    async with running(service, lease_seconds=30.0) as runtime:
        await queue_drained(runtime)
        eid = create_execution(service, wid)  # taken at its creation: it starts as the loop turns
        for _ in range(10_000):
            run = runtime.worker.runs.get(eid)
            if run is not None and run.task is not None:
                break
            await asyncio.sleep(0)
        assert run is not None and run.task is not None
        engine = run.task.get_coro()  # type: ignore[attr-defined]
        assert inspect.getcoroutinestate(engine) == inspect.CORO_CREATED
        stopped = runtime.worker.watch(eid)
        if stop == "unload":
            run.unload("ready", None)
        else:
            run.cancel()
        ended = await asyncio.wait_for(stopped, 5)
        row = _run_row(store, eid)
        if stop == "unload":
            assert ended is None
            assert row is not None and row["state"] == "ready" and row["lease_owner"] is None
        else:
            assert ended == "cancelled" and row is None
            assert (await runtime.wait(eid, timeout=5)).status.phase == "cancelled"


async def test_the_runs_a_tick_claims_as_the_worker_stops_are_released_not_left_leased(
    service: ResourceService, store: Store
) -> None:
    wid = create_workflow(service, PARKED)
    eid = create_execution(service, wid)  # pending: the worker's first tick claims it
    runtime = LocalRuntime(service, FAST.with_changes(lease_seconds=30.0))
    in_tick, go_on, committed = threading.Event(), threading.Event(), threading.Event()
    tick = runtime.worker._db_tick

    def late(capacity: int, renew: bool, keep: list[str]) -> tuple[list[Claim], list[dict[str, object]]]:
        in_tick.set()
        go_on.wait(5)
        try:
            return tick(capacity, renew, keep)
        finally:
            committed.set()

    runtime.worker._db_tick = late  # type: ignore[method-assign]
    await runtime.start()
    await asyncio.to_thread(in_tick.wait, 5)
    stopping = asyncio.ensure_future(runtime.stop())  # while the tick's claim is in flight
    await asyncio.sleep(0.05)
    go_on.set()
    await stopping
    await asyncio.to_thread(committed.wait, 5)
    run = _run_row(store, eid)
    assert run is not None and run["state"] == "ready" and run["lease_owner"] is None
