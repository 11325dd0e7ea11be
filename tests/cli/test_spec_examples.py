"""Every example of the specification: run the ones that need nothing outside, and see
the others fail with a clear error (a problem object naming the task), never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import SPEC_EXAMPLES, Treadle

# example file → (input, expected output)
RUNNABLE: dict[str, tuple[Any, Any]] = {
    "switch-then-string.yaml": ({"orderType": "electronic"}, {"validate": True, "status": "fulfilled"}),
    "set-expression.yaml": ([{"greeting": "hi"}], {"greeting": "hi"}),
    "wait-duration-iso8601.yaml": ({"patience": 30}, {"patience": 30}),
}

# example file → (input, events delivered while it runs, expected output)
RUNNABLE_WITH_EVENTS: dict[str, tuple[Any, list[dict[str, Any]], Any]] = {
    "listen-to-any-filter.yaml": (
        {},
        [
            {"type": "com.fake-hospital.vitals.measurements.temperature", "data": {"temperature": 37}},
            {"type": "com.fake-hospital.vitals.measurements.bpm", "data": {"bpm": 120}},
        ],
        [{"bpm": 120}],
    ),
    "listen-to-any-until-consumed.yaml": (
        {},
        [
            {"type": "com.fake-hospital.vitals.measurements.temperature", "data": {"temperature": 39}},
            {"type": "com.fake-hospital.vitals.measurements.bpm", "data": {"bpm": 50}},
            {"type": "com.fake-hospital.patient.checked-out", "data": {}},
        ],
        [{"temperature": 39}, {"bpm": 50}],
    ),
}


def _examples() -> list[str]:
    assert SPEC_EXAMPLES.is_dir(), f"the spec examples are expected at {SPEC_EXAMPLES}"
    return sorted(path.name for path in SPEC_EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(RUNNABLE))
def test_runnable_example_completes(treadle: Treadle, name: str) -> None:
    given, expected = RUNNABLE[name]
    result = treadle("run", str(SPEC_EXAMPLES / name), "--input", json.dumps(given), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["output"] == expected


@pytest.mark.parametrize("name", sorted(RUNNABLE_WITH_EVENTS))
def test_listening_example_completes_with_delivered_events(
    treadle: Treadle, write: Callable[[str, str], Path], name: str
) -> None:
    given, events, expected = RUNNABLE_WITH_EVENTS[name]
    event_args: list[str] = []
    for number, event in enumerate(events):
        envelope = {"specversion": "1.0", "id": f"e{number}", "source": "tests", **event}
        event_args += ["--event", str(write(f"event{number}.json", json.dumps(envelope)))]
    result = treadle("run", str(SPEC_EXAMPLES / name), "--input", json.dumps(given), *event_args, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["output"] == expected


@pytest.mark.parametrize(
    "name", [name for name in _examples() if name not in RUNNABLE and name not in RUNNABLE_WITH_EVENTS]
)
def test_example_needing_an_outside_service_fails_clearly(treadle: Treadle, name: str) -> None:
    result = treadle(
        "run", str(SPEC_EXAMPLES / name), "--input", json.dumps({"petId": 1, "searchQuery": "luke"}), "--json"
    )
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    # These reach hosts on the internet or a container runtime; here they have neither.
    assert result.returncode == 1, report
    error = report["error"]
    assert error["type"].startswith("https://serverlessworkflow.io/spec/1.0.0/errors/")
    assert error["title"] and error["detail"]
    # The task that failed: in `do`, or inside the declared function it called.
    assert error["instance"].startswith(("/do/", "/use/functions/"))
