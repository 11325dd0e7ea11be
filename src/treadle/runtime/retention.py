"""Retention: executions that ended are deleted after a while, with everything they recorded.

Completed, faulted and cancelled executions are deleted once `retention_seconds` (24 h by
default) have passed since they ended, or the workflow's own `spec.retention` (a DSL
duration: ISO 8601 or `{hours: 1}`). The database cascades the deletion to the journal
(its stages and decisions with it), contexts and runtime bookkeeping. Deletions go in
batches, each its own short transaction, so a sweep never holds the write lock for long.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from treadle.dsl.models import parse_duration
from treadle.resources import ResourceService

__all__ = ["Retention", "retention_seconds"]

_BATCH = 500


def retention_seconds(body: dict[str, Any]) -> float | None:
    """A workflow body's `spec.retention` in seconds, None when unset or unreadable."""
    value = (body.get("spec") or {}).get("retention")
    if value is None:
        return None
    try:
        seconds = parse_duration(value).seconds
    except (TypeError, ValueError):
        return None
    return seconds if seconds is not None and seconds >= 0 else None


class Retention:
    """Deletes ended executions past their retention."""

    def __init__(self, service: ResourceService, default_seconds: float) -> None:
        self.service = service
        self.default_seconds = default_seconds

    def sweep(self, now: datetime | None = None) -> int:
        """Delete what is due; the number of executions deleted."""
        now = now or datetime.now(UTC)
        store = self.service.store
        with store.begin(write=False) as tx:
            workflows = tx.runtime.scheduled_workflows()
        overrides = {
            workflow["id"]: seconds
            for workflow in workflows
            if (seconds := retention_seconds(workflow["body"])) is not None
        }
        deleted = 0
        for workflow_id, seconds in overrides.items():
            deleted += self._delete(workflow_id, now - timedelta(seconds=seconds), ())
        deleted += self._delete(None, now - timedelta(seconds=self.default_seconds), tuple(overrides))
        return deleted

    def _delete(self, workflow_id: str | None, before: datetime, exclude: tuple[str, ...]) -> int:
        total = 0
        while True:
            with self.service.store.begin() as tx:
                ids = tx.runtime.ended_before(workflow_id, before, _BATCH, exclude=exclude)
                total += tx.runtime.delete_executions(ids)
            if len(ids) < _BATCH:
                return total
