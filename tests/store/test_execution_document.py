"""An execution's document snapshot lives in its own column: reads merge it back into the
body's `status.document`, status writes never read or write it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select

from tests.store.rows import insert_executions, resource_row
from treadle.store import ListQuery, Store
from treadle.store._tables import EXECUTIONS

DOCUMENT = {
    "document": {"dsl": "1.0.3", "namespace": "test", "name": "chain", "version": "1.0.0"},
    "do": [{"a": {"set": {"n": 1}}}, {"b": {"set": {"n": 2}}}],
}
BODY = {
    "metadata": {"id": "wex-d"},
    "spec": {"input": {}},
    "status": {"phase": "pending", "document": DOCUMENT},
}


def _insert(store: Store, id: str = "wex-d", body: dict[str, Any] = BODY) -> None:
    insert_executions(store)  # the workflow and instance alone
    with store.begin() as tx:
        tx.executions.insert(
            resource_row(
                "WorkflowExecution", id, instance_id="win-1", workflow_id="wfl-1", phase="pending", body=body
            )
        )


def _stored(store: Store, id: str = "wex-d") -> tuple[dict[str, Any], Any]:
    """The `body` and `document` columns as the database holds them."""
    with store.begin(write=False) as tx:
        row = tx.connection.execute(
            select(EXECUTIONS.c.body, EXECUTIONS.c.document).where(EXECUTIONS.c.id == id)
        ).one()
    return row.body, row.document


def _statements(store: Store) -> list[str]:
    seen: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    return seen


def test_insert_keeps_the_document_apart_and_every_read_merges_it_back(store: Store) -> None:
    _insert(store)
    body, document = _stored(store)
    assert "document" not in body["status"] and document == DOCUMENT
    with store.begin(write=False) as tx:
        by_id = tx.executions.get("wex-d")
        by_slug = tx.executions.get_by_slug("wex-d")
        many = tx.executions.get_many(["wex-d"])
        listed = tx.executions.list(ListQuery()).items
    for row in (by_id, by_slug, many["wex-d"], *listed):
        assert row is not None
        assert row["body"] == BODY
        assert "document" not in row  # the column reads as part of the body only


def test_an_update_of_the_body_never_rewrites_the_document(store: Store) -> None:
    _insert(store)
    edited = {**BODY, "metadata": {"id": "wex-d", "name": "renamed"}}
    other = {**BODY["status"], "document": {"do": []}}  # a snapshot is fixed: ignored
    with store.begin() as tx:
        assert tx.executions.update("wex-d", 1, {"version": 2, "body": edited})
        assert tx.executions.update("wex-d", 2, {"version": 3, "body": {**edited, "status": other}})
    body, document = _stored(store)
    assert body["metadata"]["name"] == "renamed" and "document" not in body["status"]
    assert document == DOCUMENT
    with store.begin(write=False) as tx:
        row = tx.executions.get("wex-d")
    assert row is not None and row["body"] == edited


def test_a_status_read_and_write_never_touch_the_document_column(store: Store) -> None:
    _insert(store)
    seen = _statements(store)
    with store.begin() as tx:
        unlocked = tx.executions.get("wex-d", document=False)
        row = tx.executions.get("wex-d", for_update=True, document=False)
        assert row is not None and row == unlocked
        assert "document" not in row["body"]["status"] and "document" not in row
        status = {**row["body"]["status"], "phase": "running"}
        assert tx.executions.update("wex-d", 1, {"version": 2, "body": {**row["body"], "status": status}})
    assert seen and not [statement for statement in seen if "document" in statement]
    body, document = _stored(store)
    assert body["status"]["phase"] == "running" and document == DOCUMENT


def test_rows_locked_together_leave_the_document_out_until_asked(store: Store) -> None:
    _insert(store)
    insert_executions(store, "wex-plain")
    with store.begin() as tx:
        seen = _statements(store)
        tx.executions.lock_many(["wex-d", "wex-plain"])
        tx.executions.defer_updates()
        held = tx.executions.get("wex-d", document=False)
        assert held is not None and "document" not in held["body"]["status"]
        assert not [statement for statement in seen if "document" in statement]
        status = {**held["body"]["status"], "phase": "running"}
        assert tx.executions.update("wex-d", 1, {"version": 2, "body": {**held["body"], "status": status}})
        whole = tx.executions.get("wex-d")  # the held row, its snapshot read alone
        assert whole is not None and whole["body"]["status"] == {"phase": "running", "document": DOCUMENT}
        tx.executions.flush_updates()
    assert _stored(store)[1] == DOCUMENT


def test_a_body_without_a_document_reads_back_as_written(store: Store) -> None:
    none = {**BODY, "status": {"phase": "pending", "document": None}}
    _insert(store, "wex-none", none)
    _insert(store, "wex-bare", {"kind": "WorkflowExecution"})
    assert _stored(store, "wex-none") == (none, None)
    with store.begin(write=False) as tx:
        found = tx.executions.get_many(["wex-none", "wex-bare"])
    assert found["wex-none"]["body"] == none
    assert found["wex-bare"]["body"] == {"kind": "WorkflowExecution"}


ODD = {
    **DOCUMENT,
    "use": {
        "constants": {
            "none": None,  # a `null` in orjson's text: written by the strict path instead
            "big": 2**70,  # beyond 64 bits: orjson refuses it, the strict path writes it
            "small": 1e-07,
            "large": 1e16,
            "text": "héllo ☃ \u2028",
            "deep": [[[[{"a": [1, 2.5, True, False]}]]]],
        }
    },
}


def test_any_json_document_reads_back_as_it_was_written(store: Store) -> None:
    no_null = {**DOCUMENT, "use": {"constants": {"big": 2**70, "text": "héllo ☃"}}}  # refused by orjson
    for id, document in (("wex-odd", ODD), ("wex-plain-doc", DOCUMENT), ("wex-no-null", no_null)):
        body = {**BODY, "metadata": {"id": id}, "status": {"phase": "pending", "document": document}}
        _insert(store, id, body)
        assert _stored(store, id)[1] == document
        with store.begin(write=False) as tx:
            row = tx.executions.get(id)
        assert row is not None and row["body"]["status"]["document"] == document
