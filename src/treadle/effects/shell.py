"""`run: shell` — a command line run by `/bin/sh -c`.

`args`: `command` (a command line, possibly a multi-line script), `arguments`, `stdin`,
`environment`, plus the run task's `await` and `return` (see `processes.py`).

How `arguments` reach the command, decided here because the spec's own example needs it:
- When the command uses positional parameters (`$1`..`$9`, `${N}`, `$@`, `$*`, `$#`), the
  arguments become them: `sh -c COMMAND sh ARG...`. This is the spec's example
  (`echo "ARGS are $1 $2"` with arguments `[Foo, Bar]`).
- Otherwise they are appended to the command line, each shell-quoted, so `command: ls`
  with `arguments: [-la, /tmp]` runs `ls -la /tmp`, and no argument is ever re-parsed by
  the shell.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from treadle.effects.handler import Shared
from treadle.effects.processes import (
    ProcessSpec,
    config_error,
    environment_of,
    require_run_allowed,
    run_options,
    run_process,
    stdin_of,
    string_arguments,
)

__all__ = ["SHELL", "ShellRun", "shell_argv"]

SHELL = "/bin/sh"
_POSITIONAL = re.compile(r"\$(?:[1-9@*#]|\{(?:[1-9][0-9]*|[@*#])\})")


def shell_argv(command: str, arguments: list[str]) -> tuple[str, ...]:
    """The argv running `command` with `arguments` (see the module docstring)."""
    if not arguments:
        return (SHELL, "-c", command)
    if _POSITIONAL.search(command):
        # The word after the script is `$0`; name it after the shell, as sh itself does.
        return (SHELL, "-c", command, "sh", *arguments)
    return (SHELL, "-c", f"{command} {shlex.join(arguments)}")


class ShellRun:
    """Performs `run: shell`."""

    def __init__(self, shared: Shared) -> None:
        self._shared = shared

    async def call(self, args: Mapping[str, Any], key: str) -> Any:
        """Run the command `args` describes and return what `return` asks for."""
        require_run_allowed(self._shared, "shell")
        options = run_options(args)
        command = args.get("command")
        if not isinstance(command, str) or not command.strip():
            raise config_error("'command' is required: the command line to run")
        spec = ProcessSpec(
            argv=shell_argv(command, string_arguments(args.get("arguments"))),
            environment=environment_of(args.get("environment")),
            stdin=stdin_of(args.get("stdin")),
            label="shell command",
        )
        return await run_process(spec, options)
