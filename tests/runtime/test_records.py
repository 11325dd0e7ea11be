"""The projection of task and decision notifications both durable runtimes record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from treadle.runtime.records import (
    decision_data,
    decision_row,
    task_data,
    task_keys,
    task_stage,
    task_status,
)
from treadle.store import Decision, Stage

STARTED = datetime(2025, 1, 1, tzinfo=UTC)
ENDED = STARTED + timedelta(milliseconds=1500)
PROBLEM = {"type": "https://serverlessworkflow.io/spec/1.0.0/errors/runtime", "status": 500}


def _keys() -> dict[str, Any]:
    """Fresh keys per use: a function that changed them in place would show."""
    return task_keys("fetch", "/do/0/fetch", "/do/0/fetch[2]", 1)


def _redact(value: Any) -> Any:
    """Marks what went through redaction, so a snapshot that skipped it shows."""
    return {"redacted": value}


def test_task_keys_name_the_task_its_position_and_attempt() -> None:
    assert _keys() == {"name": "fetch", "path": "/do/0/fetch", "position": "/do/0/fetch[2]", "attempt": 1}


@pytest.mark.parametrize(
    ("status", "extra"),
    [
        ("started", {"input": {"redacted": "in"}}),
        ("completed", {"output": {"redacted": "out"}}),
        ("faulted", {"error": PROBLEM}),
        ("skipped", {}),
        ("cancelled", {}),
    ],
)
def test_task_data_keeps_what_its_status_shows(status: str, extra: dict[str, Any]) -> None:
    data = task_data(_keys(), status, "in", "out", PROBLEM, _redact)
    assert data == {**_keys(), **extra}


def test_task_data_leaves_the_keys_alone() -> None:
    keys = _keys()
    task_data(keys, "started", "in", None, None, _redact)
    assert keys == _keys()


def test_task_status_counts_attempts_from_one() -> None:
    entry = task_status(_keys(), "faulted", STARTED, ENDED, PROBLEM)
    assert entry == {
        "name": "fetch",
        "path": "/do/0/fetch",
        "phase": "faulted",
        "attempt": 2,
        "started_at": STARTED,
        "completed_at": ENDED,
        "error": PROBLEM,
    }


def test_a_first_attempt_is_attempt_one() -> None:
    entry = task_status(task_keys("a", "/do/0/a", "/do/0/a", 0), "running", STARTED, None, None)
    assert entry["attempt"] == 1
    assert entry["completed_at"] is None


def _stage(
    status: str,
    started_at: datetime | None = STARTED,
    completed_at: datetime | None = ENDED,
    error: dict[str, Any] | None = None,
) -> Stage:
    return task_stage(
        "wex-1",
        "/do/0/fetch",
        status,
        3,
        input="in",
        output="out",
        error=error,
        started_at=started_at,
        completed_at=completed_at,
        redact=_redact,
    )


def test_a_stage_lasts_from_start_to_end() -> None:
    stage = _stage("completed")
    assert (stage.execution_id, stage.node, stage.status, stage.iteration) == (
        "wex-1",
        "/do/0/fetch",
        "completed",
        3,
    )
    assert (stage.started_at, stage.completed_at) == (STARTED, ENDED)
    assert stage.duration_ms == 1500.0


@pytest.mark.parametrize(("started_at", "completed_at"), [(None, ENDED), (STARTED, None), (None, None)])
def test_a_stage_without_both_times_has_no_duration(
    started_at: datetime | None, completed_at: datetime | None
) -> None:
    assert _stage("completed", started_at, completed_at).duration_ms is None


@pytest.mark.parametrize("status", ["completed", "skipped"])
def test_a_stage_keeps_the_output_of_a_task_that_completed_or_was_skipped(status: str) -> None:
    stage = _stage(status)
    assert stage.input == {"redacted": "in"}
    assert stage.output == {"redacted": "out"}


@pytest.mark.parametrize("status", ["faulted", "cancelled"])
def test_a_stage_drops_the_output_of_a_task_that_faulted_or_was_cancelled(status: str) -> None:
    stage = _stage(status)
    assert stage.input == {"redacted": "in"}
    assert stage.output is None


def test_a_stage_keeps_the_error() -> None:
    assert _stage("faulted", error=PROBLEM).error == PROBLEM


def test_a_decision_is_journalled_and_kept_as_a_row() -> None:
    data = decision_data("/do/0/check", "/do/1/big", "big", True, "${ .x > 1 }")
    assert data == {
        "from": "/do/0/check",
        "to": "/do/1/big",
        "case": "big",
        "result": True,
        "reason": "${ .x > 1 }",
    }
    assert decision_row("wex-1", data, ENDED) == Decision(
        execution_id="wex-1",
        from_node="/do/0/check",
        to_node="/do/1/big",
        case_name="big",
        result=True,
        reason="${ .x > 1 }",
        at=ENDED,
    )
