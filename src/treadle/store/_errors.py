"""Errors of the store layer.

TreadleError
└── StoreError
    ├── InvalidQuery       a list query names an unknown sort key or an unsupported filter
    └── JournalConflict    another writer appended to the same execution's journal
"""

from __future__ import annotations

from treadle.errors import TreadleError

__all__ = ["InvalidQuery", "JournalConflict", "StoreError"]


class StoreError(TreadleError):
    """Base class of the store's own errors (database errors propagate as SQLAlchemy's)."""


class InvalidQuery(StoreError):
    """A list query cannot be run: `field` names the query parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}")


class JournalConflict(StoreError):
    """The journal of `execution_id` moved past `expected` (two runtimes on one execution)."""

    def __init__(self, execution_id: str, expected: int | None, actual: int | None) -> None:
        self.execution_id = execution_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"journal of {execution_id}: expected last seq {expected}, found {actual}"
            if actual is not None
            else f"journal of {execution_id}: a concurrent append took the same seq"
        )
