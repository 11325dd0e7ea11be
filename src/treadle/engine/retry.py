"""Retry policies: whether a caught error is retried, and how long to wait first.

`limit.attempt.count` is the number of retries allowed after the first run (so
`count: 2` means at most three runs). The delay before retry *n* (0-based) is `delay`
(default 0) scaled by the backoff: constant `d`, linear `d·(n+1)`, exponential `d·2ⁿ`;
plus jitter uniformly in `[from, to]`. The jitter's randomness is derived from the
effect key (a hash), so a replay waits exactly as long as the original run did.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from treadle.dsl.models import RetryPolicy
from treadle.engine.durations import duration_seconds
from treadle.engine.errors import configuration_error
from treadle.engine.state import Frame

__all__ = ["deterministic_fraction", "resolve_retry", "retry_delay", "retry_allowed"]


def resolve_retry(retry: RetryPolicy | str | None, frame: Frame) -> RetryPolicy | None:
    """The policy itself, or the one `use.retries` names.

    Raises:
        WorkflowError: the named policy is not defined (configuration, 400).
    """
    if retry is None or isinstance(retry, RetryPolicy):
        return retry
    policy = frame.state.workflow.use.retries.get(retry)
    if policy is None:
        raise configuration_error(f"retry policy {retry!r} is not defined in use.retries", frame.pointer)
    return policy


def retry_allowed(
    policy: RetryPolicy,
    retries_done: int,
    frame: Frame,
    variables: Mapping[str, Any],
    elapsed: float | None,
    delay: float,
) -> str | None:
    """Why not to retry (a reason for the record), or None when a retry is allowed."""
    limit = policy.limit
    count = limit.attempt.count if limit is not None and limit.attempt is not None else None
    if count is not None and retries_done >= count:
        return f"retry limit of {count} reached"
    if limit is not None and limit.duration is not None and elapsed is not None:
        budget = duration_seconds(limit.duration, frame, frame.input)
        if elapsed + delay > budget:
            return f"retry duration of {budget:g}s would be exceeded"
    if policy.when is not None and not frame.test(policy.when, frame.input, variables):
        return f"retry when {policy.when} was false"
    if policy.except_when is not None and frame.test(policy.except_when, frame.input, variables):
        return f"retry exceptWhen {policy.except_when} was true"
    return None


def retry_delay(policy: RetryPolicy, retries_done: int, frame: Frame | None, key: str) -> float:
    """Seconds to wait before retry number `retries_done` (0-based).

    `frame` evaluates durations given as expressions (on the try's input); literal
    durations need none.
    """
    data = frame.input if frame is not None else None
    base = duration_seconds(policy.delay, frame, data) if policy.delay is not None else 0.0
    kind = policy.backoff.kind if policy.backoff is not None else "constant"
    if kind == "linear":
        delay = base * (retries_done + 1)
    elif kind == "exponential":
        delay = base * (2**retries_done)
    else:
        delay = base
    if policy.jitter is not None:
        low = duration_seconds(policy.jitter.from_, frame, data)
        high = duration_seconds(policy.jitter.to, frame, data)
        delay += low + (high - low) * deterministic_fraction(key)
    return delay


def deterministic_fraction(key: str) -> float:
    """A number in [0, 1) derived from `key`: stands in for `random.random()`, replayably."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def seconds_between(start: datetime, end: datetime) -> float:
    """Seconds from `start` to `end` (two readings of `effects.now`)."""
    return (end - start).total_seconds()
