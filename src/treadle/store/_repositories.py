"""One repository per resource kind: rows in, rows out, paging, sorting and filters.

A row is a plain `dict` of column values (`labels` and `body` are JSON; an execution's
`document` column reads as its body's `status.document`, see `ExecutionRepository`). Repositories
hold no business rules: version checks are a `WHERE version = ?` whose outcome the caller
interprets, and slugs, ids and timestamps arrive already made.

The statements a run needs every time (a row by id, its phase, a versioned update, an
insert) are built once per table and reused: SQLAlchemy memoizes a built statement's
cache key, so reusing one saves most of the ~100 µs that building it anew costs.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    RowMapping,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.sql.elements import UnaryExpression

from treadle.store._errors import InvalidQuery
from treadle.store._inserts import Inserts
from treadle.store._tables import CONTEXTS, EXECUTIONS, INSTANCES, LABELS, WORKFLOWS

__all__ = [
    "MAX_PAGE_SIZE",
    "ContextRepository",
    "ExecutionRepository",
    "InstanceRepository",
    "ListQuery",
    "Page",
    "ResourceRepository",
    "Row",
    "WorkflowRepository",
]

T = TypeVar("T")
Row = dict[str, Any]
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: `items` plus the `total` matching the filters."""

    items: list[T]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class ListQuery:
    """Paging, sorting and filters of a list; each kind supports a subset of the filters.

    `sort` is a comma-separated list of keys, `-` for descending: `"-created_at,name"`.
    Time ranges are half-open: `created_after <= created_at < created_before`.
    `labels` matches resources carrying every given `key: value`.
    """

    page: int = 1
    page_size: int = 50
    sort: str | None = None
    org: str | None = None
    owner: str | None = None
    labels: Mapping[str, str] | None = None
    workflow_id: str | None = None
    instance_id: str | None = None
    execution_id: str | None = None
    phase: str | Sequence[str] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    completed_after: datetime | None = None
    completed_before: datetime | None = None
    filters_in_use: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        used = tuple(name for name in _FILTERS if getattr(self, name) not in (None, {}, (), []))
        object.__setattr__(self, "filters_in_use", used)


_FILTERS = (
    "org",
    "owner",
    "labels",
    "workflow_id",
    "instance_id",
    "execution_id",
    "phase",
    "created_after",
    "created_before",
    "completed_after",
    "completed_before",
)
_COMMON_FILTERS = frozenset({"org", "owner", "labels", "created_after", "created_before"})
_COMMON_SORTS = frozenset({"id", "name", "slug", "created_at", "updated_at"})


@functools.cache
def _insert(table: Table) -> Insert:
    return insert(table)


@functools.cache
def _by_id(table: Table, for_update: bool) -> Select[Any]:
    statement = select(table).where(table.c.id == bindparam("b_id"))
    return statement.with_for_update() if for_update else statement


@functools.cache
def _by_ids(table: Table) -> Select[Any]:
    return select(table).where(table.c.id.in_(bindparam("b_ids", expanding=True)))


