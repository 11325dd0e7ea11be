"""Schedules: the DSL's `schedule` starts executions of applied workflows.

- `every`: ticks at `created + k * every` (k ≥ 1), whether or not earlier runs ended;
- `cron`: ticks at the expression's times after the workflow was created (UTC);
- `after`: a first run at once, then each run `after` the previous one ended;
- `on`: an event matching the strategy (`one`, or `any` of the filters) starts a run whose
  input is the array of the triggering event (DSL: "the input is an array of events").

A tick is recorded in `schedule_ticks` (primary key: workflow, tick) in the same
transaction as the execution it starts, so a tick fires once, also across restarts and
with several workers. After downtime only the latest missed tick fires (no burst of
catch-up runs).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

from treadle.dsl.models import parse_duration
from treadle.engine import EventFilter
from treadle.engine.event_filters import first_match
from treadle.resources import ResourceService
from treadle.resources.phases import TERMINAL
from treadle.runtime.transitions import create_execution

__all__ = ["SCHEDULE_LABEL", "Scheduler", "schedule_of"]

log = logging.getLogger(__name__)

#: Label set on executions a schedule started; its value is the schedule's kind.
SCHEDULE_LABEL = "treadle.dev/schedule"


def schedule_of(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The `schedule` of a stored workflow body (`on` normalised from YAML's True)."""
    document = (body.get("spec") or {}).get("document") or {}
    schedule = document.get("schedule")
    if not isinstance(schedule, Mapping):
        return None
    return {("on" if key is True else str(key)): value for key, value in schedule.items()}


def _seconds(value: Any) -> float | None:
    try:
        seconds = parse_duration(value).seconds
    except (TypeError, ValueError):
        return None
    return seconds if seconds is not None and seconds > 0 else None


class Scheduler:
    """Fires due ticks of every scheduled workflow; starts runs for `schedule.on` events."""

    def __init__(self, service: ResourceService) -> None:
        self.service = service

    def tick(self, now: datetime | None = None) -> list[str]:
        """Start an execution for every due tick not fired yet; their ids."""
        now = now or datetime.now(UTC)
        with self.service.store.begin(write=False) as tx:
            workflows = tx.runtime.scheduled_workflows()
        started: list[str] = []
        for workflow in workflows:
            schedule = schedule_of(workflow["body"])
            if not schedule:
                continue
            try:
                tick = self._due(workflow["id"], workflow["created_at"], schedule, now)
                if tick is not None:
                    kind, name = tick
                    fired = self.fire(workflow["id"], name, {}, kind, now)
                    if fired is not None:
                        started.append(fired)
            except Exception:
                log.exception("schedule of workflow %s", workflow["id"])
        return started

    def on_event(self, event: Mapping[str, Any]) -> list[str]:
        """Start an execution of every workflow whose `schedule.on` this event triggers."""
        with self.service.store.begin(write=False) as tx:
            workflows = tx.runtime.scheduled_workflows()
        started: list[str] = []
        for workflow in workflows:
            schedule = schedule_of(workflow["body"])
            strategy = (schedule or {}).get("on")
            if not isinstance(strategy, Mapping) or not _triggers(strategy, event):
                continue
            identity = (
                str(event.get("id") or "") or hashlib.sha1(repr(sorted(event.items())).encode()).hexdigest()
            )
            tick = "on:" + (identity if len(identity) <= 60 else _digest(identity))
            fired = self.fire(workflow["id"], tick, [dict(event)], "on", datetime.now(UTC))
            if fired is not None:
                started.append(fired)
        return started

    def fire(self, workflow_id: str, tick: str, input: Any, kind: str, now: datetime) -> str | None:
        """Record `tick` and start its execution, atomically; None if it was fired before."""
        with self.service.store.begin() as tx:
            if not tx.runtime.record_tick(workflow_id, tick, now):
                return None
            execution = create_execution(self.service, tx, workflow_id, input, {SCHEDULE_LABEL: kind})
            assert execution.metadata.id is not None
            tx.runtime.set_tick_execution(workflow_id, tick, execution.metadata.id)
        return execution.metadata.id

    def _due(
        self, workflow_id: str, created: datetime, schedule: Mapping[str, Any], now: datetime
    ) -> tuple[str, str] | None:
        """The latest due tick of a workflow as (kind, tick name), or None."""
        if "every" in schedule:
            every = _seconds(schedule["every"])
            if every is None:
                return None
            count = math.floor((now - created).total_seconds() / every)
            if count < 1:
                return None
            moment = created + timedelta(seconds=count * every)
            return "every", "every:" + moment.isoformat()
        if "cron" in schedule:
            moment = croniter(str(schedule["cron"]), now).get_prev(datetime)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            if moment <= created:
                return None
            return "cron", "cron:" + moment.isoformat()
        if "after" in schedule:
            return self._after_tick(workflow_id, schedule["after"], now)
        return None

    def _after_tick(self, workflow_id: str, after: Any, now: datetime) -> tuple[str, str] | None:
        delay = _seconds(after)
        if delay is None:
            return None
        with self.service.store.begin(write=False) as tx:
            last = tx.runtime.last_tick(workflow_id)
            if last is None:
                return "after", "after:first"
            previous = (
                tx.executions.get(last["execution_id"], document=False) if last["execution_id"] else None
            )
        if previous is None:
            ended = last["at"]  # retention removed it: count from when it started
        elif previous["phase"] in TERMINAL and previous["completed_at"] is not None:
            ended = previous["completed_at"]
        else:
            return None
        if now < ended + timedelta(seconds=delay):
            return None
        return "after", f"after:{last['execution_id'] or last['tick']}"


def _triggers(strategy: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    specs: list[Any]
    if strategy.get("one") is not None:
        specs = [strategy["one"]]
    elif strategy.get("any") is not None:
        specs = list(strategy["any"])
        if not specs:
            return True
    elif strategy.get("all") is not None:
        specs = list(strategy["all"])  # each event of an `all` starts nothing alone: see docs
        return False
    else:
        return False
    filters = [EventFilter(with_=dict(spec.get("with") or {}), correlate={}) for spec in specs]
    return first_match(event, filters) is not None


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()
