"""What the commands that talk to a server share: `--server`, the client, errors → exit codes.

Exit codes: 0 done; 1 the server refused (not found, conflict, precondition, its own
error); 2 bad input (a 400/422 answer, an unreadable file, bad options); 3 the server
cannot be reached.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
import yaml

if TYPE_CHECKING:
    from treadle.client import ApiError, Client

__all__ = [
    "EXIT_FAILED",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "ServerOption",
    "at_lines",
    "fail",
    "read_input",
    "read_input_lines",
    "remote",
]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="TREADLE_SERVER",
        help="The treadle server's URL [default: http://127.0.0.1:8080].",
        show_default=False,
    ),
]


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print `treadle: message` on stderr and exit with `code`."""
    typer.echo(f"treadle: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def remote(server: str | None) -> Iterator[Client]:
    """A client of the server; API and connection errors become messages and exit codes."""
    import httpx  # here, not at the top: `treadle run` should not pay for the client's imports

    from treadle.client import ApiError, Client
    from treadle.client._base import server_from_env

    url = server_from_env(server)
    try:
        with Client(url) as client:
            yield client
    except ApiError as error:
        for fault in error.errors:
            typer.echo(f"  {fault.get('pointer') or '/'}: {fault.get('message')}", err=True)
        fail(str(error), EXIT_USAGE if error.status in (400, 413, 415, 422) else EXIT_FAILED)
    except httpx.TransportError as error:
        fail(f"cannot reach the server at {url} ({error}); is `treadle server` running?", EXIT_UNREACHABLE)


def read_input(input_json: str | None, input_file: Path | None) -> Any:
    """The workflow input from `--input` (JSON) or `--input-file` (JSON/YAML); `{}` by default."""
    if input_json is not None and input_file is not None:
        fail("give the input with --input or --input-file, not both", EXIT_USAGE)
    if input_json is not None:
        try:
            return json.loads(input_json)
        except ValueError as error:
            fail(f"--input is not valid JSON: {error}", EXIT_USAGE)
    if input_file is not None:
        try:
            return yaml.safe_load(input_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            fail(f"--input-file {input_file}: {error}", EXIT_USAGE)
    return {}


def read_input_lines(path: Path) -> list[tuple[int, Any]]:
    """The inputs of a JSON Lines file (`-`: stdin) with their line numbers; blank lines skipped."""
    name = "stdin" if str(path) == "-" else str(path)
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"--inputs {name}: {error}", EXIT_USAGE)
    inputs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            inputs.append((number, json.loads(line)))
        except ValueError as error:
            fail(f"--inputs {name}, line {number}: not JSON: {error}", EXIT_USAGE)
    if not inputs:
        fail(f"--inputs {name}: no input lines", EXIT_USAGE)
    return inputs


def at_lines(error: ApiError, lines: list[int]) -> ApiError:
    """A batch's error with `/items/<i>` pointers said as the input lines they came from."""
    from treadle.client import ApiError

    def located(fault: dict[str, Any]) -> dict[str, Any]:
        pointer = str(fault.get("pointer") or "")
        parts = pointer.split("/", 3)  # "", "items", index, rest
        if len(parts) < 3 or parts[1] != "items" or not parts[2].isdigit() or int(parts[2]) >= len(lines):
            return fault
        rest = "/" + parts[3] if len(parts) == 4 else ""
        return {**fault, "pointer": f"line {lines[int(parts[2])]}{': ' + rest if rest else ''}"}

    problem = {**error.problem, "errors": [located(fault) for fault in error.errors]}
    return ApiError(error.status, problem)
