"""treadle: durable Serverless Workflow (DSL 1.0) execution."""

from __future__ import annotations

__version__ = "0.1.0"
