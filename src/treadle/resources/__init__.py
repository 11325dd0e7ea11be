"""The control plane: every operation on every resource kind, each a pipeline of named steps.

`ResourceService` is the entry point transports call; `kinds` lists each operation's
steps; `errors` holds the typed errors transports map to status codes.
"""

from __future__ import annotations

from treadle.resources.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceError,
    Violation,
)
from treadle.resources.models import (
    API_VERSION,
    KINDS,
    AnyResource,
    Audit,
    ExecutionContext,
    ExecutionStatusUpdate,
    Metadata,
    Resource,
    SecretValue,
    TaskStatus,
    Workflow,
    WorkflowExecution,
    WorkflowInstance,
)
from treadle.resources.phases import ACTIVE, TERMINAL, TRANSITIONS, Phase, can_transition
from treadle.resources.secrets import REDACTED, SecretCipher
from treadle.resources.service import ExecutionCanceller, ExecutionStarter, ResourceService, StartReservation
from treadle.resources.slugs import slugify
from treadle.store import ListQuery, Page

__all__ = [
    "ACTIVE",
    "API_VERSION",
    "KINDS",
    "REDACTED",
    "TERMINAL",
    "TRANSITIONS",
    "Aborted",
    "AlreadyExists",
    "AnyResource",
    "Audit",
    "ExecutionCanceller",
    "ExecutionStarter",
    "ExecutionContext",
    "ExecutionStatusUpdate",
    "FailedPrecondition",
    "InvalidArgument",
    "ListQuery",
    "Metadata",
    "NotFound",
    "Page",
    "Phase",
    "Resource",
    "ResourceError",
    "ResourceService",
    "SecretCipher",
    "SecretValue",
    "StartReservation",
    "TaskStatus",
    "Violation",
    "Workflow",
    "WorkflowExecution",
    "WorkflowInstance",
    "can_transition",
    "slugify",
]
