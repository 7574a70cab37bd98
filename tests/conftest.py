"""Shared fixtures: an isolated environment, settings, and a migrated Platform on SQLite or PostgreSQL (more in
tests/fixtures: PostgreSQL, SoftHSM, a running server, headless Chromium)."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from certseal.config import Settings
from certseal.services.audit import Actor
from certseal.services.platform import Platform

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.softhsm",
    "tests.fixtures.server",
    "tests.fixtures.browser",
]

TEST_KEK = base64.b64encode(bytes(range(32))).decode()
TEST_AUDIT_KEY = base64.b64encode(bytes(range(32, 64))).decode()
ACTOR = Actor("tester", "pytest")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CERTSEAL_* variable of the developer's leaks into a test; config files go to tmp."""
    for name in list(os.environ):
        if name.startswith("CERTSEAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(database_url: str | None = None, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "home": tmp_path / "var",
            "kek": TEST_KEK,
            "audit_key": TEST_AUDIT_KEY,
            "database_url": database_url,
        }
        values.update(overrides)
        (tmp_path / "var").mkdir(exist_ok=True)
        return Settings(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    (tmp_path / "var").mkdir(exist_ok=True)
    return f"sqlite:///{tmp_path / 'var' / 'certseal.db'}"


@pytest.fixture
def platform(make_settings: Callable[..., Settings], database_url: str) -> Iterator[Platform]:
    p = Platform(make_settings(database_url))
    p.db.migrate()
    yield p
    p.close()
