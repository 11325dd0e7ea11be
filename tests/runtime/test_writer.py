"""The group-commit writer: records-only rounds on its raw connection, what a broken one
costs, and rounds of many status reports and run ends."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.runtime.conftest import create_execution, create_workflow, document
from treadle.resources import ResourceService, WorkflowExecution
from treadle.runtime.local.runner import LeaseLost, _Release, end_runs, release_runs
from treadle.runtime.local.writer import Batch, Grouped, Writer
from treadle.runtime.transitions import record_statuses
from treadle.store import Store


def _batch(execution_id: str, seq: int) -> Batch:
    row = {
        "execution_id": execution_id,
        "seq": seq,
        "type": "effect",
        "data": {"n": seq},
        "at": datetime.now(UTC),
    }
    return Batch(execution_id, journal=[row])


@contextlib.contextmanager
def _write_lock_held_elsewhere(store: Store) -> Iterator[threading.Event]:
    """Another thread holds the store's write lock until the event is set, so the loop
    cannot commit a batch itself and hands it to the writer thread (on PostgreSQL there
    is no such lock: batches always go to the thread)."""
    release, held = threading.Event(), threading.Event()
    lock = store.write_lock

    def hold() -> None:
        assert lock is not None
        with lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold) if lock is not None else None
    if holder is not None:
        holder.start()
        held.wait(10)
    try:
        yield release
    finally:
        release.set()
        if holder is not None:
            holder.join(10)


async def _write_on_the_thread(writer: Writer, store: Store, batch: Batch) -> None:
    with _write_lock_held_elsewhere(store) as release:
        future = writer.submit(batch)
        assert future is not None and not future.done()  # queued for the thread, not committed here
        release.set()
        await asyncio.wait_for(future, 10)


async def test_a_raw_connection_closed_under_the_writer_is_replaced(
    service: ResourceService, store: Store
) -> None:
    execution_id = create_execution(service, create_workflow(service, document([{"a": {"set": {"x": 1}}}])))
    writer = Writer(store, lambda tx, reports: None)
    writer.start(asyncio.get_running_loop())
    try:
        await _write_on_the_thread(writer, store, _batch(execution_id, 1))
        broken: Any = writer._thread_appender
        assert broken is not None
        broken.close()  # as a server restart or an idle timeout would
        await _write_on_the_thread(writer, store, _batch(execution_id, 2))  # through SQLAlchemy
        await _write_on_the_thread(writer, store, _batch(execution_id, 3))  # on a fresh connection
        assert writer._thread_appender is not None and writer._thread_appender is not broken
    finally:
        await asyncio.to_thread(writer.stop)
    with store.begin(write=False) as tx:
        assert [(e.seq, e.data) for e in tx.journal.read(execution_id)] == [
            (1, {"n": 1}),
            (2, {"n": 2}),
            (3, {"n": 3}),
        ]


def _terminate_other_backends(store: Store) -> None:
    with store.begin() as tx:
        tx.connection.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.mark.postgres
async def test_a_round_outlives_a_connection_the_server_dropped(postgres_migrated_url: str) -> None:
    # The rounds with status reports and run ends take a pooled connection on
    # PostgreSQL: the pool pings one that sat idle and replaces it, where a connection
    # kept by the writer would fail the round (and its runs) after a server restart.
    store = Store.open(postgres_migrated_url, ping_after_idle_seconds=0)
    killer = Store.open(postgres_migrated_url)
    writer = Writer(store, lambda tx, reports: {})
    writer.start(asyncio.get_running_loop())
    seen: list[int] = []

    def action(tx: Any) -> None:
        seen.append(int(tx.connection.exec_driver_sql("SELECT 1").scalar_one()))

    try:
        await asyncio.wait_for(writer.write(Batch("wex-any", actions=[action])), 10)
        await asyncio.to_thread(_terminate_other_backends, killer)
        await asyncio.wait_for(writer.write(Batch("wex-any", actions=[action])), 10)
    finally:
        await asyncio.to_thread(writer.stop)
        killer.dispose()
        store.dispose()
    assert seen == [1, 1]


def _ending(execution_id: str) -> Grouped:
    return Grouped(end_runs, (execution_id, "worker-1", 1))


def _release(execution_id: str) -> Grouped:
    wake_at = datetime(2030, 1, 1, tzinfo=UTC)
    return Grouped(release_runs, _Release(execution_id, "worker-1", 1, "waiting", wake_at, []))


@pytest.mark.parametrize("closing", [_ending, _release], ids=["ends", "releases"])
async def test_one_lost_lease_in_a_round_of_closing_runs_fails_only_its_own_batch(
    service: ResourceService, store: Store, closing: Any
) -> None:
    """A round of many status reports and run ends (or releases) is applied in bulk; when
    one run's lease was lost, the round is redone batch by batch and only that one fails."""
    workflow_id = create_workflow(service, document([{"a": {"set": {"x": 1}}}]))
    ids = [create_execution(service, workflow_id) for _ in range(4)]
    lost = ids[2]
    with store.begin() as tx:
        for id in ids:
            tx.runtime.insert_run(
                {
                    "execution_id": id,
                    "workflow_id": workflow_id,
                    "state": "leased",
                    "lease_owner": "worker-1",
                    "epoch": 2 if id == lost else 1,  # another worker took this one over
                    "updated_at": datetime.now(UTC),
                }
            )
    writer = Writer(store, lambda tx, reports: record_statuses(service, tx, reports))
    writer.start(asyncio.get_running_loop())
    try:
        with writer._cond:  # the thread takes them all in one round
            futures = [
                writer.submit(Batch(id, status={"phase": "running"}, actions=[closing(id)])) for id in ids
            ]
        for id, future in zip(ids, futures, strict=True):
            assert future is not None
            if id == lost:
                with pytest.raises(LeaseLost):
                    await asyncio.wait_for(future, 10)
            else:
                await asyncio.wait_for(future, 10)
    finally:
        await asyncio.to_thread(writer.stop)
    assert writer.rounds == 1
    phases = {id: service.get(WorkflowExecution, id).status.phase for id in ids}
    assert phases == {id: "pending" if id == lost else "running" for id in ids}
    with store.begin(write=False) as tx:
        runs = tx.runtime.runs_for_update(ids)
    if closing is _ending:
        assert sorted(runs) == [lost]
    else:
        states = {id: (run["state"], run["lease_owner"]) for id, run in runs.items()}
        assert states == {id: ("leased", "worker-1") if id == lost else ("waiting", None) for id in ids}


