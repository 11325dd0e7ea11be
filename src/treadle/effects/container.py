"""`run: container` — a container run through the `podman` or `docker` command line.

The first of `podman`, `docker` that is on PATH *and usable* (`<cli> info` succeeds, so a
`docker` client without an engine behind it does not count) runs the container; with
none, the task fails with the configuration error "no container runtime available". A
usable runtime is remembered for the dispatcher's lifetime; a missing one is probed again
on the next call, so starting the engine later needs no restart.

`args` (the spec's Container Process, evaluated): `image`, `name`, `command`, `arguments`,
`ports`, `volumes`, `environment`, `stdin`, `pullPolicy`, `lifetime`, plus `await` and
`return` (see `processes.py`). Decisions the spec leaves open:
- `command` is a shell script run by `sh -c` inside the container; `arguments` are its
  positional parameters (`$1`, `$2`, the spec's example). Without `command`, `arguments`
  go to the image's own entrypoint/CMD.
- `ports` and `volumes` map the host side to the container side: `{8080: 80}` publishes
  host port 8080 to container port 80; `{/data: /var/lib/data}` mounts /data there.
- `environment` is the container's, not merged with treadle's (it is another machine).
- `pullPolicy`: `ifNotPresent` (default) → `--pull missing`, `always`, `never`.
- `lifetime.cleanup`: `never` (default) keeps the container; `always` runs it with `--rm`;
  `eventually` removes it `lifetime.after` later, by a detached `sleep; <cli> rm -f`.
- Without `name`, the container is named `treadle-<idempotency key>-<random>`, so a
  cancelled run can remove it: cancelling kills the CLI client (which does not stop the
  container by itself) and then force-removes the container.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from treadle.dsl.models import parse_duration
from treadle.effects.handler import Shared
from treadle.effects.processes import (
    ProcessSpec,
    RunOptions,
    config_error,
    require_run_allowed,
    run_options,
    run_process,
    stdin_of,
    string_arguments,
)

__all__ = ["RUNTIMES", "ContainerPlan", "ContainerRun", "container_plan", "find_runtime"]

RUNTIMES = ("podman", "docker")
_PULL_POLICIES = {"ifNotPresent": "missing", "always": "always", "never": "never"}
_CLEANUPS = frozenset({"always", "never", "eventually"})
_PROBE_TIMEOUT = 15.0
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]+")


@dataclass(frozen=True)
class ContainerPlan:
    """A checked container process: what to pass to `<cli> run`, and how to clean up."""

    image: str
    name: str
    options: tuple[str, ...]
    command: tuple[str, ...]
    stdin: bytes | None
    cleanup: str
    cleanup_after: float | None

    def run_argv(self, cli: str) -> tuple[str, ...]:
        """The full `<cli> run ...` command line."""
        remove = ("--rm",) if self.cleanup == "always" else ()
        interactive = ("-i",) if self.stdin is not None else ()
        return (
            cli,
            "run",
            "--name",
            self.name,
            *remove,
            *interactive,
            *self.options,
            self.image,
            *self.command,
        )


def _pairs(raw: Any, field: str) -> list[tuple[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise config_error(f"'{field}' must be a map of host side to container side")
    return [(str(host), str(inside)) for host, inside in raw.items()]


def _environment_options(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise config_error("'environment' must be a map of names to values")
    options: list[str] = []
    for name, value in raw.items():
        if value is not None:
            options += ["-e", f"{name}={'true' if value is True else 'false' if value is False else value}"]
    return options


def _default_name(key: str) -> str:
    # Names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*; the random tail keeps a retried or
    # replayed attempt from colliding with a container left behind.
    readable = _NAME_UNSAFE.sub("-", key).strip("-.")[:80]
    return f"treadle-{readable}-{uuid.uuid4().hex[:8]}" if readable else f"treadle-{uuid.uuid4().hex[:12]}"


def _lifetime(raw: Any) -> tuple[str, float | None]:
    if raw is None:
        return "never", None
    if not isinstance(raw, Mapping):
        raise config_error("'lifetime' must be an object with 'cleanup'")
    cleanup = raw.get("cleanup", "never")
    if cleanup not in _CLEANUPS:
        raise config_error(f"'lifetime.cleanup' must be one of always, eventually, never (got {cleanup!r})")
    if cleanup != "eventually":
        return cleanup, None
    if raw.get("after") is None:
        raise config_error("'lifetime.after' is required when cleanup is 'eventually'")
    try:
        seconds = parse_duration(raw["after"]).seconds
    except (TypeError, ValueError) as exc:
        raise config_error(f"'lifetime.after' is not a duration: {exc}") from None
    if seconds is None:
        raise config_error("'lifetime.after' must be a duration, not an expression")
    return cleanup, seconds


def container_plan(args: Mapping[str, Any], key: str) -> ContainerPlan:
    """Check a container process's arguments and plan its `run` command line.

    Raises:
        WorkflowError: configuration (400) for malformed arguments.
    """
    image = args.get("image")
    if not isinstance(image, str) or not image.strip():
        raise config_error("'image' is required: the container image to run")
    name = args.get("name") or _default_name(key)
    if not isinstance(name, str):
        raise config_error("'name' must be a string")
    pull = args.get("pullPolicy") or "ifNotPresent"
    if pull not in _PULL_POLICIES:
        raise config_error(f"'pullPolicy' must be one of always, ifNotPresent, never (got {pull!r})")
    options = [f"--pull={_PULL_POLICIES[pull]}"]
    for host, inside in _pairs(args.get("ports"), "ports"):
        options += ["-p", f"{host}:{inside}"]
    for host, inside in _pairs(args.get("volumes"), "volumes"):
        options += ["-v", f"{host}:{inside}"]
    options += _environment_options(args.get("environment"))
    arguments = string_arguments(args.get("arguments"))
    command = args.get("command")
    if command is not None and not isinstance(command, str):
        raise config_error("'command' must be a string")
    argv = ("sh", "-c", command, "sh", *arguments) if command else tuple(arguments)
    cleanup, after = _lifetime(args.get("lifetime"))
    return ContainerPlan(
        image=image.strip(),
        name=name,
        options=tuple(options),
        command=argv,
        stdin=stdin_of(args.get("stdin")),
        cleanup=cleanup,
        cleanup_after=after,
    )


async def _usable(cli: str) -> bool:
    try:
        probe = await asyncio.create_subprocess_exec(
            cli, "info", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
        )
    except OSError:
        return False
    try:
        return await asyncio.wait_for(probe.wait(), _PROBE_TIMEOUT) == 0
    except TimeoutError:
        probe.kill()
        await probe.wait()
        return False


async def find_runtime(candidates: tuple[str, ...] = RUNTIMES) -> str | None:
    """The path of the first usable container CLI among `candidates`, or None."""
    for name in candidates:
        cli = shutil.which(name)
        if cli is not None and await _usable(cli):
            return cli
    return None


async def _force_remove(cli: str, name: str) -> None:
    remover = await asyncio.create_subprocess_exec(
        cli, "rm", "-f", name, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    await remover.wait()


class ContainerRun:
    """Performs `run: container`."""

    def __init__(self, shared: Shared) -> None:
        self._shared = shared
        self._cli: str | None = None

    async def call(self, args: Mapping[str, Any], key: str) -> Any:
        """Run the container `args` describes and return what `return` asks for."""
        require_run_allowed(self._shared, "container")
        options = run_options(args)
        plan = container_plan(args, key)
        cli = await self._runtime()
        spec = ProcessSpec(
            argv=plan.run_argv(cli),
            environment=None,
            stdin=plan.stdin,
            label=f"container {plan.image}",
            on_cancel=lambda: _force_remove(cli, plan.name),
        )
        try:
            return await run_process(spec, options)
        finally:
            if plan.cleanup == "eventually" and plan.cleanup_after is not None:
                await self._remove_later(cli, plan.name, plan.cleanup_after)

    async def _runtime(self) -> str:
        if self._cli is None:
            self._cli = await find_runtime()
        if self._cli is None:
            raise config_error(
                f"no container runtime available: none of {', '.join(RUNTIMES)} is on PATH "
                "with a working engine (`<cli> info` failed)",
                title="No container runtime",
            )
        return self._cli

    async def _remove_later(self, cli: str, name: str, seconds: float) -> None:
        # A detached process outlives this call (and treadle's event loop): a timer here
        # would be lost with the process.
        remover = ProcessSpec(
            argv=("/bin/sh", "-c", 'sleep "$1"; exec "$2" rm -f "$3"', "sh", f"{seconds:g}", cli, name),
            environment=None,
            stdin=None,
            label="container cleanup",
        )
        await run_process(remover, RunOptions(wait=False, returns="none"))
