"""Settings and the secret key: defaults, the key file made on first start, rotation."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from treadle.resources import SecretCipher
from treadle.settings import InvalidSetting, Settings


def test_defaults_live_under_the_user_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")})
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'treadle' / 'treadle.db'}"
    assert settings.key_file == tmp_path / "data" / "treadle" / "secret.key"
    assert settings.secret_key is None
    fallback = Settings.from_env({"HOME": str(tmp_path)})
    assert fallback.database_url == f"sqlite:///{tmp_path / '.local' / 'share' / 'treadle' / 'treadle.db'}"


def test_the_key_file_sits_beside_a_sqlite_database(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"HOME": str(tmp_path), "TREADLE_DATABASE_URL": f"sqlite:///{tmp_path}/x/t.db"}
    )
    assert settings.key_file == tmp_path / "x" / "secret.key"
    pg = Settings.from_env({"HOME": str(tmp_path), "TREADLE_DATABASE_URL": "postgresql://h/db"})
    assert pg.key_file == tmp_path / ".local" / "share" / "treadle" / "secret.key"


def test_a_key_file_is_created_once_and_private(tmp_path: Path) -> None:
    settings = Settings.from_env({"HOME": str(tmp_path)})
    first = SecretCipher.from_settings(settings)
    token = first.encrypt({"a": 1})
    assert stat.S_IMODE(settings.key_file.stat().st_mode) == 0o600
    assert SecretCipher.from_settings(settings).decrypt(token) == {"a": 1}


def test_keys_from_the_setting_rotate(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = SecretCipher(old).encrypt("s")
    rotated = SecretCipher.from_settings(
        Settings.from_env({"HOME": str(tmp_path), "TREADLE_SECRET_KEY": f"{new},{old}"})
    )
    assert rotated.decrypt(token) == "s"
    assert SecretCipher(new).decrypt(rotated.encrypt("t")) == "t"


def test_a_malformed_key_is_a_clear_error() -> None:
    with pytest.raises(InvalidSetting) as caught:
        SecretCipher("not-a-key")
    assert caught.value.name == "TREADLE_SECRET_KEY"
