"""Serverless Workflow DSL 1.0.3 documents: load, validate, and parse into typed models.

`load_text`/`load_file` turn YAML or JSON into a plain dict (safely: size, depth and
alias limits, duplicate keys reported, JSON-compatible typing); `validate` checks a dict
against the DSL's JSON Schema and the rules the schema cannot express (task names, `then`
targets, `use` references, jq expressions); `validate_text` does both and gives each
problem its line; `parse`/`parse_file` raise `InvalidDocument` listing every problem, or
return the `Workflow` model. Problem codes are documented in docs/errors.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from treadle.dsl.load import load_file, load_text
from treadle.dsl.problems import DocumentProblem, InvalidDocument
from treadle.dsl.validate import parse, parse_file, validate, validate_text

if TYPE_CHECKING:
    from treadle.dsl.models import Workflow

__all__ = [
    "DocumentProblem",
    "InvalidDocument",
    "Workflow",
    "load_file",
    "load_text",
    "parse",
    "parse_file",
    "validate",
    "validate_text",
]


def __getattr__(name: str) -> Any:
    # `Workflow` comes from the models package, imported on first use so that loading and
    # validation never depend on it (and importing treadle.dsl stays cheap).
    if name == "Workflow":
        from treadle.dsl.models import Workflow

        return Workflow
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
