"""`fork`: run the branches concurrently (asyncio tasks).

Without `compete`, the output is the array of branch outputs in declaration order; the
first branch to fault cancels the others and the fork faults with its error. With
`compete: true`, the first branch to complete wins: the others are cancelled and the
output is the winner's; the fork faults only if every branch faults. Cancelling a
branch cancels the effect it awaits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from treadle.dsl.models import ForkTask, TaskEntry
from treadle.engine.flow import Outcome, run_task
from treadle.engine.state import Frame

__all__ = ["run_fork"]


async def run_fork(task: ForkTask, frame: Frame) -> Outcome:
    """Run every branch at once; join them all, or let them compete."""
    branches = task.fork.branches
    if not branches.entries:
        return Outcome(frame.input)
    running = [
        asyncio.ensure_future(run_task(entry, frame.input, frame.scope, branches))
        for entry in branches.entries
    ]
    try:
        if task.fork.compete:
            return await _compete(running, branches.entries, frame)
        return await _join(running)
    finally:
        for branch in running:
            if not branch.done():
                branch.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def _join(running: Sequence[asyncio.Future[Outcome]]) -> Outcome:
    pending: set[asyncio.Future[Outcome]] = set(running)
    while pending:
        _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        failure = _first_failure(running)
        if failure is not None:
            raise failure
    outcomes = [branch.result() for branch in running]
    return Outcome([outcome.output for outcome in outcomes], ended=any(o.ended for o in outcomes))


async def _compete(
    running: Sequence[asyncio.Future[Outcome]], entries: tuple[TaskEntry, ...], frame: Frame
) -> Outcome:
    pending: set[asyncio.Future[Outcome]] = set(running)
    while pending:
        _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        # Among branches done in the same round, the first declared wins: deterministic.
        for entry, branch in zip(entries, running, strict=True):
            if branch.done() and not branch.cancelled() and branch.exception() is None:
                frame.decide(entry.pointer, entry.name, True, "first branch to complete")
                outcome = branch.result()
                return Outcome(outcome.output, ended=outcome.ended)
    failure = _first_failure(running)
    assert failure is not None
    raise failure


def _first_failure(running: Sequence[asyncio.Future[Outcome]]) -> BaseException | None:
    for branch in running:
        if branch.done() and not branch.cancelled():
            error = branch.exception()
            if error is not None:
                return error
    return None
