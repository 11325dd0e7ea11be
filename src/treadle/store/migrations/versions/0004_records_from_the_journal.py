"""Stages and decisions read from the journal; journal entries numbered globally.

A stage and a decision held nothing their journal entries (`task.*`, `decision`) do not:
the store now reads them from the journal (`_projections`), and their tables go. The
journal gets a global `id` (its primary key; an execution's entries stay unique by
`(execution_id, seq)`), which `/metrics` reads on from as it read on from stage ids.
Existing entries are numbered in the order the table holds them (the order they were
written, on SQLite). A `task.skipped` entry journalled before this revision kept neither
the task's input nor its output (its stage row did): the upgrade copies them from the
stage into the entry before the table goes.

The downgrade fills the two tables back from the journal, as the store reads them (a
stage's iteration from the runs of its task path before it; its start and input from the
task's `task.started` entry), and drops the `id`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON: Any = sa.JSON().with_variant(JSONB(), "postgresql")
BIG_ID: Any = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)
_FK = "fk_execution_journal_execution_id_workflow_executions"
_UNIQUE = "uq_execution_journal_execution_id_seq"
_COLUMNS = "execution_id, seq, type, data, at"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _number_sqlite()
    else:
        _number_postgresql()
    op.execute(_KEEP_SKIPPED[dialect])
    op.drop_table("execution_stages")
    op.drop_table("execution_decisions")


def _number_sqlite() -> None:
    """SQLite cannot change a primary key in place: the table is built again (its `id`
    is then the rowid it has anyway)."""
    op.create_table(
        "execution_journal_numbered",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("data", JSON, nullable=True),
        sa.Column("at", TIME, nullable=False),
        sa.ForeignKeyConstraint(["execution_id"], ["workflow_executions.id"], name=_FK, ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_execution_journal"),
        sa.UniqueConstraint("execution_id", "seq", name=_UNIQUE),
    )
    op.execute(
        f"INSERT INTO execution_journal_numbered ({_COLUMNS}) "
        f"SELECT {_COLUMNS} FROM execution_journal ORDER BY rowid"
    )
    op.drop_table("execution_journal")
    op.rename_table("execution_journal_numbered", "execution_journal")


def _number_postgresql() -> None:
    op.execute("ALTER TABLE execution_journal ADD COLUMN id BIGSERIAL")
    op.drop_constraint("pk_execution_journal", "execution_journal", type_="primary")
    op.create_primary_key("pk_execution_journal", "execution_journal", ["id"])
    op.create_unique_constraint(_UNIQUE, "execution_journal", ["execution_id", "seq"])


def downgrade() -> None:
    _create_stages()
    _create_decisions()
    dialect = op.get_bind().dialect.name
    op.execute(_FILL_STAGES[dialect])
    op.execute(_FILL_DECISIONS[dialect])
    if dialect == "sqlite":
        _unnumber_sqlite()
    else:
        op.drop_constraint(_UNIQUE, "execution_journal", type_="unique")
        op.drop_constraint("pk_execution_journal", "execution_journal", type_="primary")
        op.drop_column("execution_journal", "id")
        op.create_primary_key("pk_execution_journal", "execution_journal", ["execution_id", "seq"])


def _unnumber_sqlite() -> None:
    op.create_table(
        "execution_journal_keyed",
        sa.Column("execution_id", sa.String(40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("data", JSON, nullable=True),
        sa.Column("at", TIME, nullable=False),
        sa.ForeignKeyConstraint(["execution_id"], ["workflow_executions.id"], name=_FK, ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("execution_id", "seq", name="pk_execution_journal"),
    )
    op.execute(f"INSERT INTO execution_journal_keyed ({_COLUMNS}) SELECT {_COLUMNS} FROM execution_journal")
    op.drop_table("execution_journal")
    op.rename_table("execution_journal_keyed", "execution_journal")


def _create_stages() -> None:
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
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["workflow_executions.id"],
            name="fk_execution_stages_execution_id_workflow_executions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_execution_stages"),
    )
    op.create_index("ix_execution_stages_execution_id_id", "execution_stages", ["execution_id", "id"])


def _create_decisions() -> None:
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
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["workflow_executions.id"],
            name="fk_execution_decisions_execution_id_workflow_executions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_execution_decisions"),
    )
    op.create_index("ix_execution_decisions_execution_id_id", "execution_decisions", ["execution_id", "id"])


# The stage of a skipped task is the one of its path with the same iteration: the end
# entries of that path before it.
_ENDS = """
    SELECT id, execution_id, type, {path} AS path,
           row_number() OVER (PARTITION BY execution_id, {path} ORDER BY seq) - 1 AS iteration
    FROM execution_journal
    WHERE type IN ('task.completed', 'task.faulted', 'task.cancelled', 'task.skipped')
