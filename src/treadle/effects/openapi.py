"""`call: openapi` — one operation of an OpenAPI 3.x or Swagger 2.0 document, sent as HTTP.

The document (`document`, an external resource, JSON or YAML) is loaded once per
dispatcher and cached by its URI. The operation is found by `operationId`; its request is
built from `parameters` and then sent by `HttpCall`, so `output`, `redirect`,
`authentication`, status handling and error mapping are exactly those of `call: http`.

How `parameters` (a map of names to values) are placed, decided here where the spec is
silent:
- A name the operation declares as a parameter (path-level and operation-level, `$ref`s
  resolved) goes where it says: `path` (substituted, percent-encoded; a list is
  comma-joined), `query` (a list repeats the name, a map adds its entries), `header`, or
  `cookie` (one `Cookie` header).
- Swagger 2.0 `in: body` takes the value of its parameter's name; `in: formData` fields
  are sent as `application/x-www-form-urlencoded`.
- OpenAPI 3.x `requestBody` takes `parameters.body` when the operation declares no
  parameter named `body`, otherwise every parameter the operation does not declare. JSON
  is preferred among its media types; a form media type sends a form.
- A declared `required` parameter (or required body) that is missing is a configuration
  error, and so is a parameter the operation neither declares nor could put in a body.

The base URL comes from 3.x `servers` (operation, then path, then document level; the
first entry; `{variables}` take their defaults; a relative URL is resolved against the
document's own URL), or from 2.0 `schemes`/`host`/`basePath` (defaulting to the
document's scheme and host). `server` (a URI, or `{uri}`) overrides it — a treadle
extension, for documents whose servers are wrong where treadle runs.

Only local `$ref`s (`#/...`) are followed; `multipart/form-data` bodies are not supported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from treadle.effects.handler import Shared
from treadle.effects.http import HttpCall
from treadle.effects.resources import Resource, load_resource, parse_structured, resource_uri
from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["OpenApiCall", "OpenApiDocument", "OpenApiRequest", "build_request"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_LISTED_OPERATIONS = 20
# Cookie values are sent as written, except what would end the value or the header
# (`;` `,` quotes, backslash), `%` itself and non-ASCII, which are percent-encoded.
_COOKIE_SAFE = " !#$&'()*+-./:<=>?@[]^_`{|}~"


def _config_error(detail: str) -> WorkflowError:
    return WorkflowError(ErrorType.CONFIGURATION, status=400, title="Invalid OpenAPI call", detail=detail)


@dataclass(frozen=True)
class OpenApiDocument:
    """A parsed OpenAPI/Swagger document and where it was read from."""

    source: Resource
    spec: Mapping[str, Any]

    @property
    def is_swagger(self) -> bool:
        """Whether this is a Swagger 2.0 document (else OpenAPI 3.x)."""
        return str(self.spec.get("swagger", "")).startswith("2")

    def resolve(self, node: Any) -> Any:
        """`node` with its `$ref` (local only, followed repeatedly) replaced by the target."""
        seen: set[str] = set()
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise _config_error(f"only local $refs are supported, not '{ref}'")
            if ref in seen:
                raise _config_error(f"circular $ref '{ref}'")
            seen.add(ref)
            node = self._pointer(ref)
        return node

    def _pointer(self, ref: str) -> Any:
        target: Any = self.spec
        for token in ref[2:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or token not in target:
                raise _config_error(f"$ref '{ref}' points nowhere in the document")
            target = target[token]
        return target

    def operation(self, operation_id: str) -> tuple[str, str, Mapping[str, Any], Mapping[str, Any]]:
        """The path, method, path item and operation object of `operation_id`."""
        paths = self.spec.get("paths") or {}
        known: list[str] = []
        for path, raw_item in paths.items():
            item = self.resolve(raw_item)
            if not isinstance(item, Mapping):
                continue
            for method in _METHODS:
                operation = item.get(method)
                if isinstance(operation, Mapping) and "operationId" in operation:
                    if operation["operationId"] == operation_id:
                        return str(path), method, item, operation
                    known.append(str(operation["operationId"]))
        listed = ", ".join(sorted(known)[:_LISTED_OPERATIONS]) or "none"
        raise _config_error(
            f"operationId '{operation_id}' is not in the document {self.source.uri} (operations: {listed})"
        )


@dataclass
class OpenApiRequest:
    """The pieces of the HTTP request an operation call becomes."""

    method: str
    url: str
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    body: Any = None

    def http_args(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """The `call: http` arguments sending this request with the call's own options."""
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        endpoint: dict[str, Any] = {"uri": self.url}
        if args.get("authentication") is not None:
            endpoint["authentication"] = args["authentication"]
        return {
            "method": self.method,
            "endpoint": endpoint,
            "headers": headers,
            "query": self.query,
            "body": self.body,
            "output": args.get("output"),
            "redirect": args.get("redirect", False),
        }


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_scalar(item) for item in value)
    if isinstance(value, Mapping):
        return ",".join(f"{name},{_scalar(item)}" for name, item in value.items())
    return "" if value is None else str(value)


