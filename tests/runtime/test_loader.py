"""Runs that start together are loaded together: one read transaction per group."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.runtime.conftest import create_execution, create_workflow, document, running, wait_for
from treadle.resources import ResourceService
from treadle.runtime.local.loader import GROUP, Loader


class _Reads:
    """A read function that records the groups it was asked for."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, ids: list[str]) -> Mapping[str, str | BaseException | None]:
        with self.lock:
            self.groups.append(ids)
        if "broken-group" in ids:
            raise OSError("the database went away")
        return {
            id: ValueError(f"{id} does not decode") if id.startswith("bad") else f"rows of {id}"
            for id in ids
            if id != "gone"
        }


async def test_loads_asked_for_together_are_read_in_groups() -> None:
    reads = _Reads()
    with ThreadPoolExecutor(2) as executor:
        loader: Loader[str] = Loader(reads, executor)
        ids = [f"wex-{n}" for n in range(GROUP + 3)]
        results = await asyncio.gather(*(loader.load(id) for id in ids))
        assert results == [f"rows of {id}" for id in ids]
        assert sorted(len(group) for group in reads.groups) == [3, GROUP]
        assert await loader.load("wex-alone") == "rows of wex-alone"  # a later turn: a group of its own
    assert reads.groups[-1] == ["wex-alone"]


async def test_one_execution_that_does_not_load_fails_alone() -> None:
    reads = _Reads()
    with ThreadPoolExecutor(1) as executor:
        loader: Loader[str] = Loader(reads, executor)
        good, bad, gone = await asyncio.gather(
            loader.load("wex-1"), loader.load("bad-2"), loader.load("gone"), return_exceptions=True
        )
        assert good == "rows of wex-1"
        assert isinstance(bad, ValueError)
        assert gone is None
        with pytest.raises(OSError):
            await asyncio.gather(loader.load("broken-group"), loader.load("wex-3"))
    assert len(reads.groups) == 2


async def test_a_run_cancelled_while_it_loads_leaves_the_others_loading() -> None:
    reads = _Reads()
    release = threading.Event()

    def slow(ids: list[str]) -> Mapping[str, str | BaseException | None]:
        release.wait(5)
        return reads(ids)

    with ThreadPoolExecutor(1) as executor:
        loader: Loader[str] = Loader(slow, executor)
        cancelled = asyncio.ensure_future(loader.load("wex-1"))
        kept = asyncio.ensure_future(loader.load("wex-2"))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        release.set()
        assert await kept == "rows of wex-2"
        assert cancelled.cancelled()


async def test_executions_started_together_are_loaded_in_few_transactions(service: ResourceService) -> None:
    workflow_id = create_workflow(service, document([{"a": {"set": {"x": 1}}}]))
    ids = [create_execution(service, workflow_id) for _ in range(40)]
    async with running(service) as runtime:
        for id in ids:
            assert (await wait_for(service, id)).status.phase == "completed"
        # Claimed in a handful of ticks, each tick's runs read together.
        assert runtime.worker.loader.groups < len(ids) / 2
