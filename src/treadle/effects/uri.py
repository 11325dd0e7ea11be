"""URI templates (the DSL's subset of RFC 6570) and URL helpers for HTTP calls.

The DSL supports only Simple String Expansion: `{name}` is replaced by the top-level
property `name` of the values given (identifiers are verbatim, so `{pet.id}` reads the
property "pet.id"), percent-encoded; a missing property expands to "". A value that is
not a string, number, boolean or null is an expression error (400), as the spec says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["expand_uri_template", "merge_query", "redact_url"]

# RFC 6570 varname characters, plus "." which the DSL treats as part of the name.
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.%\-$]+)\}")


def _scalar_text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise WorkflowError(
        ErrorType.EXPRESSION,
        status=400,
        title="Invalid URI template value",
        detail=f"URI template variable '{name}' is a {type(value).__name__}; "
        "only strings, numbers, booleans and null can be substituted",
    )


def expand_uri_template(template: str, values: Mapping[str, Any] | None) -> str:
    """Replace each `{name}` in `template` with `values[name]`, percent-encoded."""
    source = values or {}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        # Simple expansion encodes everything outside the unreserved set.
        return quote(_scalar_text(name, source.get(name)), safe="-._~")

    return _PLACEHOLDER.sub(substitute, template)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def merge_query(url: httpx.URL, query: Mapping[str, Any] | None) -> httpx.URL:
    """`url` with `query` merged into its own query string.

    A name in `query` replaces the same name already in the URL; a list value becomes a
    repeated parameter; a null value is left out.
    """
    if not query:
        return url
    params: dict[str, str | list[str]] = {}
    for name, value in query.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            params[str(name)] = [_query_value(item) for item in value if item is not None]
        else:
            params[str(name)] = _query_value(value)
    return url.copy_merge_params(params)


def redact_url(url: str | httpx.URL) -> str:
    """The URL with any password in its userinfo replaced, for error messages."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return re.sub(r"//[^/@]*@", "//***@", str(url))
    if parsed.password:
        parsed = parsed.copy_with(password="***")
    return str(parsed)
