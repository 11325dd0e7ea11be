"""The store: SQLAlchemy 2 tables, repositories and Alembic migrations, SQLite or PostgreSQL.

It holds no business rules. `Store.begin()` yields a `Transaction` with one repository per
resource kind (`workflows`, `instances`, `executions`, `contexts`) and per run record
(`journal`; `stages` and `decisions`, read from it), plus the local runtime's bookkeeping (`runtime`:
leases, subscriptions, schedule ticks); everything done in the block commits together.
"""

from __future__ import annotations

from treadle.store._engine import make_engine, normalize_url
from treadle.store._errors import InvalidQuery, JournalConflict, StoreError, StoreUnavailable
from treadle.store._migrate import current_revision, downgrade, head_revision, upgrade
from treadle.store._projections import DecisionRepository, StageRepository
from treadle.store._records import Decision, JournalEntry, JournalEvent, JournalRepository, Stage
from treadle.store._repositories import (
    MAX_PAGE_SIZE,
    ContextRepository,
    ExecutionRepository,
    InstanceRepository,
    ListQuery,
    Page,
    ResourceRepository,
    Row,
    WorkflowRepository,
    with_document,
)
from treadle.store._runtime_repositories import Claim, RuntimeRepository
from treadle.store._store import KeptWrites, Store, Transaction
from treadle.store._tables import metadata

__all__ = [
    "MAX_PAGE_SIZE",
    "ContextRepository",
    "Decision",
    "DecisionRepository",
    "ExecutionRepository",
    "InstanceRepository",
    "InvalidQuery",
    "JournalConflict",
    "JournalEntry",
    "JournalEvent",
    "JournalRepository",
    "KeptWrites",
    "Claim",
    "ListQuery",
    "Page",
    "ResourceRepository",
    "Row",
    "RuntimeRepository",
    "Stage",
    "StageRepository",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Transaction",
    "WorkflowRepository",
    "current_revision",
    "downgrade",
    "head_revision",
    "make_engine",
    "metadata",
    "normalize_url",
    "upgrade",
    "with_document",
]
