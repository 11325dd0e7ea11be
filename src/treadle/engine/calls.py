"""`call` and `run`: everything that leaves the workflow goes through `effects.call`.

- `call: http|openapi|grpc|asyncapi|mcp|a2a`: `kind` is that name, `args` the task's
  `with` with every `${ }` evaluated and every `authentication: {use: NAME}` (or bare
  `NAME`) replaced by the policy `use.authentications` defines, itself evaluated.
  `call: asyncapi` is driven by `treadle.engine.asyncapi` (a subscription is several
  effects, one per message).
- `call: NAME` with NAME in `use.functions`: that task runs inline, its input being the
  evaluated `with` (the caller's input when there is no `with`).
- any other `call: NAME`: a custom function, `kind = "function"`,
  `args = {"name": NAME, "arguments": <evaluated with>}`.
- `run`: `kind` is `shell`/`script`/`container`/`workflow`, `args` the evaluated process
  definition plus `await` and `return`. Without `await` the output is the task's input.
"""

from __future__ import annotations

import base64
from typing import Any

from treadle.dsl.models import CallTask, RunTask
from treadle.engine.asyncapi import run_asyncapi, without_per_message
from treadle.engine.errors import configuration_error
from treadle.engine.flow import Outcome, run_task
from treadle.engine.state import Frame

__all__ = ["PROTOCOL_CALLS", "run_call", "run_run"]

#: The call kinds the DSL defines; other names are functions.
PROTOCOL_CALLS = frozenset({"http", "openapi", "grpc", "asyncapi", "mcp", "a2a"})


async def run_call(task: CallTask, frame: Frame) -> Outcome:
    """Perform a protocol call, run a declared function, or call a custom one."""
    effects = frame.state.effects
    if task.call in PROTOCOL_CALLS:
        template = task.with_ or {}
        if task.call == "asyncapi":
            template = without_per_message(template)
        arguments = frame.render(_with_policies(template, frame), frame.input)
        frame.authorization = _authorization(arguments)
        if task.call == "asyncapi":
            return await run_asyncapi(task, arguments, frame)
        if isinstance(frame.input, dict):
            # URI templates (`{petId}`) expand from the task's input, not from expressions.
            arguments["_input"] = frame.input
        return Outcome(await effects.call(task.call, arguments, frame.key()))
    function = frame.state.workflow.use.functions.get(task.call)
    if function is not None:
        function_input = frame.input if task.with_ is None else frame.render(task.with_, frame.input)
        outcome = await run_task(function, function_input, frame.scope.for_function(frame.position))
        return Outcome(outcome.output)
    arguments = frame.render(task.with_ or {}, frame.input)
    return Outcome(await effects.call("function", {"name": task.call, "arguments": arguments}, frame.key()))


async def run_run(task: RunTask, frame: Frame) -> Outcome:
    """Run a shell command, script, container or workflow."""
    spec = task.run
    process = frame.render(spec.process, frame.input)
    arguments = {**process, "await": spec.await_, "return": spec.return_}
    result = await frame.state.effects.call(spec.process_kind, arguments, frame.key())
    return Outcome(result if spec.await_ else frame.input)


def _with_policies(value: Any, frame: Frame) -> Any:
    """Replace each `authentication` reference by the policy it names."""
    if isinstance(value, dict):
        return {
            key: _policy(item, frame) if key == "authentication" else _with_policies(item, frame)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_with_policies(item, frame) for item in value]
    return value


def _policy(reference: Any, frame: Frame) -> Any:
    if isinstance(reference, str):
        name = reference
    elif isinstance(reference, dict) and set(reference) == {"use"}:
        name = reference["use"]
    else:
        return _with_secret_schemes(reference, frame)
    policies = frame.state.workflow.use.authentications
    if name not in policies:
        raise configuration_error(
            f"authentication {name!r} is not defined in use.authentications", frame.pointer
        )
    return _with_secret_schemes(policies[name], frame)


def _with_secret_schemes(policy: Any, frame: Frame) -> Any:
    """Replace `{scheme: {use: SECRET}}` by the scheme's settings read from that secret."""
    if not isinstance(policy, dict):
        return policy
    resolved = dict(policy)
    for scheme, settings in policy.items():
        if isinstance(settings, dict) and set(settings) == {"use"}:
            secret = settings["use"]
            if secret not in frame.state.secrets:
                raise configuration_error(
                    f"the {scheme} authentication uses secret {secret!r}, which is not available",
                    frame.pointer,
                )
            resolved[scheme] = frame.state.secrets[secret]
    return resolved


def _authorization(arguments: Any) -> dict[str, Any] | None:
    """`$authorization` (scheme, parameter) for bearer and basic policies."""
    if not isinstance(arguments, dict):
        return None
    endpoint = arguments.get("endpoint")
    policy = arguments.get("authentication")
    if policy is None and isinstance(endpoint, dict):
        policy = endpoint.get("authentication")
    if not isinstance(policy, dict):
        return None
    bearer = policy.get("bearer")
    if bearer is not None:
        token = bearer.get("token") if isinstance(bearer, dict) else bearer
        return {"scheme": "Bearer", "parameter": token}
    basic = policy.get("basic")
    if isinstance(basic, dict) and "username" in basic:
        pair = f"{basic.get('username')}:{basic.get('password', '')}".encode()
        return {"scheme": "Basic", "parameter": base64.b64encode(pair).decode()}
    return None
