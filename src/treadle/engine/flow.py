"""Task flow: running a task list in order, following flow directives, and the pipeline
every single task goes through.

A task runs as dsl.md describes: `if` on the raw input (false: skipped, the raw input
is its output), `input.schema` and `input.from`, the task's own runner (raced against
its `timeout`), `output.as` and `output.schema`, `export.as` and `export.schema`. Then
the directive (`then`, or the one a switch chose) picks what runs next: `continue`,
`exit` (leave this list), `end` (finish the workflow) or a sibling's name, forwards or
backwards. Runners are looked up by task type in `RUNNERS`, filled by
`treadle.engine.runners`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from treadle.dsl.models import DoTask, Task, TaskEntry, TaskList, Timeout
from treadle.engine.dataflow import apply_export, apply_input, apply_output
from treadle.engine.durations import duration_seconds
from treadle.engine.errors import WorkflowError, configuration_error, runtime_error
from treadle.engine.extensions import applicable_extensions
from treadle.engine.state import Frame, Scope, date_time_descriptor
from treadle.engine.timeouts import race_timeout

__all__ = ["RUNNERS", "Outcome", "Runner", "run_do", "run_task", "run_task_list"]


@dataclass(slots=True)
class Outcome:
    """What running a task gave: its output, the directive it chose, whether `end` was hit.

    Attributes:
        output: the raw output from a runner, the transformed output from `run_task`.
        then: a directive overriding the task's own `then` (a switch's case), if any.
        ended: an `end` directive was reached inside: the whole workflow finishes.
        exited: the list was left by an `exit` directive (extensions bypass a task so).
    """

    output: Any
    then: str | None = None
    ended: bool = False
    exited: bool = False


Runner = Callable[[Any, Frame], Awaitable[Outcome]]

#: Task type → the coroutine that runs it (`run_set`, `run_switch`, ...).
RUNNERS: dict[type[Task], Runner] = {}

_CONTINUE = "continue"


async def run_task_list(tasks: TaskList, raw_input: Any, scope: Scope) -> Outcome:
    """Run `tasks` in order from the first, following directives; the last output is the list's."""
    entries = tasks.entries
    data = raw_input
    index = 0
    while index < len(entries):
        outcome = await run_task(entries[index], data, scope, tasks)
        data = outcome.output
        directive = outcome.then
        if outcome.ended or directive == "end":
            return Outcome(data, ended=True)
        if directive is None or directive == _CONTINUE:
            index += 1
        elif directive == "exit":
            return Outcome(data, exited=True)
        else:
            index = _sibling_index(tasks, directive, entries[index].pointer)
    return Outcome(data)


def _sibling_index(tasks: TaskList, name: str, pointer: str) -> int:
    target = tasks.index.get(name)
    if target is None:
        raise configuration_error(f"then: {name!r} is not a task of this list", pointer)
    return target


async def run_task(
    entry: TaskEntry, raw_input: Any, scope: Scope, siblings: TaskList | None = None, *, silent: bool = False
) -> Outcome:
    """Run one task through the whole data-flow pipeline; tell the observer unless `silent`.

    Raises:
        WorkflowError: the task faulted (its `instance` set to the task's pointer when empty).
    """
    frame = Frame(entry, scope, raw_input, siblings)
    task = entry.task
    try:
        if task.if_ is not None and not frame.test(task.if_, raw_input):
            return _skip(frame, silent)
        if scope.state.needs_started_at:
            frame.started_at = date_time_descriptor(await scope.state.effects.now(frame.key()))
        frame.input = apply_input(frame)
        if not silent:
            frame.notify("started", input=frame.input)
        if scope.state.workflow.use.extensions and scope.extended is None:
            outcome = await run_extended(frame, _run_guarded)
        else:
            outcome = await _run_guarded(task, frame)
        frame.raw_output = outcome.output
        output = apply_output(frame, outcome.output)
        apply_export(frame, output)
    except WorkflowError as error:
        if not error.instance:
            error.instance = entry.pointer
        if not silent:
            frame.notify("faulted", input=frame.input, error=error)
        raise
    except asyncio.CancelledError:
        if not silent:
            frame.notify("cancelled", input=frame.input)
        raise
    except Exception as unexpected:  # a broken effect or a bug: a fault, never a traceback
        fault = runtime_error(f"{type(unexpected).__name__}: {unexpected}", entry.pointer)
        if not silent:
            frame.notify("faulted", input=frame.input, error=fault)
        raise fault from unexpected
    if not silent:
        frame.notify("completed", input=frame.input, output=output)
    return _directive(frame, Outcome(output, outcome.then, outcome.ended))


