"""Validate workflow documents and parse them into typed models.

`validate` runs the JSON Schema and the semantic checks and returns every problem;
`validate_text` loads first and, only when there are problems, finds their lines;
`parse` raises `InvalidDocument` with all problems, or builds the `Workflow` model.
The model module is imported inside `parse`, so validation works without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from treadle.dsl.checks import semantic_problems
from treadle.dsl.lines import with_lines
from treadle.dsl.load import load_file, load_text
from treadle.dsl.problems import DocumentProblem, InvalidDocument
from treadle.dsl.schema import schema_problems, to_pointer

if TYPE_CHECKING:
    from treadle.dsl.models import Workflow

__all__ = ["parse", "parse_file", "validate", "validate_text"]


def validate(document: Any) -> list[DocumentProblem]:
    """Check a loaded document against the schema and the semantic rules.

    Returns:
        Every problem found (empty when the document is valid), schema problems first.
    """
    if not isinstance(document, dict):
        message = "a workflow document must be a mapping (document:, do:, ...)"
        return [DocumentProblem("", "not-a-mapping", message)]
    return schema_problems(document) + semantic_problems(document)


def validate_text(text: str, source: str = "<string>") -> tuple[dict[str, Any] | None, list[DocumentProblem]]:
    """Load and validate text; problems carry the line of the node they point at.

    Returns:
        The document (None when it could not be loaded) and every problem found.
    """
    try:
        document = load_text(text, source)
    except InvalidDocument as invalid:
        return None, list(invalid.problems)
    problems = validate(document)
    return document, with_lines(text, problems) if problems else problems


def parse(text: str, source: str = "<string>") -> Workflow:
    """Load, validate and build the typed model of a workflow.

    Raises:
        InvalidDocument: the text is not a valid workflow; `problems` lists every reason.
    """
    document, problems = validate_text(text, source)
    if problems or document is None:
        raise InvalidDocument(problems, source)
    return _build(document, source)


def parse_file(path: str | Path) -> Workflow:
    """Read and parse a workflow file (UTF-8); problems name the path as their source.

    Raises:
        InvalidDocument: the file is missing, unreadable or not a valid workflow.
    """
    source = str(path)
    document = load_file(path)
    problems = validate(document)
    if problems:
        text = Path(path).read_text("utf-8-sig")
        raise InvalidDocument(with_lines(text, problems), source)
    return _build(document, source)


def _build(document: dict[str, Any], source: str) -> Workflow:
    # Imported here so that loading and validation never depend on the models module.
    from pydantic import ValidationError

    from treadle.dsl.models import build_workflow

    try:
        return build_workflow(document)
    except ValidationError as error:
        # The schema should have caught it; report it the same way rather than as a traceback.
        problems = [
            DocumentProblem(to_pointer(detail["loc"]), "schema", detail["msg"]) for detail in error.errors()
        ]
        raise InvalidDocument(problems, source) from None
