"""Errors of the store layer.

TreadleError
└── StoreError
    ├── InvalidQuery       a list query names an unknown sort key or an unsupported filter
    ├── JournalConflict    another writer appended to the same execution's journal
    └── StoreUnavailable   the store cannot be opened: its URL, or the database behind it
"""

from __future__ import annotations

from treadle.errors import TreadleError

__all__ = ["InvalidQuery", "JournalConflict", "StoreError", "StoreUnavailable"]


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


class StoreUnavailable(StoreError):
    """The store at `url` (its password hidden) cannot be opened.

    `bad_url`: the URL itself is at fault (not a URL, another database, a parameter
    treadle does not know); otherwise the database did not answer, refused the
    connection, or its file or folder cannot be made.
    """

    def __init__(self, url: str, reason: str, *, bad_url: bool) -> None:
        self.url = url
        self.reason = reason
        self.bad_url = bad_url
        super().__init__(
            f"cannot open the store {url}: {reason}" if url else f"cannot open the store: {reason}"
        )
