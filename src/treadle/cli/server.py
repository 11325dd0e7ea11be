"""`treadle server`: the HTTP API and a local worker, over the configured store."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

import typer

from treadle.cli.functions import FunctionsOption, load_functions
from treadle.cli.heap import settle_heap
from treadle.cli.remote import EXIT_UNREACHABLE, EXIT_USAGE, fail
from treadle.cli.temporal import (
    NamespaceOption,
    Runtime,
    RuntimeOption,
    TaskQueueOption,
    TemporalAddressOption,
    require_temporal_address,
)
from treadle.settings import InvalidSetting, Settings

if TYPE_CHECKING:
    from treadle.resources import ResourceService
    from treadle.store import StoreUnavailable

log = logging.getLogger("treadle.server")


def server_command(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (non-loopback needs a token).")
    ] = ("127.0.0.1"),
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8080,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="sqlite:///… or postgresql://… [default: $TREADLE_DATABASE_URL]."
        ),
    ] = None,
    log_format: Annotated[
        str, typer.Option("--log-format", help="`json` (one object per line) or `text` for people.")
    ] = "json",
    function_modules: FunctionsOption = None,
    allow_run: Annotated[
        bool, typer.Option("--allow-run", help="Let workflows start processes (run: shell|script|container).")
    ] = False,
    runtime_name: RuntimeOption = Runtime.local,
    temporal_address: TemporalAddressOption = None,
    namespace: NamespaceOption = "default",
    task_queue: TaskQueueOption = "treadle",
    temporal_worker: Annotated[
        bool,
        typer.Option(
            "--temporal-worker/--no-temporal-worker",
            help="With --runtime temporal: also run a Temporal worker in this process.",
        ),
    ] = True,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json) and run executions in a local worker.

    With --runtime temporal, executions run as Temporal workflows instead (id = the
    execution id); their workers report progress to this store (`treadle worker
    --runtime temporal --database-url ...`, or the one this process runs unless
    --no-temporal-worker).

    Listens on 127.0.0.1 unless --host says otherwise; another address requires
    TREADLE_API_TOKEN, which clients then send as `Authorization: Bearer <token>`.
    Ctrl-C stops it; executions in flight resume at the next start. A store that cannot
    be opened exits 2 (its URL is at fault) or 3 (the database behind it).

    Example: treadle server --port 8080 --database-url sqlite:///./treadle.db
    """
    load_functions(function_modules, "server")
    address = require_temporal_address(runtime_name, temporal_address, "server")
    # Imported here: the other commands should not pay for FastAPI and uvicorn.
    import uvicorn

    from treadle.api import UnsafeBind, check_bind, configure_logging, create_app

    if log_format not in ("json", "text"):
        fail("--log-format is json or text", EXIT_USAGE)
    token = os.environ.get("TREADLE_API_TOKEN") or None
    try:
        check_bind(host, token)
    except UnsafeBind as error:
        fail(str(error), EXIT_USAGE)
    fmt: Literal["json", "text"] = "json" if log_format == "json" else "text"
    configure_logging(fmt)
    try:
        settings = Settings.from_env()
    except InvalidSetting as error:
        fail(str(error), EXIT_USAGE)
    if database_url:
        settings = dataclasses.replace(settings, database_url=database_url)
    service = open_service(settings)
    if address is not None:
        runtime = temporal_runtime(
            service,
            address=address,
            namespace=namespace,
            task_queue=task_queue,
            worker=temporal_worker,
            allow_run=allow_run,
        )
    else:
        runtime = local_runtime(service, allow_run=allow_run)
    app = create_app(service, runtime=runtime, settings=settings, token=token)
    log.info(
        "treadle server on http://%s:%s (store %s, runtime %s, worker %s)",
        host,
        port,
        service.store.dialect,
        f"temporal {address}/{namespace}/{task_queue}" if address is not None else "local",
        "off" if runtime is None or (address is not None and not temporal_worker) else "on",
    )
    settle_heap()
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=5)


def open_service(settings: Settings) -> ResourceService:
    """The service over the settings' store, migrated (see `fail_to_open`)."""
    from treadle.resources import ResourceService
    from treadle.store import StoreUnavailable

    try:
        return ResourceService.open(settings)
    except StoreUnavailable as error:
        fail_to_open(error)


def fail_to_open(error: StoreUnavailable) -> NoReturn:
    """End the command with why the store cannot be opened: exit 2 for its URL, 3 for the
    database behind it."""
    fail(str(error), EXIT_USAGE if error.bad_url else EXIT_UNREACHABLE)


def local_runtime(service: ResourceService, *, allow_run: bool) -> Any:
    """The local durable worker (`TREADLE_RUNTIME_*` settings), or None when this treadle has none."""
    try:
        from treadle.runtime.local import LocalRuntime, RuntimeSettings
    except ImportError as error:
        log.warning("no local runtime (%s): serving the API without a worker; /ready says so", error)
        return None
    return LocalRuntime(service, RuntimeSettings.from_env(allow_run=allow_run))


def temporal_runtime(
    service: ResourceService,
    *,
    address: str,
    namespace: str,
    task_queue: str,
    worker: bool,
    allow_run: bool,
) -> Any:
    """The Temporal runtime: executions as workflows, with an in-process worker if `worker`."""
    # Imported here: the Temporal SDK is only paid for by those who use it.
    from treadle.runtime.temporal.control import TemporalRuntime

    return TemporalRuntime(
        service,
        address=address,
        namespace=namespace,
        task_queue=task_queue,
        worker=worker,
        allow_run=allow_run,
    )