"""
_KEEP_SKIPPED = {
    "sqlite": f"""
        UPDATE execution_journal
        SET data = json_set(data, '$.input', json(s.input), '$.output', json(s.output))
        FROM ({_ENDS.format(path="data ->> '$.path'")}) AS ends
        JOIN execution_stages AS s
          ON s.execution_id = ends.execution_id AND s.node = ends.path
         AND s.iteration = ends.iteration AND s.status = 'skipped'
        WHERE execution_journal.id = ends.id AND ends.type = 'task.skipped'
    """,
    "postgresql": f"""
        UPDATE execution_journal
        SET data = data || jsonb_build_object('input', s.input, 'output', s.output)
        FROM ({_ENDS.format(path="data ->> 'path'")}) AS ends
        JOIN execution_stages AS s
          ON s.execution_id = ends.execution_id AND s.node = ends.path
         AND s.iteration = ends.iteration AND s.status = 'skipped'
        WHERE execution_journal.id = ends.id AND ends.type = 'task.skipped'
    """,
}

# A stage per end entry, with its task's latest `task.started` entry before it (same
# position and attempt); iteration: the end entries of its path before it. On SQLite `->`
# gives JSON text (a string stays quoted, as the JSON columns hold it), `->>` an SQL value.
_FILL_STAGES = {
    "sqlite": """
        INSERT INTO execution_stages (execution_id, node, iteration, status, input, output, error,
                                      started_at, completed_at, duration_ms)
        SELECT e.execution_id, e.data ->> '$.path',
               row_number() OVER (PARTITION BY e.execution_id, e.data ->> '$.path'
                                  ORDER BY e.seq) - 1,
               substr(e.type, 6),
               CASE WHEN s.seq IS NULL THEN e.data -> '$.input'
                    ELSE s.data -> '$.input' END,
               CASE WHEN e.type IN ('task.completed', 'task.skipped')
                    THEN e.data -> '$.output' END,
               e.data -> '$.error',
               coalesce(s.at, e.at), e.at,
               (julianday(e.at) - julianday(coalesce(s.at, e.at))) * 86400000.0
        FROM execution_journal AS e
        LEFT JOIN execution_journal AS s
          ON s.execution_id = e.execution_id AND s.type = 'task.started'
         AND s.seq = (SELECT max(p.seq) FROM execution_journal AS p
                      WHERE p.execution_id = e.execution_id AND p.type = 'task.started' AND p.seq < e.seq
                        AND p.data -> '$.position' = e.data -> '$.position'
                        AND p.data -> '$.attempt' = e.data -> '$.attempt')
        WHERE e.type IN ('task.completed', 'task.faulted', 'task.cancelled', 'task.skipped')
        ORDER BY e.id
    """,
    "postgresql": """
        INSERT INTO execution_stages (execution_id, node, iteration, status, input, output, error,
                                      started_at, completed_at, duration_ms)
        SELECT e.execution_id, e.data ->> 'path',
               row_number() OVER (PARTITION BY e.execution_id, e.data ->> 'path' ORDER BY e.seq) - 1,
               substr(e.type, 6),
               CASE WHEN s.seq IS NULL THEN e.data -> 'input' ELSE s.data -> 'input' END,
               CASE WHEN e.type IN ('task.completed', 'task.skipped') THEN e.data -> 'output' END,
               e.data -> 'error',
               coalesce(s.at, e.at), e.at,
               extract(epoch FROM e.at - coalesce(s.at, e.at)) * 1000.0
        FROM execution_journal AS e
        LEFT JOIN LATERAL (
            SELECT p.seq, p.data, p.at FROM execution_journal AS p
            WHERE p.execution_id = e.execution_id AND p.type = 'task.started' AND p.seq < e.seq
              AND p.data -> 'position' = e.data -> 'position' AND p.data -> 'attempt' = e.data -> 'attempt'
            ORDER BY p.seq DESC LIMIT 1
        ) AS s ON true
        WHERE e.type IN ('task.completed', 'task.faulted', 'task.cancelled', 'task.skipped')
        ORDER BY e.id
    """,
}
_FILL_DECISIONS = {
    "sqlite": """
        INSERT INTO execution_decisions (execution_id, from_node, to_node, case_name, result, reason, at)
        SELECT execution_id, data ->> '$.from', data ->> '$.to',
               data ->> '$.case', data -> '$.result',
               coalesce(data ->> '$.reason', ''), at
        FROM execution_journal WHERE type = 'decision' ORDER BY id
    """,
    "postgresql": """
        INSERT INTO execution_decisions (execution_id, from_node, to_node, case_name, result, reason, at)
        SELECT execution_id, data ->> 'from', data ->> 'to', data ->> 'case', data -> 'result',
               coalesce(data ->> 'reason', ''), at
        FROM execution_journal WHERE type = 'decision' ORDER BY id
    """,
}
