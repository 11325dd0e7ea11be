"""Workflow faults: the DSL's error model (RFC 7807 problem objects).

    TreadleError
    └── WorkflowError     a fault raised inside a run; carries `type status title detail instance`

A `WorkflowError` never escapes a run as a traceback: the engine catches it at the task
that raised it (a `try`) or ends the run `faulted` with its problem object.
"""

from __future__ import annotations

from typing import Any

from treadle.errors import TreadleError

__all__ = [
    "ErrorType",
    "WorkflowError",
    "configuration_error",
    "error_type_matches",
    "expression_error",
    "runtime_error",
    "timeout_error",
    "validation_error",
]

_SPEC_PREFIX = "https://serverlessworkflow.io/spec/1.0.0/errors/"
# Older drafts (and some examples) spell the standard types this way; both must match.
_LEGACY_PREFIXES = (
    "https://serverlessworkflow.io/dsl/errors/types/",
    "https://serverlessworkflow.io.io/dsl/errors/types/",
)


class ErrorType:
    """The standard error types of the DSL, with their default status."""

    CONFIGURATION = _SPEC_PREFIX + "configuration"
    VALIDATION = _SPEC_PREFIX + "validation"
    EXPRESSION = _SPEC_PREFIX + "expression"
    AUTHENTICATION = _SPEC_PREFIX + "authentication"
    AUTHORIZATION = _SPEC_PREFIX + "authorization"
    TIMEOUT = _SPEC_PREFIX + "timeout"
    COMMUNICATION = _SPEC_PREFIX + "communication"
    RUNTIME = _SPEC_PREFIX + "runtime"

    STATUS = {
        CONFIGURATION: 400,
        VALIDATION: 400,
        EXPRESSION: 400,
        AUTHENTICATION: 401,
        AUTHORIZATION: 403,
        TIMEOUT: 408,
        COMMUNICATION: 500,
        RUNTIME: 500,
    }


def _canonical(type_uri: str) -> str:
    for prefix in _LEGACY_PREFIXES:
        if type_uri.startswith(prefix):
            return _SPEC_PREFIX + type_uri.removeprefix(prefix)
    return type_uri


def error_type_matches(actual: str, expected: str) -> bool:
    """Compare two error type URIs, treating the legacy standard spellings as equal."""
    return _canonical(actual) == _canonical(expected)


class WorkflowError(TreadleError):
    """A fault in a run: the problem object the DSL defines.

    Attributes:
        type: the error type URI (see `ErrorType`).
        status: the status code (HTTP-like).
        title: a short summary.
        detail: the explanation of this occurrence, when there is one.
        instance: the JSON pointer of the task that raised it ("" until the engine sets it).
        extra: additional members carried through (e.g. an HTTP response's status and body).
    """

    def __init__(
        self,
        type: str,
        status: int | None = None,
        title: str | None = None,
        detail: str | None = None,
        instance: str = "",
        **extra: Any,
    ) -> None:
        self.type = type
        self.status = status if status is not None else ErrorType.STATUS.get(_canonical(type), 500)
        self.title = title or type.rstrip("/").rsplit("/", 1)[-1].capitalize()
        self.detail = detail
        self.instance = instance
        self.extra = extra
        super().__init__(f"{self.title}: {detail}" if detail else self.title)

    def to_problem(self) -> dict[str, Any]:
        """The error as a problem-details object (JSON-ready)."""
        problem: dict[str, Any] = {"type": self.type, "status": self.status, "title": self.title}
        if self.detail is not None:
            problem["detail"] = self.detail
        problem["instance"] = self.instance
        problem.update(self.extra)
        return problem

    @classmethod
    def from_problem(cls, problem: dict[str, Any]) -> WorkflowError:
        """Rebuild an error from its problem object (e.g. one read from a journal)."""
        fields = dict(problem)
        return cls(
            type=str(fields.pop("type", ErrorType.RUNTIME)),
            status=fields.pop("status", None),
            title=fields.pop("title", None),
            detail=fields.pop("detail", None),
            instance=str(fields.pop("instance", "")),
            **fields,
        )


def expression_error(detail: str, instance: str = "") -> WorkflowError:
    """A runtime expression failed (400)."""
    return WorkflowError(ErrorType.EXPRESSION, title="Expression Error", detail=detail, instance=instance)


def validation_error(detail: str, instance: str = "") -> WorkflowError:
    """Data did not match its schema (400)."""
    return WorkflowError(ErrorType.VALIDATION, title="Validation Error", detail=detail, instance=instance)


def timeout_error(detail: str, instance: str = "") -> WorkflowError:
    """A task or workflow ran past its timeout (408)."""
    return WorkflowError(ErrorType.TIMEOUT, title="Timeout", detail=detail, instance=instance)


def configuration_error(detail: str, instance: str = "") -> WorkflowError:
    """The document or the runtime is misconfigured for what the task asks (400)."""
    return WorkflowError(
        ErrorType.CONFIGURATION, title="Configuration Error", detail=detail, instance=instance
    )


def runtime_error(detail: str, instance: str = "") -> WorkflowError:
    """Something unexpected failed while running a task (500)."""
    return WorkflowError(ErrorType.RUNTIME, title="Runtime Error", detail=detail, instance=instance)
