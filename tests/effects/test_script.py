"""`run: script` with real Python and Node processes."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from treadle.effects import Dispatcher, FunctionRegistry
from treadle.engine.errors import ErrorType, WorkflowError

from .peers import read_pids, serve_asgi, wait_until_gone

PYTHON_ARGV = """
import json, os, sys
print(json.dumps({"argv": sys.argv[1:], "env": os.environ.get("COLOUR"), "stdin": sys.stdin.read()}))
"""

PYTHON_FAILS = """
import sys
print("about to fail")
raise SystemExit("no such order: 42")
"""

# The spec's own example.
JAVASCRIPT_ARGV = """
const [_, __, arg0, arg1] = process.argv;
console.log('arg > ', arg0, arg1)
"""

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture
async def runner() -> AsyncIterator[Dispatcher]:
    async with Dispatcher(functions=FunctionRegistry(entry_point_group=None), allow_run=True) as effects:
        yield effects


async def script(runner: Dispatcher, **args: Any) -> Any:
    return await runner.call("script", {"await": True, "return": "stdout", **args}, "k")


async def test_python_code_gets_argv_environment_and_stdin(runner: Dispatcher) -> None:
    output = await script(
        runner,
        language="python",
        code=PYTHON_ARGV,
        arguments=["one", "two words"],
        environment={"COLOUR": "blue"},
        stdin="piped",
    )
    assert output == '{"argv": ["one", "two words"], "env": "blue", "stdin": "piped"}'


async def test_python_runs_on_treadles_interpreter(runner: Dispatcher) -> None:
    assert await script(runner, language="python", code="import sys; print(sys.executable)") == sys.executable


async def test_a_map_of_arguments_becomes_options(runner: Dispatcher) -> None:
    code = "import sys; print(' '.join(sys.argv[1:]))"
    assert (
        await script(runner, language="python", code=code, arguments={"n": 2, "dry-run": True})
        == "--n 2 --dry-run"
    )


async def test_a_failing_script_is_a_runtime_error_with_its_stderr(runner: Dispatcher) -> None:
    with pytest.raises(WorkflowError) as caught:
        await script(runner, language="python", code=PYTHON_FAILS)
    assert caught.value.type == ErrorType.RUNTIME
    assert "python script exited with code 1" in (caught.value.detail or "")
    assert "no such order: 42" in (caught.value.detail or "")


async def test_return_all_reports_a_failing_script(runner: Dispatcher) -> None:
    result = await script(runner, language="python", code=PYTHON_FAILS, **{"return": "all"})
    assert result == {"code": 1, "stdout": "about to fail", "stderr": "no such order: 42"}


async def test_source_may_be_a_local_file(runner: Dispatcher, tmp_path: Path) -> None:
    path = tmp_path / "hello.py"
    path.write_text("print('from a file')")
    assert await script(runner, language="python", source={"endpoint": str(path)}) == "from a file"
    assert (
        await script(runner, language="python", source={"endpoint": {"uri": path.as_uri()}}) == "from a file"
    )


async def test_source_may_be_a_url(runner: Dispatcher) -> None:
    async def code(request: Request) -> Response:
        return PlainTextResponse("print('from a URL')")

    with serve_asgi(Starlette(routes=[Route("/hello.py", code)])) as url:
        assert await script(runner, language="python", source={"endpoint": f"{url}/hello.py"}) == "from a URL"


async def test_an_unreachable_source_url_is_a_communication_error(
    runner: Dispatcher, closed_port: int
) -> None:
    with pytest.raises(WorkflowError) as caught:
        await script(runner, language="python", source={"endpoint": f"http://127.0.0.1:{closed_port}/x.py"})
    assert (caught.value.type, caught.value.status) == (ErrorType.COMMUNICATION, 503)


async def test_a_missing_source_file_is_a_configuration_error(runner: Dispatcher, tmp_path: Path) -> None:
    with pytest.raises(WorkflowError) as caught:
        await script(runner, language="python", source={"endpoint": str(tmp_path / "absent.py")})
    assert caught.value.type == ErrorType.CONFIGURATION
    assert "absent.py" in (caught.value.detail or "")


async def test_the_temporary_script_is_removed_afterwards(runner: Dispatcher) -> None:
    path = await script(runner, language="python", code="print(__file__)")
    assert path.endswith("script.py")
    assert not Path(path).exists() and not Path(path).parent.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"language": "ruby", "code": "puts 1"}, "'language' must be one of"),
        ({"language": "python"}, "'code' or 'source' is required"),
        ({"language": "python", "code": "1", "source": {"endpoint": "/x.py"}}, "not both"),
    ],
)
async def test_malformed_scripts_are_configuration_errors(
    runner: Dispatcher, args: dict[str, Any], message: str
) -> None:
    with pytest.raises(WorkflowError) as caught:
        await runner.call("script", args, "k")
    assert caught.value.type == ErrorType.CONFIGURATION
    assert message in (caught.value.detail or "")


async def test_scripts_are_refused_unless_running_is_allowed() -> None:
    async with Dispatcher(functions=FunctionRegistry(entry_point_group=None)) as effects:
        with pytest.raises(WorkflowError) as caught:
            await effects.call("script", {"language": "python", "code": "print(1)"}, "k")
    assert (caught.value.type, caught.value.status) == (ErrorType.AUTHORIZATION, 403)


async def test_cancelling_a_script_kills_it(runner: Dispatcher, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    code = f"import os, time; open({str(pids)!r}, 'w').write(str(os.getpid())); time.sleep(30)"
    call = asyncio.create_task(script(runner, language="python", code=code))
    (pid,) = await read_pids(pids, 1)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert await wait_until_gone(pid)


@needs_node
async def test_javascript_follows_the_spec_example(runner: Dispatcher) -> None:
    for language in ("javascript", "js"):
        output = await script(runner, language=language, code=JAVASCRIPT_ARGV, arguments=["hello", "world"])
        assert output == "arg >  hello world"


async def test_javascript_without_node_is_a_configuration_error(
    runner: Dispatcher, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(WorkflowError) as caught:
        await script(runner, language="js", code="console.log(1)")
    assert caught.value.type == ErrorType.CONFIGURATION
    assert "needs 'node' on PATH" in (caught.value.detail or "")
