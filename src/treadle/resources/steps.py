"""The steps every kind shares: parse, slug, duplicate check, state, persist, load, delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from ulid import ULID

from treadle.resources.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Violation,
)
from treadle.resources.models import Resource
from treadle.resources.phases import TERMINAL
from treadle.resources.pipeline import Kind, Operation, run
from treadle.resources.secrets import SecretCipher
from treadle.resources.slugs import is_slug, slugify
from treadle.store import Row

__all__ = [
    "build_state",
    "build_update",
    "cancel_active_after_commit",
    "check_duplicate",
    "check_version",
    "create_or_update",
    "find_active_executions",
    "find_by_slug",
    "from_row",
    "keep_identity",
    "load_current",
    "parse",
    "persist",
    "persist_update",
    "pointer",
    "refuse_active_unless_forced",
    "remove",
    "resolve_slug",
    "scope_label",
]


#: `op.scratch` key: `build_state` made the slug from the new id (so it cannot be taken).
SLUG_FROM_ID = "slug_from_id"


def pointer(*parts: object) -> str:
    """A JSON pointer from path parts (RFC 6901 escaping)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def scope_label(org: str | None, owner: str | None) -> str:
    """A person's name for an owner scope: "platform", "org acme", "user bob in org acme"."""
    if owner:
        return f"user {owner}" + (f" in org {org}" if org else "")
    return f"org {org}" if org else "platform"


# -- rows <-> resources --------------------------------------------------------------------


#: What a resource's row leaves out of its body (the kind is the table's).
_NOT_STORED: dict[str, Any] = {"api_version": True, "kind": True}
#: An execution's document snapshot is not dumped either: it goes in as it is.
_NOT_DUMPED = {**_NOT_STORED, "status": {"document": True}}


def to_row(op: Operation, resource: Any) -> Row:
    """The row of `resource`: secrets sealed, scope `None` stored as `""`.

    An execution's document snapshot goes in as it is, not dumped: it was read from its
    workflow's row (JSON already), and dumping copied every one of its tasks (~0.1 ms for
    a 100-task document, on every create).
    """
    document = getattr(resource.status, "document", None)
    body = resource.model_dump(mode="json", exclude=_NOT_STORED if document is None else _NOT_DUMPED)
    if document is not None:
        body["status"]["document"] = document
    stored_spec = (op.current or {}).get("body", {}).get("spec", {})
    for name in op.kind.secret_maps:
        body["spec"][name] = op.cipher.seal(body["spec"].get(name) or {}, stored_spec.get(name))
    md = resource.metadata
    return {
        "id": md.id,
        "slug": md.slug,
        "name": md.name,
        "org": md.org or "",
        "owner": md.owner or "",
        "version": md.version,
        "created_at": resource.status.audit.created_at,
        "updated_at": resource.status.audit.updated_at,
        "labels": dict(md.labels),
        "body": body,
        **op.kind.columns(resource),
    }


def from_row(kind: Kind, row: Row, cipher: SecretCipher, *, reveal: bool = False) -> Any:
    """The resource stored in `row`, with secrets redacted unless `reveal`."""
    body = dict(row["body"])
    if kind.secret_maps:
        spec = dict(body["spec"])
        for name in kind.secret_maps:
            spec[name] = cipher.open(spec.get(name) or {}, reveal=reveal)
        body["spec"] = spec
    return kind.model.model_validate({"kind": kind.name, **body})


def _violations(error: ValidationError, prefix: str = "") -> list[Violation]:
    return [
        Violation(prefix + pointer(*problem["loc"]), problem["type"], problem["msg"])
        for problem in error.errors(include_url=False)
    ]


# -- create ----------------------------------------------------------------------------------


def parse(op: Operation) -> None:
    """Validate the request body against the kind's model (pointers name each fault)."""
    if op.resource is not None:
        return
    data = op.input
    if isinstance(data, Resource):
        data = data.model_dump(by_alias=True, exclude_unset=True)
    if not isinstance(data, Mapping):
        raise InvalidArgument.at("", "type", f"a {op.kind.name} must be an object", kind=op.kind.name)
    if data.get("kind", op.kind.name) != op.kind.name:
        raise InvalidArgument.at(
            "/kind", "kind", f"expected kind {op.kind.name}, got {data.get('kind')!r}", kind=op.kind.name
        )
    try:
        op.resource = op.kind.model.model_validate({**data, "kind": op.kind.name})
    except ValidationError as error:
        raise InvalidArgument(_violations(error), kind=op.kind.name) from error


