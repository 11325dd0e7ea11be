"""The root of every error treadle raises on purpose.

    TreadleError
    ├── treadle.dsl.InvalidDocument        a document failed schema or semantic checks
    ├── treadle.expr.ExpressionError       a jq expression failed to compile or evaluate
    ├── treadle.engine.WorkflowError       a workflow fault: carries the DSL's problem object
    └── treadle.resources.ResourceError    bad input to the control plane (NotFound, ...)

Misuse of treadle's own API raises the built-in `RuntimeError`/`TypeError`, never these.
"""

from __future__ import annotations

__all__ = ["TreadleError"]


class TreadleError(Exception):
    """Base class of the errors treadle raises for bad input or workflow faults."""
