"""`run: script` — Python or JavaScript code run as a child process.

`args`: `language` (`python`, or `js`/`javascript`), `code` or `source` (an external
resource: a URL or a local file), `arguments`, `stdin`, `environment`, plus `await` and
`return` (see `processes.py`).

The code is written to a temporary file that is run as a script, so argv looks as it
does for any script: Python sees `sys.argv == [script, *arguments]`, Node
`process.argv == [node, script, *arguments]` (the spec's example reads `process.argv[2]`).
The file is removed once the process ends.

Python runs on the interpreter running treadle (`sys.executable`), so a script sees the
same version and packages. JavaScript needs `node` on PATH; without it the task fails
with a configuration error.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
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
from treadle.effects.resources import load_resource

__all__ = ["LANGUAGES", "ScriptRun"]

# language as written in the task → (runtime name for messages, file suffix)
LANGUAGES: Mapping[str, tuple[str, str]] = {
    "python": ("python", ".py"),
    "js": ("javascript", ".js"),
    "javascript": ("javascript", ".js"),
}


def _interpreter(language: str) -> str:
    if language == "python":
        return sys.executable
    node = shutil.which("node")
    if node is None:
        raise config_error("run: script with language javascript needs 'node' on PATH; it was not found")
    return node


def _language(raw: Any) -> str:
    if not isinstance(raw, str) or raw.strip().lower() not in LANGUAGES:
        raise config_error(f"'language' must be one of {', '.join(sorted(LANGUAGES))} (got {raw!r})")
    return LANGUAGES[raw.strip().lower()][0]


def _write_script(code: str, suffix: str) -> tuple[Path, Path]:
    """A fresh private directory holding the script; both are removed by the caller."""
    folder = Path(tempfile.mkdtemp(prefix="treadle-script-"))
    path = folder / f"script{suffix}"
    path.write_text(code, encoding="utf-8")
    return folder, path


class ScriptRun:
    """Performs `run: script`."""

    def __init__(self, shared: Shared) -> None:
        self._shared = shared

    async def call(self, args: Mapping[str, Any], key: str) -> Any:
        """Run the script `args` describes and return what `return` asks for."""
        require_run_allowed(self._shared, "script")
        options = run_options(args)
        language = _language(args.get("language"))
        interpreter = _interpreter(language)
        code = await self._code(args)
        arguments = string_arguments(args.get("arguments"))
        environment = environment_of(args.get("environment"))
        folder, path = _write_script(code, ".py" if language == "python" else ".js")
        spec = ProcessSpec(
            argv=(interpreter, str(path), *arguments),
            environment=environment,
            stdin=stdin_of(args.get("stdin")),
            label=f"{language} script",
            cleanup=lambda: shutil.rmtree(folder, ignore_errors=True),
        )
        return await run_process(spec, options)

    async def _code(self, args: Mapping[str, Any]) -> str:
        code, source = args.get("code"), args.get("source")
        if code is not None and source is not None:
            raise config_error("set either 'code' or 'source', not both")
        if isinstance(code, str):
            return code
        if code is not None:
            raise config_error("'code' must be a string")
        if source is None:
            raise config_error("'code' or 'source' is required")
        return (await load_resource(source, self._shared, "source")).text()