def resolve_slug(op: Operation) -> None:
    """Use `metadata.slug` if given, else derive it from `metadata.name`."""
    md = op.resource.metadata
    limit = op.kind.max_slug
    if md.slug is not None:
        if not is_slug(md.slug, limit):
            raise InvalidArgument.at(
                "/metadata/slug",
                "slug",
                f"{md.slug!r} is not a slug: lowercase a-z, 0-9 and '-', at most {limit} characters",
                kind=op.kind.name,
            )
    elif md.name:
        md.slug = slugify(md.name, limit)
        if not md.slug:
            raise InvalidArgument.at(
                "/metadata/name", "slug", f"{md.name!r} has no letter or digit to make a slug of"
            )
    elif op.kind.name_required:
        raise InvalidArgument.at("/metadata/name", "missing", "a name is required", kind=op.kind.name)


def check_duplicate(op: Operation) -> None:
    """Refuse a slug that is taken in the resource's owner scope."""
    md = op.resource.metadata
    if md.slug is not None and op.repository.get_by_slug(md.slug, org=md.org or "", owner=md.owner or ""):
        raise AlreadyExists(op.kind.name, md.slug, scope=scope_label(md.org, md.owner))


def build_state(op: Operation) -> None:
    """Assign the id, version 1 and the audit stamps; reset the status the server owns."""
    resource = op.resource
    md = resource.metadata
    md.id = op.id or f"{op.kind.prefix}-{ULID()}"
    if md.slug is None:
        md.slug = md.id.lower()
        op.scratch[SLUG_FROM_ID] = True
    if md.name is None:
        md.name = md.slug
    md.version = 1
    status_type = type(resource.status)
    resource.status = status_type()
    resource.status.audit.created_at = resource.status.audit.updated_at = op.now
    resource.status.audit.created_by = resource.status.audit.updated_by = op.actor


def persist(op: Operation) -> None:
    """Insert the row; a slug taken by a concurrent create is AlreadyExists."""
    row = to_row(op, op.resource)
    if op.scratch.get(SLUG_FROM_ID):
        # The slug is the new id's (a nameless execution or context): no other row holds
        # it, so a failed insert is never a taken slug and needs no savepoint to look the
        # slug up afterwards. The savepoint was a fifth of creating an execution on SQLite.
        op.repository.insert(row)
    else:
        _insert_or_already_exists(op, row)
    op.current = row
    op.result = from_row(op.kind, row, op.cipher)


def _insert_or_already_exists(op: Operation, row: Row) -> None:
    try:
        with op.tx.savepoint():
            op.repository.insert(row)
    except IntegrityError as error:
        md = op.resource.metadata
        if op.repository.get_by_slug(md.slug, org=md.org or "", owner=md.owner or ""):
            raise AlreadyExists(op.kind.name, md.slug, scope=scope_label(md.org, md.owner)) from error
        raise


# -- apply -----------------------------------------------------------------------------------


def find_by_slug(op: Operation) -> None:
    """Look up the resource the request's slug names in its scope, if it exists."""
    md = op.resource.metadata
    if md.slug is not None:
        op.current = op.repository.get_by_slug(md.slug, org=md.org or "", owner=md.owner or "")


def create_or_update(op: Operation) -> None:
    """Go on as a create when nothing has the slug, else as an update of what has it."""
    run(op.kind.create if op.current is None else op.kind.update, op)


# -- update ----------------------------------------------------------------------------------


def load_current(op: Operation) -> None:
    """Load the stored resource by the operation's id, `metadata.id`, or slug in scope."""
    if op.current is not None:
        return
    md = op.resource.metadata if op.resource is not None else None
    target = op.id or (md.id if md else None)
    if target is not None:
        op.current = op.repository.get(target, for_update=True)
    elif md is not None and (md.slug or md.name):
        slug = md.slug or slugify(md.name or "", op.kind.max_slug)
        target = slug
        op.current = op.repository.get_by_slug(slug, org=md.org or "", owner=md.owner or "")
    else:
        raise InvalidArgument.at("/metadata/id", "missing", "which resource? give its id", kind=op.kind.name)
    if op.current is None:
        raise NotFound(op.kind.name, target)


