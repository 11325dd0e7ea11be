"""`treadle worker`: run executions from a store, durably, without the API server.

Several workers may share one PostgreSQL database (they split the work with leases);
a SQLite store is served by one process. Other knobs come from `TREADLE_RUNTIME_*`
variables (see docs/runtime.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Annotated

import typer

from treadle.cli.functions import FunctionsOption, load_functions
from treadle.cli.heap import settle_heap
from treadle.cli.server import fail_to_open, open_service
from treadle.cli.temporal import (
    NamespaceOption,
    Runtime,
    RuntimeOption,
    TaskQueueOption,
    TemporalAddressOption,
    require_temporal_address,
)
from treadle.runtime.local import RuntimeSettings
from treadle.runtime.local.process import serve
from treadle.store import StoreUnavailable


def worker_command(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="The store (default: TREADLE_DATABASE_URL, else the embedded SQLite)."
        ),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="Executions this worker runs at once (default 100).")
    ] = None,
    worker_id: Annotated[
        str | None,
        typer.Option("--worker-id", help="This worker's name in leases (default: host-pid-random)."),
    ] = None,
    function_modules: FunctionsOption = None,
    runtime: RuntimeOption = Runtime.local,
    temporal_address: TemporalAddressOption = None,
    namespace: NamespaceOption = "default",
    task_queue: TaskQueueOption = "treadle",
    allow_run: Annotated[
        bool, typer.Option("--allow-run", help="Let `run: shell|script|container` tasks start processes.")
    ] = False,
) -> None:
    """Run workflow executions from the store until interrupted (Ctrl-C stops gracefully).

    A store that cannot be opened exits 2 (its URL is at fault) or 3 (the database).

    With --runtime temporal it is a Temporal worker instead: it hosts the workflow that
    interprets treadle documents and the activities that perform their effects.

    Example: treadle worker --database-url postgresql://treadle@db/treadle --concurrency 200
    """
    load_functions(function_modules, "worker")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    address = require_temporal_address(runtime, temporal_address, "worker")
    if address is not None:
        _run_temporal_worker(address, namespace, task_queue, allow_run, database_url)
        return
    settings = RuntimeSettings.from_env(max_running=concurrency, allow_run=allow_run or None)
    settle_heap()
    try:
        asyncio.run(serve(database_url, settings, worker_id))
    except StoreUnavailable as error:
        fail_to_open(error)


def _run_temporal_worker(
    address: str, namespace: str, task_queue: str, allow_run: bool, database_url: str | None
) -> None:
    """A Temporal worker; with --database-url its runs' progress goes to that store (the
    server's), else it is kept in memory."""
    # Imported here: the Temporal SDK is only paid for by those who use it.
    from treadle.runtime.temporal.worker import run_worker

    progress = None
    if database_url:
        from treadle.runtime.temporal.store import StoreProgressSink
        from treadle.settings import Settings

        settings = dataclasses.replace(Settings.from_env(), database_url=database_url)
        progress = StoreProgressSink(open_service(settings))
    try:
        asyncio.run(run_worker(address, namespace, task_queue, allow_run=allow_run, progress=progress))
    except KeyboardInterrupt:
        return
