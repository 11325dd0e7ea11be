"""The local runtime's tables: execution runs (leases), subscriptions, inbox, schedule ticks.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-26
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON: Any = sa.JSON().with_variant(JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def _fk(column: str, table: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], name=f"fk_{table}_{column}_{referred}", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "execution_runs",
        sa.Column("execution_id", sa.String(40), nullable=False),
        sa.Column("workflow_id", sa.String(40), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires", TIME, nullable=True),
        sa.Column("epoch", sa.Integer(), server_default="0", nullable=False),
        sa.Column("wake_at", TIME, nullable=True),
        sa.Column("control", sa.String(16), nullable=True),
        sa.Column("notify", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        _fk("execution_id", "execution_runs", "workflow_executions"),
        sa.PrimaryKeyConstraint("execution_id", name="pk_execution_runs"),
    )
    op.create_index("ix_execution_runs_state_wake_at", "execution_runs", ["state", "wake_at"])
    op.create_index("ix_execution_runs_lease_owner", "execution_runs", ["lease_owner"])
    op.create_index("ix_execution_runs_workflow_id_state", "execution_runs", ["workflow_id", "state"])

    op.create_table(
        "event_subscriptions",
        sa.Column("execution_id", sa.String(40), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("event_type", sa.String(253), nullable=True),
        sa.Column("filters", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        _fk("execution_id", "event_subscriptions", "workflow_executions"),
        sa.PrimaryKeyConstraint("execution_id", "key", name="pk_event_subscriptions"),
    )
    op.create_index("ix_event_subscriptions_event_type", "event_subscriptions", ["event_type"])

    op.create_table(
        "execution_inbox",
        sa.Column("execution_id", sa.String(40), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("event", JSON, nullable=False),
        sa.Column("at", TIME, nullable=False),
        _fk("execution_id", "execution_inbox", "workflow_executions"),
        sa.PrimaryKeyConstraint("execution_id", "key", name="pk_execution_inbox"),
    )

    op.create_table(
        "schedule_ticks",
        sa.Column("workflow_id", sa.String(40), nullable=False),
        sa.Column("tick", sa.String(64), nullable=False),
        sa.Column("execution_id", sa.String(40), nullable=True),
        sa.Column("at", TIME, nullable=False),
        _fk("workflow_id", "schedule_ticks", "workflows"),
        sa.PrimaryKeyConstraint("workflow_id", "tick", name="pk_schedule_ticks"),
    )


def downgrade() -> None:
    for table in ("schedule_ticks", "execution_inbox", "event_subscriptions", "execution_runs"):
        op.drop_table(table)
