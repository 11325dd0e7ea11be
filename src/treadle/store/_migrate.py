"""Alembic, run from inside the package so that an installed treadle can migrate itself."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from treadle.store._engine import WRITE

__all__ = ["alembic_config", "current_revision", "downgrade", "head_revision", "upgrade"]

_INI = Path(__file__).with_name("alembic.ini")
# Any constant: serializes concurrent migrations of one PostgreSQL database (two servers starting).
_PG_MIGRATION_LOCK = 0x7472_6561_646C


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for treadle's migrations, optionally bound to `connection`."""
    config = Config(str(_INI))
    config.set_main_option("script_location", str(_INI.with_name("migrations")))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _run(engine: Engine, action: str, revision: str) -> None:
    with engine.connect() as connection:
        connection.execution_options(**{WRITE: True})
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        config = alembic_config(connection)
        if action == "upgrade":
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)
        connection.commit()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database up to `revision` (default: the latest), in one transaction."""
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Migrate the database down to `revision` (default: drop every table)."""
    _run(engine, "downgrade", revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, None when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The latest revision this treadle ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "treadle ships at least one migration"
    return head
