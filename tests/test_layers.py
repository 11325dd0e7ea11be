"""Dependencies point one way (DESIGN.md's layer table): each package imports only the
packages below it, and the two durable runtimes are siblings that never import each other."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"
BASE = {"treadle.errors", "treadle.settings"}
RUNTIMES = {"treadle.runtime.local", "treadle.runtime.temporal"}

#: What the shared runtime modules (`treadle.runtime`) may import, and each durable runtime
#: besides (never the other runtime).
_RUNTIME = {"treadle.dsl", "treadle.engine", "treadle.expr", "treadle.resources", "treadle.store"}
_DURABLE = _RUNTIME | {"treadle.effects", "treadle.runtime"}

#: What each package may import of treadle (besides itself and `BASE`).
ALLOWED: dict[str, set[str]] = {
    "treadle.expr": set(),
    "treadle.dsl": {"treadle.expr"},
    "treadle.engine": {"treadle.dsl", "treadle.expr"},
    "treadle.effects": {"treadle.dsl", "treadle.engine", "treadle.expr"},
    "treadle.store": set(),
    "treadle.resources": {"treadle.dsl", "treadle.expr", "treadle.store"},
    "treadle.runtime": _RUNTIME,
    "treadle.runtime.local": _DURABLE,
    "treadle.runtime.temporal": _DURABLE,
    "treadle.api": {"treadle", "treadle.resources", "treadle.store"},
    "treadle.client": {"treadle.resources"},
}


def _package(module: str) -> str:
    """`treadle.runtime.local.worker` -> `treadle.runtime.local`; `treadle.store._fast` -> `treadle.store`."""
    parts = module.split(".")
    if parts[:2] == ["treadle", "runtime"] and len(parts) > 2 and ".".join(parts[:3]) in RUNTIMES:
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def _imports() -> dict[str, dict[str, set[str]]]:
    """package -> imported package -> the modules importing it."""
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in (SOURCE / "treadle").rglob("*.py"):
        module = ".".join(path.relative_to(SOURCE).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            )
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name == "treadle" or name.startswith("treadle."):
                    found[_package(module)][_package(name)].add(module)
    return found


def test_each_package_imports_only_the_layers_below_it() -> None:
    imports = _imports()
    wrong = [
        f"{module} imports {imported}"
        for package, allowed in ALLOWED.items()
        for imported, modules in imports[package].items()
        if imported not in allowed | BASE | {package}
        for module in sorted(modules)
    ]
    assert wrong == []


def test_the_rules_cover_every_package_but_the_faces() -> None:
    faces = {"treadle", "treadle.__main__", "treadle.cli"}  # the CLI wires everything
    assert set(_imports()) - faces - BASE <= set(ALLOWED)
