"""Test helper for the REST sealing endpoints (POST /api/v1/seals/{name}/pdf and …/ofd): a web app over a migrated
Platform with one API key per role, each named as a user of the seal under test, and an outsider key that may use
seals (role seal-user) but not that one."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import httpx
from fastapi.testclient import TestClient

from certseal.config import Settings
from certseal.services.apikeys import ROLES, ApiKeyService
from certseal.services.platform import Platform
from certseal.web.app import create_app
from tests.conftest import ACTOR

USERS = [f"api:key-{role}" for role in ROLES]  # the users to give the seal under test


class SealingApi:
    """The keys and the client; a subclass creates its seal (users: USERS) before calling this __init__."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        keys = ApiKeyService(platform)
        self.tokens = {role: keys.create(f"key-{role}", role, ACTOR)[1] for role in ROLES}
        self.tokens["outsider"] = keys.create("outsider", "seal-user", ACTOR)[1]  # may use seals, not this one
        self.client = TestClient(create_app(platform))

    def post_file(
        self, path: str, role: str | None, file: tuple[str, bytes, str], data: Mapping[str, str]
    ) -> httpx.Response:
        """POST `file` as the form field "file" with `data`, as the key of `role` (None: no Authorization)."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return self.client.post(path, headers=headers, data=data, files={"file": file})


@contextmanager
def migrated_platform(make_settings: Callable[..., Settings]) -> Iterator[Platform]:
    """A Platform of its own (SQLite) with the schema migrated; closed afterwards."""
    platform = Platform(make_settings())
    platform.db.migrate()
    try:
        yield platform
    finally:
        platform.close()
