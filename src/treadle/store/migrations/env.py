"""Alembic environment: migrate the connection treadle hands over, or the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from treadle.settings import Settings
from treadle.store._engine import WRITE, make_engine
from treadle.store._tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    config = context.config
    if context.is_offline_mode():
        url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
    engine = make_engine(url)
    try:
        with engine.connect() as own:
            own.execution_options(**{WRITE: True})
            _run(own)
            own.commit()
    finally:
        engine.dispose()


_main()
