"""The HTTP transport over `treadle.resources`: FastAPI, OpenAPI, problem+json, SSE.

`create_app(service, control=None, runtime=None, settings=None)` builds the app;
`treadle server` serves it with uvicorn.
"""

from __future__ import annotations

from treadle.api.app import create_app
from treadle.api.auth import UnsafeBind, check_bind, is_loopback
from treadle.api.logging import configure_logging

__all__ = ["UnsafeBind", "check_bind", "configure_logging", "create_app", "is_loopback"]
