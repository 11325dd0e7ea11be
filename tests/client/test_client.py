"""`treadle.Client` and `treadle.AsyncClient` against a real server."""

from __future__ import annotations

import ssl
import threading
import time
from typing import cast

import httpx
import pytest

from tests.api.conftest import LiveServer, document, workflow_body
from treadle import AsyncClient, Client
from treadle.client import ApiError
from treadle.client._base import certificates
from treadle.resources import ResourceService, Workflow, WorkflowExecution
from treadle.store import JournalEntry


def test_sync_client_covers_the_resources(server: LiveServer) -> None:
    with Client(server.url) as client:
        created = client.create(document(name="hello"))
        assert isinstance(created, Workflow) and created.metadata.org == "examples"
        assert client.apply(document(name="hello")).metadata.version == 2
        assert client.get("workflow", created.metadata.id).metadata.slug == "hello"
        assert client.get_by_slug(Workflow, "hello", org="examples").metadata.id == created.metadata.id
        assert client.resolve("wf", "hello").metadata.id == created.metadata.id  # unique across scopes
        assert client.resolve("wf", "examples/hello").metadata.id == created.metadata.id
        page = client.list("workflows", sort="-created_at", org="examples")
        assert page.total == 1 and isinstance(page.items[0], Workflow)
        assert client.instances(created.metadata.id).total == 1
        run = client.start(created.metadata.id, input={"name": "ada"})
        assert isinstance(run, WorkflowExecution) and run.status.phase == "pending"
        assert client.update_status(run.metadata.id, {"phase": "running"}).status.phase == "running"
        assert client.stages(run.metadata.id) == [] and client.decisions(run.metadata.id) == []
        with pytest.raises(ApiError) as refused:
            client.delete("workflow", created.metadata.id)
        assert refused.value.status == 412 and refused.value.problem["blocking"] == [run.metadata.id]
        assert client.delete("workflow", created.metadata.id, force=True).metadata.id == created.metadata.id
        with pytest.raises(ApiError) as missing:
            client.get("workflow", created.metadata.id)
        assert missing.value.status == 404
        with pytest.raises(ApiError) as invalid:
            client.create(
                {"kind": "Workflow", "metadata": {"name": "x", "colour": 1}, "spec": {"document": {}}}
            )
        assert "/metadata/colour" in [e["pointer"] for e in invalid.value.errors]
        assert client.health() == {"status": "ok"}
        assert "treadle_executions" in client.metrics()
        with pytest.raises(ApiError) as unavailable:
            client.cancel(run.metadata.id)
        assert unavailable.value.status == 404  # deleted with its workflow


def test_sync_client_follows_events(server: LiveServer, service: ResourceService) -> None:
    with Client(server.url) as client:
        wid = client.create(workflow_body()).metadata.id
        run = client.start(wid)
        rid = str(run.metadata.id)

        def write() -> None:
            time.sleep(0.2)
            with service.store.begin() as tx:
                tx.journal.append(rid, [JournalEntry("phase", {"phase": "running"})])
                tx.journal.append(rid, [JournalEntry("phase", {"phase": "completed", "output": 1})])

        threading.Thread(target=write).start()
        events = list(client.events(rid))
        assert [(e.seq, e.type, e.data["phase"]) for e in events] == [
            (1, "phase", "running"),
            (2, "phase", "completed"),
        ]
        assert [e.seq for e in client.events(rid, after=1)] == [2]


def _finish_later(service: ResourceService, execution_id: str, *, delay: float = 0.2) -> threading.Thread:
    """What a runtime writes when a run ends: the journal's phases and the status."""

    def write() -> None:
        time.sleep(delay)
        with service.store.begin() as tx:
            tx.journal.append(execution_id, [JournalEntry("phase", {"phase": "running"})])
        service.update_execution_status(execution_id, {"phase": "running"})
        with service.store.begin() as tx:
            tx.journal.append(execution_id, [JournalEntry("phase", {"phase": "completed", "output": 7})])
        service.update_execution_status(execution_id, {"phase": "completed", "output": 7})

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_sync_client_waits_for_an_execution_to_end(server: LiveServer, service: ResourceService) -> None:
    with Client(server.url) as client:
        wid = client.create(workflow_body()).metadata.id
        rid = str(client.start(wid).metadata.id)
        with pytest.raises(TimeoutError):
            client.wait(rid, timeout=0.3)  # nothing runs it yet
        writer = _finish_later(service, rid)
        ended = client.wait(rid, timeout=30)
        writer.join()
        assert ended.status.phase == "completed" and ended.status.output == 7
        assert client.wait(rid).status.phase == "completed"  # an ended one answers at once
        with pytest.raises(ApiError) as missing:
            client.wait("wex-01jnothere000000000000000")
        assert missing.value.status == 404


async def test_async_client_waits_for_an_execution_to_end(
    server: LiveServer, service: ResourceService
) -> None:
    async with AsyncClient(server.url) as client:
        wid = (await client.create(workflow_body())).metadata.id
        rid = str((await client.start(wid)).metadata.id)
        with pytest.raises(TimeoutError):
            await client.wait(rid, timeout=0.3)
        writer = _finish_later(service, rid)
        ended = await client.wait(rid, timeout=30)
        writer.join()
        assert ended.status.phase == "completed" and ended.status.output == 7


