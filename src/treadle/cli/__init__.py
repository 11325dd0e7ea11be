"""treadle's command line: `treadle validate`, `treadle run`, and (with a server) more.

Light on purpose: the commands (the Typer `app` in `treadle.cli.app`) take most of a
second to import, and `main` is what a Ctrl-C meanwhile must find.
"""

from __future__ import annotations

import sys

__all__ = ["EXIT_INTERRUPTED", "main"]

#: The exit status of a command the user interrupted (128 + SIGINT).
EXIT_INTERRUPTED = 130


def main() -> None:
    """Entry point of the `treadle` console script.

    A Ctrl-C while the commands are still being imported ends the command as one during
    it does: exit 130, no traceback.
    """
    try:
        from treadle.cli.app import main as run_app
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    run_app()
