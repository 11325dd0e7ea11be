"""`treadle worker`: run executions from a store, durably, without the API server.

Several workers may share one PostgreSQL database (they split the work with leases);
a SQLite store is served by one process. Other knobs come from `TREADLE_RUNTIME_*`
variables (see docs/runtime.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from treadle.cli.functions import FunctionsOption, load_functions
from treadle.runtime.local import RuntimeSettings
from treadle.runtime.local.process import serve


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
    allow_run: Annotated[
        bool, typer.Option("--allow-run", help="Let `run: shell|script|container` tasks start processes.")
    ] = False,
) -> None:
    """Run workflow executions from the store until interrupted (Ctrl-C stops gracefully).

    Example: treadle worker --database-url postgresql://treadle@db/treadle --concurrency 200
    """
    load_functions(function_modules, "worker")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = RuntimeSettings.from_env(max_running=concurrency, allow_run=allow_run or None)
    asyncio.run(serve(database_url, settings, worker_id))
