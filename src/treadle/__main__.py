"""`python -m treadle` is the `treadle` command."""

from __future__ import annotations

from treadle.cli import main

main()
