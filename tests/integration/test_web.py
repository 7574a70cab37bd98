from __future__ import annotations

from fastapi.testclient import TestClient

from certseal.services.platform import Platform
from certseal.web.app import create_app


def test_landing_and_health(platform: Platform) -> None:
    client = TestClient(create_app(platform))
    assert "certseal" in client.get("/").text
    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["tokens"] == {"software": True}
    assert client.get("/openapi.json").json()["info"]["title"] == "certseal"


def test_not_ready_without_schema(make_settings) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(create_app(Platform(make_settings())))
    response = client.get("/health/ready")
    assert response.status_code == 503 and response.json()["database"] is False


def test_landing_lists_the_cas_with_their_urls(platform: Platform) -> None:
    from certseal.crypto.algorithms import KeyAlgorithm
    from certseal.services.ca import CaService
    from tests.conftest import ACTOR

    client = TestClient(create_app(platform))
    assert "No certificate authority yet" in client.get("/").text
    CaService(platform).create_ca("sm2-root", KeyAlgorithm.SM2, ACTOR, subject="CN=<b>根</b>,C=CN")
    page = client.get("/").text
    assert 'href="/ca/sm2-root.crt"' in page and 'href="/crl/sm2-root.crl"' in page
    assert "<b>根</b>" not in page and "&lt;b&gt;" in page
