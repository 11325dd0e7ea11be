"""What every route reaches through `request.app.state.treadle`: the service and the runtime."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from fastapi import Request

from treadle.api.problems import ApiProblem
from treadle.resources import ResourceService
from treadle.resources.control import ExecutionControl
from treadle.settings import Settings

__all__ = ["AppState", "EndingRuntime", "Runtime", "app_state"]


class Runtime(Protocol):
    """A worker the server runs beside the API (`treadle.runtime.local.LocalRuntime`)."""

    @property
    def running(self) -> bool:
        """Whether the worker is up and taking executions."""
        ...

    async def start(self) -> None:
        """Start taking executions."""
        ...

    async def stop(self) -> None:
        """Stop, leaving executions in flight to be resumed."""
        ...

    def wake(self) -> None:
        """Look for new work now rather than at the next poll."""
        ...


@runtime_checkable
class EndingRuntime(Protocol):
    """A runtime that knows when the runs it holds end (`LocalRuntime`, `TemporalRuntime`):
    a wait for executions is answered as they end, not at the next read of the store."""

    async def wait_many(
        self, execution_ids: Sequence[str], *, timeout: float | None = None
    ) -> dict[str, str]:
        """The phase of each execution once all have ended, or when `timeout` passes."""
        ...


@dataclass
class AppState:
    """The app's collaborators.

    Attributes:
        service: the control plane every route calls.
        control: steers running executions (cancel, suspend, resume, events); None
            when no runtime serves this store, and those routes answer 503.
        runtime: the worker started and stopped with the app, if any.
        settings: the process settings.
        token: the API token required as `Authorization: Bearer`, if any.
        poll_interval: how often an event stream looks for new journal entries (s).
        heartbeat_interval: how often an idle event stream sends a comment (s).
    """

    service: ResourceService
    control: ExecutionControl | None = None
    runtime: Runtime | None = None
    settings: Settings | None = None
    token: str | None = None
    poll_interval: float = 0.15
    heartbeat_interval: float = 15.0
    extra: dict[str, object] = field(default_factory=dict)

    def require_control(self) -> ExecutionControl:
        """The execution control, or a 503 problem when no runtime serves this server."""
        if self.control is None:
            raise ApiProblem(503, "no-runtime", "no runtime serves this server: start it with a worker")
        return self.control

    def wake_runtime(self) -> None:
        """Tell the local worker there is new work (no-op without one)."""
        if self.runtime is not None:
            self.runtime.wake()


def app_state(request: Request) -> AppState:
    """The `AppState` of the app serving `request`."""
    state = request.app.state.treadle
    assert isinstance(state, AppState)
    return state
