"""The live-server fixtures of the API tests, shared with the client tests."""

from __future__ import annotations

from tests.api.conftest import api, serve, server, service, sqlite_service

__all__ = ["api", "serve", "server", "service", "sqlite_service"]
