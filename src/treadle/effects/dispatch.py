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

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from treadle.effects.a2a import A2aCall
from treadle.effects.asyncapi import AsyncApiCall
from treadle.effects.container import ContainerRun
from treadle.effects.functions import FunctionRegistry, default_registry
from treadle.effects.grpc import GrpcCall
from treadle.effects.handler import CallHandler, HandlerFactory, Shared
from treadle.effects.http import HttpCall
from treadle.effects.mcp import McpCall
from treadle.effects.oauth2 import TokenCache
from treadle.effects.openapi import OpenApiCall
from treadle.effects.python import FunctionCall
from treadle.effects.script import ScriptRun
from treadle.effects.shell import ShellRun
from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["BUILTIN_HANDLERS", "DEFAULT_TIMEOUT", "Dispatcher"]

# One line per call kind.
BUILTIN_HANDLERS: Mapping[str, HandlerFactory] = {
    "http": HttpCall,
    "function": FunctionCall,
    "openapi": OpenApiCall,
    "grpc": GrpcCall,
    "mcp": McpCall,
    "a2a": A2aCall,
    "asyncapi": AsyncApiCall,
    "shell": ShellRun,
    "script": ScriptRun,
    "container": ContainerRun,
}

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
        """Build the built-in handlers.

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
        self._handlers: dict[str, CallHandler] = {
            kind: factory(self.shared) for kind, factory in BUILTIN_HANDLERS.items()
        }

    def register(self, kind: str, handler: CallHandler) -> None:
        """Route calls of `kind` to `handler`, replacing any handler it had."""
        self._handlers[kind] = handler

    def kinds(self) -> list[str]:
        """The call kinds this dispatcher can perform, sorted."""
        return sorted(self._handlers)

    async def call(self, kind: str, args: Mapping[str, Any], key: str) -> Any:
        """Perform a call of `kind` with the evaluated `args`; `key` is its idempotency key.

        Raises:
            WorkflowError: configuration (400) for a kind no handler performs, or whatever
                fault the handler reports.
        """
        if kind.startswith(_FUNCTION_PREFIX):
            kind, args = "function", {"name": kind.removeprefix(_FUNCTION_PREFIX), "arguments": args}
        handler = self._handlers.get(kind)
        if handler is None:
            raise WorkflowError(
                ErrorType.CONFIGURATION,
                status=400,
                title="Unsupported call",
                detail=f"unsupported call kind '{kind}' (supported: {', '.join(self.kinds())})",
            )
        return await handler.call(args, key)

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