def test_wait_many_answers_the_last_phase_of_each(server: LiveServer, service: ResourceService) -> None:
    with Client(server.url) as client:
        wid = client.create(workflow_body()).metadata.id
        ids = [str(run.metadata.id) for run in client.start_many(wid, inputs=[{}, {}])]
        with pytest.raises(TimeoutError):
            client.wait_many(ids, timeout=0.3)  # nothing runs them yet
        writers = [_finish_later(service, id) for id in ids]
        assert client.wait_many([ids[1], ids[0]], timeout=30) == {ids[1]: "completed", ids[0]: "completed"}
        for writer in writers:
            writer.join()
        with pytest.raises(ApiError) as missing:
            client.wait_many([ids[0], "wex-01jnothere000000000000000"])
        assert missing.value.status == 404 and missing.value.errors[0]["pointer"] == "/ids/1"


def test_a_wait_outlasts_the_clients_own_timeout(server: LiveServer, service: ResourceService) -> None:
    # The server holds a `:wait` request until the runs end: its answer may come later
    # than the client's timeout for other requests.
    with Client(server.url, timeout=0.5) as client:
        wid = client.create(workflow_body()).metadata.id
        rid = str(client.start(wid).metadata.id)
        writer = _finish_later(service, rid, delay=1.5)
        assert client.wait_many([rid], timeout=20) == {rid: "completed"}
        writer.join()


async def test_async_wait_many(server: LiveServer, service: ResourceService) -> None:
    async with AsyncClient(server.url) as client:
        wid = (await client.create(workflow_body())).metadata.id
        ids = [str(run.metadata.id) for run in await client.start_many(wid, inputs=[{}, {}])]
        writers = [_finish_later(service, id) for id in ids]
        assert await client.wait_many(ids, timeout=30) == dict.fromkeys(ids, "completed")
        for writer in writers:
            writer.join()


async def test_async_client(server: LiveServer, service: ResourceService) -> None:
    async with AsyncClient(server.url) as client:
        created = await client.apply(workflow_body(name="Async Flow"))
        assert created.metadata.version == 1
        assert (await client.resolve("workflow", "async-flow")).metadata.id == created.metadata.id
        assert (await client.list("workflow")).total == 1
        run = await client.start(created.metadata.id, input={"x": 1})
        rid = str(run.metadata.id)
        with service.store.begin() as tx:
            tx.journal.append(rid, [JournalEntry("task.started", {"path": "/do/0/greet"})])
            tx.journal.append(rid, [JournalEntry("phase", {"phase": "faulted", "error": {"title": "boom"}})])
        assert [e.type async for e in client.events(rid)] == ["task.started", "phase"]
        assert await client.stages(rid) == []
        with pytest.raises(ApiError) as unavailable:
            await client.suspend(rid)
        assert unavailable.value.status == 503
        assert (await client.delete("execution", rid, force=True)).metadata.id == rid
        assert (await client.health())["status"] == "ok"


def test_server_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREADLE_SERVER", "http://example.test:9999/")
    monkeypatch.setenv("TREADLE_API_TOKEN", "tok")
    with Client() as client:
        assert client.server == "http://example.test:9999"
        assert client._http.headers["authorization"] == "Bearer tok"


def test_sync_client_starts_and_creates_many(server: LiveServer) -> None:
    with Client(server.url) as client:
        made = client.create_many([workflow_body(name="One"), workflow_body(name="Two")])
        assert [w.metadata.slug for w in made] == ["one", "two"] and isinstance(made[0], Workflow)
        runs = client.start_many(made[0].metadata.id, inputs=[{"n": 1}, {"n": 2}], labels={"batch": "a"})
        assert [r.spec.input for r in runs] == [{"n": 1}, {"n": 2}]
        assert all(isinstance(r, WorkflowExecution) and r.metadata.labels == {"batch": "a"} for r in runs)
        instance = str(made[1].status.default_instance_id)
        assert client.start_many(instance=instance, inputs=[None])[0].spec.workflow_instance_id == instance
        with pytest.raises(ApiError) as refused:
            client.start_many("wfl-01jnothere000000000000000", inputs=[1])
        assert refused.value.status == 404 and refused.value.errors[0]["pointer"] == "/items/0"
        with pytest.raises(ValueError):
            client.start_many(made[0].metadata.id, inputs=[])


async def test_async_client_starts_many(server: LiveServer) -> None:
    async with AsyncClient(server.url) as client:
        wid = (await client.create(workflow_body())).metadata.id
        runs = await client.start_many(wid, inputs=range(3))
        assert [r.spec.input for r in runs] == [0, 1, 2]
        made = await client.create_many([document(name="a"), document(name="b")])
        assert [w.metadata.slug for w in made] == ["a", "b"]


def _tls_context(client: Client | AsyncClient) -> ssl.SSLContext:
    transport = client._http._transport
    assert isinstance(transport, httpx.HTTPTransport | httpx.AsyncHTTPTransport)
    return cast(ssl.SSLContext, transport._pool._ssl_context)


def test_clients_share_one_tls_context() -> None:
    """Loading the CA bundle was ~20 ms of every client made."""
    first, second, third = Client("https://a.example"), Client("http://b.example"), AsyncClient("https://c")
    assert _tls_context(first) is _tls_context(second) is _tls_context(third) is certificates()
    assert certificates().verify_mode == ssl.CERT_REQUIRED and certificates().check_hostname


def test_wait_asks_for_as_many_ids_as_the_server_takes() -> None:
    from treadle.api.executions import MAX_WAIT_SECONDS
    from treadle.client import _requests
    from treadle.resources.service import MAX_BATCH

    assert _requests.WAIT_IDS == MAX_BATCH and _requests.WAIT_SECONDS <= MAX_WAIT_SECONDS
