"""`run: container`: the runtime probe against the real `docker`/`podman` CLIs on this
machine, and the `run` command line a container process plans.

No container engine runs here (`docker` is installed without a daemon), so running a
container end to end is not tested; the probe's refusal is, with the real CLI.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

from treadle.effects import Dispatcher, FunctionRegistry
from treadle.effects.container import container_plan, find_runtime
from treadle.engine.errors import ErrorType, WorkflowError

SPEC_EXAMPLE = {
    "image": "alpine",
    "stdin": "Hello World",
    "command": 'input=$(cat)\necho "STDIN was: $input"\necho "ARGS are $1 $2"\n',
    "arguments": ["Foo", "Bar"],
    "pullPolicy": "always",
}


@pytest.fixture
async def runner() -> AsyncIterator[Dispatcher]:
    async with Dispatcher(functions=FunctionRegistry(entry_point_group=None), allow_run=True) as effects:
        yield effects


async def test_without_a_usable_runtime_the_task_is_a_configuration_error(runner: Dispatcher) -> None:
    if await find_runtime() is not None:
        pytest.skip("a container engine is available here")
    with pytest.raises(WorkflowError) as caught:
        await runner.call("container", {"image": "alpine", "await": True, "return": "stdout"}, "k")
    error = caught.value
    assert (error.type, error.status) == (ErrorType.CONFIGURATION, 400)
    assert "no container runtime available" in (error.detail or "")


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker CLI not installed")
async def test_a_docker_client_without_an_engine_does_not_count() -> None:
    # `docker` is on PATH but `docker info` fails: it must not be picked.
    probe_result = await find_runtime(("docker",))
    engine_running = probe_result is not None
    if engine_running:
        pytest.skip("a docker engine is running here")
    assert probe_result is None


async def test_containers_are_refused_unless_running_is_allowed() -> None:
    async with Dispatcher(functions=FunctionRegistry(entry_point_group=None)) as effects:
        with pytest.raises(WorkflowError) as caught:
            await effects.call("container", {"image": "alpine"}, "k")
    assert (caught.value.type, caught.value.status) == (ErrorType.AUTHORIZATION, 403)


def test_the_spec_example_runs_its_command_through_sh_with_positional_arguments() -> None:
    plan = container_plan(SPEC_EXAMPLE, "wex-1/do/0/run/1")
    argv = plan.run_argv("docker")
    assert argv[:3] == ("docker", "run", "--name")
    assert plan.name.startswith("treadle-wex-1-do-0-run-1-")
    assert argv[3] == plan.name
    assert argv[4:] == (
        "-i",
        "--pull=always",
        "alpine",
        "sh",
        "-c",
        SPEC_EXAMPLE["command"],
        "sh",
        "Foo",
        "Bar",
    )
    assert plan.stdin == b"Hello World"


def test_ports_volumes_environment_and_cleanup_become_options() -> None:
    plan = container_plan(
        {
            "image": "nginx:1.27",
            "name": "web",
            "ports": {"8080": 80},
            "volumes": {"/srv/html": "/usr/share/nginx/html"},
            "environment": {"MODE": "prod", "DEBUG": False},
            "lifetime": {"cleanup": "always"},
        },
        "k",
    )
    assert plan.run_argv("podman") == (
        "podman",
        "run",
        "--name",
        "web",
        "--rm",
        "--pull=missing",
        "-p",
        "8080:80",
        "-v",
        "/srv/html:/usr/share/nginx/html",
        "-e",
        "MODE=prod",
        "-e",
        "DEBUG=false",
        "nginx:1.27",
    )


def test_without_command_arguments_go_to_the_image_entrypoint() -> None:
    plan = container_plan({"image": "busybox", "arguments": ["echo", "hi"]}, "k")
    assert plan.command == ("echo", "hi")


def test_eventual_cleanup_reads_its_duration() -> None:
    plan = container_plan(
        {"image": "alpine", "lifetime": {"cleanup": "eventually", "after": {"minutes": 30}}}, "k"
    )
    assert (plan.cleanup, plan.cleanup_after) == ("eventually", 1800.0)
    assert "--rm" not in plan.run_argv("docker")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "'image' is required"),
        ({"image": "alpine", "pullPolicy": "sometimes"}, "'pullPolicy' must be one of"),
        ({"image": "alpine", "ports": [80]}, "'ports' must be a map"),
        ({"image": "alpine", "lifetime": {"cleanup": "eventually"}}, "'lifetime.after' is required"),
        ({"image": "alpine", "lifetime": {"cleanup": "sometimes"}}, "'lifetime.cleanup' must be one of"),
        ({"image": "alpine", "command": ["ls"]}, "'command' must be a string"),
    ],
)
def test_malformed_containers_are_configuration_errors(args: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkflowError) as caught:
        container_plan(args, "k")
    assert caught.value.type == ErrorType.CONFIGURATION
    assert message in (caught.value.detail or "")
