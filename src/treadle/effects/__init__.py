"""Side effects behind the engine's Effects port: HTTP calls and Python functions.

    from treadle.effects import Dispatcher, function

    @function
    def charge(order: dict) -> dict: ...

    async with Dispatcher() as effects:
        await effects.call("http", {"method": "get", "endpoint": "https://..."}, key)
        await effects.call("function", {"name": "charge", "arguments": {...}}, key)

Every fault becomes a `treadle.engine.errors.WorkflowError` carrying a DSL error type.
"""

from __future__ import annotations

from treadle.effects.dispatch import BUILTIN_HANDLERS, Dispatcher
from treadle.effects.functions import ENTRY_POINT_GROUP, FunctionRegistry, default_registry, function
from treadle.effects.handler import CallHandler, HandlerFactory, Shared
from treadle.effects.http import HttpCall
from treadle.effects.oauth2 import TokenCache
from treadle.effects.python import FunctionCall

__all__ = [
    "BUILTIN_HANDLERS",
    "ENTRY_POINT_GROUP",
    "CallHandler",
    "Dispatcher",
    "FunctionCall",
    "FunctionRegistry",
    "HandlerFactory",
    "HttpCall",
    "Shared",
    "TokenCache",
    "default_registry",
    "function",
]
