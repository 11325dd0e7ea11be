"""`treadle start`, `treadle wait`, `treadle logs`, `treadle cancel`: executions on a server.

`start --watch` and `logs -f` follow the execution's event stream; `--watch` draws a
live tree of its tasks and exits as `treadle run` does: 0 completed, 1 faulted or
cancelled, 130 interrupted (the execution goes on running on the server).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text
from rich.tree import Tree

from treadle.cli import EXIT_INTERRUPTED
from treadle.cli.output import to_json
from treadle.cli.remote import (
    EXIT_USAGE,
    ServerOption,
    at_lines,
    fail,
    read_input,
    read_input_lines,
    remote,
)

if TYPE_CHECKING:
    from treadle.client import Client, Event

#: Executions started per request by `--inputs`: the server's limit
#: (`treadle.resources.service.MAX_BATCH`; not imported: the CLI starts without the store).
BATCH = 1000

EXIT_COMPLETED = 0
EXIT_FAULTED = 1
EXIT_TIMEOUT = 124  # as timeout(1)
_MARKS = {
    "running": ("…", "yellow"),
    "completed": ("✓", "green"),
    "faulted": ("✗", "red"),
    "skipped": ("-", "dim"),
    "cancelled": ("⊘", "magenta"),
}


class Durability(StrEnum):
    """How the runtime makes the run's steps durable (docs/runtime.md, "Durability")."""

    sync = "sync"
    async_ = "async"


def start_command(
    workflow: Annotated[str | None, typer.Argument(help="The workflow: an id, a slug or ORG/SLUG.")] = None,
    instance: Annotated[
        str | None, typer.Option("--instance", help="Run this instance (id, slug or ORG/SLUG) instead.")
    ] = None,
    input_json: Annotated[str | None, typer.Option("--input", help="The input, as JSON text.")] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="The input, a JSON/YAML file.")
    ] = None,
    inputs_file: Annotated[
        Path | None,
        typer.Option(
            "--inputs",
            help="Start one execution per line of this JSON Lines file (- reads stdin), "
            f"{BATCH:,} per request.",
        ),
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Show its tasks live until it ends.")] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait until the executions end; exit 0 if all completed, else 1."),
    ] = False,
    durability: Annotated[
        Durability | None,
        typer.Option(
            "--durability",
            help="sync: each step committed before the next; async: committed while the run "
            "goes on (a crash re-runs the uncommitted steps). Default: the workflow's.",
        ),
    ] = None,
    org: Annotated[str | None, typer.Option("--org", help="The organization scope of slugs.")] = None,
    server: ServerOption = None,
) -> None:
    """Start an execution of a workflow (its default instance) or of an instance.

    Prints the execution's id; with --watch, follows it and prints its output, exiting
    0 completed, 1 faulted or cancelled, 130 interrupted. With --inputs, starts one
    execution per input line and prints their ids in order: each request of up to
    1,000 starts all of its executions or none. With --wait, it then waits until they
    all end and says how many ended how (exit 0 if all completed, else 1).

    Example: treadle start hello --input '{"name": "you"}' --watch
    """
    if workflow is None and instance is None:
        fail("name the workflow to start (or --instance)", EXIT_USAGE)
    if watch and wait:
        fail("--watch waits already: not with --wait", EXIT_USAGE)
    if inputs_file is not None:
        if input_json is not None or input_file is not None or watch:
            fail("--inputs starts many executions: not with --input, --input-file or --watch", EXIT_USAGE)
        lines = read_input_lines(inputs_file)
    else:
        workflow_input = read_input(input_json, input_file)
    with remote(server) as client:
        if instance is not None:
            target = {"instance": client.resolve("WorkflowInstance", instance, org=org).metadata.id}
        else:
            assert workflow is not None
            target = {"workflow": client.resolve("Workflow", workflow, org=org).metadata.id}
        if durability is not None:
            target["durability"] = durability.value
        if inputs_file is not None:
            started = _start_lines(client, target, lines)
        else:
            execution_id = str(client.start(**target, input=workflow_input).metadata.id)
            if watch:
                raise typer.Exit(_watch(client, execution_id))
            typer.echo(execution_id)
            if not wait:
                typer.echo(f"follow it with: treadle logs {execution_id} -f", err=True)
            started = [execution_id]
        if wait:
            raise typer.Exit(_wait_all(client, started))


