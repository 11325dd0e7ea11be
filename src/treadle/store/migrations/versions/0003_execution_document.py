"""An execution's document snapshot in its own column, out of the status the runtime rewrites.

Each status write of a run decoded and re-encoded the whole `body`, the document snapshot
(`status.document`) included, which for a 100-task workflow is most of it. The upgrade
moves every snapshot into `workflow_executions.document` and out of `body`; the downgrade
puts each back. A `null` or missing snapshot stays in the body as it is, as the store
leaves it (`ExecutionRepository`). Both run as one
statement in the database (a table may hold millions of executions), one per dialect.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON: Any = sa.JSON().with_variant(JSONB(), "postgresql")

# A snapshot is an object (`json_extract` gives an object's JSON text); `json()` marks the
# column's text as JSON when it goes back into the body, which would store a string else.
_MOVE_OUT = {
    "sqlite": """
        UPDATE workflow_executions
        SET document = json_extract(body, '$.status.document'),
            body = json_remove(body, '$.status.document')
        WHERE json_type(body, '$.status.document') = 'object'
    """,
    "postgresql": """
        UPDATE workflow_executions
        SET document = body -> 'status' -> 'document',
            body = body #- '{status,document}'
        WHERE jsonb_typeof(body -> 'status' -> 'document') = 'object'
    """,
}
_PUT_BACK = {
    "sqlite": """
        UPDATE workflow_executions
        SET body = json_set(body, '$.status.document', json(document))
        WHERE document IS NOT NULL
    """,
    "postgresql": """
        UPDATE workflow_executions
        SET body = jsonb_set(body, '{status,document}', document)
        WHERE document IS NOT NULL
    """,
}


def upgrade() -> None:
    op.add_column("workflow_executions", sa.Column("document", JSON, nullable=True))
    op.execute(_MOVE_OUT[op.get_bind().dialect.name])


def downgrade() -> None:
    op.execute(_PUT_BACK[op.get_bind().dialect.name])
    op.drop_column("workflow_executions", "document")
