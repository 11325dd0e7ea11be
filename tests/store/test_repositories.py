"""Repositories: rows, versions, slugs per scope, labels and query validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from treadle.store import InvalidQuery, ListQuery, Store

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _workflow(id: str, slug: str, *, org: str = "", minutes: int = 0, **labels: str) -> dict[str, Any]:
    at = NOW + timedelta(minutes=minutes)
    return {
        "id": id,
        "slug": slug,
        "name": slug.title(),
        "org": org,
        "owner": "",
        "version": 1,
        "created_at": at,
        "updated_at": at,
        "labels": labels,
        "body": {"spec": {}},
    }


def test_update_applies_only_at_the_expected_version(store: Store) -> None:
    with store.begin() as tx:
        tx.workflows.insert(_workflow("wfl-1", "a", team="ops"))
        assert tx.workflows.update("wfl-1", 1, {"version": 2, "labels": {"team": "dev"}})
        assert not tx.workflows.update("wfl-1", 1, {"version": 2})
    with store.begin(write=False) as tx:
        row = tx.workflows.get("wfl-1")
        assert row is not None and row["version"] == 2 and row["labels"] == {"team": "dev"}
        assert row["created_at"] == NOW
        assert tx.workflows.list(ListQuery(labels={"team": "dev"})).total == 1
        assert tx.workflows.list(ListQuery(labels={"team": "ops"})).total == 0


def test_slug_is_unique_per_scope_including_the_platform_scope(store: Store) -> None:
    with store.begin() as tx:
        tx.workflows.insert(_workflow("wfl-1", "a"))
        tx.workflows.insert(_workflow("wfl-2", "a", org="acme"))
        assert tx.workflows.get_by_slug("a", org="acme")["id"] == "wfl-2"  # type: ignore[index]
        assert tx.workflows.get_by_slug("a")["id"] == "wfl-1"  # type: ignore[index]
    with pytest.raises(IntegrityError), store.begin() as tx:
        tx.workflows.insert(_workflow("wfl-3", "a"))


def test_list_pages_sorts_and_counts(store: Store) -> None:
    with store.begin() as tx:
        tx.workflows.insert_many([_workflow(f"wfl-{i}", f"w{i}", minutes=i) for i in range(7)])
    with store.begin(write=False) as tx:
        page = tx.workflows.list(ListQuery(page=2, page_size=3))
        assert (page.total, page.page, page.page_size) == (7, 2, 3)
        assert [r["id"] for r in page.items] == ["wfl-3", "wfl-2", "wfl-1"]
        ascending = tx.workflows.list(ListQuery(sort="created_at", page_size=2))
        assert [r["id"] for r in ascending.items] == ["wfl-0", "wfl-1"]
        by_name = tx.workflows.list(ListQuery(sort="-name"))
        assert by_name.items[0]["name"] == "W6"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (ListQuery(sort="-colour"), "sort"),
        (ListQuery(phase="running"), "phase"),
        (ListQuery(page=0), "page"),
        (ListQuery(page_size=5000), "page_size"),
    ],
)
def test_bad_queries_name_the_parameter(store: Store, query: ListQuery, field: str) -> None:
    with pytest.raises(InvalidQuery) as caught, store.begin(write=False) as tx:
        tx.workflows.list(query)
    assert caught.value.field == field
