"""Decode an HTTP response body into the JSON-like value a workflow sees.

- An empty body is null.
- A JSON body (`application/json`, `*/*+json`) is parsed; integers stay integers. A body
  that claims JSON but does not parse is a communication error, never a traceback.
- A binary body (`application/octet-stream`, `image/*`, `audio/*`, `video/*`, `font/*`,
  or bytes that are not valid in the declared charset / UTF-8) is base64-encoded, as the
  spec's HTTP Response asks for content it cannot deserialize.
- Anything else is text.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["decode_body", "is_json_media_type", "media_type", "raw_body", "safe_decode_body"]

_BINARY_PREFIXES = ("image/", "audio/", "video/", "font/")
_BINARY_TYPES = frozenset({"application/octet-stream", "application/pdf", "application/zip"})


def media_type(headers: httpx.Headers) -> str:
    """The lower-case media type of `headers`' content-type, without parameters."""
    content_type: str = headers.get("content-type", "")
    return content_type.split(";", 1)[0].strip().lower()


def is_json_media_type(kind: str) -> bool:
    """Whether `kind` (a media type without parameters) is JSON."""
    return kind == "application/json" or kind.endswith("+json")


def _text_or_base64(response: httpx.Response, kind: str) -> str:
    body = response.content
    if kind in _BINARY_TYPES or kind.startswith(_BINARY_PREFIXES):
        return base64.b64encode(body).decode("ascii")
    try:
        return body.decode(response.charset_encoding or "utf-8")
    except (UnicodeDecodeError, LookupError):
        return base64.b64encode(body).decode("ascii")


def decode_body(response: httpx.Response, url: str) -> Any:
    """The response's content as a JSON-like value (see the module docstring).

    Raises:
        WorkflowError: communication (502) when a JSON body is malformed.
    """
    if not response.content:
        return None
    kind = media_type(response.headers)
    if is_json_media_type(kind):
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WorkflowError(
                ErrorType.COMMUNICATION,
                status=502,
                title="Malformed JSON response",
                detail=f"malformed JSON response from {url}: {exc}",
            ) from None
    return _text_or_base64(response, kind)


def safe_decode_body(response: httpx.Response, url: str) -> Any:
    """Like `decode_body`, but falls back to text when a JSON body is malformed (for errors)."""
    try:
        return decode_body(response, url)
    except WorkflowError:
        return _text_or_base64(response, "")


def raw_body(response: httpx.Response) -> str | None:
    """The body base64-encoded, or null when there is none (the `raw` output)."""
    return base64.b64encode(response.content).decode("ascii") if response.content else None