def _server_url(document: OpenApiDocument, path_item: Mapping[str, Any], operation: Mapping[str, Any]) -> str:
    """The absolute base URL the document declares for this operation."""
    base = document.source.uri
    if document.is_swagger:
        spec = document.spec
        parts = urlsplit(base) if document.source.is_remote else None
        schemes = spec.get("schemes") or []
        scheme = parts.scheme if parts and parts.scheme in schemes else (schemes[0] if schemes else None)
        scheme = scheme or (parts.scheme if parts else "https")
        host = spec.get("host") or (parts.netloc if parts else None)
        if not host:
            raise _config_error(
                "the Swagger document has no 'host' and was not loaded over HTTP: set 'server'"
            )
        return f"{scheme}://{host}{spec.get('basePath') or ''}"
    servers = operation.get("servers") or path_item.get("servers") or document.spec.get("servers") or [{}]
    server = servers[0] if isinstance(servers[0], Mapping) else {}
    url = str(server.get("url") or "/")
    for name, variable in (server.get("variables") or {}).items():
        url = url.replace(f"{{{name}}}", str(variable.get("default", "")))
    if urlsplit(url).scheme:
        return url
    if not document.source.is_remote:
        raise _config_error(
            f"the server URL '{url}' is relative and the document is a local file: set 'server'"
        )
    return urljoin(base, url)


def _override(raw: Any) -> str | None:
    if raw is None:
        return None
    uri, _ = resource_uri({"endpoint": raw}, "server")
    return uri


