"""Concurrency caps, leases shared by workers, schedules (every, cron, after, on), retention."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.runtime.conftest import Counter, create_execution, create_workflow, document, running, wait_for
from treadle.effects import function
from treadle.resources import ListQuery, ResourceService, WorkflowExecution
from treadle.runtime.scheduler import Scheduler
from treadle.store import Store

KEYS: list[str] = []


@function
def remember_key(value: int, idempotency_key: str) -> int:
    """A Python function that sees its idempotency key."""
    KEYS.append(idempotency_key)
    return value + 1


async def test_python_functions_get_the_idempotency_key(service: ResourceService) -> None:
    doc = document([{"bump": {"call": "remember_key", "with": {"value": "${ .n }"}}}])
    workflow_id = create_workflow(service, doc)
    execution_id = create_execution(service, workflow_id, {"n": 1})
    async with running(service):
        execution = await wait_for(service, execution_id)
    assert execution.status.phase == "completed", execution.status.error
    assert execution.status.output == 2
    assert f"{execution_id}//do/0/bump@0#0" in KEYS


async def test_the_server_wide_cap_bounds_running_executions(service: ResourceService) -> None:
    workflow_id = create_workflow(service, document([{"nap": {"wait": {"milliseconds": 150}}}]))
    ids = [create_execution(service, workflow_id) for _ in range(6)]
    peak = 0
    async with running(service, max_running=2) as runtime:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            peak = max(peak, len(runtime.worker.runs))
            phases = [service.get(WorkflowExecution, i).status.phase for i in ids]
            if all(p == "completed" for p in phases):
                break
            await asyncio.sleep(0.01)
    assert 1 <= peak <= 2
    assert all(service.get(WorkflowExecution, i).status.phase == "completed" for i in ids)


async def test_the_per_workflow_cap_counts_across_workers(service: ResourceService, store: Store) -> None:
    first = create_workflow(service, document([{"nap": {"wait": {"milliseconds": 150}}}], name="first"))
    second = create_workflow(service, document([{"nap": {"wait": {"milliseconds": 150}}}], name="second"))
    ids = [create_execution(service, w) for w in (first, second) for _ in range(3)]
    peak: dict[str, int] = {}
    async with running(service, max_running_per_workflow=1), running(service, max_running_per_workflow=1):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with store.begin(write=False) as tx:
                rows = [tx.runtime.get_run(i) for i in ids]
            for row in rows:
                if row is not None and row["state"] == "leased":
                    count = sum(
                        1
                        for r in rows
                        if r and r["state"] == "leased" and r["workflow_id"] == row["workflow_id"]
                    )
                    peak[row["workflow_id"]] = max(peak.get(row["workflow_id"], 0), count)
            if all(service.get(WorkflowExecution, i).status.phase == "completed" for i in ids):
                break
            await asyncio.sleep(0.01)
    assert peak and max(peak.values()) == 1


async def test_fork_branches_are_capped_per_execution(service: ResourceService, counter: Counter) -> None:
    counter.delay = 0.15
    branches = [
        {f"b{i}": {"call": "http", "with": {"method": "post", "endpoint": counter.url, "body": {"value": i}}}}
        for i in range(8)
    ]
    workflow_id = create_workflow(service, document([{"fan": {"fork": {"branches": branches}}}]))
    execution_id = create_execution(service, workflow_id)
    async with running(service, max_concurrent_branches=3):
        execution = await wait_for(service, execution_id)
    assert execution.status.phase == "completed", execution.status.error
    assert [item["value"] for item in execution.status.output] == [i + 1 for i in range(8)]
    assert counter.peak == 3


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])
def test_two_workers_never_claim_the_same_execution(service: ResourceService, store: Store) -> None:
    workflow_id = create_workflow(service, document([{"x": {"set": {"a": 1}}}]))
    ids = {create_execution(service, workflow_id) for _ in range(120)}
    claimed: dict[str, list[str]] = {"a": [], "b": []}
    together = threading.Barrier(len(claimed))

    def claim(owner: str) -> None:
        together.wait()  # both start at once: one thread must not take everything first
        while True:
            now = datetime.now(UTC)
            with store.begin() as tx:
                got = tx.runtime.claim(owner, now=now, lease_until=now + timedelta(seconds=30), limit=7)
            if not got:
                return
            claimed[owner].extend(c.execution_id for c in got)
            time.sleep(0.001)  # between two ticks, as a worker: the other's claims interleave

    threads = [threading.Thread(target=claim, args=(owner,)) for owner in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = claimed["a"] + claimed["b"]
    assert sorted(everything) == sorted(ids)  # each exactly once
    assert claimed["a"] and claimed["b"]  # and the work was shared


async def test_an_every_schedule_fires_each_tick_once_with_two_schedulers(service: ResourceService) -> None:
    doc = document([{"x": {"set": {"ran": True}}}], name="ticker", schedule={"every": {"milliseconds": 300}})
    workflow_id = create_workflow(service, doc)
    started = time.monotonic()
    async with running(service), running(service):
        await asyncio.sleep(1.6)
    elapsed = time.monotonic() - started
    page = service.list(WorkflowExecution, ListQuery(workflow_id=workflow_id, page_size=100))
    assert 3 <= page.total <= elapsed / 0.3 + 1
    assert all(e.metadata.labels.get("treadle.dev/schedule") == "every" for e in page.items)


def test_a_cron_schedule_fires_once_per_tick(service: ResourceService) -> None:
    doc = document([{"x": {"set": {"ran": True}}}], name="cron", schedule={"cron": "*/5 * * * *"})
    create_workflow(service, doc)
    now = datetime.now(UTC)
    first, second = Scheduler(service), Scheduler(service)
    assert first.tick(now) == []  # no tick since the workflow was created
    # A minute past the next */5 boundary, so that the checks 30 s later stay before the
    # one after it, whatever the wall clock says now.
    boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=5 - now.minute % 5)
    later = boundary + timedelta(minutes=1)
    fired = first.tick(later)
    assert len(fired) == 1
    assert second.tick(later) == [] and first.tick(later + timedelta(seconds=30)) == []
    assert len(second.tick(later + timedelta(minutes=5))) == 1


async def test_an_after_schedule_runs_again_after_each_run(service: ResourceService) -> None:
    doc = document([{"x": {"set": {"ran": True}}}], name="again", schedule={"after": {"milliseconds": 200}})
    workflow_id = create_workflow(service, doc)
    async with running(service):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            page = service.list(WorkflowExecution, ListQuery(workflow_id=workflow_id, phase="completed"))
            if page.total >= 3:
                break
            await asyncio.sleep(0.05)
    assert page.total >= 3
    ends = sorted(e.status.completed_at for e in page.items if e.status.completed_at)
    starts = sorted(e.status.audit.created_at for e in page.items if e.status.audit.created_at)
    assert all(
        start >= end + timedelta(milliseconds=190) for end, start in zip(ends, starts[1:], strict=False)
    )


async def test_an_on_schedule_starts_a_run_per_event(service: ResourceService) -> None:
    schedule = {"on": {"one": {"with": {"type": "com.example.signup"}}}}
    doc = document([{"x": {"set": {"who": "${ .[0].data.user }"}}}], name="onboard", schedule=schedule)
    workflow_id = create_workflow(service, doc)
    async with running(service) as runtime:
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": "ev-1",
            "type": "com.example.signup",
            "data": {"user": "ann"},
        }
        started = runtime.deliver_event(event)
        assert len(started) == 1
        assert runtime.deliver_event(event) == []  # the same event never starts twice
        assert runtime.deliver_event({**event, "id": "ev-2", "type": "com.example.other"}) == []
        execution = await wait_for(service, started[0])
    assert execution.status.output == {"who": "ann"}
    assert service.list(WorkflowExecution, ListQuery(workflow_id=workflow_id)).total == 1


async def test_retention_deletes_ended_executions_and_their_records(
    service: ResourceService, store: Store
) -> None:
    keep = create_workflow(service, document([{"x": {"set": {"a": 1}}}], name="keep"))
    short = create_workflow(service, document([{"x": {"set": {"a": 1}}}], name="short"), retention="PT1H")
    ids = [create_execution(service, keep), create_execution(service, short)]
    async with running(service) as runtime:
        for i in ids:
            await wait_for(service, i)
        now = datetime.now(UTC)
        assert runtime.retention.sweep(now + timedelta(minutes=30)) == 0
        assert runtime.retention.sweep(now + timedelta(hours=2)) == 1
        assert runtime.retention.sweep(now + timedelta(hours=23)) == 0
        assert runtime.retention.sweep(now + timedelta(hours=25)) == 1
    with store.begin(write=False) as tx:
        assert all(tx.executions.get(i) is None for i in ids)
        assert all(tx.journal.read(i) == [] and tx.stages.list(i) == [] for i in ids)


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])
def test_an_event_delivered_while_the_run_is_released_wakes_it(
    service: ResourceService, store: Store
) -> None:
    """The worker releases the run as `waiting` while the delivery waits for its row lock:
    the delivery must still see it waiting, and make it ready."""
    workflow_id = create_workflow(service, document([{"x": {"set": {"a": 1}}}]))
    execution_id = create_execution(service, workflow_id)
    now = datetime.now(UTC)
    with store.begin() as tx:
        (claim,) = tx.runtime.claim("w", now=now, lease_until=now + timedelta(seconds=30), limit=1)
    assert claim.execution_id == execution_id
    releasing, woken = threading.Event(), threading.Event()

    def deliver() -> None:
        releasing.wait(10)
        with store.begin() as tx:
            tx.runtime.wake([execution_id], datetime.now(UTC))  # blocks on the row lock
        woken.set()

    deliverer = threading.Thread(target=deliver)
    deliverer.start()
    with store.begin() as tx:
        assert tx.runtime.get_run(execution_id, for_update=True) is not None  # the release's lease check
        releasing.set()
        assert not woken.wait(0.3)  # the delivery is queued behind this transaction
        assert tx.runtime.release(execution_id, "w", claim.epoch, state="waiting", wake_at=None, now=now)
    deliverer.join(10)
    with store.begin(write=False) as tx:
        run = tx.runtime.get_run(execution_id)
    assert run is not None and run["state"] == "ready"
