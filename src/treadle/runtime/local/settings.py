"""`RuntimeSettings`: every knob of the local runtime, with defaults fit for one laptop.

Each can be set from the environment (`TREADLE_RUNTIME_<NAME>`, e.g.
`TREADLE_RUNTIME_MAX_RUNNING=200`), so `treadle server` and `treadle worker` processes
are configured the same way; durations are in seconds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from treadle.settings import InvalidSetting

__all__ = ["RuntimeSettings"]

_PREFIX = "TREADLE_RUNTIME_"


@dataclass(frozen=True)
class RuntimeSettings:
    """How the local runtime runs executions.

    Attributes:
        max_running: executions one worker runs at once (the server-wide cap).
        max_running_per_workflow: leased executions of one workflow at once, across
            workers (None: no cap); `workflow_caps` overrides it per workflow id.
        max_concurrent_branches: live calls one execution performs at once (fork branches).
        lease_seconds: how long a claim holds without renewal; another worker takes
            over an execution whose lease lapsed.
        renew_seconds: how often leases are renewed (a third of the lease by default).
        poll_seconds: how often a worker looks for work, due timers, control requests.
        unload_after_seconds: waits and listens at least this long unload the execution
            (it is woken by a durable timer or a matching event).
        idle_seconds: how long an execution must have nothing but such waits in flight
            before it is unloaded.
        status_seconds: at most how stale `status.tasks[]` may be while a run goes on
            (phase changes are written at once).
        retention_seconds: completed, faulted and cancelled executions are deleted this
            long after they end (a workflow's `spec.retention` overrides it).
        retention_sweep_seconds: how often the retention sweep runs.
        schedule_seconds: how often schedules are checked.
        allow_run: let `run: shell|script|container` tasks start processes.
        schedules, retention: run the scheduler and the retention sweep in this process.
    """

    max_running: int = 100
    max_running_per_workflow: int | None = None
    workflow_caps: Mapping[str, int] = field(default_factory=dict)
    max_concurrent_branches: int = 5
    lease_seconds: float = 30.0
    renew_seconds: float | None = None
    poll_seconds: float = 0.5
    unload_after_seconds: float = 1.0
    idle_seconds: float = 0.05
    status_seconds: float = 0.5
    retention_seconds: float = 24 * 3600.0
    retention_sweep_seconds: float = 60.0
    schedule_seconds: float = 1.0
    allow_run: bool = False
    schedules: bool = True
    retention: bool = True

    @property
    def renew_interval(self) -> float:
        """Seconds between lease renewals."""
        return self.renew_seconds if self.renew_seconds is not None else self.lease_seconds / 3

    def with_changes(self, **changes: Any) -> RuntimeSettings:
        """A copy with some settings changed."""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> RuntimeSettings:
        """Settings from `TREADLE_RUNTIME_*` variables, then `overrides`."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            if spec.name == "workflow_caps":
                continue
            raw = env.get(_PREFIX + spec.name.upper())
            if raw is None or raw == "":
                continue
            values[spec.name] = _convert(spec.name, str(spec.type), raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _convert(name: str, kind: str, raw: str) -> Any:
    try:
        if "bool" in kind:
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if "int" in kind:
            return int(raw)
        return float(raw)
    except ValueError:
        raise InvalidSetting(_PREFIX + name.upper(), f"{raw!r} is not a number") from None
