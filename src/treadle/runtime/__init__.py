"""Runtimes: where the engine's effects are performed, and how a run is kept.

`treadle.runtime.memory` performs effects directly and keeps nothing (for `treadle run`
and tests); the durable runtimes (local journal, Temporal) live beside it.
"""

from __future__ import annotations

__all__: list[str] = []
