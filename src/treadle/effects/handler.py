"""What every call handler is, and what the dispatcher shares with all of them.

A handler performs one kind of call (`http`, `function`, later `grpc`, `shell`, ...):
one object, one entry point, `await handler.call(args, key)`. Handlers are built once
per `Dispatcher` from the `Shared` resources, so connection pools, token caches and the
function registry live as long as the dispatcher, not as long as one call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from treadle.effects.functions import FunctionRegistry
from treadle.effects.oauth2 import TokenCache

__all__ = ["CallHandler", "HandlerFactory", "Shared"]


class CallHandler(Protocol):
    """Performs one kind of call."""

    async def call(self, args: Mapping[str, Any], key: str) -> Any:
        """Perform the call described by `args` (the task's evaluated `with`).

        `key` is the idempotency key of this attempt. Returns a JSON-like value; faults
        are raised as `WorkflowError`.
        """
        ...


@dataclass(frozen=True)
class Shared:
    """Long-lived resources a dispatcher hands to each handler it builds.

    Attributes:
        client: the pooled HTTP client every HTTP-speaking handler uses.
        functions: the Python functions workflows may call.
        tokens: OAuth2/OIDC access tokens, cached until they expire.
        allow_run: whether `run: shell|script|container` may start processes on this
            machine (off unless the operator opts in).
    """

    client: httpx.AsyncClient
    functions: FunctionRegistry
    tokens: TokenCache
    allow_run: bool = False


HandlerFactory = Callable[[Shared], CallHandler]
