"""One way to run a child process, shared by `run: shell`, `run: script` and `run: container`.

Safety first: running processes is off unless the dispatcher was built with
`allow_run=True` (the `--allow-run` flag); otherwise every run is refused with an
authorization error (403) before anything starts.

How a process runs:
- Its argv is executed directly (no shell unless the kind builds `/bin/sh -c ...` itself),
  in a new session, so it leads its own process group and everything it spawns can be
  signalled at once.
- `environment` is merged over treadle's own environment; a null value removes a variable.
- `stdin`, when given, is written to its standard input (a non-string value as JSON);
  otherwise stdin is empty (`/dev/null`), so a process never waits on treadle's terminal.
- Output is decoded as UTF-8 (undecodable bytes replaced) and one trailing newline is
  removed, so `echo hi` returns "hi". Output is held in memory: run commands whose
  output fits there.

`return`: `stdout` (default), `stderr`, `code`, `all` (`{code, stdout, stderr}`, the spec's
Process Result) or `none` (null). A non-zero exit is a runtime error (500) whose detail
has the exit code and the tail of stderr, unless `return` is `code` or `all`, which report
it. A process killed by a signal has the shell's code for it, 128 + the signal number.

`await: false`: the process is started detached (stdout and stderr discarded) and the call
returns null at once; a daemon thread waits for it, so it never lingers as a zombie.

Cancellation (the task's timeout, or the run being cancelled): the process group gets
SIGTERM, then SIGKILL after `TERMINATE_GRACE` seconds, and the process is reaped before
the cancellation propagates. POSIX only.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from treadle.effects.handler import Shared
from treadle.engine.errors import ErrorType, WorkflowError

__all__ = [
    "RETURN_MODES",
    "TERMINATE_GRACE",
    "ProcessSpec",
    "RunOptions",
    "config_error",
    "environment_of",
    "require_run_allowed",
    "run_options",
    "run_process",
    "stdin_of",
    "string_arguments",
]

RETURN_MODES = frozenset({"stdout", "stderr", "code", "all", "none"})
TERMINATE_GRACE = 2.0
_STDERR_TAIL = 2000


@dataclass(frozen=True)
class RunOptions:
    """The `await` and `return` of a `run` task."""

    wait: bool
    returns: str


@dataclass(frozen=True)
class ProcessSpec:
    """A process to start.

    Attributes:
        argv: the program and its arguments.
        environment: the complete environment, or None to inherit treadle's.
        stdin: bytes to write to its standard input, if any.
        label: what it is, for error messages ("shell command", "python script").
        cleanup: called once the process has ended (removes temporary files).
        on_cancel: awaited after the process group was killed on cancellation (stops a
            container the CLI client started).
    """

    argv: tuple[str, ...]
    environment: Mapping[str, str] | None
    stdin: bytes | None
    label: str
    cleanup: Callable[[], None] | None = None
    on_cancel: Callable[[], Awaitable[None]] | None = None


def config_error(detail: str, title: str = "Invalid run task") -> WorkflowError:
    """A configuration error (400) about a `run` task's arguments."""
    return WorkflowError(ErrorType.CONFIGURATION, status=400, title=title, detail=detail)


def require_run_allowed(shared: Shared, kind: str) -> None:
    """Refuse to start anything unless the operator allowed it.

    Raises:
        WorkflowError: authorization (403) when `allow_run` is off.
    """
    if not shared.allow_run:
        raise WorkflowError(
            ErrorType.AUTHORIZATION,
            status=403,
            title="Running processes is disabled",
            detail=f"run: {kind} refused: running processes is disabled; start treadle with --allow-run",
        )


def run_options(args: Mapping[str, Any]) -> RunOptions:
    """The checked `await` (default true) and `return` (default stdout) of `args`."""
    wait = args.get("await", True)
    if wait is None:
        wait = True
    if not isinstance(wait, bool):
        raise config_error("'await' must be a boolean")
    returns = args.get("return") or "stdout"
    if returns not in RETURN_MODES:
        raise config_error(f"'return' must be one of all, code, none, stderr, stdout (got {returns!r})")
    return RunOptions(wait=wait, returns=returns)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def environment_of(raw: Any) -> dict[str, str] | None:
    """treadle's environment with `raw` (the task's `environment`) merged over it.

    None when there is nothing to merge (the child then inherits the environment as is).
    """
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise config_error("'environment' must be a map of names to values")
    merged = dict(os.environ)
    for name, value in raw.items():
        if value is None:
            merged.pop(str(name), None)
        else:
            merged[str(name)] = _text(value)
    return merged


def string_arguments(raw: Any) -> list[str]:
    """`arguments` as argv strings.

    A list gives one argument per item. A map gives `--name value` per entry (the shape
    most command lines take); `true` gives the bare flag `--name`, and `false` or null
    leaves it out. Non-string values are written as JSON.
    """
    if raw is None:
        return []
    if isinstance(raw, list):
        return [_text(item) for item in raw]
    if isinstance(raw, Mapping):
        argv: list[str] = []
        for name, value in raw.items():
            if value is None or value is False:
                continue
            argv.append(f"--{name}")
            if value is not True:
                argv.append(_text(value))
        return argv
    raise config_error("'arguments' must be a list of strings (or a map of options)")


