"""Request bodies: JSON or YAML (`Content-Type: application/yaml`), always an object.

Malformed text is a 400 problem naming the line and column; values JSON cannot carry
(NaN, YAML dates and binaries, non-string keys) are made JSON-like or refused, so nothing
the store cannot keep reaches the service. `body_schema` documents a body in OpenAPI.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import yaml
from fastapi import Request
from pydantic import BaseModel

from treadle.api.problems import ApiProblem

__all__ = ["JSON_TYPES", "MAX_BODY_BYTES", "YAML_TYPES", "body_schema", "parse_body", "read_body"]

JSON_TYPES = frozenset({"application/json", "application/cloudevents+json", "text/json"})
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
MAX_BODY_BYTES = 8 * 1024 * 1024


def media_type(request: Request) -> str:
    """The request's media type, lowercased, without parameters ("" when absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, *, require_object: bool = True) -> Any:
    """Parse the request body as JSON or YAML according to its `Content-Type`.

    Raises:
        ApiProblem: 400 malformed or not an object, 413 too large, 415 another media type.
    """
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiProblem(413, "body-too-large", f"the body exceeds {MAX_BODY_BYTES} bytes")
    return parse_body(raw, media_type(request), require_object=require_object)


def parse_body(raw: bytes, media: str, *, require_object: bool = True) -> Any:
    """Parse `raw` text of media type `media` (JSON when empty or `+json`); see `read_body`."""
    if media in YAML_TYPES:
        value = _load_yaml(raw)
    elif media in JSON_TYPES or media == "" or media.endswith("+json"):
        value = _load_json(raw)
    else:
        raise ApiProblem(
            415,
            "unsupported-media-type",
            f"send application/json or application/yaml, not {media!r}",
            headers={"Accept-Post": "application/json, application/yaml"},
        )
    if require_object and not isinstance(value, Mapping):
        raise ApiProblem.at(400, "not-an-object", "", f"the body must be an object, not {_kind(value)}")
    return value


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiProblem.at(400, "encoding", "", f"the body is not UTF-8 (byte {error.start})") from None


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _load_json(raw: bytes) -> Any:
    text = _text(raw)
    if not text.strip():
        raise ApiProblem.at(400, "empty-body", "", "the body is empty; send a JSON or YAML object")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise ApiProblem.at(
            400,
            "malformed-json",
            "",
            f"malformed JSON at line {error.lineno} column {error.colno}: {error.msg}",
        ) from None
    except (ValueError, RecursionError) as error:
        raise ApiProblem.at(400, "malformed-json", "", f"malformed JSON: {error}") from None


def _load_yaml(raw: bytes) -> Any:
    text = _text(raw)
    if not text.strip():
        raise ApiProblem.at(400, "empty-body", "", "the body is empty; send a JSON or YAML object")
    try:
        loaded = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise ApiProblem.at(400, "malformed-yaml", "", f"malformed YAML{where}: {error.problem}") from None
    except (yaml.YAMLError, RecursionError, ValueError) as error:
        raise ApiProblem.at(400, "malformed-yaml", "", f"malformed YAML: {error}") from None
    return _jsonlike(loaded, "")


def _jsonlike(value: Any, pointer: str) -> Any:
    """YAML's extra types as JSON: dates as ISO text, sets as lists; refuse the rest."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, (list, dict, tuple)):
                raise ApiProblem.at(400, "key", pointer, "mapping keys must be scalars")
            name = key if isinstance(key, str) else json.dumps(_jsonlike(key, pointer))
            out[name] = _jsonlike(item, f"{pointer}/{_escape(name)}")
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonlike(item, f"{pointer}/{index}") for index, item in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        raise ApiProblem.at(400, "number", pointer, f"{value} is not a JSON number")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string" if isinstance(value, str) else type(value).__name__


def body_schema(*schemas: dict[str, Any] | type[BaseModel], description: str = "") -> dict[str, Any]:
    """An OpenAPI `requestBody` accepting these schemas (models are referenced) as JSON or YAML."""
    refs: list[dict[str, Any]] = [
        {"$ref": f"#/components/schemas/{s.__name__}Body"} if isinstance(s, type) else s for s in schemas
    ]
    schema = refs[0] if len(refs) == 1 else {"anyOf": refs}
    content = {media: {"schema": schema} for media in ("application/json", "application/yaml")}
    return {"requestBody": {"required": True, "description": description, "content": content}}
