"""The recorder writes each observation once: a replay's repeats are recognised."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from treadle.engine import Decision, TaskEvent
from treadle.runtime.local.recorder import Recorder
from treadle.runtime.local.replay import Replay
from treadle.store import JournalEvent
from treadle.store._projections import stages_from

THEN = datetime(2025, 1, 1, tzinfo=UTC)


class Sink:
    execution_id = "wex-1"

    def __init__(self) -> None:
        self.entries: list[tuple[str, Any]] = []

    def journal(self, type: str, data: Any, at: datetime) -> None:
        self.entries.append((type, data))

    def status_changed(self) -> None:
        pass


def _task(status: str, position: str = "/do/0/a") -> TaskEvent:
    return TaskEvent(status, "a", "/do/0/a", position, input={"x": 1}, output={"x": 2})  # type: ignore[arg-type]


def _journal(*types: tuple[str, dict[str, Any]]) -> list[JournalEvent]:
    return [JournalEvent("wex-1", seq, type, data, THEN) for seq, (type, data) in enumerate(types, 1)]


def test_a_replay_writes_only_what_the_journal_does_not_have() -> None:
    # A `then` loop ran /do/0/a twice before the crash, and decided once.
    started = {"position": "/do/0/a", "attempt": 0, "path": "/do/0/a"}
    choice = {"from": "/do/0/a", "to": "/do/0/a", "case": "again", "reason": "when"}
    before: list[tuple[str, dict[str, Any]]] = [
        ("task.started", started),
        ("task.completed", started),
        ("decision", choice),
        ("task.started", started),
        ("task.completed", started),
    ]
    replay = Replay.build(_journal(*before))
    sink = Sink()
    recorder = Recorder(sink, replay, lambda value: value)
    again = Decision("/do/0/a", "/do/0/a", "again", True, "when")
    for event in [_task("started"), _task("completed"), again, _task("started"), _task("completed")]:
        if isinstance(event, Decision):
            recorder.on_decision(event)
        else:
            recorder.on_task(event)
    assert sink.entries == []
    assert recorder.tasks["/do/0/a"]["started_at"] == THEN  # the times recorded then
    # Live from here: the third pass and the decision before it are new.
    recorder.on_decision(again)
    recorder.on_task(_task("started"))
    recorder.on_task(_task("completed"))
    assert [type for type, _ in sink.entries] == ["decision", "task.started", "task.completed"]
    assert [stage.iteration for stage in stages_from("wex-1", _journal(*before, *sink.entries))] == [0, 1, 2]


def test_an_observation_the_replay_skips_keeps_the_later_ones_recognised() -> None:
    # The journal has b's entries after a's; a replay that does not repeat a's (a
    # different path) must still recognise b's.
    a = {"position": "/do/0/a", "attempt": 0, "path": "/do/0/a"}
    b = {"position": "/do/1/b", "attempt": 0, "path": "/do/1/b"}
    replay = Replay.build(_journal(("task.started", a), ("task.started", b)))
    sink = Sink()
    recorder = Recorder(sink, replay, lambda value: value)
    recorder.on_task(TaskEvent("started", "b", "/do/1/b", "/do/1/b"))
    assert sink.entries == []
    recorder.on_task(TaskEvent("started", "c", "/do/2/c", "/do/2/c"))
    assert [data["path"] for _, data in sink.entries] == ["/do/2/c"]