def stdin_of(raw: Any) -> bytes | None:
    """The bytes to feed on stdin: a string as is, any other value as JSON, null as none."""
    if raw is None:
        return None
    return _text(raw).encode("utf-8")


def _decode(output: bytes) -> str:
    text = output.decode("utf-8", errors="replace")
    if text.endswith("\r\n"):
        return text[:-2]
    return text.removesuffix("\n")


def _exit_code(returncode: int) -> int:
    # asyncio reports "killed by signal N" as -N; the shell's convention is 128 + N.
    return 128 - returncode if returncode < 0 else returncode


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name} (exit code {_exit_code(returncode)})"
    return f"exited with code {returncode}"


def _failure(spec: ProcessSpec, returncode: int, stderr: str) -> WorkflowError:
    tail = stderr[-_STDERR_TAIL:]
    detail = f"{spec.label} {_exit_reason(returncode)}"
    if tail.strip():
        detail += f"; stderr: {tail}"
    return WorkflowError(
        ErrorType.RUNTIME,
        status=500,
        title="Process failed",
        detail=detail,
        code=_exit_code(returncode),
    )


def _shape(returns: str, code: int, stdout: str, stderr: str) -> Any:
    if returns == "stdout":
        return stdout
    if returns == "stderr":
        return stderr
    if returns == "code":
        return code
    if returns == "all":
        return {"code": code, "stdout": stdout, "stderr": stderr}
    return None


def _start_error(spec: ProcessSpec, exc: OSError) -> WorkflowError:
    program = spec.argv[0] if spec.argv else "?"
    if isinstance(exc, FileNotFoundError | PermissionError):
        return config_error(f"cannot start {spec.label}: '{program}': {exc.strerror or exc}")
    return WorkflowError(
        ErrorType.RUNTIME, status=500, title="Process failed", detail=f"cannot start {spec.label}: {exc}"
    )


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


async def _terminate(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, SIGKILL it after the grace period, and reap the leader."""
    try:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), TERMINATE_GRACE)
        except TimeoutError:
            pass
    finally:
        # Also on a second cancellation while waiting: children that ignored SIGTERM or
        # outlived the leader must not remain.
        _signal_group(process.pid, signal.SIGKILL)
    await process.wait()


async def _run_awaited(spec: ProcessSpec, returns: str) -> Any:
    try:
        process = await asyncio.create_subprocess_exec(
            *spec.argv,
            stdin=subprocess.PIPE if spec.stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=spec.environment,
            start_new_session=True,
        )
    except OSError as exc:
        raise _start_error(spec, exc) from None
    try:
        stdout, stderr = await process.communicate(spec.stdin)
    except asyncio.CancelledError:
        await _terminate(process)
        if spec.on_cancel is not None:
            await spec.on_cancel()
        raise
    returncode = process.returncode if process.returncode is not None else -signal.SIGKILL
    out, err = _decode(stdout), _decode(stderr)
    if returncode != 0 and returns not in ("code", "all"):
        raise _failure(spec, returncode, err)
    return _shape(returns, _exit_code(returncode), out, err)


def _feed_and_reap(
    process: subprocess.Popen[bytes], stdin: bytes | None, cleanup: Callable[[], None] | None
) -> None:
    try:
        if process.stdin is not None:
            try:
                process.stdin.write(stdin or b"")
                process.stdin.close()
            except OSError:
                pass  # the process closed its stdin (or exited) before reading it all
        process.wait()
    finally:
        if cleanup is not None:
            cleanup()


def _start_detached(spec: ProcessSpec) -> None:
    try:
        process = subprocess.Popen(
            spec.argv,
            stdin=subprocess.PIPE if spec.stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=spec.environment,
            start_new_session=True,
        )
    except OSError as exc:
        if spec.cleanup is not None:
            spec.cleanup()
        raise _start_error(spec, exc) from None
    # A daemon thread per detached process: it feeds stdin and reaps the child whatever
    # the event loop does (it may be closed long before the process ends).
    threading.Thread(
        target=_feed_and_reap,
        args=(process, spec.stdin, spec.cleanup),
        name=f"treadle-reap-{process.pid}",
        daemon=True,
    ).start()


async def run_process(spec: ProcessSpec, options: RunOptions) -> Any:
    """Run `spec` and return what `options.returns` asks for (see the module docstring).

    Raises:
        WorkflowError: runtime (500) for a non-zero exit (unless `return` is code/all) or
            a failure to start; configuration (400) when the program does not exist.
    """
    if not options.wait:
        # fork/exec can take a few milliseconds; keep it off the event loop.
        await asyncio.to_thread(_start_detached, spec)
        return None
    try:
        return await _run_awaited(spec, options.returns)
    finally:
        if spec.cleanup is not None:
            spec.cleanup()
