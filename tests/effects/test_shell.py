"""`run: shell` against real `/bin/sh` processes: output, exit codes, safety, cancellation."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from treadle.effects import Dispatcher, FunctionRegistry
from treadle.effects.processes import TERMINATE_GRACE
from treadle.engine.errors import ErrorType, WorkflowError

from .peers import is_gone, read_pids, wait_until_gone

SPEC_EXAMPLE = """input=$(cat)
echo "STDIN was: $input"
echo "ARGS are $1 $2"
"""


@pytest.fixture
async def runner() -> AsyncIterator[Dispatcher]:
    async with Dispatcher(functions=FunctionRegistry(entry_point_group=None), allow_run=True) as effects:
        yield effects


async def shell(runner: Dispatcher, command: str, **extra: Any) -> Any:
    return await runner.call("shell", {"command": command, "await": True, "return": "stdout", **extra}, "k")


async def test_stdout_is_returned_without_its_trailing_newline(runner: Dispatcher) -> None:
    assert await shell(runner, "echo hello") == "hello"
    assert await shell(runner, "printf 'a\\nb\\n\\n'") == "a\nb\n"


async def test_the_spec_example_gets_stdin_and_positional_arguments(runner: Dispatcher) -> None:
    output = await shell(runner, SPEC_EXAMPLE, stdin="Hello World", arguments=["Foo", "Bar"])
    assert output == "STDIN was: Hello World\nARGS are Foo Bar"


async def test_arguments_are_appended_quoted_when_the_command_has_no_positional_parameters(
    runner: Dispatcher,
) -> None:
    output = await shell(runner, "printf '%s|'", arguments=["a b", "$HOME", "; rm -rf /", "it's"])
    assert output == "a b|$HOME|; rm -rf /|it's|"


async def test_a_map_of_arguments_becomes_options(runner: Dispatcher) -> None:
    output = await shell(runner, "printf '%s '", arguments={"name": "x", "verbose": True, "quiet": False})
    assert output == "--name x --verbose "


async def test_a_structured_stdin_is_sent_as_json(runner: Dispatcher) -> None:
    assert await shell(runner, "cat", stdin={"a": [1, True]}) == '{"a":[1,true]}'


async def test_environment_is_merged_over_treadles(
    runner: Dispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TREADLE_TEST_INHERITED", "kept")
    monkeypatch.setenv("TREADLE_TEST_REMOVED", "present")
    output = await shell(
        runner,
        'echo "$GREETING $COUNT $TREADLE_TEST_INHERITED ${TREADLE_TEST_REMOVED:-unset}"',
        environment={"GREETING": "hi", "COUNT": 3, "TREADLE_TEST_REMOVED": None},
    )
    assert output == "hi 3 kept unset"


@pytest.mark.parametrize(
    ("returns", "expected"),
    [
        ("stdout", "out"),
        ("stderr", "err"),
        ("code", 0),
        ("all", {"code": 0, "stdout": "out", "stderr": "err"}),
        ("none", None),
    ],
)
async def test_return_selects_the_output(runner: Dispatcher, returns: str, expected: Any) -> None:
    assert await shell(runner, "echo out; echo err >&2", **{"return": returns}) == expected


async def test_a_non_zero_exit_is_a_runtime_error_with_code_and_stderr(runner: Dispatcher) -> None:
    with pytest.raises(WorkflowError) as caught:
        await shell(runner, "echo partial; echo 'disk full' >&2; exit 3")
    error = caught.value
    assert (error.type, error.status) == (ErrorType.RUNTIME, 500)
    assert "exited with code 3" in (error.detail or "")
    assert "disk full" in (error.detail or "")
    assert error.to_problem()["code"] == 3


async def test_code_and_all_report_a_non_zero_exit_instead_of_failing(runner: Dispatcher) -> None:
    assert await shell(runner, "exit 7", **{"return": "code"}) == 7
    result = await shell(runner, "echo no >&2; exit 2", **{"return": "all"})
    assert result == {"code": 2, "stdout": "", "stderr": "no"}


async def test_only_the_tail_of_a_long_stderr_is_kept(runner: Dispatcher) -> None:
    with pytest.raises(WorkflowError) as caught:
        await shell(runner, "i=0; while [ $i -lt 2000 ]; do echo line$i >&2; i=$((i+1)); done; exit 1")
    detail = caught.value.detail or ""
    assert "line1999" in detail and "line0\n" not in detail
    assert len(detail) < 2200


async def test_a_process_killed_by_a_signal_reports_128_plus_the_signal(runner: Dispatcher) -> None:
    assert await shell(runner, "kill -9 $$", **{"return": "code"}) == 137
    with pytest.raises(WorkflowError) as caught:
        await shell(runner, "kill -9 $$")
    assert "SIGKILL" in (caught.value.detail or "")


async def test_undecodable_output_is_replaced_not_fatal(runner: Dispatcher) -> None:
    assert await shell(runner, "printf 'ok\\377'") == "ok\ufffd"


async def test_running_is_refused_unless_allowed() -> None:
    async with Dispatcher(functions=FunctionRegistry(entry_point_group=None)) as effects:
        with pytest.raises(WorkflowError) as caught:
            await effects.call("shell", {"command": "touch /tmp/should-not-exist"}, "k")
    error = caught.value
    assert (error.type, error.status) == (ErrorType.AUTHORIZATION, 403)
    assert "running processes is disabled; start treadle with --allow-run" in (error.detail or "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "'command' is required"),
        ({"command": "  "}, "'command' is required"),
        ({"command": "true", "return": "everything"}, "'return' must be one of"),
        ({"command": "true", "await": "yes"}, "'await' must be a boolean"),
        ({"command": "true", "arguments": "a b"}, "'arguments' must be a list"),
        ({"command": "true", "environment": ["A=1"]}, "'environment' must be a map"),
    ],
)
async def test_malformed_arguments_are_configuration_errors(
    runner: Dispatcher, args: dict[str, Any], message: str
) -> None:
    with pytest.raises(WorkflowError) as caught:
        await runner.call("shell", args, "k")
    assert caught.value.type == ErrorType.CONFIGURATION
    assert message in (caught.value.detail or "")


async def test_cancelling_the_caller_kills_the_whole_process_group(
    runner: Dispatcher, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    # The shell starts a grandchild, then both wait: neither may outlive the cancellation.
    command = f"sleep 30 & echo $$ > {pids}; echo $! >> {pids}; wait"
    call = asyncio.create_task(shell(runner, command))
    shell_pid, sleep_pid = await read_pids(pids, 2)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert process_is_reaped(shell_pid)
    assert await wait_until_gone(sleep_pid)


async def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period(
    runner: Dispatcher, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    command = f"trap '' TERM; echo $$ > {pids}; while true; do sleep 0.05; done"
    call = asyncio.create_task(shell(runner, command))
    (shell_pid,) = await read_pids(pids, 1)
    started = time.monotonic()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert time.monotonic() - started >= TERMINATE_GRACE
    assert process_is_reaped(shell_pid)


async def test_await_false_returns_at_once_and_the_process_is_reaped(
    runner: Dispatcher, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    go = tmp_path / "go"
    # The process waits for a file only the test creates: had the call awaited it, the
    # call would never return.
    command = f"echo $$ > {pids}; while [ ! -f {go} ]; do sleep 0.02; done; cat > {tmp_path}/in"
    result = await runner.call("shell", {"command": command, "stdin": "fed", "await": False}, "k")
    assert result is None
    (pid,) = await read_pids(pids, 1)
    go.touch()
    # Reaped by treadle, not left as a zombie: /proc forgets it entirely.
    for _ in range(250):
        if not os.path.exists(f"/proc/{pid}"):
            break
        await asyncio.sleep(0.02)
    assert not os.path.exists(f"/proc/{pid}")
    assert (tmp_path / "in").read_text() == "fed"


def process_is_reaped(pid: int) -> bool:
    """treadle's own child must be waited for, not merely dead (no zombie)."""
    return not os.path.exists(f"/proc/{pid}") and is_gone(pid)
