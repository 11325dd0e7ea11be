"""Loading the user's Python functions: a module name or a `.py` file, imported once.

Importing runs the module's `@treadle.effects.function` decorators, which fill the
default registry. The CLI's `--functions` option (on `treadle run`, `treadle server`,
`treadle worker`) goes through here so every face loads functions the same way.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

__all__ = ["FunctionModuleError", "load_function_module"]


class FunctionModuleError(ImportError):
    """A functions module could not be found or raised while being imported."""


def load_function_module(spec: str) -> ModuleType:
    """Import `spec`: a path to a `.py` file, or a dotted module name.

    Raises:
        FunctionModuleError: the file or module does not exist, or importing it failed
            (the message names the line that raised).
    """
    path = Path(spec)
    if path.suffix == ".py" or path.exists():
        return _import_file(path)
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as error:
        if error.name == spec or spec.startswith(f"{error.name}."):
            raise FunctionModuleError(f"{spec}: no such module or .py file") from None
        raise FunctionModuleError(_describe(spec, error)) from error
    except Exception as error:
        raise FunctionModuleError(_describe(spec, error)) from error


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise FunctionModuleError(f"{path}: no such file")
    name = f"treadle_functions_{path.stem}_{abs(hash(path.resolve()))}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise FunctionModuleError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise FunctionModuleError(_describe(str(path), error)) from error
    return module


def _describe(spec: str, error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (line {frames[-1].lineno} of {frames[-1].filename})" if frames else ""
    return f"{spec}: importing it raised {type(error).__name__}: {error}{where}"
