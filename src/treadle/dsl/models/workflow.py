"""The workflow document model and `build_workflow`, which turns a schema-valid document
(a plain dict) into typed, frozen models.

Building walks every task list once, computing each task's JSON pointer
(`/do/1/checkout/do/0/pay`, `/do/0/t/try/0/x`, `/do/0/t/catch/do/0/y`,
`/do/0/f/fork/branches/0/b1`, `/use/functions/NAME`) and parsing literal durations. It
also records which runtime-expression arguments the document mentions anywhere
(`Workflow.references`), so the engine can skip building descriptors nobody reads
(`$task`, `$workflow`'s `startedAt`, which cost a clock read each).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import Field, PrivateAttr

from treadle.dsl.models.common import (
    ErrorDefinition,
    Input,
    Model,
    Output,
    RetryPolicy,
    Timeout,
    parse_duration,
)
from treadle.dsl.models.tasks import (
    CallTask,
    DoTask,
    EmitTask,
    ForkTask,
    ForTask,
    ListenTask,
    RaiseTask,
    RunTask,
    SetTask,
    SwitchCase,
    SwitchTask,
    Task,
    TaskEntry,
    TaskList,
    TryTask,
    WaitTask,
)

__all__ = ["Document", "Extension", "Use", "Workflow", "build_task_list", "build_workflow"]


class Document(Model):
    """The document's metadata."""

    dsl: str = "1.0.3"
    namespace: str = "default"
    name: str = "workflow"
    version: str = "0.0.0"
    title: str | None = None
    summary: str | None = None
    tags: dict[str, str] | None = None
    metadata: dict[str, Any] | None = None


class Extension(Model):
    """An extension: tasks run `before` and `after` every task of the type it `extend`s.

    Attributes:
        name: the extension's name in `use.extensions`.
        extend: the task type it applies to (`call`, `composite`, ..., or `all`).
        when: a condition on the extended task (`$task`), if any.
        before: tasks run first; one ending with `then: exit` bypasses the extended task.
        after: tasks run after the extended task, on its output.
    """

    name: str
    extend: str
    when: str | None = None
    before: TaskList | None = None
    after: TaskList | None = None


class Use(Model):
    """The workflow's reusable components."""

    authentications: dict[str, Any] = Field(default_factory=dict)
    catalogs: dict[str, Any] = Field(default_factory=dict)
    errors: dict[str, ErrorDefinition] = Field(default_factory=dict)
    extensions: tuple[Extension, ...] = ()
    functions: dict[str, TaskEntry] = Field(default_factory=dict)
    retries: dict[str, RetryPolicy] = Field(default_factory=dict)
    secrets: list[str] = Field(default_factory=list)
    timeouts: dict[str, Timeout] = Field(default_factory=dict)


class Workflow(Model):
    """A whole workflow document, typed.

    Attributes:
        references: the runtime-expression arguments (`task`, `workflow`, ...) that any
            string of the document mentions, plus "startedAt" when some expression reads
            a descriptor's start time.
        definition: the document as given (what `$workflow.definition` shows).
    """

    document: Document
    input: Input | None = None
    use: Use = Field(default_factory=Use)
    do: TaskList
    timeout: Timeout | str | None = None
    output: Output | None = None
    # `on` is YAML 1.1 for True, so a schedule read by PyYAML may have a boolean key.
    schedule: dict[Any, Any] | None = None
    evaluate: dict[str, Any] | None = None
    references: frozenset[str] = frozenset()
    _definition: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def definition(self) -> dict[str, Any]:
        """The document as given."""
        return self._definition


def build_workflow(document: dict[str, Any]) -> Workflow:
    """Build the typed model of a document that already passed the JSON schema."""
    data = dict(document)
    data["do"] = build_task_list(document.get("do") or [], "/do")
    data["use"] = _build_use(document.get("use") or {})
    if isinstance(document.get("timeout"), dict):
        data["timeout"] = Timeout.build(document["timeout"])
    data["references"] = _scan_references(document)
    workflow = Workflow.model_validate(data)
    workflow._definition = document
    return workflow


def build_task_list(items: list[dict[str, Any]], pointer: str) -> TaskList:
    """Build a task list (`[{name: task}, ...]`) whose list lives at `pointer`."""
    entries = []
    for position, item in enumerate(items):
        ((name, definition),) = item.items()
        entries.append(_build_entry(name, definition, f"{pointer}/{position}/{_escape(name)}"))
    index: dict[str, int] = {}
    for position, entry in enumerate(entries):
        index.setdefault(entry.name, position)
    return TaskList(entries=tuple(entries), index=index)


def _build_entry(name: str, definition: dict[str, Any], pointer: str) -> TaskEntry:
    return TaskEntry(name=name, pointer=pointer, task=build_task(definition, pointer), definition=definition)


def build_task(definition: dict[str, Any], pointer: str) -> Task:
    """Build one task, recognising its type by the key that defines it."""
    data = dict(definition)
    if isinstance(data.get("timeout"), dict):
        data["timeout"] = Timeout.build(data["timeout"])
    for key, builder in _BUILDERS:
        if key in data:
            return builder(data, pointer)
    raise ValueError(f"{pointer}: not a task: {sorted(definition)}")


