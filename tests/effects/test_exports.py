"""`treadle.effects` exposes exactly these names."""

from __future__ import annotations

import treadle.effects


def test_public_names_are_pinned() -> None:
    assert treadle.effects.__all__ == [
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
    for name in treadle.effects.__all__:
        assert hasattr(treadle.effects, name)
