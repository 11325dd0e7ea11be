"""Process settings read from the environment: where the store lives and the secret key.

| variable | default |
|---|---|
| `TREADLE_DATABASE_URL` | `sqlite:///<user data dir>/treadle/treadle.db` |
| `TREADLE_SECRET_KEY` | unset: the key is read from (or created in) the key file |
| `TREADLE_SECRET_KEY_FILE` | `secret.key` beside the SQLite file, else `<user data dir>/treadle/secret.key` |

The user data directory is `$XDG_DATA_HOME` or `~/.local/share` (Linux), `~/Library/Application
Support` (macOS), `%LOCALAPPDATA%` (Windows).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from treadle.errors import TreadleError

__all__ = ["InvalidSetting", "Settings", "default_database_url", "user_data_dir"]

APP_NAME = "treadle"


class InvalidSetting(TreadleError):
    """A setting (environment variable) has a value treadle cannot use."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}")


def user_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user data directory of this platform (without the `treadle` folder)."""
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    if sys.platform == "win32":  # pragma: no cover - not exercised on CI
        return Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
    if sys.platform == "darwin":  # pragma: no cover - not exercised on CI
        return home / "Library" / "Application Support"
    xdg = env.get("XDG_DATA_HOME")
    return Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"


def default_database_url(environ: Mapping[str, str] | None = None) -> str:
    """The embedded SQLite database under the user's data directory."""
    return f"sqlite:///{user_data_dir(environ) / APP_NAME / 'treadle.db'}"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for other databases and in-memory SQLite."""
    if not url.startswith("sqlite"):
        return None
    _, _, rest = url.partition(":///")
    path = rest.split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


@dataclass(frozen=True)
class Settings:
    """What the store and the control plane need to start.

    Attributes:
        database_url: SQLAlchemy URL; `sqlite:///...` or `postgresql://...`.
        secret_key: Fernet key(s) encrypting secret values at rest, comma-separated for
            rotation (the first encrypts, all decrypt); None means use `key_file`.
        key_file: where the key is kept when `secret_key` is None; created on first start.
    """

    database_url: str
    secret_key: str | None
    key_file: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from `environ` (default: the process environment)."""
        env = os.environ if environ is None else environ
        url = env.get("TREADLE_DATABASE_URL") or default_database_url(env)
        key = env.get("TREADLE_SECRET_KEY") or None
        key_file_setting = env.get("TREADLE_SECRET_KEY_FILE")
        if key_file_setting:
            key_file = Path(key_file_setting)
        else:
            db_file = sqlite_path(url)
            base = db_file.parent if db_file is not None else user_data_dir(env) / APP_NAME
            key_file = base / "secret.key"
        return cls(database_url=url, secret_key=key, key_file=key_file)
