"""Timeouts as races: the guarded work against `effects.sleep`, the loser cancelled.

Using the port's timer (not `asyncio.wait_for`) keeps the engine off the clock: a
durable runtime journals the timer, a replay sees it fire at the same point. Cancelling
the work cancels whatever effect it awaits, so a timed-out HTTP call is abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

from treadle.engine.effects import Effects
from treadle.engine.errors import timeout_error

__all__ = ["race_timeout"]

T = TypeVar("T")


async def race_timeout(
    work: Awaitable[T], seconds: float, effects: Effects, key: str, instance: str, what: str
) -> T:
    """Await `work`, or raise the timeout error once `effects.sleep(seconds)` ends first.

    Raises:
        WorkflowError: the timeout error (type timeout, 408) with `instance`.
    """
    worker: asyncio.Future[T] = asyncio.ensure_future(work)
    timer: asyncio.Future[Any] = asyncio.ensure_future(effects.sleep(seconds, key))
    try:
        await asyncio.wait((worker, timer), return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Whatever happened (including our own cancellation), nobody may outlive the race.
        if not worker.done():
            worker.cancel()
        if not timer.done():
            timer.cancel()
        await _settle(timer)
        await _settle(worker)
    if not worker.cancelled():
        return worker.result()
    raise timeout_error(f"{what} timed out after {seconds:g}s", instance)


async def _settle(future: asyncio.Future[Any]) -> None:
    """Wait for a cancelled future to finish unwinding, swallowing its outcome."""
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await future
