"""The twelve task types of Serverless Workflow 1.0.3 and the task lists that hold them.

A task list in the document is a list of single-key maps `{name: task}`; here it is a
`TaskList` of `TaskEntry` (name, task, JSON pointer, raw definition), the pointer
computed once at build time (`/do/1/checkout/do/0/pay`). Every task type extends
`TaskBase`, which carries the fields all tasks share (`if`, `input`, `output`, `export`,
`timeout`, `then`, `metadata`); spec names that clash with Python keywords are spelled
with a trailing underscore and aliased (`if_`, `for_`, `try_`, `with_`, `raise_`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from treadle.dsl.models.common import (
    Duration,
    ErrorDefinition,
    ErrorFilter,
    Export,
    Input,
    Model,
    Output,
    RetryPolicy,
    Timeout,
)

__all__ = [
    "CallTask",
    "Catch",
    "CatchErrors",
    "CorrelationSpec",
    "DoTask",
    "EmitEvent",
    "EmitSpec",
    "EmitTask",
    "EventConsumption",
    "EventFilterSpec",
    "ForSpec",
    "ForTask",
    "ForkSpec",
    "ForkTask",
    "ListenSpec",
    "ListenTask",
    "RaiseSpec",
    "RaiseTask",
    "RunSpec",
    "RunTask",
    "SetTask",
    "SubscriptionIterator",
    "SwitchCase",
    "SwitchTask",
    "Task",
    "TaskBase",
    "TaskEntry",
    "TaskList",
    "TryTask",
    "WaitTask",
]


class TaskBase(Model):
    """The fields every task has."""

    if_: str | None = Field(default=None, alias="if")
    input: Input | None = None
    output: Output | None = None
    export: Export | None = None
    timeout: Timeout | str | None = None
    then: str | None = None
    metadata: dict[str, Any] | None = None


class TaskEntry(Model):
    """One named task in a list, with its JSON pointer and its definition as written."""

    name: str
    pointer: str
    task: Task
    definition: dict[str, Any]


class TaskList(Model):
    """An ordered list of named tasks; `index` finds a sibling by name (for `then`)."""

    entries: tuple[TaskEntry, ...] = ()
    index: dict[str, int] = Field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)


class CallTask(TaskBase):
    """`call`: an HTTP/gRPC/OpenAPI/AsyncAPI/MCP/A2A call, a declared function or a custom one."""

    call: str
    with_: dict[str, Any] | None = Field(default=None, alias="with")


class DoTask(TaskBase):
    """`do`: subtasks in sequence."""

    do: TaskList


class CorrelationSpec(Model):
    """A correlation: the value `from` extracts from an event must equal `expect`."""

    from_: str = Field(alias="from")
    expect: Any = None


class EventFilterSpec(Model):
    """An event filter: attributes the event must have (`with`) and correlations."""

    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    correlate: dict[str, CorrelationSpec] | None = None


class EmitEvent(Model):
    """The event to emit: CloudEvent attributes and data, possibly expressions."""

    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


class EmitSpec(Model):
    """The `emit` block."""

    event: EmitEvent


class EmitTask(TaskBase):
    """`emit`: publish a CloudEvent."""

    emit: EmitSpec


class ForSpec(Model):
    """The `for` block: the collection (`in`) and the names of the item and index variables."""

    each: str = "item"
    in_: str = Field(alias="in")
    at: str = "index"


class ForTask(TaskBase):
    """`for`: run `do` for each item of a collection while `while` holds."""

    for_: ForSpec = Field(alias="for")
    while_: str | None = Field(default=None, alias="while")
    do: TaskList


class ForkSpec(Model):
    """The `fork` block: branches, and whether they compete."""

    branches: TaskList
    compete: bool = False


class ForkTask(TaskBase):
    """`fork`: run branches concurrently."""

    fork: ForkSpec


class EventConsumption(Model):
    """An event consumption strategy: `one`, `all` or `any` (with an optional `until`)."""

    one: EventFilterSpec | None = None
    all: tuple[EventFilterSpec, ...] | None = None
    any: tuple[EventFilterSpec, ...] | None = None
    until: str | EventConsumption | None = None


class SubscriptionIterator(Model):
    """`foreach` of a listen: tasks run for each consumed event."""

    item: str = "item"
    at: str = "index"
    do: TaskList | None = None
    output: Output | None = None
    export: Export | None = None


class ListenSpec(Model):
    """The `listen` block."""

    to: EventConsumption
    read: str = "data"


class ListenTask(TaskBase):
    """`listen`: wait for events."""

    listen: ListenSpec
    foreach: SubscriptionIterator | None = None


class RaiseSpec(Model):
    """The `raise` block: an inline error or the name of one in `use.errors`."""

    error: ErrorDefinition | str


class RaiseTask(TaskBase):
    """`raise`: fault with an error."""

    raise_: RaiseSpec = Field(alias="raise")


class RunSpec(Model):
    """The `run` block: one of container/script/shell/workflow, plus `await` and `return`."""

    container: dict[str, Any] | None = None
    script: dict[str, Any] | None = None
    shell: dict[str, Any] | None = None
    workflow: dict[str, Any] | None = None
    await_: bool = Field(default=True, alias="await")
    return_: str = Field(default="stdout", alias="return")

    @property
    def process_kind(self) -> str:
        """Which process this runs: "container", "script", "shell" or "workflow"."""
        for kind in ("shell", "script", "container", "workflow"):
            if getattr(self, kind) is not None:
                return kind
        return "shell"

    @property
    def process(self) -> dict[str, Any]:
        """The process definition of `process_kind`."""
        return getattr(self, self.process_kind) or {}


class RunTask(TaskBase):
    """`run`: run a container, script, shell command or workflow."""

    run: RunSpec


class SetTask(TaskBase):
    """`set`: produce data from a map template or an expression."""

    set: dict[str, Any] | str


class SwitchCase(Model):
    """One case of a switch; `when` is None for the default case."""

    name: str
    when: str | None = None
    then: str


class SwitchTask(TaskBase):
    """`switch`: take the first case whose `when` holds."""

    switch: tuple[SwitchCase, ...]


class CatchErrors(Model):
    """The static filter of a catch."""

    with_: ErrorFilter | None = Field(default=None, alias="with")


class Catch(Model):
    """How a `try` handles errors: filters, the error variable, retry, and tasks to run."""

    errors: CatchErrors | None = None
    as_: str = Field(default="error", alias="as")
    when: str | None = None
    except_when: str | None = Field(default=None, alias="exceptWhen")
    retry: RetryPolicy | str | None = None
    do: TaskList | None = None


class TryTask(TaskBase):
    """`try`: run tasks, catching (and possibly retrying) the errors they raise."""

    try_: TaskList = Field(alias="try")
    catch: Catch


class WaitTask(TaskBase):
    """`wait`: pause for a duration."""

    wait: Duration


Task = (
    CallTask
    | DoTask
    | EmitTask
    | ForTask
    | ForkTask
    | ListenTask
    | RaiseTask
    | RunTask
    | SetTask
    | SwitchTask
    | TryTask
    | WaitTask
)

TaskEntry.model_rebuild()
TaskList.model_rebuild()
EventConsumption.model_rebuild()
