from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from treadle.dsl.models import parse_duration, parse_iso8601_duration
from treadle.runtime.memory import MemoryEffects

from .conftest import Run

WAIT_ISO = """
do:
  - pause:
      wait: PT0.01S
"""

WAIT_OBJECT = """
do:
  - pause:
      wait: {milliseconds: 10}
"""

WAIT_EXPRESSION = """
do:
  - pause:
      wait: ${ .delay }
"""


class RecordingSleeps(MemoryEffects):
    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[tuple[float, str]] = []

    async def sleep(self, seconds: float, key: str) -> None:
        self.sleeps.append((seconds, key))


@pytest.mark.parametrize("document", [WAIT_ISO, WAIT_OBJECT])
async def test_wait_sleeps_through_the_port_and_passes_the_input_on(run: Run, document: str) -> None:
    effects = RecordingSleeps()
    result, _ = await run(document, {"a": 1}, effects=effects)
    assert result.output == {"a": 1}
    assert effects.sleeps == [(0.01, "/do/0/pause@0#0")]


async def test_wait_evaluates_an_expression_duration(run: Run) -> None:
    effects = RecordingSleeps()
    result, _ = await run(WAIT_EXPRESSION, {"delay": "PT2M"}, effects=effects)
    assert result.status == "completed"
    assert effects.sleeps[0][0] == 120.0


async def test_wait_really_waits_with_the_memory_runtime(run: Run) -> None:
    before = datetime.now(UTC)
    result, _ = await run(WAIT_ISO)
    assert result.status == "completed"
    assert (datetime.now(UTC) - before).total_seconds() >= 0.01


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT1S", 1.0), ("PT0.01S", 0.01), ("P1DT2H", 93600.0), ("PT1M30S", 90.0), ("P1W", 604800.0)],
)
def test_iso8601_durations(text: str, seconds: float) -> None:
    assert parse_iso8601_duration(text) == pytest.approx(seconds)


def test_object_durations_add_up() -> None:
    value: Mapping[str, Any] = {"days": 1, "hours": 2, "minutes": 3, "seconds": 4, "milliseconds": 500}
    assert parse_duration(dict(value)).seconds == pytest.approx(93784.5)


def test_a_malformed_duration_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_iso8601_duration("1 second")