@functools.cache
def _versioned_update(table: Table) -> Update:
    # No `.values()`: the SET clause is made from the parameters' keys (and compiled once
    # per set of keys).
    return update(table).where(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_version"))


class ResourceRepository:
    """Rows of one resource kind and its label side table, over one connection."""

    table: ClassVar[Table]
    filters: ClassVar[frozenset[str]] = _COMMON_FILTERS
    sorts: ClassVar[frozenset[str]] = _COMMON_SORTS
    default_sort: ClassVar[str] = "-created_at"

    def __init__(self, connection: Connection, inserts: Inserts | None = None) -> None:
        self.connection = connection
        self.inserts = inserts or Inserts(connection)
        self.labels_table = LABELS[self.table.name]

    # -- writes --------------------------------------------------------------------------

    def insert(self, row: Mapping[str, Any]) -> None:
        """Insert one row and its labels."""
        self.insert_many([row])

    def insert_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert rows and their labels with two multi-row statements (queued while the
        transaction's inserts are batched)."""
        self.inserts(_insert(self.table), [self._stored(row) for row in rows])
        labels = [
            {"resource_id": row["id"], "key": key, "value": value}
            for row in rows
            for key, value in (row.get("labels") or {}).items()
        ]
        self.inserts(_insert(self.labels_table), labels)

    def update(self, id: str, expected_version: int, values: Mapping[str, Any]) -> bool:
        """Set `values` where the row is still at `expected_version`; False if it is not."""
        result = self.connection.execute(
            _versioned_update(self.table),
            {**self._stored_values(values), "b_id": id, "b_version": expected_version},
        )
        if result.rowcount != 1:
            return False
        if "labels" in values:
            self.connection.execute(delete(self.labels_table).where(self.labels_table.c.resource_id == id))
            labels = [{"resource_id": id, "key": k, "value": v} for k, v in values["labels"].items()]
            if labels:
                self.connection.execute(_insert(self.labels_table), labels)
        return True

    def delete(self, id: str) -> bool:
        """Delete a row (the database cascades to its dependents); False if it was absent."""
        result = self.connection.execute(delete(self.table).where(self.table.c.id == id))
        return result.rowcount == 1

    def _stored(self, row: Mapping[str, Any]) -> Mapping[str, Any]:
        """The column values that store `row` (a kind may keep part of the body apart)."""
        return row

    def _stored_values(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """The column values that store an update's `values`."""
        return values

    # -- reads ---------------------------------------------------------------------------

    def _row(self, found: RowMapping) -> Row:
        """The row as callers see it, from the columns read (the inverse of `_stored`)."""
        return dict(found)

    def get(self, id: str, *, for_update: bool = False) -> Row | None:
        """The row with `id`; `for_update` locks it until the transaction ends (PostgreSQL)."""
        found = self.connection.execute(_by_id(self.table, for_update), {"b_id": id}).mappings().first()
        return self._row(found) if found is not None else None

    def get_many(self, ids: Sequence[str]) -> dict[str, Row]:
        """The rows of `ids` that exist, by id, in one statement."""
        if not ids:
            return {}
        rows = self.connection.execute(_by_ids(self.table), {"b_ids": sorted(set(ids))}).mappings()
        return {row["id"]: self._row(row) for row in rows}

    def get_by_slug(self, slug: str, *, org: str = "", owner: str = "") -> Row | None:
        """The row with `slug` in the owner scope `(org, owner)` (`""` = none)."""
        c = self.table.c
        statement = select(self.table).where(c.slug == slug, c.org == org, c.owner == owner)
        found = self.connection.execute(statement).mappings().first()
        return self._row(found) if found is not None else None

    def ids(self, *conditions: ColumnElement[bool]) -> builtins.list[str]:
        """Ids of the rows matching `conditions`."""
        statement = select(self.table.c.id).where(*conditions)
        return list(self.connection.execute(statement).scalars())

    def list(self, query: ListQuery) -> Page[Row]:
        """One page of rows matching the query's filters, in its sort order."""
        conditions = self._conditions(query)
        order = self._order_by(query.sort or self.default_sort)
        if query.page < 1:
            raise InvalidQuery("page", "must be 1 or more")
        if not 1 <= query.page_size <= MAX_PAGE_SIZE:
            raise InvalidQuery("page_size", f"must be between 1 and {MAX_PAGE_SIZE}")
        total = self.connection.execute(
            select(func.count()).select_from(self.table).where(*conditions)
        ).scalar_one()
        rows = self.connection.execute(
            select(self.table)
            .where(*conditions)
            .order_by(*order)
            .limit(query.page_size)
            .offset((query.page - 1) * query.page_size)
        ).mappings()
        return Page(
            items=[self._row(r) for r in rows], total=total, page=query.page, page_size=query.page_size
        )

    def _conditions(self, query: ListQuery) -> builtins.list[ColumnElement[bool]]:
        c = self.table.c
        conditions: builtins.list[ColumnElement[bool]] = []
        for name in query.filters_in_use:
            if name not in self.filters:
                raise InvalidQuery(name, f"{self.table.name} cannot be filtered by {name}")
            value = getattr(query, name)
            if name == "labels":
                labels = self.labels_table.c
                for key, wanted in value.items():
                    conditions.append(
                        c.id.in_(select(labels.resource_id).where(labels.key == key, labels.value == wanted))
                    )
            elif name == "phase":
                phases = [value] if isinstance(value, str) else list(value)
                conditions.append(c.phase == phases[0] if len(phases) == 1 else c.phase.in_(phases))
            elif name.endswith("_after"):
                conditions.append(c[name.removesuffix("_after") + "_at"] >= value)
            elif name.endswith("_before"):
                conditions.append(c[name.removesuffix("_before") + "_at"] < value)
            else:
                conditions.append(c[name] == value)
        return conditions

    def _order_by(self, sort: str) -> builtins.list[UnaryExpression[Any]]:
        order: builtins.list[UnaryExpression[Any]] = []
        keys = [key.strip() for key in sort.split(",") if key.strip()]
        if not keys:
            raise InvalidQuery("sort", "is empty")
        for key in keys:
            name = key.lstrip("+-")
            if name not in self.sorts:
                raise InvalidQuery("sort", f"unknown key {name!r}; one of {', '.join(sorted(self.sorts))}")
            column = self.table.c[name]
            expression = column.desc() if key.startswith("-") else column.asc()
            order.append(expression.nulls_last() if column.nullable else expression)
        if "id" not in {key.lstrip("+-") for key in keys}:
            # A total order makes pages stable; follow the first key's direction for the index.
            order.append(self.table.c.id.desc() if keys[0].startswith("-") else self.table.c.id.asc())
        return order


class WorkflowRepository(ResourceRepository):
    """Workflows: filter by org and labels."""

    table = WORKFLOWS


class InstanceRepository(ResourceRepository):
    """Workflow instances: filter by workflow."""

    table = INSTANCES
    filters = _COMMON_FILTERS | {"workflow_id"}


class ExecutionRepository(ResourceRepository):
    """Workflow executions: filter by workflow, instance, phase, time ranges and labels.

    The document snapshot a run executes (`status.document`) is kept out of `body`, in
    the `document` column: for a 100-task workflow it is most of the body, and the
    runtime writes an execution's status many times a run. `insert` splits it out and
    every read merges it back, except the status writer's (`get(document=False)`,
    `lock_many`), which never decode it; `update` never writes it: a snapshot is fixed.
    """

    table = EXECUTIONS
    filters = _COMMON_FILTERS | {
        "workflow_id",
        "instance_id",
        "phase",
        "completed_after",
        "completed_before",
    }
    sorts = _COMMON_SORTS | {"phase", "completed_at"}

    def __init__(self, connection: Connection, inserts: Inserts | None = None) -> None:
        super().__init__(connection, inserts)
        self._held: dict[str, Row] = {}
        self._deferred: builtins.list[dict[str, Any]] | None = None

    def active_ids(
        self,
        *,
        workflow_id: str | None = None,
        instance_id: str | None = None,
        ids: Sequence[str] = (),
        terminal: Sequence[str],
    ) -> builtins.list[str]:
        """Ids of executions not in a `terminal` phase, of a workflow, an instance or by id."""
        c = self.table.c
        scope: list[ColumnElement[bool]] = []
        if workflow_id is not None:
            scope.append(c.workflow_id == workflow_id)
        if instance_id is not None:
            scope.append(c.instance_id == instance_id)
        if ids:
            scope.append(c.id.in_(list(ids)))
        if not scope:
            return []
        return self.ids(and_(*scope), c.phase.not_in(list(terminal)))

    def phases(self, ids: Sequence[str]) -> dict[str, str]:
        """The phase of each of `ids` that exists (one statement: no bodies to decode)."""
        found = self.connection.execute(_PHASES, {"b_ids": list(ids)})
        return {id: phase for id, phase in found}

    # -- many executions in one transaction (the runtime's writer) -------------------------

    def lock_many(self, ids: Sequence[str]) -> None:
        """Read and lock (PostgreSQL) the rows of `ids` in one statement, in id order.

        The rows are kept, without their document snapshots: `get` answers from them
        for the rest of the transaction, so a writer applying many status reports
        reads them all in one round trip instead of one each. Locking in id order,
        every writer doing this takes its locks in the same order and two never deadlock.
        """
        rows = self.connection.execute(_LOCK_MANY, {"b_ids": sorted(set(ids))}).mappings()
        self._held = {row["id"]: dict(row) for row in rows}

    def defer_updates(self) -> None:
        """Queue `update`s until `flush_updates` sends them together (one executemany).

        Only for rows read by `lock_many`: they are locked, so the version an update
        expects is the one it finds, and the update is answered True at once.
        """
        self._deferred = []

    def flush_updates(self) -> None:
        """Send the queued updates.

        Raises:
            StaleUpdate: a row was not at the version its update expected (nothing the
                caller can keep: roll the transaction back).
        """
        self._send_deferred()
        self._deferred = None

    def _send_deferred(self) -> None:
        deferred = self._deferred
        if not deferred:
            return
        self._deferred = []
        for params in _same_keys(deferred):
            result = self.connection.execute(_versioned_update(self.table), params)
            if result.rowcount != len(params):
                raise StaleUpdate(f"{len(params) - result.rowcount} of {len(params)} executions changed")

    def get(self, id: str, *, for_update: bool = False, document: bool = True) -> Row | None:
        """The row with `id` (the one `lock_many` read, if it did), see `ResourceRepository.get`.

        `document=False`: the body without its document snapshot, which is not even read
        (for a status write: whatever body it writes back, `update` keeps the snapshot).
        """
        held = self._held.get(id)
        if held is not None:
            return self.with_document(held) if document else dict(held)
        if document:
            return super().get(id, for_update=for_update)
        statement = _BY_ID_WITHOUT_DOCUMENT[for_update]
        found = self.connection.execute(statement, {"b_id": id}).mappings().first()
        return dict(found) if found is not None else None

    def with_document(self, row: Mapping[str, Any]) -> Row:
        """A row read without its document snapshot (`get(document=False)`), with it."""
        document = self.connection.execute(_DOCUMENT, {"b_id": row["id"]}).scalar()
        return with_document(dict(row), document)

    def _stored(self, row: Mapping[str, Any]) -> Row:
        stored = dict(row)
        stored["body"], stored["document"] = _split_document(row["body"])
        return stored

    def _stored_values(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        # The snapshot was stored by `insert`: a body written back with it (a metadata
        # update) leaves it out, one without it (a status write) has nothing to leave.
        body = values.get("body")
        if body is None:
            return values
        kept, _ = _split_document(body)
        return values if kept is body else {**values, "body": kept}

    def _row(self, found: RowMapping) -> Row:
        row = dict(found)
        return with_document(row, row.pop("document"))

    def update(self, id: str, expected_version: int, values: Mapping[str, Any]) -> bool:
        """See `ResourceRepository.update`; queued while updates are deferred."""
        values = self._stored_values(values)
        held = self._held.get(id)
        if self._deferred is None or held is None or "labels" in values:
            self._send_deferred()  # in order: an earlier queued update may be to this row
            updated = super().update(id, expected_version, values)
            if updated and held is not None:
                self._held[id] = {**held, **values}
            return updated
        if held["version"] != expected_version:
            return False
        self._deferred.append({**values, "b_id": id, "b_version": expected_version})
        self._held[id] = {**held, **values}
        return True


class StaleUpdate(Exception):
    """A deferred update found its row at another version than it expected."""


def _split_document(body: Mapping[str, Any]) -> tuple[Mapping[str, Any], Any]:
    """`body` without its status's document snapshot, and the snapshot (None: none).

    A `None` document stays where it is: only a snapshot goes to its column, so every
    body reads back as it was written.
    """
    status = body.get("status")
    document = status.get("document") if isinstance(status, Mapping) else None
    if document is None:
        return body, None
    assert isinstance(status, Mapping)
    kept = {name: value for name, value in status.items() if name != "document"}
    return {**body, "status": kept}, document


def with_document(row: Row, document: Any) -> Row:
    """`row` (an execution's, read or written without its document snapshot) with
    `document` put back in its body's status (copies: held rows are shared)."""
    if document is not None:
        body = row["body"]
        row["body"] = {**body, "status": {**(body.get("status") or {}), "document": document}}
    return row


def _same_keys(params: Sequence[dict[str, Any]]) -> builtins.list[builtins.list[dict[str, Any]]]:
    """Consecutive parameter sets grouped by their keys (an executemany needs one shape)."""
    groups: builtins.list[builtins.list[dict[str, Any]]] = []
    for one in params:
        if groups and groups[-1][0].keys() == one.keys():
            groups[-1].append(one)
        else:
            groups.append([one])
    return groups


_PHASES = select(EXECUTIONS.c.id, EXECUTIONS.c.phase).where(
    EXECUTIONS.c.id.in_(bindparam("b_ids", expanding=True))
)
_DOCUMENT = select(EXECUTIONS.c.document).where(EXECUTIONS.c.id == bindparam("b_id"))
# Every column but the document snapshot: what a status write reads.
_WITHOUT_DOCUMENT = select(*(column for column in EXECUTIONS.c if column.name != "document"))
_BY_ID_WITHOUT_DOCUMENT = {
    False: _WITHOUT_DOCUMENT.where(EXECUTIONS.c.id == bindparam("b_id")),
    True: _WITHOUT_DOCUMENT.where(EXECUTIONS.c.id == bindparam("b_id")).with_for_update(),
}
_LOCK_MANY = (
    _WITHOUT_DOCUMENT.where(EXECUTIONS.c.id.in_(bindparam("b_ids", expanding=True)))
    .order_by(EXECUTIONS.c.id)
    .with_for_update()
)


class ContextRepository(ResourceRepository):
    """Execution contexts: filter by execution."""

    table = CONTEXTS
    filters = _COMMON_FILTERS | {"execution_id"}

    def of_execution(self, execution_id: str) -> builtins.list[Row]:
        """Every context of an execution, in the list's default order (newest first)."""
        return self.of_executions([execution_id]).get(execution_id, [])

    def of_executions(self, execution_ids: Sequence[str]) -> dict[str, builtins.list[Row]]:
        """`of_execution` for many executions in one statement (those with none are absent)."""
        if not execution_ids:
            return {}
        found: dict[str, builtins.list[Row]] = {}
        rows = self.connection.execute(_OF_EXECUTIONS, {"b_ids": sorted(set(execution_ids))}).mappings()
        for row in rows:
            found.setdefault(row["execution_id"], []).append(dict(row))
        return found


_OF_EXECUTIONS = (
    select(CONTEXTS)
    .where(CONTEXTS.c.execution_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(CONTEXTS.c.created_at.desc(), CONTEXTS.c.id.desc())
)
