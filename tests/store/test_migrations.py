"""Migrations: upgrade creates every table, downgrade removes them, and again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from treadle.store import Store, current_revision, head_revision, metadata

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