def test_the_runtimes_task_reports_are_stored_as_json_and_merged_by_path(service: ResourceService) -> None:
    id = create_execution(service, create_workflow(service, document([{"a": {"set": {"x": 1}}}])))
    started = datetime(2026, 1, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    task = {"name": "a", "path": "/do/0/a", "phase": "running", "attempt": 1, "started_at": started}
    task.update(completed_at=None, error=None)
    with service.store.begin() as tx:
        record_statuses(service, tx, [(id, {"phase": "running", "tasks": [task]})])
    ended = {**task, "phase": "completed", "completed_at": datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC)}
    with service.store.begin() as tx:
        record_statuses(service, tx, [(id, {"tasks": [ended]})])
    with service.store.begin(write=False) as tx:
        row = tx.executions.get(id)
    assert row is not None
    stored = row["body"]["status"]["tasks"]
    assert [(t["phase"], t["started_at"], t["completed_at"]) for t in stored] == [
        ("completed", "2026-01-01T12:00:00.250000+00:00", "2026-01-01T12:00:01+00:00")
    ]
    with service.store.begin() as tx:  # the same report again changes nothing
        record_statuses(service, tx, [(id, {"tasks": [ended]})])
    execution = service.get(WorkflowExecution, id)
    assert execution.metadata.version == row["version"]
    [read] = execution.status.tasks
    assert (read.phase, read.started_at, read.completed_at) == ("completed", started, ended["completed_at"])


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_wal_is_checkpointed_on_its_own_thread_once_it_has_grown(
    service: ResourceService, store: Store
) -> None:
    workflow_id = create_workflow(service, document([{"a": {"set": {"x": 1}}}]))
    ids = [create_execution(service, workflow_id) for _ in range(20)]
    writer = Writer(store, lambda tx, reports: record_statuses(service, tx, reports))
    writer.start(asyncio.get_running_loop())
    try:
        for id in ids:  # twenty runs' status reports: a few dozen pages
            future = writer.submit(Batch(id, status={"phase": "running"}))
            assert future is not None
            await asyncio.wait_for(future, 10)
        assert writer.checkpointer is not None and writer.checkpointer.checkpoints == 0
        for seq in range(100, 500):  # four hundred steps' commits, ~3 pages each
            await asyncio.wait_for(writer.write(_batch(ids[0], seq)), 10)
        assert writer.loop_commits > 300
        for _ in range(200):
            if writer.checkpointer.checkpoints:
                break
            await asyncio.sleep(0.01)
        assert writer.checkpointer.checkpoints == 1
    finally:
        await asyncio.to_thread(writer.stop)
