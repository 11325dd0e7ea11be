"""Migrations: upgrade creates every table, downgrade removes them, and again; data moved
by a migration comes back as it was."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import TableClause, column, inspect, select, table

from tests.store.rows import resource_row
from treadle.store import Store, current_revision, head_revision, metadata
from treadle.store._tables import EXECUTIONS, INSTANCES, WORKFLOWS

TABLES = {table.name for table in metadata.sorted_tables}


def _tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        assert current_revision(store.engine) is None
        store.migrate()
        assert current_revision(store.engine) == head_revision()
        assert _tables(store) == TABLES
        store.downgrade("base")
        assert current_revision(store.engine) is None
        assert _tables(store) == set()
        store.migrate()
        assert _tables(store) == TABLES
    finally:
        store.dispose()


def test_migrated_schema_matches_the_tables_module(database_url: str) -> None:
    store = Store.open(database_url, migrate=True)
    try:
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        store.dispose()


def test_migrating_twice_is_a_no_op(database_url: str) -> None:
    store = Store.open(database_url, migrate=True)
    try:
        store.migrate()
        assert current_revision(store.engine) == head_revision()
    finally:
        store.dispose()


def test_sqlite_connections_are_tuned(tmp_path: object) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/tuned.db", migrate=True)
    try:
        with store.engine.connect() as connection:
            pragma = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
        assert pragma["journal_mode"] == "wal"
        assert pragma["synchronous"] == 1  # NORMAL
        assert pragma["foreign_keys"] == 1
        assert (pragma["busy_timeout"] or 0) > 0
    finally:
        store.dispose()


def _as_before_0003(real: Any) -> TableClause:
    """A table as revision 0002 left it: an execution had no `document` column."""
    return table(real.name, *(column(c.name, c.type) for c in real.columns if c.name != "document"))


DOCUMENT = {
    "document": {"dsl": "1.0.3", "namespace": "test", "name": "moved", "version": "1.0.0"},
    "do": [{"a": {"set": {"n": 1}}}],
}
BODIES = {
    "wex-doc": {"spec": {"input": {"n": 1}}, "status": {"phase": "completed", "document": DOCUMENT}},
    "wex-null": {"spec": {}, "status": {"phase": "pending", "document": None}},
    "wex-bare": {"spec": {}},
}


def test_0003_moves_execution_documents_out_of_the_body_and_back(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        store.migrate("0002")
        executions = _as_before_0003(EXECUTIONS)
        with store.engine.begin() as connection:
            connection.execute(_as_before_0003(WORKFLOWS).insert(), resource_row("Workflow", "wfl-1"))
            connection.execute(
                _as_before_0003(INSTANCES).insert(),
                resource_row("WorkflowInstance", "win-1", workflow_id="wfl-1"),
            )
            connection.execute(
                executions.insert(),
                [
                    resource_row(
                        "WorkflowExecution",
                        id,
                        body=body,
                        instance_id="win-1",
                        workflow_id="wfl-1",
                        phase="x",
                    )
                    for id, body in BODIES.items()
                ],
            )

        store.migrate()
        with store.engine.connect() as connection:
            stored = {
                row.id: (row.body, row.document)
                for row in connection.execute(
                    select(EXECUTIONS.c.id, EXECUTIONS.c.body, EXECUTIONS.c.document)
                )
            }
        moved = {"spec": {"input": {"n": 1}}, "status": {"phase": "completed"}}
        assert stored == {
            "wex-doc": (moved, DOCUMENT),
            "wex-null": (BODIES["wex-null"], None),
            "wex-bare": (BODIES["wex-bare"], None),
        }
        with store.begin(write=False) as tx:
            assert {id: row["body"] for id, row in tx.executions.get_many(list(BODIES)).items()} == BODIES

        store.downgrade("0002")
        assert "document" not in {c["name"] for c in inspect(store.engine).get_columns(EXECUTIONS.name)}
        with store.engine.connect() as connection:
            bodies = {
                row.id: row.body for row in connection.execute(select(executions.c.id, executions.c.body))
            }
        assert bodies == BODIES
    finally:
        store.dispose()
