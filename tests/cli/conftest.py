"""Run the `treadle` command as a user would: a subprocess of this interpreter."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC_EXAMPLES = REPO.parent / "shared" / "spec" / "examples"

Treadle = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def treadle(tmp_path: Path) -> Treadle:
    """Run `treadle ARGS...` in a subprocess; returns the completed process."""

    def run(
        *args: str, timeout: float = 60, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "treadle", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_path,
            env=env,
        )

    return run


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a file under the test's folder and return its path."""

    def write_file(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write_file
