"""A real uvicorn server on 127.0.0.1 serving the API over a fresh store, and an httpx client."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from treadle.api import create_app
from treadle.resources import ResourceService, SecretCipher
from treadle.store import Store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """uvicorn running an app in a thread, until `stop()`."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port()
        config = uvicorn.Config(app, host=host, port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


Serve = Callable[..., LiveServer]


def document(name: str = "order", version: str = "1.0.0", namespace: str = "examples") -> dict[str, Any]:
    """A small valid DSL document."""
    return {
        "document": {"dsl": "1.0.3", "namespace": namespace, "name": name, "version": version},
        "do": [{"greet": {"set": {"greeting": '${ "hello " + .name }'}}}],
    }


def workflow_body(name: str = "Order Fulfillment", **metadata: Any) -> dict[str, Any]:
    """A Workflow envelope."""
    return {
        "apiVersion": "treadle.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": name, **metadata},
        "spec": {"description": "ships orders", "document": document()},
    }


@pytest.fixture
def sqlite_service(sqlite_template: Path, tmp_path: Path) -> Iterator[ResourceService]:
    """A service over a fresh SQLite store."""
    path = tmp_path / "treadle.db"
    shutil.copyfile(sqlite_template, path)
    store = Store.open(f"sqlite:///{path}")
    yield ResourceService(store, SecretCipher.generate())
    store.dispose()


@pytest.fixture
def service(sqlite_service: ResourceService) -> ResourceService:
    """The service the API tests run on (SQLite; see `backend_service` for both)."""
    return sqlite_service


@pytest.fixture
def backend_service(store: Store) -> ResourceService:
    """A service on each backend (SQLite and PostgreSQL)."""
    return ResourceService(store, SecretCipher.generate())


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start servers for a test; all are stopped at its end."""
    started: list[LiveServer] = []

    def start(service: ResourceService, **options: Any) -> LiveServer:
        host = options.pop("host", "127.0.0.1")
        options.setdefault("poll_interval", 0.05)
        server = LiveServer(create_app(service, **options), host=host).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(serve: Serve, service: ResourceService) -> LiveServer:
    """The API over `service`, without a runtime."""
    return serve(service)


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    """An httpx client of `server`."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def create_workflow(api: httpx.Client, **metadata: Any) -> dict[str, Any]:
    response = api.post("/v1/workflows", json=workflow_body(**metadata))
    assert response.status_code == 201, response.text
    return dict(response.json())


def assert_problem(response: httpx.Response, status: int, *pointers: str) -> dict[str, Any]:
    """The response is a problem+json of `status` whose errors point at `pointers` (if given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = dict(response.json())
    assert problem["status"] == status
    assert problem["title"] and problem["type"].startswith("https://treadle.dev/problems/")
    if pointers:
        assert [e["pointer"] for e in problem["errors"]] == list(pointers)
    return problem
