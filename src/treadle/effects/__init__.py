"""Side effects behind the engine's Effects port: protocol calls, Python functions, processes.

Call kinds: `http`, `openapi`, `grpc`, `asyncapi`, `mcp`, `a2a`, `function`; run kinds: `shell`,
`script`, `container` (refused unless the dispatcher is built with `allow_run=True`).

    from treadle.effects import Dispatcher, function

    @function
    def charge(order: dict) -> dict: ...

    async with Dispatcher() as effects:
        await effects.call("http", {"method": "get", "endpoint": "https://..."}, key)
        await effects.call("function", {"name": "charge", "arguments": {...}}, key)

Every fault becomes a `treadle.engine.errors.WorkflowError` carrying a DSL error type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from treadle.effects.dispatch import BUILTIN_HANDLERS, Dispatcher, handler_class
from treadle.effects.functions import ENTRY_POINT_GROUP, FunctionRegistry, default_registry, function
from treadle.effects.handler import CallHandler, HandlerFactory, Shared
from treadle.effects.oauth2 import TokenCache

if TYPE_CHECKING:
    from treadle.effects.a2a import A2aCall
    from treadle.effects.asyncapi import AsyncApiCall
    from treadle.effects.container import ContainerRun
    from treadle.effects.grpc import GrpcCall
    from treadle.effects.http import HttpCall
    from treadle.effects.mcp import McpCall
    from treadle.effects.openapi import OpenApiCall
    from treadle.effects.python import FunctionCall
    from treadle.effects.script import ScriptRun
    from treadle.effects.shell import ShellRun

# Handler classes are imported on first access, like the dispatcher builds them on first
# use: their libraries (MCP, gRPC, ...) are slow to import.
_HANDLER_CLASSES = {path.partition(":")[2]: kind for kind, path in BUILTIN_HANDLERS.items()}


def __getattr__(name: str) -> Any:
    if name in _HANDLER_CLASSES:
        return handler_class(_HANDLER_CLASSES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BUILTIN_HANDLERS",
    "ENTRY_POINT_GROUP",
    "A2aCall",
    "AsyncApiCall",
    "CallHandler",
    "ContainerRun",
    "Dispatcher",
    "FunctionCall",
    "FunctionRegistry",
    "GrpcCall",
    "HandlerFactory",
    "HttpCall",
    "McpCall",
    "OpenApiCall",
    "ScriptRun",
    "Shared",
    "ShellRun",
    "TokenCache",
    "default_registry",
    "function",
]
