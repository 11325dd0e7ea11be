"""Running the local runtime as a process of its own (`treadle worker`, `python -m treadle.runtime.local`).

The process opens the store (migrating it), runs a `LocalRuntime` until SIGINT or
SIGTERM, then stops gracefully: runs unload and their leases are released, so another
worker continues them at once. Killed outright, its leases lapse and other workers (or
this one, restarted) take its executions over.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import sys
from collections.abc import Sequence

from treadle.resources import ResourceService
from treadle.runtime.local.control import LocalRuntime
from treadle.runtime.local.settings import RuntimeSettings
from treadle.settings import Settings
from treadle.store import StoreUnavailable

__all__ = ["main", "serve"]


async def serve(database_url: str | None, settings: RuntimeSettings, worker_id: str | None = None) -> None:
    """Run a worker on the store at `database_url` (default: the configured one) until signalled."""
    base = Settings.from_env()
    if database_url:
        base = dataclasses.replace(base, database_url=database_url)
    service = await asyncio.to_thread(ResourceService.open, base)
    runtime = LocalRuntime(service, settings, worker_id=worker_id)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await runtime.start()
    logging.getLogger(__name__).info("worker %s started on %s", runtime.worker_id, base.database_url)
    try:
        await stop.wait()
    finally:
        await runtime.stop()
        service.store.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m treadle.runtime.local [--database-url URL] [--concurrency N] [--worker-id ID]`."""
    parser = argparse.ArgumentParser(prog="python -m treadle.runtime.local", description=__doc__)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--worker-id", default=None)
    parser.add_argument("--allow-run", action="store_true", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = RuntimeSettings.from_env(max_running=args.concurrency, allow_run=args.allow_run)
    try:
        asyncio.run(serve(args.database_url, settings, args.worker_id))
    except StoreUnavailable as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return 2 if error.bad_url else 3
    return 0
