"""The dispatch table: one runner per task type, named after the spec's task."""

from __future__ import annotations

from treadle.dsl.models import (
    CallTask,
    DoTask,
    EmitTask,
    ForkTask,
    ForTask,
    ListenTask,
    RaiseTask,
    RunTask,
    SetTask,
    SwitchTask,
    TryTask,
    WaitTask,
)
from treadle.engine.assign import run_set
from treadle.engine.calls import run_call, run_run
from treadle.engine.events import run_emit, run_listen
from treadle.engine.flow import RUNNERS, Runner, run_do
from treadle.engine.fork import run_fork
from treadle.engine.loops import run_for
from treadle.engine.raising import run_raise
from treadle.engine.switch import run_switch
from treadle.engine.trycatch import run_try
from treadle.engine.waiting import run_wait

__all__ = ["TABLE"]

TABLE: dict[type, Runner] = {
    CallTask: run_call,
    DoTask: run_do,
    EmitTask: run_emit,
    ForTask: run_for,
    ForkTask: run_fork,
    ListenTask: run_listen,
    RaiseTask: run_raise,
    RunTask: run_run,
    SetTask: run_set,
    SwitchTask: run_switch,
    TryTask: run_try,
    WaitTask: run_wait,
}
RUNNERS.update(TABLE)
