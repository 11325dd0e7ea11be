"""Waiting executions are unloaded: thousands of them cost the worker almost no memory."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.runtime.conftest import create_execution, create_workflow, document, running
from treadle.resources import ResourceService
from treadle.store import Store

WAITING = 2000


def rss_mb() -> float:
    """This process's resident set size, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_thousands_of_waiting_executions_are_unloaded(service: ResourceService, store: Store) -> None:
    workflow_id = create_workflow(service, document([{"nap": {"wait": {"minutes": 10}}}]))
    for _ in range(WAITING):
        create_execution(service, workflow_id)
    before = rss_mb()
    async with running(service, max_running=500) as runtime:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with store.begin(write=False) as tx:
                counts = tx.runtime.counts()
            if counts.get("waiting") == WAITING:
                break
            await asyncio.sleep(0.1)
        assert counts.get("waiting") == WAITING, counts
        # The store says so the moment the last release commits; the worker forgets its
        # runs once the event loop has handled that commit's outcome, a moment later.
        settled = time.monotonic() + 10
        while runtime.worker.runs and time.monotonic() < settled:
            await asyncio.sleep(0.05)
        assert not runtime.worker.runs
        grown = rss_mb() - before
    assert grown < 80, f"RSS grew {grown:.1f} MB for {WAITING} waiting executions"
