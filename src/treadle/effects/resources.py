"""External resources: documents a call reads before it runs (OpenAPI, AsyncAPI, protos, scripts).

An external resource is `{name?, endpoint}` where `endpoint` is a URI or `{uri,
authentication}`. An `http(s)` URI is fetched with the dispatcher's pooled client (and the
endpoint's authentication); a `file://` URI or a plain path is read from the local disk,
relative paths against the working directory. `file://app/greet.proto` (the spec's own
example) is read as the relative path `app/greet.proto`, since a host makes no sense for a
local file.

Faults: an unreadable file or a bad URI is a configuration error (400); a failed or
refused download is a communication error carrying the status the server answered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import yaml

from treadle.effects.auth import build_authentication
from treadle.effects.handler import Shared
from treadle.effects.transport_errors import MAPPED_EXCEPTIONS, map_httpx_error
from treadle.effects.uri import redact_url
from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["Resource", "load_resource", "parse_structured", "resolve_reference", "resource_uri"]

_ERROR_BODY_LIMIT = 300


@dataclass(frozen=True)
class Resource:
    """The bytes of an external resource and where they came from.

    Attributes:
        uri: the absolute URL, or the absolute local path, the content was read from.
        content: the raw bytes.
        is_remote: whether `uri` is an http(s) URL (relative references resolve against it).
    """

    uri: str
    content: bytes
    is_remote: bool

    def text(self) -> str:
        """The content decoded as UTF-8 (a configuration error when it is not)."""
        try:
            return self.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _config_error(f"the resource at {redact_url(self.uri)} is not UTF-8 text: {exc}") from None


def _config_error(detail: str) -> WorkflowError:
    return WorkflowError(
        ErrorType.CONFIGURATION, status=400, title="Invalid external resource", detail=detail
    )


def resource_uri(resource: Any, what: str) -> tuple[str, Mapping[str, Any] | None]:
    """The URI and authentication policy of an external resource (`what` names it in errors).

    A bare string is accepted as the endpoint too, for hand-written arguments.
    """
    endpoint = resource.get("endpoint") if isinstance(resource, Mapping) else resource
    if isinstance(endpoint, str) and endpoint:
        return endpoint, None
    if isinstance(endpoint, Mapping):
        uri, policy = endpoint.get("uri"), endpoint.get("authentication")
        if isinstance(uri, str) and uri:
            if policy is not None and not isinstance(policy, Mapping):
                raise _config_error(f"'{what}.endpoint.authentication' must be an object")
            return uri, policy
    raise _config_error(f"'{what}' must be an external resource with an 'endpoint' (a URI or {{uri}})")


def _local_path(uri: str) -> Path:
    if uri.startswith("file:"):
        parts = urlsplit(uri)
        # `file:///abs/path` has an empty host; `file://app/x` (the spec's example) means
        # the relative path `app/x`.
        joined = f"{parts.netloc}{parts.path}" if parts.netloc not in ("", "localhost") else parts.path
        return Path(unquote(joined))
    return Path(uri)


async def _fetch(uri: str, policy: Mapping[str, Any] | None, shared: Shared, what: str) -> Resource:
    auth = build_authentication(policy, shared.client, shared.tokens)
    try:
        response = await shared.client.get(uri, auth=auth.auth, follow_redirects=True)
    except MAPPED_EXCEPTIONS as exc:
        raise map_httpx_error(exc, "GET", redact_url(uri), auth.redact) from None
    if not response.is_success:
        body = response.content[:_ERROR_BODY_LIMIT].decode("utf-8", errors="replace")
        raise WorkflowError(
            ErrorType.COMMUNICATION,
            status=response.status_code,
            title="External resource unavailable",
            detail=auth.redact(f"GET {redact_url(uri)} ({what}) returned {response.status_code}: {body}"),
        )
    return Resource(uri=str(response.url), content=response.content, is_remote=True)


def _read_file(path: Path, what: str) -> Resource:
    try:
        resolved = path.expanduser().resolve()
        return Resource(uri=str(resolved), content=resolved.read_bytes(), is_remote=False)
    except OSError as exc:
        raise _config_error(f"cannot read {what} from {path}: {exc.strerror or exc}") from None


async def load_resource(resource: Any, shared: Shared, what: str) -> Resource:
    """Read the external resource `resource` (the DSL object) for the field `what`.

    Raises:
        WorkflowError: configuration (400) for a bad reference or unreadable file;
            communication (the server's status, or 503/408 for transport faults) for a
            failed download.
    """
    uri, policy = resource_uri(resource, what)
    scheme = urlsplit(uri).scheme.lower()
    if scheme in ("http", "https"):
        return await _fetch(uri, policy, shared, what)
    if scheme not in ("", "file"):
        raise _config_error(f"unsupported URI scheme '{scheme}' for {what} {redact_url(uri)}")
    # Reading a file blocks; keep it off the event loop.
    return await asyncio.to_thread(_read_file, _local_path(uri), what)


def parse_structured(resource: Resource, what: str) -> Any:
    """The resource parsed as JSON, or YAML when it is not JSON.

    Raises:
        WorkflowError: configuration (400) when it is neither.
    """
    text = resource.text()
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _config_error(f"{what} at {redact_url(resource.uri)} is neither JSON nor YAML: {exc}") from None


def resolve_reference(base: Resource, reference: str) -> str:
    """`reference` (a URL or path) made absolute against the resource it appeared in."""
    if base.is_remote:
        return urljoin(base.uri, reference)
    if urlsplit(reference).scheme:
        return reference
    return str(Path(base.uri).parent / reference)
