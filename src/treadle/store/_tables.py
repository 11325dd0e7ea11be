"""The tables: four resource kinds (each with a label side table) and three run records.

Stable, filtered fields are real indexed columns; everything else of a resource lives in
its `body` JSON (the envelope's `metadata`, `spec` and `status`), except an execution's
document snapshot (`status.document`): it has its own `document` column, written at
insert only, so that the many status writes of a run neither read nor rewrite it.
Scope columns `org` and `owner` are never NULL (`""` means "none") so that the unique
`(org, owner, slug)` holds for platform-scoped resources too: both databases treat NULLs
as distinct in a UNIQUE index.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

from treadle.store._json import dumps_json_like

__all__ = [
    "CONTEXTS",
    "EXECUTIONS",
    "INSTANCES",
    "JOURNAL",
    "LABELS",
    "RESOURCE_TABLES",
    "WORKFLOWS",
    "metadata",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

JSONType: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")


class DocumentJSON(TypeDecorator[Any]):
    """An execution's document snapshot: JSON (JSONB on PostgreSQL); None is SQL NULL, not
    JSON `null`: a row without a snapshot holds nothing, as migrated rows.

    The snapshot is its workflow's document as decoded from the database, JSON-like by
    construction: on SQLite orjson writes it without the store's strict walk first
    (`_json.dumps_json_like`, which still walks one with a `null` in it); the walk of a
    100-task document took 48 µs of every create.
    """

    impl = JSON(none_as_null=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB(none_as_null=True))
        return super().load_dialect_impl(dialect)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: Any) -> str | None:
            return None if value is None else dumps_json_like(value)

        return process


BigId: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")


#: `len(orjson.dumps(t))` of a UTC time with microseconds, quotes included.
_RFC3339_UTC_WITH_MICROSECONDS = len(b'"2025-01-01T12:30:00.120000+00:00"')


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite stores them naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: treadle stores timezone-aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, straight to SQLAlchemy's text form (`2025-01-01 12:30:00.120000`).

        `isoformat` writes what `process_bind_param` and the SQLite `DATETIME` processor
        write in two steps (~2.4 µs), in one (~1.0 µs); a UTC time the runtime stamped,
        orjson's RFC 3339 text cut to that form in ~0.45 µs: a step of a run stores three.
        """
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is UTC:
                text = orjson.dumps(value)  # b'"2025-01-01T12:30:00.120000+00:00"'
                if len(text) == _RFC3339_UTC_WITH_MICROSECONDS:  # none when microsecond is 0
                    return text[1:27].decode().replace("T", " ")
                return value.isoformat(" ", "microseconds")[:26]
            if value.tzinfo is None:
                raise ValueError(f"naive datetime {value!r}: treadle stores timezone-aware UTC times")
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process


def _resource_columns() -> list[Column[Any]]:
    return [
        Column("id", String(40), primary_key=True),
        Column("slug", String(63), nullable=False),
        Column("name", String(253), nullable=False),
        Column("org", String(63), nullable=False, server_default=""),
        Column("owner", String(253), nullable=False, server_default=""),
        Column("version", Integer, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Column("labels", JSONType, nullable=False),
        Column("body", JSONType, nullable=False),
    ]


def _labels_table(parent: Table) -> Table:
    name = f"{parent.name}_labels"
    return Table(
        name,
        metadata,
        Column(
            "resource_id",
            String(40),
            ForeignKey(f"{parent.name}.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("key", String(317), nullable=False),
        Column("value", String(255), nullable=False),
        PrimaryKeyConstraint("resource_id", "key"),
        Index(None, "key", "value", "resource_id"),
    )


def _fk(table: str) -> ForeignKey:
    return ForeignKey(f"{table}.id", ondelete="CASCADE")


WORKFLOWS = Table(
    "workflows",
    metadata,
    *_resource_columns(),
    UniqueConstraint("org", "owner", "slug"),
    Index(None, "org", "created_at"),
    Index(None, "created_at", "id"),
)

INSTANCES = Table(
    "workflow_instances",
    metadata,
    *_resource_columns(),
    Column("workflow_id", String(40), _fk("workflows"), nullable=False),
    UniqueConstraint("org", "owner", "slug"),
    Index(None, "workflow_id", "created_at"),
    Index(None, "created_at", "id"),
)

EXECUTIONS = Table(
    "workflow_executions",
    metadata,
    *_resource_columns(),
    Column("instance_id", String(40), _fk("workflow_instances"), nullable=False),
    Column("workflow_id", String(40), _fk("workflows"), nullable=False),
    Column("phase", String(16), nullable=False),
    Column("completed_at", UTCDateTime, nullable=True),
    Column("document", DocumentJSON(), nullable=True),
    UniqueConstraint("org", "owner", "slug"),
    Index(None, "workflow_id", "phase", "created_at", "id"),
    Index(None, "instance_id", "phase", "created_at", "id"),
    Index(None, "phase", "created_at", "id"),
    Index(None, "created_at", "id"),
    Index(None, "completed_at"),
)

CONTEXTS = Table(
    "execution_contexts",
    metadata,
    *_resource_columns(),
    Column("execution_id", String(40), _fk("workflow_executions"), nullable=False),
    UniqueConstraint("org", "owner", "slug"),
    Index(None, "execution_id"),
    Index(None, "created_at", "id"),
)

RESOURCE_TABLES = (WORKFLOWS, INSTANCES, EXECUTIONS, CONTEXTS)
LABELS = {table.name: _labels_table(table) for table in RESOURCE_TABLES}

JOURNAL = Table(
    "execution_journal",
    metadata,
    # The global order of appends, across executions: where `/metrics` reads on from
    # (on SQLite the rowid, so it costs nothing). An execution's entries are found by
    # (execution_id, seq).
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("execution_id", String(40), _fk("workflow_executions"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("type", String(64), nullable=False),
    Column("data", JSONType, nullable=True),
    Column("at", UTCDateTime, nullable=False),
    UniqueConstraint("execution_id", "seq"),
)
