"""What a bad document looks like to its author: a list of problems, each with a pointer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from treadle.errors import TreadleError

__all__ = ["DocumentProblem", "InvalidDocument"]


@dataclass(frozen=True)
class DocumentProblem:
    """One thing wrong with a document.

    Attributes:
        pointer: JSON pointer to the offending value ("" for the whole document).
        code: stable identifier of the kind of problem (e.g. "unknown-task"), see docs/errors.md.
        message: what is wrong, for a person.
        line: 1-based line in the source text, when known.
    """

    pointer: str
    code: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


class InvalidDocument(TreadleError):
    """The document failed parsing, schema or semantic checks; `problems` lists every one."""

    def __init__(self, problems: Sequence[DocumentProblem], source: str = "<document>") -> None:
        self.problems = tuple(problems)
        self.source = source
        summary = "; ".join(str(problem) for problem in self.problems[:3])
        more = f" (and {len(self.problems) - 3} more)" if len(self.problems) > 3 else ""
        super().__init__(f"{source}: {len(self.problems)} problem(s): {summary}{more}")
