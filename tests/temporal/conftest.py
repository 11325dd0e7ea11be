"""Fixtures for the Temporal runtime's tests: the session's dev server and worker."""

from __future__ import annotations

import pytest

from tests.temporal.devserver import DevServer, Harness, shared_harness, shared_server


@pytest.fixture
def temporal_server(request: pytest.FixtureRequest) -> DevServer:
    """The session's Temporal dev server (started on first use)."""
    return shared_server(request)


@pytest.fixture
def harness(request: pytest.FixtureRequest) -> Harness:
    """The session's in-process worker, its client and its handler registry."""
    return shared_harness(request)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent.name == "temporal":
            item.add_marker(pytest.mark.temporal)