def _build_call(data: dict[str, Any], pointer: str) -> Task:
    return CallTask.model_validate(data)


def _build_do(data: dict[str, Any], pointer: str) -> Task:
    data["do"] = build_task_list(data["do"] or [], f"{pointer}/do")
    return DoTask.model_validate(data)


def _build_emit(data: dict[str, Any], pointer: str) -> Task:
    return EmitTask.model_validate(data)


def _build_for(data: dict[str, Any], pointer: str) -> Task:
    data["do"] = build_task_list(data.get("do") or [], f"{pointer}/do")
    return ForTask.model_validate(data)


def _build_fork(data: dict[str, Any], pointer: str) -> Task:
    fork = dict(data["fork"])
    fork["branches"] = build_task_list(fork.get("branches") or [], f"{pointer}/fork/branches")
    data["fork"] = fork
    return ForkTask.model_validate(data)


def _build_listen(data: dict[str, Any], pointer: str) -> Task:
    if isinstance(data.get("foreach"), dict) and data["foreach"].get("do") is not None:
        foreach = dict(data["foreach"])
        foreach["do"] = build_task_list(foreach["do"], f"{pointer}/foreach/do")
        data["foreach"] = foreach
    return ListenTask.model_validate(data)


def _build_raise(data: dict[str, Any], pointer: str) -> Task:
    return RaiseTask.model_validate(data)


def _build_run(data: dict[str, Any], pointer: str) -> Task:
    return RunTask.model_validate(data)


def _build_set(data: dict[str, Any], pointer: str) -> Task:
    return SetTask.model_validate(data)


def _build_switch(data: dict[str, Any], pointer: str) -> Task:
    cases = []
    for item in data["switch"]:
        ((name, case),) = item.items()
        cases.append(SwitchCase(name=name, when=case.get("when"), then=case.get("then", "continue")))
    data["switch"] = tuple(cases)
    return SwitchTask.model_validate(data)


def _build_try(data: dict[str, Any], pointer: str) -> Task:
    data["try"] = build_task_list(data["try"] or [], f"{pointer}/try")
    catch = dict(data.get("catch") or {})
    if catch.get("do") is not None:
        catch["do"] = build_task_list(catch["do"], f"{pointer}/catch/do")
    if isinstance(catch.get("retry"), dict):
        catch["retry"] = RetryPolicy.build(catch["retry"])
    data["catch"] = catch
    return TryTask.model_validate(data)


def _build_wait(data: dict[str, Any], pointer: str) -> Task:
    data["wait"] = parse_duration(data["wait"])
    return WaitTask.model_validate(data)


# Order matters where keys overlap: `for` and `try` also have `do`.
_BUILDERS: tuple[tuple[str, Callable[[dict[str, Any], str], Task]], ...] = (
    ("for", _build_for),
    ("try", _build_try),
    ("fork", _build_fork),
    ("call", _build_call),
    ("emit", _build_emit),
    ("listen", _build_listen),
    ("raise", _build_raise),
    ("run", _build_run),
    ("set", _build_set),
    ("switch", _build_switch),
    ("wait", _build_wait),
    ("do", _build_do),
)


def _build_use(use: dict[str, Any]) -> dict[str, Any]:
    data = dict(use)
    data["functions"] = {
        name: _build_entry(name, definition, f"/use/functions/{_escape(name)}")
        for name, definition in (use.get("functions") or {}).items()
    }
    data["extensions"] = tuple(
        _build_extension(position, item) for position, item in enumerate(use.get("extensions") or [])
    )
    data["retries"] = {name: RetryPolicy.build(policy) for name, policy in (use.get("retries") or {}).items()}
    data["timeouts"] = {name: Timeout.build(timeout) for name, timeout in (use.get("timeouts") or {}).items()}
    return data


def _build_extension(position: int, item: dict[str, Any]) -> Extension:
    ((name, definition),) = item.items()
    pointer = f"/use/extensions/{position}/{_escape(name)}"
    lists = {
        part: build_task_list(definition[part], f"{pointer}/{part}")
        for part in ("before", "after")
        if definition.get(part)
    }
    return Extension(name=name, extend=definition["extend"], when=definition.get("when"), **lists)


def _escape(name: str) -> str:
    """Escape a name as a JSON pointer token (RFC 6901)."""
    return name.replace("~", "~0").replace("/", "~1")


_ARGUMENT = re.compile(r"\$(context|input|output|secrets|task|workflow|runtime|authorization)\b")


def _scan_references(value: Any) -> frozenset[str]:
    found: set[str] = set()
    _collect_references(value, found)
    return frozenset(found)


def _collect_references(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        if "$" in value:
            found.update(_ARGUMENT.findall(value))
            if "startedAt" in value:
                found.add("startedAt")
    elif isinstance(value, dict):
        for item in value.values():
            _collect_references(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect_references(item, found)
