"""Rows the store tests insert directly: executions under one workflow and instance."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from treadle.store import Store

AT = datetime(2025, 1, 1, tzinfo=UTC)


def resource_row(kind: str, id: str, **extra: Any) -> dict[str, Any]:
    """A resource row with the columns every repository has (`extra` adds or replaces)."""
    return {
        "id": id,
        "slug": id,
        "name": id,
        "org": "",
        "owner": "",
        "version": 1,
        "created_at": AT,
        "updated_at": AT,
        "labels": {},
        "body": {"kind": kind},
        **extra,
    }


def insert_executions(store: Store, *ids: str, phase: str = "running") -> None:
    """Executions with these ids, under workflow `wfl-1` and instance `win-1` (made once)."""
    with store.begin() as tx:
        if tx.workflows.get("wfl-1") is None:
            tx.workflows.insert(resource_row("Workflow", "wfl-1"))
            tx.instances.insert(resource_row("WorkflowInstance", "win-1", workflow_id="wfl-1"))
        for id in ids:
            tx.executions.insert(
                resource_row("WorkflowExecution", id, instance_id="win-1", workflow_id="wfl-1", phase=phase)
            )
