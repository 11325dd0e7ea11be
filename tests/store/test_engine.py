"""PostgreSQL connections: one that sat idle is pinged before use, a dead one replaced."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from treadle.store import Store


def _backend_pid(store: Store) -> int:
    with store.begin(write=False) as tx:
        return int(tx.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _terminate(url: str, pid: int) -> None:
    killer = Store.open(url)
    with killer.begin() as tx:
        tx.connection.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    killer.dispose()


def test_an_idle_connection_the_server_closed_is_replaced(postgres_migrated_url: str) -> None:
    store = Store.open(postgres_migrated_url, ping_after_idle_seconds=0, pool_size=1, max_overflow=0)
    first = _backend_pid(store)
    _terminate(postgres_migrated_url, first)
    assert _backend_pid(store) != first  # pinged at checkout, found dead, replaced
    store.dispose()


def test_a_connection_used_moments_ago_is_not_pinged(postgres_migrated_url: str) -> None:
    # The other side of the trade: within the idle allowance a dead connection is only
    # found by the statement that uses it (the pool then replaces it for the next one).
    store = Store.open(postgres_migrated_url, ping_after_idle_seconds=3600, pool_size=1, max_overflow=0)
    first = _backend_pid(store)
    _terminate(postgres_migrated_url, first)
    with pytest.raises(OperationalError):
        _backend_pid(store)
    assert _backend_pid(store) != first
    store.dispose()
