"""The group-commit writer: records-only rounds on its raw connection, and what a broken one costs."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from tests.runtime.conftest import create_execution, create_workflow, document
from treadle.resources import ResourceService
from treadle.runtime.local.writer import Batch, Writer
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
    writer = Writer(store, lambda tx, id, update: None)
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
