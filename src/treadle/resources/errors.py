"""Typed errors of the control plane; transports map each class to a status in one place.

    TreadleError
    └── ResourceError              something about a resource request cannot be done
        ├── InvalidArgument        the request is malformed: `violations` point at each fault
        ├── NotFound               no resource of `kind` with that id or slug (in that scope)
        ├── AlreadyExists          a resource of `kind` with that slug exists in that scope
        ├── FailedPrecondition     valid, but not in the current state (running executions,
        │                          an impossible phase transition, an immutable resource)
        └── Aborted                a concurrent write won: stale `metadata.version`, retry

Each class carries `http_status` and `grpc_code` so a transport needs no table of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Self

from treadle.errors import TreadleError

__all__ = [
    "Aborted",
    "AlreadyExists",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "ResourceError",
    "Violation",
]


@dataclass(frozen=True)
class Violation:
    """One fault in a request: a JSON pointer into it, a stable code and a message."""

    pointer: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


class ResourceError(TreadleError):
    """Base of the control plane's errors.

    Attributes:
        kind: the resource kind concerned ("Workflow", ...), when there is one.
        ref: the id or slug concerned, when there is one.
        pointer: the part of the request it concerns, when the request held several
            resources (`/items/3`).
    """

    http_status: ClassVar[int] = 500
    grpc_code: ClassVar[str] = "UNKNOWN"

    def __init__(self, message: str, *, kind: str | None = None, ref: str | None = None) -> None:
        self.kind = kind
        self.ref = ref
        self.pointer: str | None = None
        super().__init__(message)

    def within(self, prefix: str) -> Self:
        """This error, about the part of a larger request at `prefix` (`/items/3`)."""
        self.pointer = prefix + (self.pointer or "")
        return self


class InvalidArgument(ResourceError):
    """The request is malformed; `violations` lists every fault with its pointer."""

    http_status = 400
    grpc_code = "INVALID_ARGUMENT"

    def __init__(self, violations: Sequence[Violation], *, kind: str | None = None) -> None:
        self.violations = tuple(violations)
        super().__init__(self._summary(kind), kind=kind)

    def _summary(self, kind: str | None) -> str:
        summary = "; ".join(str(v) for v in self.violations[:3])
        more = f" (and {len(self.violations) - 3} more)" if len(self.violations) > 3 else ""
        return f"invalid {kind or 'request'}: {summary}{more}"

    def within(self, prefix: str) -> Self:
        """This error with every violation's pointer under `prefix`."""
        self.violations = tuple(Violation(prefix + v.pointer, v.code, v.message) for v in self.violations)
        self.args = (self._summary(self.kind),)
        return super().within(prefix)

    @classmethod
    def at(cls, pointer: str, code: str, message: str, *, kind: str | None = None) -> InvalidArgument:
        """An error with a single violation."""
        return cls([Violation(pointer, code, message)], kind=kind)

    @property
    def pointers(self) -> list[str]:
        """The pointers of every violation, in order."""
        return [v.pointer for v in self.violations]


class NotFound(ResourceError):
    """No resource of `kind` has this id (or this slug in this owner scope)."""

    http_status = 404
    grpc_code = "NOT_FOUND"

    def __init__(self, kind: str, ref: str) -> None:
        super().__init__(f"{kind} {ref!r} not found", kind=kind, ref=ref)


class AlreadyExists(ResourceError):
    """A resource of `kind` with slug `ref` already exists in the same owner scope."""

    http_status = 409
    grpc_code = "ALREADY_EXISTS"

    def __init__(self, kind: str, ref: str, *, scope: str = "platform") -> None:
        self.scope = scope
        super().__init__(f"{kind} {ref!r} already exists in {scope} scope", kind=kind, ref=ref)


class FailedPrecondition(ResourceError):
    """The request is valid but the resource's state forbids it (`reason` says which)."""

    http_status = 412
    grpc_code = "FAILED_PRECONDITION"

    def __init__(self, kind: str, ref: str, reason: str, *, blocking: Sequence[str] = ()) -> None:
        self.reason = reason
        self.blocking = tuple(blocking)
        super().__init__(f"{kind} {ref!r}: {reason}", kind=kind, ref=ref)


class Aborted(ResourceError):
    """A concurrent write won: re-read the resource and retry with its new version."""

    http_status = 409
    grpc_code = "ABORTED"

    def __init__(
        self, kind: str, ref: str, *, expected: int | None = None, actual: int | None = None
    ) -> None:
        self.expected = expected
        self.actual = actual
        detail = f" (version {expected} is stale, current is {actual})" if actual is not None else ""
        super().__init__(f"{kind} {ref!r} was changed concurrently{detail}", kind=kind, ref=ref)
