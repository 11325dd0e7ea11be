"""`try`/`catch`: run the `try` tasks; when one faults, decide whether `catch` handles
the error, whether to retry, and what to run instead.

An error is caught when it passes the static filter `errors.with` (each given member
equal; `type` compared with `error_type_matches`, so both spellings of the standard
types match), then `when` holds and `exceptWhen` does not. Those conditions, the retry
policy's own `when`/`exceptWhen` and the `catch.do` tasks see the error's problem object
as `$<as>` (default `$error`); their `.` is the try's input. A caught error is retried
while the policy allows (each retry re-runs the whole `try` list, at attempt n+1, after
the policy's delay through `effects.sleep`). Once the policy declines (limit reached, its
`when` false), `catch.do` runs on the try's input and gives the output; a catch with a
retry policy but no `do` rethrows the last error then, since retrying was its whole
handling. A catch without retry and without `do` swallows the error (the output is the
try's input). An error that is not caught propagates unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from treadle.dsl.models import Catch, RetryPolicy, TryTask
from treadle.engine.durations import duration_seconds
from treadle.engine.errors import WorkflowError, error_type_matches
from treadle.engine.flow import Outcome, run_task_list
from treadle.engine.retry import resolve_retry, retry_allowed, retry_delay, seconds_between
from treadle.engine.state import Frame
from treadle.engine.timeouts import race_timeout

__all__ = ["error_matches_filter", "run_try"]


async def run_try(task: TryTask, frame: Frame) -> Outcome:
    """Run `try`, catching, retrying and recovering as `catch` says."""
    catch = task.catch
    policy = resolve_retry(catch.retry, frame)
    started = await _start_time(policy, frame)
    retries_done = 0
    while True:
        try:
            return await _attempt(task, policy, retries_done, frame)
        except WorkflowError as error:
            variables = {**frame.scope.variables, catch.as_: error.to_problem()}
            if not _catches(catch, error, frame, variables):
                raise
            if policy is not None:
                if await _retry(policy, error, retries_done, frame, variables, started):
                    retries_done += 1
                    continue
                if catch.do is None:
                    raise  # retrying was the whole handling, and it gave up
            return await _recover(catch, error, frame, variables)


async def _attempt(task: TryTask, policy: RetryPolicy | None, attempt: int, frame: Frame) -> Outcome:
    body = run_task_list(task.try_, frame.input, frame.scope.with_attempt(attempt))
    limit = policy.limit.attempt if policy is not None and policy.limit is not None else None
    if limit is None or limit.duration is None:
        return await body
    seconds = duration_seconds(limit.duration, frame, frame.input)
    return await race_timeout(
        body,
        seconds,
        frame.state.effects,
        frame.key(),
        frame.pointer,
        f"attempt {attempt} of {frame.entry.name!r}",
    )


async def _start_time(policy: RetryPolicy | None, frame: Frame) -> datetime | None:
    # Only a total duration limit needs the clock; don't ask the port for it otherwise.
    if policy is None or policy.limit is None or policy.limit.duration is None:
        return None
    return await frame.state.effects.now(frame.key())


async def _retry(
    policy: RetryPolicy,
    error: WorkflowError,
    retries_done: int,
    frame: Frame,
    variables: Mapping[str, Any],
    started: datetime | None,
) -> bool:
    """Wait and return True when the policy allows another attempt; record the decision."""
    key = frame.key()
    delay = retry_delay(policy, retries_done, frame, key)
    elapsed = None
    if started is not None:
        elapsed = seconds_between(started, await frame.state.effects.now(frame.key()))
    refusal = retry_allowed(policy, retries_done, frame, variables, elapsed, delay)
    if refusal is not None:
        frame.decide(frame.pointer, "retry", False, refusal)
        return False
    frame.decide(
        frame.pointer,
        "retry",
        retries_done + 1,
        f"retry {retries_done + 1} in {delay:g}s: caught {error.type}",
    )
    if delay > 0:
        await frame.state.effects.sleep(delay, key)
    return True


async def _recover(catch: Catch, error: WorkflowError, frame: Frame, variables: Mapping[str, Any]) -> Outcome:
    if catch.do is None or not catch.do.entries:
        frame.decide("continue", "catch", True, f"caught {error.type}")
        return Outcome(frame.input)
    frame.decide(catch.do.entries[0].pointer, "catch", True, f"caught {error.type}")
    scope = frame.scope.with_variables({catch.as_: variables[catch.as_]})
    return await run_task_list(catch.do, frame.input, scope)


def _catches(catch: Catch, error: WorkflowError, frame: Frame, variables: Mapping[str, Any]) -> bool:
    errors = catch.errors
    if errors is not None and errors.with_ is not None and not error_matches_filter(error, errors.with_):
        return False
    if catch.when is not None and not frame.test(catch.when, frame.input, variables):
        return False
    return catch.except_when is None or not frame.test(catch.except_when, frame.input, variables)


def error_matches_filter(error: WorkflowError, accepted: Any) -> bool:
    """Tell whether `error` has every member the filter gives (`details` is `detail`)."""
    if accepted.type is not None and not error_type_matches(error.type, accepted.type):
        return False
    if accepted.status is not None and error.status != accepted.status:
        return False
    if accepted.instance is not None and error.instance != accepted.instance:
        return False
    if accepted.title is not None and error.title != accepted.title:
        return False
    return accepted.details is None or error.detail == accepted.details
