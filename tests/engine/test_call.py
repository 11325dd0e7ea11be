from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .conftest import Run

CALL_HTTP_WITH_AUTH = """
use:
  authentications:
    petstore:
      bearer:
        token: ${ $secrets.token }
do:
  - getPet:
      call: http
      with:
        method: get
        endpoint:
          uri: ${ "https://petstore.example/pets/" + (.petId | tostring) }
          authentication:
            use: petstore
      output:
        as: '${ {pet: ., scheme: $authorization.scheme} }'
"""

CALL_DECLARED_FUNCTION = """
use:
  functions:
    double:
      set: {doubled: '${ .n * 2 }'}
do:
  - useIt:
      call: double
      with:
        n: ${ .value }
"""

CALL_CUSTOM_FUNCTION = """
do:
  - charge:
      call: billing.charge
      with:
        amount: ${ .amount }
"""

RUN_SHELL = """
do:
  - list:
      run:
        shell:
          command: ls
          arguments:
            path: ${ .dir }
        return: all
  - fireAndForget:
      run:
        await: false
        script:
          language: python
          code: print(1)
"""

CALL_BROKEN = """
do:
  - broken:
      call: http
      with: {method: get, endpoint: https://example.com}
"""

NO_HANDLER = """
do:
  - nobody:
      call: http
      with: {method: get, endpoint: https://example.com}
"""


class Recorder:
    def __init__(self, answer: Any = None) -> None:
        self.calls: list[tuple[str, Mapping[str, Any], str]] = []
        self.answer = answer

    async def __call__(self, kind: str, args: Mapping[str, Any], key: str) -> Any:
        self.calls.append((kind, args, key))
        return self.answer if self.answer is not None else {"kind": kind}


async def test_http_call_gets_evaluated_with_and_the_resolved_policy(run: Run) -> None:
    recorder = Recorder({"name": "Rex"})
    result, _ = await run(CALL_HTTP_WITH_AUTH, {"petId": 3}, call_handler=recorder, secrets={"token": "t0k"})
    kind, args, key = recorder.calls[0]
    assert kind == "http"
    assert args == {
        "method": "get",
        "endpoint": {
            "uri": "https://petstore.example/pets/3",
            "authentication": {"bearer": {"token": "t0k"}},
        },
        "_input": {"petId": 3},
    }
    assert key == "/do/0/getPet@0#0"
    assert result.output == {"pet": {"name": "Rex"}, "scheme": "Bearer"}


async def test_declared_function_runs_inline_with_its_arguments(run: Run) -> None:
    result, observer = await run(CALL_DECLARED_FUNCTION, {"value": 5})
    assert result.output == {"doubled": 10}
    assert [t["position"] for t in observer.tasks] == ["/do/0/useIt", "/do/0/useIt>/use/functions/double"]


async def test_other_names_are_custom_functions(run: Run) -> None:
    recorder = Recorder()
    await run(CALL_CUSTOM_FUNCTION, {"amount": 12}, call_handler=recorder)
    assert recorder.calls[0][:2] == ("function", {"name": "billing.charge", "arguments": {"amount": 12}})


async def test_run_passes_the_process_with_await_and_return(run: Run) -> None:
    recorder = Recorder({"code": 0, "stdout": "a b"})
    result, _ = await run(RUN_SHELL, {"dir": "/tmp"}, call_handler=recorder)
    assert recorder.calls[0][:2] == (
        "shell",
        {"command": "ls", "arguments": {"path": "/tmp"}, "await": True, "return": "all"},
    )
    assert recorder.calls[1][0] == "script"
    assert recorder.calls[1][1]["await"] is False
    assert result.output == {"code": 0, "stdout": "a b"}  # not awaited: the input passes on


async def test_an_unexpected_exception_in_an_effect_is_a_runtime_error(run: Run) -> None:
    async def explode(kind: str, args: Mapping[str, Any], key: str) -> Any:
        raise ConnectionResetError("peer went away")

    result, _ = await run(CALL_BROKEN, call_handler=explode)
    assert result.status == "faulted"
    assert result.error is not None
    assert result.error.to_problem() == {
        "type": "https://serverlessworkflow.io/spec/1.0.0/errors/runtime",
        "status": 500,
        "title": "Runtime Error",
        "detail": "ConnectionResetError: peer went away",
        "instance": "/do/0/broken",
    }


async def test_memory_effects_without_a_handler_fault_clearly(run: Run) -> None:
    result, _ = await run(NO_HANDLER)
    assert result.error is not None
    assert result.error.type.endswith("/configuration")
    assert "no handler for call kind 'http'" in (result.error.detail or "")
