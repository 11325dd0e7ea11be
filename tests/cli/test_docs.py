"""docs/cli.md is generated from the commands' help (`make docs`) and must stay current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer.main

from tests.cli.conftest import REPO
from treadle.cli.app import app


def test_every_command_has_help_with_an_example() -> None:
    group = typer.main.get_command(app)
    commands = getattr(group, "commands", {})
    assert commands
    for name, command in commands.items():
        assert command.help, f"treadle {name} has no help"
        assert "Example:" in command.help, f"treadle {name}'s help shows no example"


def test_cli_reference_is_current(tmp_path: Path) -> None:
    generated = tmp_path / "cli.md"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "typer",
            "treadle.cli.app",
            "utils",
            "docs",
            "--name",
            "treadle",
            "--title",
            "The treadle command",
            "--output",
            str(generated),
        ],
        check=True,
        capture_output=True,
    )
    current = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == generated.read_text(encoding="utf-8"), "docs/cli.md is stale: run `make docs`"
