"""`Loader`: what starting runs read, many runs per read transaction.

Runs claimed in one tick start together, and a recovery starts hundreds. Each run asks
for its rows; the requests made in one turn of the event loop are read in groups of up
to `GROUP` executions on the load threads, one read transaction (a statement per table)
per group, instead of one transaction per run: six round trips on PostgreSQL, each with
the Python around it, which made loads most of a recovery's time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Generic, TypeVar

__all__ = ["GROUP", "Loader"]

T = TypeVar("T")

#: The most executions read in one transaction.
GROUP = 32

#: Reads a group: each execution's rows (None: nothing to run), or what building them
#: raised for that execution alone.
Read = Callable[[list[str]], Mapping[str, "T | BaseException | None"]]


class Loader(Generic[T]):
    """Groups the loads asked for on one event loop and reads each group on `executor`."""

    def __init__(self, read: Read[T], executor: Executor) -> None:
        self.read = read
        self.executor = executor
        self._pending: list[tuple[str, asyncio.Future[T | None]]] = []
        self.groups = 0

    async def load(self, execution_id: str) -> T | None:
        """The execution's rows as `read` made them (None: nothing to run).

        Raises:
            what reading its group, or building its rows, raised.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T | None] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._dispatch, loop)
        self._pending.append((execution_id, future))
        return await future

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), GROUP):
            group = pending[start : start + GROUP]
            ids = [execution_id for execution_id, _ in group]
            self.groups += 1
            read = loop.run_in_executor(self.executor, self.read, ids)
            read.add_done_callback(lambda done, group=group: _deliver(group, done))  # type: ignore[misc]


def _deliver(
    group: list[tuple[str, asyncio.Future[T | None]]],
    done: asyncio.Future[Mapping[str, T | BaseException | None]],
) -> None:
    failure = done.exception() if not done.cancelled() else asyncio.CancelledError()
    results = done.result() if failure is None else {}
    for execution_id, future in group:
        if future.done():  # the run was cancelled meanwhile
            continue
        if failure is not None:
            future.set_exception(failure)
            continue
        result = results.get(execution_id)
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