def _skip(frame: Frame, silent: bool) -> Outcome:
    if not silent:
        frame.decide(_next_pointer(frame), None, False, "if was false")
        frame.notify("skipped", input=frame.raw_input, output=frame.raw_input)
    return Outcome(frame.raw_input)


def _directive(frame: Frame, outcome: Outcome) -> Outcome:
    """Settle the directive: a switch's choice wins over the task's own `then`."""
    if outcome.then is None and frame.entry.task.then is not None:
        outcome.then = frame.entry.task.then
        if outcome.then != _CONTINUE:
            frame.decide(target_pointer(frame, outcome.then), None, outcome.then, f"then: {outcome.then}")
    return outcome


def target_pointer(frame: Frame, directive: str) -> str:
    """Where `directive` leads from this task: a sibling's pointer, or the directive itself."""
    if directive == _CONTINUE:
        return _next_pointer(frame)
    if directive in ("exit", "end") or frame.siblings is None:
        return directive
    index = frame.siblings.index.get(directive)
    return frame.siblings.entries[index].pointer if index is not None else directive


def _next_pointer(frame: Frame) -> str:
    siblings = frame.siblings
    if siblings is None:
        return _CONTINUE
    index = siblings.index.get(frame.entry.name)
    if index is None or index + 1 >= len(siblings.entries):
        return "exit"
    return siblings.entries[index + 1].pointer


async def run_extended(frame: Frame, run: Callable[[Task, Frame], Awaitable[Outcome]]) -> Outcome:
    """Run the task between the `before` and `after` tasks of the extensions that apply.

    A `before` list that ends with `then: exit` bypasses the task: its output stands in
    for the task's (how the DSL mocks a call). Otherwise `before` and `after` run for
    their effects (logging, auditing) and leave the task's data alone.
    """
    extensions = applicable_extensions(frame)
    if not extensions:
        return await run(frame.entry.task, frame)
    scope = frame.scope.for_extension(frame)
    for extension in extensions:
        if extension.before is not None:
            before = await run_task_list(extension.before, frame.input, scope)
            if before.exited:
                return Outcome(before.output)
    outcome = await run(frame.entry.task, frame)
    for extension in extensions:
        if extension.after is not None:
            await run_task_list(extension.after, outcome.output, scope)
    return outcome


async def _run_guarded(task: Task, frame: Frame) -> Outcome:
    runner = RUNNERS[type(task)]
    timeout = resolve_timeout(task.timeout, frame)
    if timeout is None:
        return await runner(task, frame)
    seconds = duration_seconds(timeout.after, frame, frame.input)
    what = "the workflow" if frame.entry.pointer == "" else f"task {frame.entry.name!r}"
    return await race_timeout(
        runner(task, frame), seconds, frame.state.effects, frame.key(), frame.pointer, what
    )


def resolve_timeout(timeout: Timeout | str | None, frame: Frame) -> Timeout | None:
    """The timeout itself, or the one `use.timeouts` names.

    Raises:
        WorkflowError: the named timeout is not defined (configuration, 400).
    """
    if timeout is None or isinstance(timeout, Timeout):
        return timeout
    named = frame.state.workflow.use.timeouts.get(timeout)
    if named is None:
        raise configuration_error(f"timeout {timeout!r} is not defined in use.timeouts", frame.pointer)
    return named


async def run_do(task: DoTask, frame: Frame) -> Outcome:
    """Run the subtasks in sequence; the last one's output is the task's."""
    return await run_task_list(task.do, frame.input, frame.scope)
