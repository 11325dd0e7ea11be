"""`call: openapi` against a real FastAPI app on 127.0.0.1 serving its own OpenAPI 3.x
document, plus a hand-written Swagger 2.0 document for the same app.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pytest
import yaml
from fastapi import Body, Cookie, FastAPI, Form, Header, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from treadle.effects import Dispatcher, FunctionRegistry
from treadle.engine.errors import ErrorType, WorkflowError

from .peers import serve_asgi

TOKEN = "openapi-bearer-secret"


def swagger_document(host: str) -> dict[str, Any]:
    """Swagger 2.0 for the same app, written by hand (FastAPI only emits 3.x)."""
    return {
        "swagger": "2.0",
        "info": {"title": "pets", "version": "1"},
        "host": host,
        "basePath": "/",
        "schemes": ["http"],
        "parameters": {"petId": {"name": "pet_id", "in": "path", "required": True, "type": "integer"}},
        "paths": {
            "/pets/{pet_id}": {
                "parameters": [{"$ref": "#/parameters/petId"}],
                "get": {
                    "operationId": "getPetById",
                    "parameters": [{"name": "verbose", "in": "query", "type": "boolean"}],
                },
            },
            "/pets": {
                "post": {
                    "operationId": "addPet",
                    "parameters": [{"name": "pet", "in": "body", "required": True, "schema": {}}],
                }
            },
            "/form": {
                "post": {
                    "operationId": "submitForm",
                    "consumes": ["application/x-www-form-urlencoded"],
                    "parameters": [
                        {"name": "name", "in": "formData", "type": "string", "required": True},
                        {"name": "tags", "in": "formData", "type": "array", "items": {"type": "string"}},
                    ],
                }
            },
        },
    }


class Pet(BaseModel):
    name: str
    tag: str | None = None


@dataclass
class Peer:
    url: str
    slow_started: threading.Event = field(default_factory=threading.Event)
    slow_cancelled: threading.Event = field(default_factory=threading.Event)
    document_requests: list[str] = field(default_factory=list)


def build_app(peer: Peer) -> FastAPI:
    app = FastAPI(title="pets")

    @app.get("/pets/{pet_id}", operation_id="getPet")
    async def get_pet(
        pet_id: int,
        verbose: bool = False,
        x_trace: Annotated[str | None, Header()] = None,
        session: Annotated[str | None, Cookie()] = None,
    ) -> dict[str, Any]:
        return {"id": pet_id, "verbose": verbose, "trace": x_trace, "session": session}

    @app.get("/pets", operation_id="listPets")
    async def list_pets(status: Annotated[list[str], Query()], limit: int = 10) -> dict[str, Any]:
        return {"status": status, "limit": limit}

    @app.post("/pets", operation_id="createPet", status_code=201)
    async def create_pet(pet: Pet) -> dict[str, Any]:
        return {"created": pet.model_dump()}

    @app.post("/form", operation_id="submitForm")
    async def submit_form(
        name: Annotated[str, Form()], tags: Annotated[list[str] | None, Form()] = None
    ) -> dict[str, Any]:
        return {"name": name, "tags": tags}

    @app.put("/notes/{note_id}", operation_id="putNote")
    async def put_note(note_id: str, note: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        return {"id": note_id, "note": note}

    @app.get("/secure", operation_id="secure")
    async def secure(authorization: Annotated[str | None, Header()] = None) -> Response:
        if authorization != f"Bearer {TOKEN}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({"ok": True})

    @app.get("/missing", operation_id="missing")
    async def missing() -> Response:
        return JSONResponse({"error": "nope"}, status_code=404)

    @app.get("/malformed", operation_id="malformed")
    async def malformed() -> Response:
        return Response(b'{"cut": ', media_type="application/json")

    @app.get("/moved", operation_id="moved")
    async def moved() -> Response:
        return RedirectResponse("/pets/1", status_code=302)

    @app.get("/slow", operation_id="slow")
    async def slow(request: Request) -> dict[str, Any]:
        # Endpoints are not cancelled when the client leaves: watch for the disconnect.
        peer.slow_started.set()
        for _ in range(100):
            if await request.is_disconnected():
                peer.slow_cancelled.set()
                break
            await asyncio.sleep(0.05)
        return {}

    @app.get("/swagger.json", include_in_schema=False)
    async def swagger(request: Request) -> dict[str, Any]:
        return swagger_document(request.url.netloc)

    return app


def count_documents(peer: Peer, app: ASGIApp) -> ASGIApp:
    """Raw ASGI (BaseHTTPMiddleware would hide client disconnects from the app)."""

    async def counting(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith(".json"):
            peer.document_requests.append(scope["path"])
        await app(scope, receive, send)

    return counting


@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    state = Peer(url="")
    with serve_asgi(count_documents(state, build_app(state))) as url:
        state.url = url
        yield state


@pytest.fixture
async def effects() -> AsyncIterator[Dispatcher]:
    async with Dispatcher(functions=FunctionRegistry(entry_point_group=None), timeout=5.0) as dispatcher:
        yield dispatcher


async def call(effects: Dispatcher, peer: Peer, operation: str, **extra: Any) -> Any:
    args = {"document": {"endpoint": f"{peer.url}/openapi.json"}, "operationId": operation, **extra}
    return await effects.call("openapi", args, "key-1")


async def test_path_query_header_and_cookie_parameters_are_placed(effects: Dispatcher, peer: Peer) -> None:
    result = await call(
        effects,
        peer,
        "getPet",
        parameters={"pet_id": 7, "verbose": True, "x-trace": "t-1", "session": "s 1"},
    )
    assert result == {"id": 7, "verbose": True, "trace": "t-1", "session": "s 1"}


async def test_a_list_query_parameter_is_repeated(effects: Dispatcher, peer: Peer) -> None:
    result = await call(effects, peer, "listPets", parameters={"status": ["available", "sold"], "limit": 2})
    assert result == {"status": ["available", "sold"], "limit": 2}


async def test_a_request_body_is_taken_from_body(effects: Dispatcher, peer: Peer) -> None:
    result = await call(effects, peer, "createPet", parameters={"body": {"name": "rex", "tag": "dog"}})
    assert result == {"created": {"name": "rex", "tag": "dog"}}


async def test_undeclared_parameters_form_the_body_when_body_is_absent(
    effects: Dispatcher, peer: Peer
) -> None:
    result = await call(effects, peer, "createPet", parameters={"name": "rex"})
    assert result == {"created": {"name": "rex", "tag": None}}


async def test_path_parameters_and_body_together(effects: Dispatcher, peer: Peer) -> None:
    result = await call(effects, peer, "putNote", parameters={"note_id": "a b", "body": {"text": "hi"}})
    assert result == {"id": "a b", "note": {"text": "hi"}}


async def test_a_form_body_is_sent_urlencoded(effects: Dispatcher, peer: Peer) -> None:
    result = await call(effects, peer, "submitForm", parameters={"body": {"name": "rex", "tags": ["a", "b"]}})
    assert result == {"name": "rex", "tags": ["a", "b"]}


async def test_output_response_and_raw_work_like_http(effects: Dispatcher, peer: Peer) -> None:
    response = await call(effects, peer, "createPet", parameters={"body": {"name": "rex"}}, output="response")
    assert response["statusCode"] == 201
    assert response["request"]["method"] == "post"
    assert response["content"] == {"created": {"name": "rex", "tag": None}}
    raw = await call(effects, peer, "getPet", parameters={"pet_id": 1}, output="raw")
    assert isinstance(raw, str) and raw.startswith("eyJ")  # base64 of '{"'


async def test_bearer_authentication_is_applied(effects: Dispatcher, peer: Peer) -> None:
    assert await call(effects, peer, "secure", authentication={"bearer": {"token": TOKEN}}) == {"ok": True}
    with pytest.raises(WorkflowError) as caught:
        await call(effects, peer, "secure")
    assert (caught.value.type, caught.value.status) == (ErrorType.COMMUNICATION, 401)


async def test_redirects_follow_the_http_rules(effects: Dispatcher, peer: Peer) -> None:
    with pytest.raises(WorkflowError) as caught:
        await call(effects, peer, "moved")
    assert caught.value.status == 302
    assert await call(effects, peer, "moved", redirect=True) == {
        "id": 1,
        "verbose": False,
        "trace": None,
        "session": None,
    }


async def test_an_error_status_is_a_communication_error(effects: Dispatcher, peer: Peer) -> None:
    with pytest.raises(WorkflowError) as caught:
        await call(effects, peer, "missing")
    assert (caught.value.type, caught.value.status) == (ErrorType.COMMUNICATION, 404)


async def test_a_malformed_response_is_a_communication_error(effects: Dispatcher, peer: Peer) -> None:
    with pytest.raises(WorkflowError) as caught:
        await call(effects, peer, "malformed")
    assert (caught.value.type, caught.value.status) == (ErrorType.COMMUNICATION, 502)


async def test_the_document_is_loaded_once_per_dispatcher(effects: Dispatcher, peer: Peer) -> None:
    peer.document_requests.clear()
    await call(effects, peer, "getPet", parameters={"pet_id": 1})
    await call(effects, peer, "getPet", parameters={"pet_id": 2})
    assert peer.document_requests == ["/openapi.json"]


async def test_an_unknown_operation_is_a_configuration_error_listing_the_known_ones(
    effects: Dispatcher, peer: Peer
) -> None:
    with pytest.raises(WorkflowError) as caught:
        await call(effects, peer, "deletePet")
    assert caught.value.type == ErrorType.CONFIGURATION
    assert "operationId 'deletePet' is not in the document" in (caught.value.detail or "")
    assert "getPet" in (caught.value.detail or "")


@pytest.mark.parametrize(
    ("operation", "parameters", "message"),
    [
        ("getPet", {}, "requires the path parameter 'pet_id'"),
        ("listPets", {}, "requires the query parameter 'status'"),
        ("getPet", {"pet_id": 1, "colour": "red"}, "has no parameter colour"),
        ("createPet", {}, "requires a body"),
    ],
)
async def test_parameter_mistakes_are_configuration_errors(
    effects: Dispatcher, peer: Peer, operation: str, parameters: dict[str, Any], message: str
) -> None:
    with pytest.raises(WorkflowError) as caught:
        await call(effects, peer, operation, parameters=parameters)
    assert caught.value.type == ErrorType.CONFIGURATION
    assert message in (caught.value.detail or "")


async def test_swagger_2_path_body_and_form_parameters(effects: Dispatcher, peer: Peer) -> None:
    document = {"endpoint": f"{peer.url}/swagger.json"}

    async def swagger(operation: str, parameters: dict[str, Any]) -> Any:
        args = {"document": document, "operationId": operation, "parameters": parameters}
        return await effects.call("openapi", args, "k")

    assert (await swagger("getPetById", {"pet_id": 3, "verbose": True}))["verbose"] is True
    assert await swagger("addPet", {"pet": {"name": "tom"}}) == {"created": {"name": "tom", "tag": None}}
    assert await swagger("submitForm", {"name": "tom", "tags": ["x", "y"]}) == {
        "name": "tom",
        "tags": ["x", "y"],
    }


async def test_a_yaml_file_with_server_variables(effects: Dispatcher, peer: Peer, tmp_path: Path) -> None:
    spec = json.loads(await asyncio.to_thread(_get, f"{peer.url}/openapi.json"))
    host, port = peer.url.removeprefix("http://").split(":")
    spec["servers"] = [
        {"url": "http://{host}:{port}", "variables": {"host": {"default": host}, "port": {"default": port}}}
    ]
    path = tmp_path / "pets.yaml"
    path.write_text(yaml.safe_dump(spec))
    args = {"document": {"endpoint": path.as_uri()}, "operationId": "getPet", "parameters": {"pet_id": 9}}
    assert (await effects.call("openapi", args, "k"))["id"] == 9


async def test_a_relative_server_in_a_local_file_needs_the_server_override(
    effects: Dispatcher, peer: Peer, tmp_path: Path
) -> None:
    spec = json.loads(await asyncio.to_thread(_get, f"{peer.url}/openapi.json"))
    path = tmp_path / "pets.json"
    path.write_text(json.dumps(spec))
    args: dict[str, Any] = {
        "document": {"endpoint": str(path)},
        "operationId": "getPet",
        "parameters": {"pet_id": 4},
    }
    with pytest.raises(WorkflowError) as caught:
        await effects.call("openapi", args, "k")
    assert "set 'server'" in (caught.value.detail or "")
    assert (await effects.call("openapi", {**args, "server": peer.url}, "k"))["id"] == 4


async def test_an_unreachable_document_is_a_communication_error(
    effects: Dispatcher, closed_port: int
) -> None:
    args = {"document": {"endpoint": f"http://127.0.0.1:{closed_port}/openapi.json"}, "operationId": "x"}
    with pytest.raises(WorkflowError) as caught:
        await effects.call("openapi", args, "k")
    assert (caught.value.type, caught.value.status) == (ErrorType.COMMUNICATION, 503)


async def test_a_document_that_is_not_openapi_is_a_configuration_error(
    effects: Dispatcher, tmp_path: Path
) -> None:
    path = tmp_path / "doc.yaml"
    path.write_text("just: [a, yaml, file]")
    with pytest.raises(WorkflowError) as caught:
        await effects.call("openapi", {"document": {"endpoint": str(path)}, "operationId": "x"}, "k")
    assert caught.value.type == ErrorType.CONFIGURATION
    assert "not an OpenAPI or Swagger document" in (caught.value.detail or "")


async def test_cancelling_the_caller_aborts_the_request(effects: Dispatcher, peer: Peer) -> None:
    peer.slow_started.clear()
    peer.slow_cancelled.clear()
    task = asyncio.create_task(call(effects, peer, "slow"))
    assert await asyncio.to_thread(peer.slow_started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(peer.slow_cancelled.wait, 3)


def _get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url) as response:
        text: str = response.read().decode()
        return text
