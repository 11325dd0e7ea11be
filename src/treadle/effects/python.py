"""`call: NAME` for a Python function: the handler behind the `function` call kind.

The engine calls `dispatcher.call("function", {"name": NAME, "arguments": {...}}, key)`;
`functions.py` says how the arguments reach the function.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from treadle.effects.handler import Shared
from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["FunctionCall"]


class FunctionCall:
    """Calls a registered Python function."""

    def __init__(self, shared: Shared) -> None:
        self._functions = shared.functions

    async def call(self, args: Mapping[str, Any], key: str) -> Any:
        """Invoke `args["name"]` with `args["arguments"]` (a mapping; default empty)."""
        name, arguments = args.get("name"), args.get("arguments")
        if not isinstance(name, str) or not name:
            raise WorkflowError(
                ErrorType.CONFIGURATION,
                status=400,
                title="Invalid function call",
                detail="'name' is required",
            )
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, Mapping):
            raise WorkflowError(
                ErrorType.CONFIGURATION,
                status=400,
                title="Invalid function call",
                detail=f"the arguments of function '{name}' must be an object",
            )
        return await self._functions.invoke(name, arguments, key)
