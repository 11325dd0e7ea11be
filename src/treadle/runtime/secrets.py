"""Secret sources for a run: where `$secrets` values come from.

For `treadle run` they come from the environment (`TREADLE_SECRET_<NAME>`) and from an
optional secrets file (a YAML or JSON mapping); the file wins over the environment.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["SecretsFileError", "load_secrets"]

_ENV_PREFIX = "TREADLE_SECRET_"


class SecretsFileError(ValueError):
    """The secrets file could not be read or is not a mapping of names to values."""


def _env_name(name: str) -> str:
    return _ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _parse_value(text: str) -> Any:
    # A structured secret (e.g. OAuth2 client credentials) is given as JSON.
    if text[:1] in "{[":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def secrets_from_environment(names: Iterable[str], environ: Mapping[str, str]) -> dict[str, Any]:
    """The declared secrets found in `environ`, as `TREADLE_SECRET_<NAME>` (exact or upper-cased)."""
    found: dict[str, Any] = {}
    for name in names:
        for candidate in (_ENV_PREFIX + name, _env_name(name)):
            if candidate in environ:
                found[name] = _parse_value(environ[candidate])
                break
    return found


def secrets_from_file(path: Path) -> dict[str, Any]:
    """Read a YAML/JSON mapping of secret names to values."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise SecretsFileError(f"{path}: cannot read secrets file: {error}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict) or not all(isinstance(key, str) for key in loaded):
        raise SecretsFileError(f"{path}: a secrets file must be a mapping of names to values")
    return loaded


def load_secrets(
    declared: Iterable[str], secrets_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Every secret available to a run: the declared ones from the environment, then the file."""
    secrets = secrets_from_environment(declared, os.environ if environ is None else environ)
    if secrets_file is not None:
        secrets.update(secrets_from_file(secrets_file))
    return secrets