def wait_command(
    executions: Annotated[
        list[str], typer.Argument(help="Execution ids; - reads them from stdin (whitespace-separated).")
    ],
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0, help="Give up after this many seconds (exit 124).")
    ] = None,
    server: ServerOption = None,
) -> None:
    """Wait until executions end; say how many ended how.

    Exits 0 if all completed, 1 if any faulted or was cancelled, 124 when the
    timeout passed first, 130 interrupted (the executions go on running).

    Example: treadle start hello --inputs runs.jsonl | treadle wait -
    """
    ids = [id for arg in executions for id in (sys.stdin.read().split() if arg == "-" else [arg])]
    if not ids:
        fail("no execution ids to wait for", EXIT_USAGE)
    with remote(server) as client:
        raise typer.Exit(_wait_all(client, ids, timeout))


def _wait_all(client: Client, execution_ids: list[str], timeout: float | None = None) -> int:
    """Wait until they all end; say how many ended how (on stderr: stdout has the ids)."""
    try:
        phases = client.wait_many(execution_ids, timeout=timeout)
    except KeyboardInterrupt:
        typer.echo("treadle: interrupted: the executions go on running on the server", err=True)
        return EXIT_INTERRUPTED
    except TimeoutError as error:
        typer.echo(f"treadle: timed out: {error}", err=True)
        return EXIT_TIMEOUT
    counts = Counter(phases.values())
    typer.echo(", ".join(f"{count} {phase}" for phase, count in sorted(counts.items())), err=True)
    return EXIT_COMPLETED if set(counts) == {"completed"} else EXIT_FAULTED


def _start_lines(client: Client, target: dict[str, Any], lines: list[tuple[int, Any]]) -> list[str]:
    """Start an execution per input line, a batch at a time; print and return their ids."""
    from treadle.client import ApiError

    ids: list[str] = []
    for first in range(0, len(lines), BATCH):
        batch = lines[first : first + BATCH]
        try:
            started = client.start_many(**target, inputs=[value for _, value in batch])
        except ApiError as error:
            if first:
                typer.echo(
                    f"treadle: the executions of the lines before line {batch[0][0]} started", err=True
                )
            raise at_lines(error, [number for number, _ in batch]) from None
        for execution in started:
            ids.append(str(execution.metadata.id))
            typer.echo(execution.metadata.id)
    return ids


