"""`treadle apply`, `treadle get`, `treadle delete`: resources on a server, any kind."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from treadle.cli.output import iso_time
from treadle.cli.remote import EXIT_USAGE, ServerOption, fail, remote

if TYPE_CHECKING:
    from treadle.resources import Resource

_ORDER = {"Workflow": 0, "WorkflowInstance": 1, "WorkflowExecution": 2, "ExecutionContext": 3}
_SUFFIXES = (".yaml", ".yml", ".json")

OrgOption = Annotated[str | None, typer.Option("--org", help="The organization scope of slugs.")]


def _documents(path: Path) -> list[tuple[str, dict[str, Any]]]:
    files = sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES) if path.is_dir() else [path]
    found: list[tuple[str, dict[str, Any]]] = []
    for file in files:
        try:
            loaded = list(yaml.safe_load_all(file.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            fail(f"{file}: {error}", EXIT_USAGE)
        for index, document in enumerate(d for d in loaded if d is not None):
            if not isinstance(document, dict):
                fail(f"{file} (document {index + 1}): a resource is a mapping", EXIT_USAGE)
            found.append((f"{file}" + (f"#{index + 1}" if len(loaded) > 1 else ""), document))
    return found


def kind_name(kind: str) -> str:
    """The envelope kind of a kind name or alias (the client's table, imported on use)."""
    from treadle.client import kind_name as resolve

    return resolve(kind)


def _kind_of(document: dict[str, Any]) -> str:
    kind = document.get("kind")
    if isinstance(kind, str):
        try:
            return kind_name(kind)
        except ValueError:
            return kind
    return "Workflow"  # a bare DSL document


def apply_command(
    files: Annotated[
        list[Path], typer.Option("-f", "--file", help="A YAML/JSON file or a folder of them; repeatable.")
    ],
    server: ServerOption = None,
) -> None:
    """Create or update resources (any kind, or bare DSL documents) from files.

    A file may hold several YAML documents (`---`). Workflows are applied before the
    instances, executions and contexts that refer to them.

    Example: treadle apply -f examples/hello.yaml
    """
    documents = [doc for path in files for doc in _documents(path)]
    if not documents:
        fail("no resources found in " + ", ".join(map(str, files)), EXIT_USAGE)
    documents.sort(key=lambda item: _ORDER.get(_kind_of(item[1]), 9))
    with remote(server) as client:
        for source, document in documents:
            try:
                applied = client.apply(document)
            except Exception:
                typer.echo(f"{source}:", err=True)
                raise
            verb = "created" if applied.metadata.version == 1 else "configured"
            typer.echo(f"{applied.kind.lower()}/{_ref(applied)} {verb} ({applied.metadata.id})")


def _ref(resource: Resource) -> str:
    md = resource.metadata
    return f"{md.org}/{md.slug}" if md.org else str(md.slug)


def get_command(
    kind: Annotated[str, typer.Argument(help="workflow, instance, execution or context (plural ok).")],
    ref: Annotated[str | None, typer.Argument(help="An id, a slug or ORG/SLUG; omit to list.")] = None,
    output: Annotated[str, typer.Option("-o", "--output", help="table, json or yaml.")] = "table",
    org: OrgOption = None,
    page_size: Annotated[int, typer.Option("--limit", min=1, max=1000, help="How many to list.")] = 50,
    server: ServerOption = None,
) -> None:
    """Show one resource, or list a kind (newest first).

    Example: treadle get workflows -o yaml
    """
    if output not in ("table", "json", "yaml"):
        fail("-o is table, json or yaml", EXIT_USAGE)
    try:
        name = kind_name(kind)
    except ValueError as error:
        fail(str(error), EXIT_USAGE)
    with remote(server) as client:
        if ref is not None:
            items = [client.resolve(name, ref, org=org)]
        else:
            items = client.list(name, page_size=page_size, sort="-created_at", org=org).items
    dumped = [item.model_dump(mode="json", by_alias=True) for item in items]
    if output == "json":
        value: Any = dumped[0] if ref is not None else dumped
        sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    elif output == "yaml":
        value = dumped[0] if ref is not None else dumped
        sys.stdout.write(yaml.safe_dump(value, sort_keys=False, allow_unicode=True))
    else:
        _table(name, items)


def _table(kind: str, items: list[Any]) -> None:
    table = Table(box=None, pad_edge=False)
    columns = ["ID", "SLUG", "ORG"]
    if kind == "WorkflowExecution":
        columns += ["WORKFLOW", "PHASE"]
    elif kind == "WorkflowInstance":
        columns += ["WORKFLOW"]
    elif kind == "Workflow":
        columns += ["VERSION"]
    columns.append("AGE")
    for column in columns:
        table.add_column(column, no_wrap=True)
    for item in items:
        md = item.metadata
        row = [md.id or "", md.slug or "", md.org or "-"]
        if kind == "WorkflowExecution":
            row += [item.spec.workflow_id or "", item.status.phase]
        elif kind == "WorkflowInstance":
            row += [item.spec.workflow_id]
        elif kind == "Workflow":
            row += [str((item.spec.document.get("document") or {}).get("version", ""))]
        row.append(_age(item.status.audit.created_at))
        table.add_row(*row)
    Console(width=200).print(table)


def _age(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    seconds = int((datetime.now(UTC) - moment).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s" if seconds < 86400 else iso_time(moment)


def delete_command(
    kind: Annotated[str, typer.Argument(help="workflow, instance, execution or context.")],
    ref: Annotated[str, typer.Argument(help="An id, a slug or ORG/SLUG.")],
    force: Annotated[bool, typer.Option("--force", help="Cancel active executions that go along.")] = False,
    org: OrgOption = None,
    server: ServerOption = None,
) -> None:
    """Delete a resource and what depends on it (a workflow takes its instances and runs).

    Example: treadle delete workflow hello --force
    """
    try:
        name = kind_name(kind)
    except ValueError as error:
        fail(str(error), EXIT_USAGE)
    with remote(server) as client:
        target = client.resolve(name, ref, org=org)
        deleted = client.delete(name, target.metadata.id, force=force)
    typer.echo(f"{deleted.kind.lower()}/{_ref(deleted)} deleted ({deleted.metadata.id})")
