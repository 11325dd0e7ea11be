"""Workflow steps: bare documents, document validation, the default instance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ulid import ULID

from treadle.dsl import validate
from treadle.resources.errors import AlreadyExists, InvalidArgument, Violation
from treadle.resources.models import Validation
from treadle.resources.pipeline import Operation, run
from treadle.store import Row

__all__ = [
    "adopt_bare_document",
    "create_default_instance",
    "ensure_default_instance",
    "name_from_document",
    "plan_default_instance",
    "validate_document",
]

DEFAULT_SUFFIX = "-default"


def _is_bare_document(data: Any) -> bool:
    return (
        isinstance(data, Mapping)
        and "spec" not in data
        and "kind" not in data
        and isinstance(data.get("document"), Mapping)
        and "dsl" in data["document"]
    )


def adopt_bare_document(op: Operation) -> None:
    """Wrap a bare DSL document: `document.name` is the name, `document.namespace` the org."""
    if not _is_bare_document(op.input):
        return
    header = op.input["document"]
    metadata = {"name": header.get("name"), "org": header.get("namespace")}
    op.input = {"kind": "Workflow", "metadata": metadata, "spec": {"document": dict(op.input)}}
    op.document_pointer = ""


def name_from_document(op: Operation) -> None:
    """A workflow without `metadata.name` takes its document's name."""
    md = op.resource.metadata
    if md.name is None and md.slug is None:
        name = (op.resource.spec.document.get("document") or {}).get("name")
        md.name = name if isinstance(name, str) else None


def validate_document(op: Operation) -> None:
    """Check the document with the `dsl` package; each problem keeps its JSON pointer."""
    problems = validate(op.resource.spec.document)
    if problems:
        raise InvalidArgument(
            [Violation(op.document_pointer + p.pointer, p.code, p.message) for p in problems],
            kind="Workflow",
        )
    op.resource.status.validation = Validation(state="valid")


def plan_default_instance(op: Operation) -> None:
    """Choose the default instance's id now, so the workflow row records it from the start."""
    op.resource.status.default_instance_id = f"win-{ULID()}"


def _default_instance_input(workflow: Row | Any) -> dict[str, Any]:
    if isinstance(workflow, Mapping):
        wid, slug, name = workflow["id"], workflow["slug"], workflow["name"]
        org, owner = workflow["org"] or None, workflow["owner"] or None
    else:
        md = workflow.metadata
        wid, slug, name, org, owner = md.id, md.slug, md.name, md.org, md.owner
    return {
        "metadata": {"name": slug + DEFAULT_SUFFIX, "org": org, "owner": owner},
        "spec": {"workflow_id": wid, "description": f"Default instance of {name}"},
    }


def create_default_instance(op: Operation) -> None:
    """Create `<slug>-default` through the instance pipeline, in the same transaction."""
    nested = op.nested(
        "WorkflowInstance",
        _default_instance_input(op.resource),
        id=op.resource.status.default_instance_id,
    )
    run(nested.kind.create, nested)


def ensure_default_instance(op: Operation, workflow: Row) -> Row:
    """The workflow's default instance, created (and recorded on the workflow) if missing."""
    recorded = workflow["body"]["status"].get("default_instance_id")
    if recorded and (row := op.tx.instances.get(recorded)) is not None:
        return row
    slug = workflow["slug"] + DEFAULT_SUFFIX
    found = op.tx.instances.get_by_slug(slug, org=workflow["org"], owner=workflow["owner"])
    if found is None or found["workflow_id"] != workflow["id"]:
        nested = op.nested("WorkflowInstance", _default_instance_input(workflow))
        try:
            run(nested.kind.create, nested)
            found = nested.current
        except AlreadyExists:  # a concurrent request made it first
            found = op.tx.instances.get_by_slug(slug, org=workflow["org"], owner=workflow["owner"])
            if found is None or found["workflow_id"] != workflow["id"]:
                raise
    assert found is not None
    body = workflow["body"]
    status = {**body["status"], "default_instance_id": found["id"]}
    # A server-side repair of status: the version stays, a lost race only means a re-lookup later.
    op.tx.workflows.update(workflow["id"], workflow["version"], {"body": {**body, "status": status}})
    return found
