"""Initial schema: the four resource kinds with their labels, journal, stages, decisions.

Revision ID: 0001
Revises:
Create Date: 2025-11-24
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON: Any = sa.JSON().with_variant(JSONB(), "postgresql")
BIG_ID: Any = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)

RESOURCES = ("workflows", "workflow_instances", "workflow_executions", "execution_contexts")


def _resource_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("slug", sa.String(63), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("org", sa.String(63), server_default="", nullable=False),
        sa.Column("owner", sa.String(253), server_default="", nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("body", JSON, nullable=False),
    ]


def _fk(column: str, table: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], name=f"fk_{table}_{column}_{referred}", ondelete="CASCADE"
    )


def _resource_table(name: str, *extra: Any) -> None:
    op.create_table(
        name,
        *_resource_columns(),
        *extra,
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
        sa.UniqueConstraint("org", "owner", "slug", name=f"uq_{name}_org_owner_slug"),
    )
    op.create_index(f"ix_{name}_created_at_id", name, ["created_at", "id"])


def _labels_table(parent: str) -> None:
    name = f"{parent}_labels"
    op.create_table(
        name,
        sa.Column("resource_id", sa.String(40), nullable=False),
        sa.Column("key", sa.String(317), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        _fk("resource_id", name, parent),
        sa.PrimaryKeyConstraint("resource_id", "key", name=f"pk_{name}"),
    )
    op.create_index(f"ix_{name}_key_value_resource_id", name, ["key", "value", "resource_id"])


def upgrade() -> None:
    _resource_table("workflows")
    op.create_index("ix_workflows_org_created_at", "workflows", ["org", "created_at"])

    _resource_table(
        "workflow_instances",
        sa.Column("workflow_id", sa.String(40), nullable=False),
        _fk("workflow_id", "workflow_instances", "workflows"),
    )
    op.create_index(
        "ix_workflow_instances_workflow_id_created_at", "workflow_instances", ["workflow_id", "created_at"]
    )

    _resource_table(
        "workflow_executions",
        sa.Column("instance_id", sa.String(40), nullable=False),
        sa.Column("workflow_id", sa.String(40), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("completed_at", TIME, nullable=True),
        _fk("instance_id", "workflow_executions", "workflow_instances"),
        _fk("workflow_id", "workflow_executions", "workflows"),
    )
    for columns in (
        ["workflow_id", "phase", "created_at", "id"],
        ["instance_id", "phase", "created_at", "id"],
        ["phase", "created_at", "id"],
        ["completed_at"],
    ):
        op.create_index(f"ix_workflow_executions_{'_'.join(columns)}", "workflow_executions", columns)

    _resource_table(
        "execution_contexts",
        sa.Column("execution_id", sa.String(40), nullable=False),
        _fk("execution_id", "execution_contexts", "workflow_executions"),
    )
    op.create_index("ix_execution_contexts_execution_id", "execution_contexts", ["execution_id"])

    for parent in RESOURCES:
        _labels_table(parent)

    op.create_table(
        "execution_journal",
        sa.Column("execution_id", sa.String(40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("data", JSON, nullable=True),
        sa.Column("at", TIME, nullable=False),
        _fk("execution_id", "execution_journal", "workflow_executions"),
        sa.PrimaryKeyConstraint("execution_id", "seq", name="pk_execution_journal"),
    )
    op.create_table(
        "execution_stages",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(40), nullable=False),
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("iteration", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("input", JSON, nullable=True),
        sa.Column("output", JSON, nullable=True),
        sa.Column("error", JSON, nullable=True),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("completed_at", TIME, nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        _fk("execution_id", "execution_stages", "workflow_executions"),
        sa.PrimaryKeyConstraint("id", name="pk_execution_stages"),
    )
    op.create_index("ix_execution_stages_execution_id_id", "execution_stages", ["execution_id", "id"])
    op.create_table(
        "execution_decisions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(40), nullable=False),
        sa.Column("from_node", sa.Text(), nullable=False),
        sa.Column("to_node", sa.Text(), nullable=True),
        sa.Column("case_name", sa.String(253), nullable=True),
        sa.Column("result", JSON, nullable=True),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("at", TIME, nullable=False),
        _fk("execution_id", "execution_decisions", "workflow_executions"),
        sa.PrimaryKeyConstraint("id", name="pk_execution_decisions"),
    )
    op.create_index("ix_execution_decisions_execution_id_id", "execution_decisions", ["execution_id", "id"])


def downgrade() -> None:
    for table in ("execution_decisions", "execution_stages", "execution_journal"):
        op.drop_table(table)
    for parent in reversed(RESOURCES):
        op.drop_table(f"{parent}_labels")
    for parent in reversed(RESOURCES):
        op.drop_table(parent)