def _declared_parameters(
    document: OpenApiDocument, path_item: Mapping[str, Any], operation: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    # Operation-level parameters override path-level ones with the same name and location.
    merged: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in [*(path_item.get("parameters") or []), *(operation.get("parameters") or [])]:
        parameter = document.resolve(raw)
        if isinstance(parameter, Mapping) and "name" in parameter and "in" in parameter:
            merged[(str(parameter["name"]), str(parameter["in"]))] = parameter
    return list(merged.values())


def _place(
    request: OpenApiRequest, parameter: Mapping[str, Any], value: Any, path_values: dict[str, str]
) -> None:
    name, location = str(parameter["name"]), parameter["in"]
    if location == "path":
        path_values[name] = quote(_scalar(value), safe="-._~")
    elif location == "query":
        if isinstance(value, Mapping):
            request.query.update(value)
        else:
            request.query[name] = value
    elif location == "header":
        request.headers[name] = _scalar(value)
    elif location == "cookie":
        request.cookies[name] = quote(_scalar(value), safe=_COOKIE_SAFE)
    elif location == "formData":
        if not isinstance(request.body, dict):
            request.body = {}
        request.body[name] = _scalar(value) if not isinstance(value, list) else [_scalar(v) for v in value]
    elif location == "body":
        request.body = value
    else:
        raise _config_error(f"parameter '{name}' has an unknown location 'in: {location}'")


def _media_type(content: Mapping[str, Any]) -> str:
    types = list(content)
    for kind in types:
        if kind == "application/json" or kind.endswith("+json"):
            return kind
    return types[0] if types else "application/json"


def _request_body(
    document: OpenApiDocument,
    operation: Mapping[str, Any],
    request: OpenApiRequest,
    remaining: dict[str, Any],
) -> None:
    """Fill the 3.x `requestBody` from `remaining` (the parameters nothing else took)."""
    body_spec = document.resolve(operation.get("requestBody"))
    if not isinstance(body_spec, Mapping):
        return
    if "body" in remaining:
        body = remaining.pop("body")
    elif remaining:
        body = dict(remaining)
        remaining.clear()
    else:
        body = None
    if body is None:
        if body_spec.get("required"):
            raise _config_error(f"operation '{operation.get('operationId')}' requires a body: pass 'body'")
        return
    kind = _media_type(body_spec.get("content") or {})
    if kind == _MULTIPART:
        raise _config_error("multipart/form-data request bodies are not supported")
    request.headers.setdefault("Content-Type", kind)
    request.body = body


def _swagger_form(document: OpenApiDocument, operation: Mapping[str, Any], request: OpenApiRequest) -> None:
    consumes = operation.get("consumes") or document.spec.get("consumes") or []
    if _MULTIPART in consumes and _FORM not in consumes:
        raise _config_error("multipart/form-data request bodies are not supported")
    request.headers.setdefault("Content-Type", _FORM)


def build_request(
    document: OpenApiDocument, operation_id: str, parameters: Mapping[str, Any], server: Any = None
) -> OpenApiRequest:
    """The HTTP request calling `operation_id` with `parameters` (see the module docstring).

    Raises:
        WorkflowError: configuration (400) for an unknown operation, a missing required
            parameter or a parameter the operation has no place for.
    """
    path, method, path_item, operation = document.operation(operation_id)
    base = _override(server) or _server_url(document, path_item, operation)
    request = OpenApiRequest(method=method, url="")
    remaining = dict(parameters)
    path_values: dict[str, str] = {}
    declared = _declared_parameters(document, path_item, operation)
    for parameter in declared:
        name = str(parameter["name"])
        if name not in remaining:
            if parameter.get("required") or parameter["in"] == "path":
                raise _config_error(
                    f"operation '{operation_id}' requires the {parameter['in']} parameter '{name}'"
                )
            continue
        _place(request, parameter, remaining.pop(name), path_values)
    if any(parameter["in"] == "formData" for parameter in declared) and isinstance(request.body, dict):
        _swagger_form(document, operation, request)
    if not document.is_swagger:
        _request_body(document, operation, request, remaining)
    if remaining:
        names = ", ".join(sorted(remaining))
        accepted = ", ".join(sorted(str(p["name"]) for p in declared)) or "none"
        raise _config_error(f"operation '{operation_id}' has no parameter {names} (it accepts: {accepted})")
    expanded = _PLACEHOLDER.sub(lambda match: path_values.get(match.group(1), match.group(0)), path)
    request.url = base.rstrip("/") + "/" + expanded.lstrip("/")
    return request


class OpenApiCall:
    """Performs `call: openapi`; documents are cached for the dispatcher's lifetime."""

    def __init__(self, shared: Shared) -> None:
        self._shared = shared
        self._http = HttpCall(shared)
        self._documents: dict[str, OpenApiDocument] = {}

    async def call(self, args: Mapping[str, Any], key: str) -> Any:
        """Call the operation `args` names and return what `output` asks for."""
        operation_id = args.get("operationId")
        if not isinstance(operation_id, str) or not operation_id:
            raise _config_error("'operationId' is required")
        parameters = args.get("parameters") or {}
        if not isinstance(parameters, Mapping):
            raise _config_error("'parameters' must be a map of names to values")
        document = await self.document(args.get("document"))
        request = build_request(document, operation_id, parameters, args.get("server"))
        return await self._http.call(request.http_args(args), key)

    async def document(self, resource: Any) -> OpenApiDocument:
        """The parsed document of the external resource `resource`, loaded once."""
        uri, _ = resource_uri(resource, "document")
        cached = self._documents.get(uri)
        if cached is not None:
            return cached
        source = await load_resource(resource, self._shared, "document")
        spec = parse_structured(source, "the OpenAPI document")
        if not isinstance(spec, Mapping) or not ("openapi" in spec or "swagger" in spec):
            raise _config_error(f"{source.uri} is not an OpenAPI or Swagger document")
        document = OpenApiDocument(source=source, spec=spec)
        self._documents[uri] = document
        return document
