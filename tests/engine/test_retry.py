from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from treadle.dsl.models import RetryPolicy
from treadle.engine import ErrorType, WorkflowError
from treadle.engine.retry import deterministic_fraction

from .conftest import Run, build

RETRY_INLINE = """
do:
  - attempt:
      try:
        - call:
            call: flaky
      catch:
        errors:
          with: {status: 503}
        retry:
          delay: {milliseconds: 1}
          backoff: {exponential: {}}
          limit:
            attempt: {count: 3}
"""

RETRY_NAMED_THEN_CATCH_DO = """
use:
  retries:
    quick:
      delay: PT0.001S
      backoff: {constant: {}}
      limit: {attempt: {count: 1}}
do:
  - attempt:
      try:
        - call:
            call: flaky
      catch:
        retry: quick
        do:
          - giveUp:
              set: {gaveUp: true}
"""

RETRY_WHEN = """
do:
  - attempt:
      try:
        - call:
            call: flaky
      catch:
        retry:
          when: ${ $error.status == 503 }
          limit: {attempt: {count: 5}}
"""

RETRY_DURATION_LIMIT = """
do:
  - attempt:
      try:
        - call:
            call: flaky
      catch:
        retry:
          delay: {milliseconds: 20}
          limit:
            duration: {milliseconds: 30}
            attempt: {count: 100}
"""

RETRY_UNKNOWN = """
do:
  - attempt:
      try:
        - call:
            call: flaky
      catch:
        retry: missing
"""


class Flaky:
    """Fails `failures` times with `status`, then answers."""

    def __init__(self, failures: int, status: int = 503) -> None:
        self.failures = failures
        self.status = status
        self.keys: list[str] = []

    async def __call__(self, kind: str, args: Mapping[str, Any], key: str) -> Any:
        self.keys.append(key)
        if len(self.keys) <= self.failures:
            raise WorkflowError(ErrorType.COMMUNICATION, status=self.status)
        return {"ok": len(self.keys)}


async def test_retry_reruns_the_try_block_with_a_new_attempt_and_key(run: Run) -> None:
    flaky = Flaky(failures=2)
    result, observer = await run(RETRY_INLINE, call_handler=flaky)
    assert result.output == {"ok": 3}
    assert flaky.keys == [
        "/do/0/attempt/try/0/call@0#0",
        "/do/0/attempt/try/0/call@1#0",
        "/do/0/attempt/try/0/call@2#0",
    ]
    attempts = [(t["attempt"], t["status"]) for t in observer.tasks if t["name"] == "call"]
    assert attempts == [(0, "faulted"), (1, "faulted"), (2, "completed")]
    reasons = [d["reason"] for d in observer.decisions]
    assert reasons[0].startswith("retry 1 in 0.001s")
    assert reasons[1].startswith("retry 2 in 0.002s")


async def test_retry_gives_up_at_the_attempt_limit(run: Run) -> None:
    flaky = Flaky(failures=10)
    result, observer = await run(RETRY_INLINE, call_handler=flaky)
    assert result.status == "faulted"
    assert len(flaky.keys) == 4  # the first run and three retries
    assert observer.decisions[-1]["reason"] == "retry limit of 3 reached"


async def test_named_policy_then_catch_do_once_retries_are_exhausted(run: Run) -> None:
    flaky = Flaky(failures=10)
    result, _ = await run(RETRY_NAMED_THEN_CATCH_DO, call_handler=flaky)
    assert result.output == {"gaveUp": True}
    assert len(flaky.keys) == 2


async def test_retry_when_false_does_not_retry_and_without_catch_do_rethrows(run: Run) -> None:
    flaky = Flaky(failures=1, status=500)
    result, observer = await run(RETRY_WHEN, {"kept": 1}, call_handler=flaky)
    assert result.status == "faulted"
    assert result.error is not None and result.error.status == 500
    assert len(flaky.keys) == 1
    assert observer.decisions[-1]["reason"] == "retry when ${ $error.status == 503 } was false"


async def test_retry_when_true_retries(run: Run) -> None:
    flaky = Flaky(failures=2, status=503)
    result, _ = await run(RETRY_WHEN, call_handler=flaky)
    assert result.output == {"ok": 3}


async def test_retry_stops_once_the_total_duration_would_be_exceeded(run: Run) -> None:
    flaky = Flaky(failures=100)
    result, observer = await run(RETRY_DURATION_LIMIT, call_handler=flaky)
    assert result.status == "faulted"
    assert len(flaky.keys) == 2
    assert "retry duration" in observer.decisions[-1]["reason"]


async def test_an_unknown_named_policy_is_a_configuration_error(run: Run) -> None:
    result, _ = await run(RETRY_UNKNOWN, call_handler=Flaky(failures=1))
    assert result.error is not None
    assert result.error.type.endswith("/configuration")


@pytest.mark.parametrize(
    ("backoff", "delays"),
    [("constant", [0.01, 0.01, 0.01]), ("linear", [0.01, 0.02, 0.03]), ("exponential", [0.01, 0.02, 0.04])],
)
def test_backoff_scales_the_delay(backoff: str, delays: list[float]) -> None:
    from treadle.engine.retry import retry_delay

    policy = RetryPolicy.build({"delay": "PT0.01S", "backoff": {backoff: {}}})
    assert [round(retry_delay(policy, n, None, "k"), 6) for n in range(3)] == delays


def test_jitter_is_within_its_range_and_the_same_for_the_same_key() -> None:
    from treadle.engine.retry import retry_delay

    policy = RetryPolicy.build({"delay": "PT1S", "jitter": {"from": "PT0.1S", "to": "PT0.5S"}})
    delays = {key: retry_delay(policy, 0, None, key) for key in ("a", "b", "c", "d")}
    assert all(1.1 <= delay <= 1.5 for delay in delays.values())
    assert len(set(delays.values())) > 1
    assert retry_delay(policy, 0, None, "a") == delays["a"]
    assert 0 <= deterministic_fraction("x") < 1


def test_named_policies_are_typed_at_build_time() -> None:
    workflow = build(RETRY_NAMED_THEN_CATCH_DO)
    policy = workflow.use.retries["quick"]
    assert policy.delay is not None and policy.delay.seconds == 0.001
    assert policy.backoff is not None and policy.backoff.kind == "constant"
