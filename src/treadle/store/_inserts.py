"""A transaction's inserts: sent one statement at a time, or queued while a batch is made.

Creating a batch of a thousand executions inserted each one's rows (execution, run,
first journal entry) with their own statements: three thousand executions of a compiled
statement, each with its own cursor and parameter processing, 40% of a batch create.
Queued, they go as one executemany per statement (on PostgreSQL, few multi-row INSERTs:
few round trips).

Queued rows are invisible to the transaction's reads until they are sent. So only the
rows that nothing reads before the batch ends are queued (rows with fresh ids: the
repositories' plain inserts), and a savepoint sends the queue first and inserts at once
inside it: whoever takes a savepoint wants its statement's error where it happens.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Insert

__all__ = ["Inserts"]


class Inserts:
    """The inserts of one transaction, over its connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        #: Rows waiting, by statement and shape, in the order each was first queued: the
        #: order a batch's rows refer to each other (an execution before its run row).
        self._queued: dict[tuple[Insert, tuple[str, ...]], list[dict[str, Any]]] | None = None

    def __call__(self, statement: Insert, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert `rows` now, or queue them while a batch is being made."""
        if not rows:
            return
        if self._queued is None:
            self.connection.execute(statement, [dict(row) for row in rows])
            return
        for row in rows:
            self._queued.setdefault((statement, tuple(row)), []).append(dict(row))

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Queue inserts until the block ends, then send them (not if it raises: the
        transaction is rolled back anyway).

        Raises:
            IntegrityError: a queued row broke a constraint (the caller cannot tell which
                of the batch: it rolls the whole batch back).
        """
        if self._queued is not None:  # within a batch already: its rows join it, in order
            yield
            return
        self._queued = {}
        try:
            yield
            self.send()
        finally:
            self._queued = None

    @contextmanager
    def at_once(self) -> Iterator[None]:
        """Send what is queued, and insert at once until the block ends."""
        self.send()
        queued, self._queued = self._queued, None
        try:
            yield
        finally:
            self._queued = queued

    def send(self) -> None:
        """Send the queued rows: one executemany per statement and shape."""
        if not self._queued:
            return
        queued, self._queued = self._queued, {}
        for (statement, _), rows in queued.items():
            self.connection.execute(statement, rows)
