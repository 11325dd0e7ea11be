"""The `Dispatcher`: the `call` of the engine's Effects port, routed by call kind.

Each call kind is one handler object built from the dispatcher's `Shared` resources.
Adding a kind is one file (`effects/grpc.py` with a class taking `Shared` and having
`async def call(self, args, key)`) and one line in `BUILTIN_HANDLERS`; a runtime may also
`register` its own at run time.

`kind == "function"` calls a Python function (`{"name": ..., "arguments": ...}`). For
convenience a kind spelled `"function:NAME"` is accepted too: its `args` are then the
function's arguments.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from treadle.effects.functions import FunctionRegistry, default_registry
from treadle.effects.handler import CallHandler, HandlerFactory, Shared
from treadle.effects.oauth2 import TokenCache
from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["BUILTIN_HANDLERS", "DEFAULT_TIMEOUT", "Dispatcher", "handler_class"]

# One line per call kind: where its handler class lives. A handler's module is imported
# the first time a workflow uses that kind: the MCP library alone takes most of a second
# to import, which every `treadle` command would otherwise pay.
BUILTIN_HANDLERS: Mapping[str, str] = {
    "http": "treadle.effects.http:HttpCall",
    "function": "treadle.effects.python:FunctionCall",
    "openapi": "treadle.effects.openapi:OpenApiCall",
    "grpc": "treadle.effects.grpc:GrpcCall",
    "mcp": "treadle.effects.mcp:McpCall",
    "a2a": "treadle.effects.a2a:A2aCall",
    "asyncapi": "treadle.effects.asyncapi:AsyncApiCall",
    "shell": "treadle.effects.shell:ShellRun",
    "script": "treadle.effects.script:ScriptRun",
    "container": "treadle.effects.container:ContainerRun",
}


def handler_class(kind: str) -> HandlerFactory:
    """Import and return the built-in handler class of `kind` (KeyError if none)."""
    module_name, _, class_name = BUILTIN_HANDLERS[kind].partition(":")
    factory: HandlerFactory = getattr(importlib.import_module(module_name), class_name)
    return factory


# Generous on purpose: a task's own `timeout` (enforced by the engine through
# cancellation) is the deadline a workflow author sets; this only catches dead peers.
DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=30.0)
_FUNCTION_PREFIX = "function:"


class Dispatcher:
    """Performs calls for the engine: `await dispatcher.call(kind, args, key)`.

    Owns one pooled `httpx.AsyncClient` (unless given one) shared by every handler; close
    it with `aclose()` or use the dispatcher as an async context manager.
    """

    def __init__(
        self,
        *,
        functions: FunctionRegistry | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        tokens: TokenCache | None = None,
        allow_run: bool = False,
    ) -> None:
        """Prepare the shared resources; each built-in handler is built on first use.

        Args:
            functions: the Python functions workflows may call (default: the registry
                `@treadle.effects.function` fills).
            client: an HTTP client to use instead of creating one; it is then the
                caller's to close.
            timeout: the created client's timeout (ignored when `client` is given).
            tokens: an OAuth2 token cache to share between dispatchers.
            allow_run: let `run: shell|script|container` start processes (refused
                with an authorization error otherwise).
        """
        self._owns_client = client is None
        self.shared = Shared(
            client=client or httpx.AsyncClient(timeout=timeout, follow_redirects=False),
            functions=functions if functions is not None else default_registry,
            tokens=tokens or TokenCache(),
            allow_run=allow_run,
        )
        self._handlers: dict[str, CallHandler] = {}

    def register(self, kind: str, handler: CallHandler) -> None:
        """Route calls of `kind` to `handler`, replacing any handler it had."""
        self._handlers[kind] = handler

    def kinds(self) -> list[str]:
        """The call kinds this dispatcher can perform, sorted."""
        return sorted({*BUILTIN_HANDLERS, *self._handlers})

    async def call(self, kind: str, args: Mapping[str, Any], key: str) -> Any:
        """Perform a call of `kind` with the evaluated `args`; `key` is its idempotency key.

        Raises:
            WorkflowError: configuration (400) for a kind no handler performs, or whatever
                fault the handler reports.
        """
        if kind.startswith(_FUNCTION_PREFIX):
            kind, args = "function", {"name": kind.removeprefix(_FUNCTION_PREFIX), "arguments": args}
        handler = self._handlers.get(kind) or self._build(kind)
        if handler is None:
            raise WorkflowError(
                ErrorType.CONFIGURATION,
                status=400,
                title="Unsupported call",
                detail=f"unsupported call kind '{kind}' (supported: {', '.join(self.kinds())})",
            )
        return await handler.call(args, key)

    def _build(self, kind: str) -> CallHandler | None:
        if kind not in BUILTIN_HANDLERS:
            return None
        handler = self._handlers[kind] = handler_class(kind)(self.shared)
        return handler

    async def aclose(self) -> None:
        """Close what handlers hold open (AsyncAPI subscriptions), and the HTTP client if this
        dispatcher created it."""
        for handler in self._handlers.values():
            closer = getattr(handler, "aclose", None)
            if closer is not None:
                await closer()
        if self._owns_client:
            await self.shared.client.aclose()

    async def __aenter__(self) -> Dispatcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
