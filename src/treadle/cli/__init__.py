"""treadle's command line: `treadle validate`, `treadle run`, and (with a server) more."""

from __future__ import annotations

from treadle.cli.app import app, main

__all__ = ["app", "main"]
