"""treadle: durable Serverless Workflow (DSL 1.0) execution."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from treadle.client import AsyncClient, Client

__all__ = ["AsyncClient", "Client", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: `import treadle.engine` (e.g. in Temporal's sandbox) must not import httpx and the store.
    if name in ("Client", "AsyncClient"):
        import treadle.client

        return getattr(treadle.client, name)
    raise AttributeError(f"module 'treadle' has no attribute {name!r}")


__version__ = "0.1.0"