def check_version(op: Operation) -> None:
    """Refuse an update based on a version that is no longer the stored one."""
    assert op.current is not None
    sent = op.resource.metadata.version
    if sent is not None and sent != op.current["version"]:
        raise Aborted(op.kind.name, op.current["id"], expected=sent, actual=op.current["version"])


def keep_identity(op: Operation) -> None:
    """Id, slug and scope cannot change; unset ones are taken from the stored resource."""
    assert op.current is not None
    md = op.resource.metadata
    faults = [
        Violation(f"/metadata/{name}", "immutable", f"{name} cannot change (stored: {stored!r})")
        for name, sent, stored in (
            ("id", md.id, op.current["id"]),
            ("slug", md.slug, op.current["slug"]),
            ("org", md.org, op.current["org"] or None),
            ("owner", md.owner, op.current["owner"] or None),
        )
        if sent is not None and sent != stored
    ]
    if faults:
        raise InvalidArgument(faults, kind=op.kind.name)
    md.id, md.slug = op.current["id"], op.current["slug"]
    md.org, md.owner = op.current["org"] or None, op.current["owner"] or None


def build_update(op: Operation) -> None:
    """Next version; keep the stored status (the server's), restamp `updated_*`."""
    assert op.current is not None
    stored = from_row(op.kind, op.current, op.cipher)
    md = op.resource.metadata
    md.name = md.name or stored.metadata.name
    md.version = op.current["version"] + 1
    op.resource.status = stored.status
    op.resource.status.audit.updated_at = op.now
    op.resource.status.audit.updated_by = op.actor
    op.scratch["stored"] = stored


def persist_update(op: Operation) -> None:
    """Write the row if it is still at the version read; else a concurrent write won."""
    assert op.current is not None
    row = to_row(op, op.resource)
    values = {k: v for k, v in row.items() if k not in ("id", "created_at")}
    if not op.repository.update(op.current["id"], op.current["version"], values):
        raise Aborted(op.kind.name, op.current["id"])
    op.current = {**op.current, **values}
    op.result = from_row(op.kind, op.current, op.cipher)


# -- delete ----------------------------------------------------------------------------------

_ACTIVE_SCOPE = {
    "Workflow": "workflow_id",
    "WorkflowInstance": "instance_id",
    "WorkflowExecution": "ids",
}


def find_active_executions(op: Operation) -> None:
    """Find the executions the deletion would take along that are still running."""
    assert op.current is not None
    scope = _ACTIVE_SCOPE.get(op.kind.name)
    found: list[str] = []
    if scope == "ids":
        found = op.tx.executions.active_ids(ids=[op.current["id"]], terminal=sorted(TERMINAL))
    elif scope is not None:
        found = op.tx.executions.active_ids(**{scope: op.current["id"]}, terminal=sorted(TERMINAL))
    op.scratch["active"] = found


def refuse_active_unless_forced(op: Operation) -> None:
    """Without `force`, running executions block the deletion."""
    assert op.current is not None
    active = op.scratch.get("active") or []
    if active and not op.force:
        raise FailedPrecondition(
            op.kind.name,
            op.current["id"],
            f"{len(active)} execution(s) still active; delete with force to cancel them",
            blocking=active,
        )


def cancel_active_after_commit(op: Operation) -> None:
    """With `force`, tell the runtime to cancel the running executions once the delete commits.

    The call happens after the commit, never inside the transaction: it may reach out to a
    Temporal cluster, and SQLite's write lock must not be held across that.
    """
    active: list[str] = op.scratch.get("active") or []
    canceller = op.canceller
    if active and canceller is not None:
        executions = [
            from_row(op.kinds["WorkflowExecution"], row, op.cipher)
            for row in (op.tx.executions.get(id) for id in active)
            if row is not None
        ]
        op.after_commit.append(lambda: canceller.cancel(executions))


def remove(op: Operation) -> None:
    """Delete the row; the database cascades to its dependents. Returns what was deleted."""
    assert op.current is not None
    op.result = from_row(op.kind, op.current, op.cipher)
    if not op.repository.delete(op.current["id"]):
        raise NotFound(op.kind.name, op.current["id"])
