"""`treadle run FILE`: run a document once, embedded, and print its output.

The output contract is exact, since other tools drive treadle through it: see
docs/cli.md. Exit codes: 0 completed, 1 faulted, 2 invalid document or usage,
130 interrupted.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml
from ulid import ULID

from treadle.cli import EXIT_INTERRUPTED
from treadle.cli.functions import FunctionsOption, load_functions
from treadle.cli.output import problem_lines, read_document_text, to_json
from treadle.cli.temporal import (
    NamespaceOption,
    Runtime,
    RuntimeOption,
    TaskQueueOption,
    TemporalAddressOption,
    require_temporal_address,
)
from treadle.dsl import InvalidDocument, Workflow, parse
from treadle.effects import Dispatcher
from treadle.engine import RunResult, run_workflow
from treadle.runtime.memory import MemoryEffects, RecordingObserver
from treadle.runtime.redaction import Redactor
from treadle.runtime.secrets import SecretsFileError, load_secrets
from treadle.runtime.subflows import SubWorkflowRun, WorkflowCatalog

T = TypeVar("T")

EXIT_COMPLETED = 0
EXIT_FAULTED = 1
EXIT_USAGE = 2


def run_command(
    file: Annotated[Path, typer.Argument(help="The workflow document (YAML or JSON).")],
    input_json: Annotated[
        str | None, typer.Option("--input", help="The workflow input, as JSON text.")
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="Read the workflow input from a JSON or YAML file.")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: id, status, output, error, tasks.")
    ] = False,
    secrets_file: Annotated[
        Path | None,
        typer.Option("--secrets-file", help="A YAML/JSON mapping of secret names to values."),
    ] = None,
    with_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--with",
            help="A workflow that `run: workflow` may run (besides those beside FILE); repeatable.",
        ),
    ] = None,
    function_modules: FunctionsOption = None,
    allow_run: Annotated[
        bool,
        typer.Option("--allow-run", help="Let `run: shell|script|container` start local processes."),
    ] = False,
    runtime: RuntimeOption = Runtime.local,
    temporal_address: TemporalAddressOption = None,
    namespace: NamespaceOption = "default",
    task_queue: TaskQueueOption = "treadle",
    event_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--event",
            help="A CloudEvent (JSON/YAML object, or a list of them) delivered to the run; repeatable.",
        ),
    ] = None,
) -> None:
    """Run a workflow once, embedded (no server), and print its output.

    Without --json: the output as pretty JSON on stdout and a one-line summary on
    stderr. Exit 0 completed, 1 faulted, 2 invalid document or usage, 130 interrupted.

    Example: treadle run flows/order.yaml --input '{"id": 42}'
    """
    address = require_temporal_address(runtime, temporal_address, "run")
    workflow = _parse_or_exit(file)
    load_functions(function_modules, "run")
    catalog = WorkflowCatalog([_parse_or_exit(path) for path in with_files or []], search=[file.parent])
    catalog.add(workflow)
    workflow_input = _read_input(input_json, input_file)
    try:
        secrets = load_secrets(_declared_secrets(workflow), secrets_file)
    except SecretsFileError as error:
        _fail_usage(str(error))
    events = [event for path in event_files or [] for event in _read_events(path)]
    started = time.perf_counter()
    if address is None:
        outcome = asyncio.run(_execute(workflow, workflow_input, secrets, events, catalog, allow_run))
    else:
        target = _TemporalTarget(address, namespace, task_queue)
        outcome = asyncio.run(
            _execute_on_temporal(workflow, workflow_input, secrets, events, allow_run, target)
        )
    elapsed = time.perf_counter() - started
    _report(outcome, json_output, elapsed, Redactor(secrets))
    raise typer.Exit(_exit_code(outcome))


class _Outcome:
    """What one embedded run produced, plus whether the user interrupted it."""

    def __init__(self, execution_id: str, result: RunResult, observer: RecordingObserver, interrupted: bool):
        self.execution_id = execution_id
        self.result = result
        self.observer = observer
        self.interrupted = interrupted


async def _execute(
    workflow: Workflow,
    workflow_input: Any,
    secrets: dict[str, Any],
    events: list[dict[str, Any]],
    catalog: WorkflowCatalog,
    allow_run: bool,
) -> _Outcome:
    execution_id = f"wex-{ULID()}"
    observer = RecordingObserver()
    async with Dispatcher(allow_run=allow_run) as dispatcher:
        effects = MemoryEffects(call_handler=dispatcher.call)
        dispatcher.register("workflow", SubWorkflowRun(catalog, effects))
        for event in events:
            # Unclaimed events wait on the bus until a `listen` takes them.
            effects.bus.publish(event)
        running = run_workflow(
            workflow, workflow_input, effects, execution_id=execution_id, observer=observer, secrets=secrets
        )
        result, interrupted = await _until_interrupted(running)
    return _Outcome(execution_id, result, observer, interrupted)


async def _until_interrupted(running: Coroutine[Any, Any, T]) -> tuple[T, bool]:
    """Await a run; Ctrl-C or SIGTERM cancels it (the run then ends `cancelled`).

    Returns the run's result and whether the user interrupted it.
    """
    task = asyncio.ensure_future(running)
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, interrupt)
    try:
        return await task, interrupted
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


class _TemporalTarget:
    def __init__(self, address: str, namespace: str, task_queue: str) -> None:
        self.address = address
        self.namespace = namespace
        self.task_queue = task_queue


async def _execute_on_temporal(
    workflow: Workflow,
    workflow_input: Any,
    secrets: dict[str, Any],
    events: list[dict[str, Any]],
    allow_run: bool,
    target: _TemporalTarget,
) -> _Outcome:
    # Imported here: the Temporal SDK is only paid for by those who use it.
    from treadle.runtime.temporal.client import run_once

    execution_id = f"wex-{ULID()}"
    running = run_once(
        workflow,
        workflow_input,
        address=target.address,
        namespace=target.namespace,
        task_queue=target.task_queue,
        execution_id=execution_id,
        secrets=secrets,
        events=events,
        allow_run=allow_run,
        # Always bring a worker: Temporal lists a worker that just exited as polling
        # for about a minute, so "only when none is running" would make a second
        # run in a row wait that long. Extra workers on a queue only share the work.
        worker="always",
    )
    try:
        (result, observer), interrupted = await _until_interrupted(running)
    except Exception as error:  # an unreachable cluster is the user's setup, not a fault
        typer.echo(f"treadle run: cannot run on Temporal at {target.address}: {error}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    return _Outcome(execution_id, result, observer, interrupted)


def _parse_or_exit(file: Path) -> Workflow:
    try:
        return parse(read_document_text(file), str(file))
    except InvalidDocument as error:
        for line in problem_lines(str(file), error.problems):
            typer.echo(line, err=True)
        raise typer.Exit(EXIT_USAGE) from None


def _read_input(input_json: str | None, input_file: Path | None) -> Any:
    if input_json is not None and input_file is not None:
        _fail_usage("give the input with --input or --input-file, not both")
    if input_json is not None:
        try:
            return json.loads(input_json)
        except ValueError as error:
            _fail_usage(f"--input is not valid JSON: {error}")
    if input_file is not None:
        try:
            return yaml.safe_load(input_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            _fail_usage(f"--input-file {input_file}: {error}")
    return {}


def _read_events(path: Path) -> list[dict[str, Any]]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        _fail_usage(f"--event {path}: {error}")
    events = loaded if isinstance(loaded, list) else [loaded]
    for index, event in enumerate(events):
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            where = f" (item {index})" if isinstance(loaded, list) else ""
            _fail_usage(f"--event {path}{where}: a CloudEvent is an object with at least a 'type'")
    return events


def _declared_secrets(workflow: Workflow) -> list[str]:
    use = workflow.use
    return list(use.secrets or []) if use is not None else []


def _fail_usage(message: str) -> typer.Exit:
    typer.echo(f"treadle run: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def _exit_code(outcome: _Outcome) -> int:
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_COMPLETED if outcome.result.status == "completed" else EXIT_FAULTED


def _report(outcome: _Outcome, json_output: bool, elapsed: float, redactor: Redactor) -> None:
    # Secret values never reach the terminal, whatever the workflow did with them.
    result = outcome.result
    error = redactor.value(result.error.to_problem()) if result.error is not None else None
    output = redactor.value(result.output)
    if json_output:
        document = {
            "id": outcome.execution_id,
            "status": result.status,
            "output": output,
            "error": error,
            "tasks": [_task_line(task) for task in outcome.observer.tasks],
        }
        sys.stdout.write(to_json(document, pretty=False) + "\n")
        return
    if result.status == "completed":
        sys.stdout.write(to_json(output, pretty=True) + "\n")
    summary = f"{result.status} in {elapsed:.3f}s, {len(outcome.observer.tasks)} task(s) run"
    if error is not None:
        summary += f": {error.get('title')}"
        if error.get("detail"):
            summary += f": {error['detail']}"
        summary += f" (at {error.get('instance') or '/'})"
    typer.echo(summary, err=True)


def _task_line(task: Any) -> dict[str, Any]:
    record = task if isinstance(task, dict) else vars(task)
    return {key: record.get(key) for key in ("name", "path", "status", "started_at", "completed_at")}
