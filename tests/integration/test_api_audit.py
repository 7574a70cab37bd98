"""/api/v1/audit: only roles with audit:read; verification reports tampering made directly in the database."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.services.apikeys import ROLES, ApiKeyService
from certseal.services.ca import CaService
from certseal.services.platform import Platform
from certseal.store.models import AuditEvent
from certseal.web.app import create_app
from tests.conftest import ACTOR


@pytest.fixture
def api(platform: Platform) -> tuple[TestClient, dict[str, str], str]:
    cas = CaService(platform)
    cas.create_ca("root", KeyAlgorithm.P256, ACTOR)
    serial = cas.issue("root", "person", ACTOR, subject="CN=药师甲", generate=KeyAlgorithm.P256).serial
    keys = ApiKeyService(platform)
    return TestClient(create_app(platform)), {r: keys.create(f"a-{r}", r, ACTOR)[1] for r in ROLES}, serial


@pytest.mark.parametrize("path", ["/api/v1/audit/verify", "/api/v1/audit/events"])
def test_only_audit_readers(api, path: str) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _ = api
    assert client.get(path).status_code == 401
    for role, permissions in ROLES.items():
        expected = 200 if "audit:read" in permissions else 403
        assert client.get(path, headers={"Authorization": f"Bearer {tokens[role]}"}).status_code == expected, role


def test_events_and_verification(api, platform: Platform) -> None:  # type: ignore[no-untyped-def]
    client, tokens, serial = api
    auth = {"Authorization": f"Bearer {tokens['auditor']}"}
    issued = client.get(
        "/api/v1/audit/events", params={"entity": "certificate", "entity_id": serial}, headers=auth
    ).json()
    assert [e["action"] for e in issued] == ["issue"] and issued[0]["after"]["subject"] == "CN=药师甲"
    everything = client.get("/api/v1/audit/events", params={"limit": 500}, headers=auth).json()
    page = client.get(
        "/api/v1/audit/events", params={"limit": 2, "before_seq": everything[0]["seq"]}, headers=auth
    ).json()
    assert [e["seq"] for e in page] == [everything[1]["seq"], everything[2]["seq"]]
    assert client.get("/api/v1/audit/verify", headers=auth).json()["ok"] is True
    with platform.db.transaction() as session:
        session.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(actor="mallory"))
    broken = client.get("/api/v1/audit/verify", headers=auth).json()
    assert broken["ok"] is False and broken["first_broken_seq"] == 2
    assert client.get("/api/v1/audit/events", params={"limit": 0}, headers=auth).status_code == 422
