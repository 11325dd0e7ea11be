"""The projection of task and decision notifications both durable runtimes record, and the
store's reading of it back as stages and decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from treadle.runtime.records import decision_data, task_data, task_keys, task_status
from treadle.store import Decision, JournalEvent, Stage
from treadle.store._projections import decisions_from, stages_from

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
        ("skipped", {"input": {"redacted": "in"}, "output": {"redacted": "out"}}),
        ("cancelled", {}),
    ],
)
def test_task_data_keeps_what_its_status_shows(status: str, extra: dict[str, Any]) -> None:
    data = task_data(_keys(), status, "in", "out", PROBLEM, _redact)
    assert data == {**_keys(), **extra}


@pytest.mark.parametrize("status", ["completed", "faulted", "skipped", "cancelled"])
def test_the_entry_that_ends_a_task_run_keeps_when_it_started(status: str) -> None:
    data = task_data(_keys(), status, "in", "out", PROBLEM, _redact, STARTED)
    assert data["started_at"] == "2025-01-01T00:00:00+00:00"
    assert "started_at" not in task_data(_keys(), "started", "in", None, None, _redact, STARTED)


@pytest.mark.parametrize(
    "started",
    [
        STARTED,
        STARTED.replace(microsecond=120_000),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        STARTED.astimezone(timezone(timedelta(hours=5, minutes=30))),
        STARTED.replace(tzinfo=None),
    ],
    ids=["whole-second", "microseconds", "last", "offset", "naive"],
)
def test_a_start_time_is_written_as_isoformat_writes_it(started: datetime) -> None:
    assert (
        task_data(_keys(), "completed", "in", "out", None, _redact, started)["started_at"]
        == started.isoformat()
    )


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


def _journal(*entries: tuple[str, dict[str, Any], datetime]) -> list[JournalEvent]:
    return [
        JournalEvent("wex-1", seq, type, data, at) for seq, (type, data, at) in enumerate(entries, start=1)
    ]


def _run(status: str) -> list[Stage]:
    """A task run journalled as the runtimes journal it, read back as the store reads it."""
    return stages_from(
        "wex-1",
        _journal(
            ("task.started", task_data(_keys(), "started", "in", None, None, _redact), STARTED),
            ("task." + status, task_data(_keys(), status, "in", "out", PROBLEM, _redact), ENDED),
        ),
    )


def test_a_stage_lasts_from_start_to_end() -> None:
    [stage] = _run("completed")
    assert (stage.execution_id, stage.node, stage.status, stage.iteration, stage.id) == (
        "wex-1",
        "/do/0/fetch",
        "completed",
        0,
        2,
    )
    assert (stage.started_at, stage.completed_at) == (STARTED, ENDED)
    assert stage.duration_ms == 1500.0
    assert stage.input == {"redacted": "in"}
    assert stage.output == {"redacted": "out"}


def test_a_skipped_task_has_no_start_and_keeps_its_input_and_output() -> None:
    entry = task_data(_keys(), "skipped", "in", "in", None, _redact)
    [stage] = stages_from("wex-1", _journal(("task.skipped", entry, ENDED)))
    assert (stage.status, stage.input, stage.output) == ("skipped", {"redacted": "in"}, {"redacted": "in"})
    assert (stage.started_at, stage.completed_at, stage.duration_ms) == (ENDED, ENDED, 0.0)


@pytest.mark.parametrize("status", ["faulted", "cancelled"])
def test_a_stage_drops_the_output_of_a_task_that_faulted_or_was_cancelled(status: str) -> None:
    [stage] = _run(status)
    assert stage.input == {"redacted": "in"}
    assert stage.output is None


def test_a_stage_keeps_the_error() -> None:
    assert _run("faulted")[0].error == PROBLEM


def test_iterations_count_the_earlier_runs_of_a_task_path() -> None:
    def run(position: str, attempt: int, at: datetime) -> list[tuple[str, dict[str, Any], datetime]]:
        keys = task_keys("fetch", "/do/0/fetch", position, attempt)
        return [
            ("task.started", task_data(keys, "started", position, None, None, _redact), at),
            ("task.completed", task_data(keys, "completed", None, position, None, _redact), at),
        ]

    journal = _journal(
        *run("/do/0/fetch[0]", 0, STARTED), *run("/do/0/fetch[1]", 0, ENDED), *run("/do/0/fetch[1]", 1, ENDED)
    )
    stages = stages_from("wex-1", journal)
    assert [(s.iteration, s.input) for s in stages] == [
        (0, {"redacted": "/do/0/fetch[0]"}),
        (1, {"redacted": "/do/0/fetch[1]"}),
        (2, {"redacted": "/do/0/fetch[1]"}),
    ]


def test_a_task_still_running_has_no_stage() -> None:
    started = task_data(_keys(), "started", "in", None, None, _redact)
    assert stages_from("wex-1", _journal(("task.started", started, STARTED))) == []


def test_a_decision_is_journalled_and_read_back() -> None:
    data = decision_data("/do/0/check", "/do/1/big", "big", True, "${ .x > 1 }")
    assert data == {
        "from": "/do/0/check",
        "to": "/do/1/big",
        "case": "big",
        "result": True,
        "reason": "${ .x > 1 }",
    }
    assert decisions_from("wex-1", _journal(("decision", data, ENDED))) == [
        Decision(
            execution_id="wex-1",
            from_node="/do/0/check",
            to_node="/do/1/big",
            case_name="big",
            result=True,
            reason="${ .x > 1 }",
            at=ENDED,
        )
    ]
