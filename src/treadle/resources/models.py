"""The resource envelope and the four kinds, as pydantic models (see DESIGN.md, "Concepts").

Owner scope: `metadata.org` names the organization (None = platform scope) and
`metadata.owner` the user (None = not user-scoped). A resource with an `owner` is
user-scoped, inside `org` when it has one. Slugs are unique per kind within one
`(org, owner)` pair. Clients send `metadata` and `spec`; the server owns `status` and
ignores whatever status a request carries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from treadle.resources.phases import Phase

__all__ = [
    "API_VERSION",
    "KINDS",
    "AnyResource",
    "Audit",
    "Durability",
    "ExecutionContext",
    "ExecutionContextSpec",
    "ExecutionStatus",
    "ExecutionStatusUpdate",
    "Metadata",
    "Resource",
    "SecretValue",
    "TaskStatus",
    "Validation",
    "ValidationProblem",
    "Workflow",
    "WorkflowExecution",
    "WorkflowExecutionSpec",
    "WorkflowInstance",
    "WorkflowInstanceSpec",
    "WorkflowSpec",
    "WorkflowStatus",
]

API_VERSION: Final = "treadle.dev/v1"

#: How the local runtime makes a run's steps durable. `sync`: each effect's result is
#: committed before the run goes on (a crash re-runs only the effects in flight).
#: `async`: results are committed in batches while the run goes on, and before it ends,
#: unloads, subscribes to or emits an event (a crash re-runs the steps whose results were
#: not committed yet: at most one or two batches of 64 entries a run). LangGraph's
#: `durability="async"`.
Durability = Literal["sync", "async"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Metadata(_Strict):
    """Identity and scope of a resource; `id`, `slug` and `version` are server-assigned."""

    id: str | None = None
    name: str | None = Field(default=None, max_length=253)
    slug: str | None = None
    org: str | None = Field(default=None, max_length=63)
    owner: str | None = Field(default=None, max_length=253)
    labels: dict[Annotated[str, Field(max_length=317)], Annotated[str, Field(max_length=255)]] = Field(
        default_factory=dict
    )
    version: int | None = None


class Audit(_Lenient):
    """Who wrote the resource, and when: stamped on every write."""

    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None


class SecretValue(_Strict):
    """A named value; when `is_secret`, it is encrypted at rest and redacted on reads."""

    value: Any = None
    is_secret: bool = False


class Resource(_Strict):
    """The envelope every kind shares."""

    api_version: Literal["treadle.dev/v1"] = Field(default=API_VERSION, alias="apiVersion")
    kind: str
    metadata: Metadata = Field(default_factory=Metadata)


# -- Workflow ----------------------------------------------------------------------------


class WorkflowSpec(_Strict):
    """A Serverless Workflow document plus what treadle keeps beside it."""

    description: str | None = None
    document: dict[str, Any]
    retention: str | dict[str, Any] | None = None
    #: Its executions' durability unless one says otherwise (None: `sync`).
    durability: Durability | None = None


class ValidationProblem(_Lenient):
    """One problem the `dsl` package found in the document."""

    pointer: str
    code: str
    message: str


class Validation(_Lenient):
    """The outcome of validating the workflow's document."""

    state: Literal["valid", "invalid"] = "valid"
    errors: list[ValidationProblem] = Field(default_factory=list)


class WorkflowStatus(_Lenient):
    """What the server knows of a workflow."""

    audit: Audit = Field(default_factory=Audit)
    default_instance_id: str | None = None
    validation: Validation | None = None


class Workflow(Resource):
    """A template: a DSL document plus resource metadata."""

    kind: Literal["Workflow"] = "Workflow"
    spec: WorkflowSpec
    status: WorkflowStatus = Field(default_factory=WorkflowStatus)


# -- WorkflowInstance --------------------------------------------------------------------


class WorkflowInstanceSpec(_Strict):
    """A deployment of a workflow with its environment values."""

    workflow_id: str
    description: str | None = None
    env: dict[str, SecretValue] = Field(default_factory=dict)


class InstanceStatus(_Lenient):
    """What the server knows of an instance."""

    audit: Audit = Field(default_factory=Audit)


class WorkflowInstance(Resource):
    """A configured deployment of a workflow."""

    kind: Literal["WorkflowInstance"] = "WorkflowInstance"
    spec: WorkflowInstanceSpec
    status: InstanceStatus = Field(default_factory=InstanceStatus)


# -- WorkflowExecution -------------------------------------------------------------------


class WorkflowExecutionSpec(_Strict):
    """What to run (an instance, or a workflow through its default instance) and on what."""

    workflow_instance_id: str | None = None
    workflow_id: str | None = None
    input: Any = None
    runtime_env: dict[str, SecretValue] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    #: Set at creation from the workflow's when not given (then `sync`).
    durability: Durability | None = None


class TaskStatus(BaseModel):
    """The state of one task of a run (the runtime may add fields)."""

    model_config = ConfigDict(extra="allow")

    name: str
    path: str
    phase: str
    attempt: int = 1
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: dict[str, Any] | None = None


class ExecutionStatus(_Lenient):
    """What the runtime reported of a run, plus the document snapshot it runs."""

    audit: Audit = Field(default_factory=Audit)
    phase: Phase = "pending"
    tasks: list[TaskStatus] = Field(default_factory=list)
    output: Any = None
    error: dict[str, Any] | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    temporal_workflow_id: str | None = None
    document: dict[str, Any] | None = None


class WorkflowExecution(Resource):
    """One run of an instance."""

    kind: Literal["WorkflowExecution"] = "WorkflowExecution"
    spec: WorkflowExecutionSpec = Field(default_factory=WorkflowExecutionSpec)
    status: ExecutionStatus = Field(default_factory=ExecutionStatus)


class ExecutionStatusUpdate(_Strict):
    """The runtime's report: every field set is merged into the execution's status.

    `tasks` are merged by `path`: an entry replaces the stored task with the same path,
    new paths are appended. Unset fields leave the stored value alone.
    """

    phase: Phase | None = None
    tasks: list[TaskStatus] | None = None
    output: Any = None
    error: dict[str, Any] | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    temporal_workflow_id: str | None = None


# -- ExecutionContext --------------------------------------------------------------------


class ExecutionContextSpec(_Strict):
    """Ephemeral values for one execution (API keys, tokens)."""

    execution_id: str
    data: dict[str, SecretValue] = Field(default_factory=dict)


class ContextStatus(_Lenient):
    """What the server knows of a context."""

    audit: Audit = Field(default_factory=Audit)


class ExecutionContext(Resource):
    """Platform-scoped, immutable runtime values of one execution."""

    kind: Literal["ExecutionContext"] = "ExecutionContext"
    spec: ExecutionContextSpec
    status: ContextStatus = Field(default_factory=ContextStatus)


AnyResource = Workflow | WorkflowInstance | WorkflowExecution | ExecutionContext
KINDS: dict[str, type[Resource]] = {
    model.model_fields["kind"].default: model
    for model in (Workflow, WorkflowInstance, WorkflowExecution, ExecutionContext)
}
