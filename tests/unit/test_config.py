from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from certseal.config import Settings, create_secrets_file, decode_secret
from certseal.errors import ConfigError


def test_defaults_are_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.home_dir == tmp_path / "var"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'var' / 'certseal.db'}"
    assert settings.resolved_log_dir == tmp_path / "var" / "log"
    assert settings.is_embedded
    assert settings.default_token == "software"


def test_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTSEAL_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("CERTSEAL_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("CERTSEAL_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1:5/db")
    settings = Settings()
    assert settings.home_dir == tmp_path / "h"
    assert settings.resolved_log_dir == tmp_path / "logs"
    assert not settings.is_embedded


def test_secret_hex_and_base64() -> None:
    raw = bytes(range(32))
    assert decode_secret("x", raw.hex()) == raw
    assert decode_secret("x", base64.b64encode(raw).decode()) == raw


@pytest.mark.parametrize("bad", ["", "abc", base64.b64encode(b"short").decode(), "zz" * 32])
def test_bad_secret_names_where(bad: str) -> None:
    with pytest.raises(ConfigError, match="CERTSEAL_KEK"):
        decode_secret("CERTSEAL_KEK", bad)


def test_missing_secret_explains_what_to_do(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "var")
    with pytest.raises(ConfigError, match="certseal init"):
        settings.kek_bytes()


def test_secrets_file_created_once_private_and_outside_home(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "var")
    path = settings.resolved_secrets_file
    assert not path.is_relative_to(settings.home_dir)
    assert create_secrets_file(path) is True
    first = path.read_text()
    assert create_secrets_file(path) is False
    assert path.read_text() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(json.loads(first)) == {"kek", "audit_key"}
    assert len(settings.kek_bytes()) == 32
    assert settings.kek_bytes() != settings.audit_key_bytes()
