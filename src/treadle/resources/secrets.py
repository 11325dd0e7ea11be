"""Secret values at rest: Fernet-encrypted in the store, redacted on every ordinary read.

A map of `{name: {value, is_secret}}` (an instance's `env`, an execution's `runtime_env`,
a context's `data`) is stored with each secret `value` replaced by a Fernet token of its
JSON text. Reads return `REDACTED` in its place; only `ResourceService.reveal` (the
runtime's call) decrypts. The key comes from `TREADLE_SECRET_KEY` or from a key file made
on first start (mode 0600).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from treadle.settings import InvalidSetting, Settings

__all__ = ["REDACTED", "SecretCipher", "load_or_create_key"]

REDACTED = "***"
SecretMap = dict[str, dict[str, Any]]


def load_or_create_key(path: Path) -> str:
    """The key in `path`, creating the file with a new key (mode 0600) if it is missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(key + b"\n")
    return path.read_text().strip()


class SecretCipher:
    """Encrypts, decrypts and redacts the secret entries of value maps.

    Args:
        keys: Fernet keys, comma-separated; the first encrypts, every one decrypts (rotation).
    """

    def __init__(self, keys: str) -> None:
        try:
            self._fernet = MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()])
        except (ValueError, TypeError) as error:
            raise InvalidSetting(
                "TREADLE_SECRET_KEY",
                "not a Fernet key (32 url-safe base64-encoded bytes); make one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`",
            ) from error

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretCipher:
        """The cipher of `settings.secret_key`, else of the key file (created if missing)."""
        return cls(settings.secret_key or load_or_create_key(settings.key_file))

    @classmethod
    def generate(cls) -> SecretCipher:
        """A cipher with a fresh random key (tests, throw-away stores)."""
        return cls(Fernet.generate_key().decode())

    def encrypt(self, value: Any) -> str:
        """A token holding `value`'s JSON text."""
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def decrypt(self, token: str) -> Any:
        """The value inside `token`; raises ValueError if no key opens it."""
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as error:
            raise ValueError("a secret value cannot be decrypted with the configured keys") from error

    def seal(
        self, entries: Mapping[str, Mapping[str, Any]], stored: Mapping[str, Any] | None = None
    ) -> SecretMap:
        """Encrypt each secret entry; a `REDACTED` value keeps the `stored` token of that name."""
        sealed: SecretMap = {}
        for name, entry in entries.items():
            value = entry.get("value")
            if entry.get("is_secret"):
                previous = (stored or {}).get(name) or {}
                if value == REDACTED and previous.get("is_secret"):
                    value = previous["value"]
                else:
                    value = self.encrypt(value)
            sealed[name] = {"value": value, "is_secret": bool(entry.get("is_secret"))}
        return sealed

    def open(self, entries: Mapping[str, Mapping[str, Any]], *, reveal: bool) -> SecretMap:
        """The stored map for a reader: secrets decrypted if `reveal`, else `REDACTED`."""
        return {
            name: {
                "value": (self.decrypt(entry["value"]) if reveal else REDACTED)
                if entry.get("is_secret")
                else entry.get("value"),
                "is_secret": bool(entry.get("is_secret")),
            }
            for name, entry in entries.items()
        }