class _TaskTree:
    """The tasks of one execution as a Rich tree, nested by task path."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self.phase = "pending"
        self.started = time.monotonic()
        self.tasks: dict[str, dict[str, Any]] = {}
        self.decisions: dict[str, str] = {}
        self.order: list[str] = []

    def apply(self, event: Event) -> None:
        data = event.data if isinstance(event.data, dict) else {}
        if event.type == "phase":
            self.phase = str(data.get("phase", self.phase))
        elif event.type.startswith("task."):
            path = str(data.get("path", ""))
            if path not in self.tasks:
                self.order.append(path)
                self.tasks[path] = {"name": data.get("name", path), "at": time.monotonic()}
            task = self.tasks[path]
            task["phase"] = "running" if event.type == "task.started" else event.type.split(".", 1)[1]
            task["attempt"] = data.get("attempt", 1)
            if task["phase"] != "running":
                task["elapsed"] = time.monotonic() - task["at"]
            if event.type == "task.faulted":
                error = data.get("error") or {}
                task["error"] = error.get("title") or error.get("detail") or "faulted"
        elif event.type == "decision":
            case = data.get("case") or data.get("reason") or "default"
            self.decisions[str(data.get("from", ""))] = f"{case} → {data.get('to') or 'next'}"

    def render(self) -> Group:
        done = sum(1 for t in self.tasks.values() if t.get("phase") not in (None, "running"))
        running = sum(1 for t in self.tasks.values() if t.get("phase") == "running")
        head = Text.assemble(
            (self.execution_id, "bold"),
            f"  {self.phase}  ",
            (f"{done} done, {running} running, {time.monotonic() - self.started:.1f}s", "dim"),
        )
        root = Tree(head)
        nodes: dict[str, Tree] = {}
        for path in self.order:
            parent = max((p for p in nodes if path.startswith(p + "/")), key=len, default=None)
            nodes[path] = (nodes[parent] if parent else root).add(self._label(path))
        return Group(root)

    def _label(self, path: str) -> Text:
        task = self.tasks[path]
        mark, style = _MARKS.get(task.get("phase", "running"), ("?", ""))
        label = Text.assemble((f"{mark} ", style), str(task["name"]))
        if task.get("attempt", 1) > 1:
            label.append(f" (attempt {task['attempt']})", "dim")
        if "elapsed" in task:
            label.append(f" {task['elapsed'] * 1000:.0f} ms", "dim")
        if "error" in task:
            label.append(f"  {task['error']}", "red")
        if path in self.decisions:
            label.append(f"  [{self.decisions[path]}]", "cyan")
        return label


def _watch(client: Client, execution_id: str) -> int:
    tree = _TaskTree(execution_id)
    console = Console(stderr=True)
    try:
        with Live(tree.render(), console=console, refresh_per_second=8, transient=False) as live:
            for event in client.events(execution_id):
                tree.apply(event)
                live.update(tree.render())
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted; {execution_id} goes on on the server (treadle cancel {execution_id})", err=True
        )
        return EXIT_INTERRUPTED
    execution = client.get("WorkflowExecution", execution_id)
    status = execution.status
    if status.phase == "completed":
        sys.stdout.write(to_json(status.output, pretty=True) + "\n")
    summary = f"{status.phase} in {time.monotonic() - tree.started:.3f}s, {len(tree.tasks)} task(s) run"
    if status.error:
        summary += f": {status.error.get('title')}"
        if status.error.get("detail"):
            summary += f": {status.error['detail']}"
        summary += f" (at {status.error.get('instance') or '/'})"
    typer.echo(summary, err=True)
    return EXIT_COMPLETED if status.phase == "completed" else EXIT_FAULTED


def logs_command(
    execution: Annotated[str, typer.Argument(help="The execution's id.")],
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Follow its events until it ends.")] = False,
    server: ServerOption = None,
) -> None:
    """Print an execution's stages and decisions; with -f, follow its events live.

    Example: treadle logs wex-01J... -f
    """
    with remote(server) as client:
        if follow:
            for event in client.events(execution):
                typer.echo(_event_line(event))
            return
        client.get("WorkflowExecution", execution)
        lines = [(stage.get("started_at") or "", _stage_line(stage)) for stage in client.stages(execution)]
        lines += [(d.get("at") or "", _decision_line(d)) for d in client.decisions(execution)]
    for _, line in sorted(lines, key=lambda item: item[0]):
        typer.echo(line)


def _event_line(event: Event) -> str:
    data = event.data if isinstance(event.data, dict) else {"data": event.data}
    seq = f"{event.seq:>5}" if event.seq is not None else "    -"
    if event.type == "phase":
        tail = f"phase {data.get('phase')}"
        if data.get("error"):
            tail += f": {(data['error'] or {}).get('title')}"
    elif event.type == "decision":
        tail = f"decision {data.get('from')} → {data.get('to')} ({data.get('case') or data.get('reason')})"
    else:
        tail = f"{event.type} {data.get('path')}"
        if event.type == "task.completed":
            tail += f" output={to_json(data.get('output'), pretty=False)}"
        if event.type == "task.faulted":
            tail += f" error={to_json(data.get('error'), pretty=False)}"
    return f"{seq} {tail}"


def _stage_line(stage: dict[str, Any]) -> str:
    duration = f" {stage['duration_ms']:.1f} ms" if stage.get("duration_ms") is not None else ""
    at = stage.get("started_at") or ""
    line = f"{at} stage {stage['node']} [{stage['status']}]{duration}"
    if stage.get("error"):
        line += f" error={to_json(stage['error'], pretty=False)}"
    return line


def _decision_line(decision: dict[str, Any]) -> str:
    return (
        f"{decision.get('at', '')} decision {decision['from_node']} → {decision.get('to_node') or 'next'}"
        f" case={decision.get('case_name') or '-'} reason={decision.get('reason')}"
    )


def _control(action: str, execution: str, server: str | None) -> None:
    with remote(server) as client:
        result = getattr(client, action)(execution)
    typer.echo(f"{result.metadata.id} {result.status.phase}")


def cancel_command(
    execution: Annotated[str, typer.Argument(help="The execution's id.")], server: ServerOption = None
) -> None:
    """Cancel an execution: effects in flight are aborted; no `catch` runs.

    Example: treadle cancel wex-01J...
    """
    _control("cancel", execution, server)


def suspend_command(
    execution: Annotated[str, typer.Argument(help="The execution's id.")], server: ServerOption = None
) -> None:
    """Suspend an execution after the effects in flight.

    Example: treadle suspend wex-01J...
    """
    _control("suspend", execution, server)


def resume_command(
    execution: Annotated[str, typer.Argument(help="The execution's id.")], server: ServerOption = None
) -> None:
    """Resume a suspended execution.

    Example: treadle resume wex-01J...
    """
    _control("resume", execution, server)
