"""The engine must not reach the world except through the Effects port: walk the AST of
every engine module and fail on forbidden imports and calls. See the honest list of what
this cannot catch in `treadle.engine`'s docstring."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import treadle.engine

ENGINE = Path(treadle.engine.__file__).parent
MODULES = sorted(ENGINE.glob("*.py"))

FORBIDDEN_MODULES = {
    "time",
    "random",
    "secrets",
    "uuid",
    "socket",
    "ssl",
    "httpx",
    "requests",
    "sqlalchemy",
    "os",
    "subprocess",
    "threading",
    "multiprocessing",
    "concurrent",
    "signal",
    "pathlib",
    "shutil",
    "tempfile",
    "treadle.effects",
    "treadle.runtime",
    "treadle.store",
}
# Attribute calls that read the clock, sleep or spawn, whatever the import spelling.
FORBIDDEN_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("asyncio", "sleep"),
    ("asyncio", "wait_for"),
    ("asyncio", "timeout"),
    ("asyncio", "to_thread"),
    ("asyncio", "create_subprocess_exec"),
    ("asyncio", "create_subprocess_shell"),
    ("asyncio", "open_connection"),
    ("loop", "time"),
}
FORBIDDEN_NAMES = {"open", "input", "print", "exec", "eval", "__import__"}


def _root(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[: index + 1]) for index in range(len(parts))}


def violations(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if _root(a.name) & FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if _root(node.module) & FORBIDDEN_MODULES:
                found.append(f"from {node.module} import ...")
            if node.module == "asyncio":
                found += [
                    f"from asyncio import {a.name}"
                    for a in node.names
                    if ("asyncio", a.name) in FORBIDDEN_CALLS
                ]
        elif isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
                if (function.value.id, function.attr) in FORBIDDEN_CALLS:
                    found.append(f"{function.value.id}.{function.attr}()")
            elif isinstance(function, ast.Attribute) and isinstance(function.value, ast.Attribute):
                if (function.value.attr, function.attr) in FORBIDDEN_CALLS:
                    found.append(f"...{function.value.attr}.{function.attr}()")
            elif isinstance(function, ast.Name) and function.id in FORBIDDEN_NAMES:
                found.append(f"{function.id}()")
    return found


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.name)
def test_engine_module_touches_nothing_outside_the_port(module: Path) -> None:
    assert violations(module.read_text(encoding="utf-8")) == []


def test_the_engine_package_has_modules_to_check() -> None:
    assert len(MODULES) > 10


@pytest.mark.parametrize(
    "source",
    [
        "import time",
        "from os import path",
        "import random as r",
        "from datetime import datetime\ndatetime.now()",
        "import asyncio\nasyncio.sleep(1)",
        "import datetime\ndatetime.datetime.now()",
        "import uuid",
        "from asyncio import sleep",
        "open('x')",
        "from treadle.runtime.memory import MemoryEffects",
    ],
)
def test_the_checker_catches_what_it_should(source: str) -> None:
    assert violations(source) != []
