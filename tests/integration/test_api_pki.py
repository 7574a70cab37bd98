"""/api/v1 for CAs and certificates: every endpoint × every role, bad input, and OpenSSL checks of the output."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.services.apikeys import ROLES, ApiKeyService
from certseal.services.ca import CaService
from certseal.services.platform import Platform
from certseal.web.app import create_app
from tests.conftest import ACTOR

SERIAL = "{serial}"
# (method, path, body, permission needed); {serial} is a certificate of the 'root' CA
ENDPOINTS = [
    ("GET", "/api/v1/cas", None, "ca:read"),
    ("GET", "/api/v1/cas/root", None, "ca:read"),
    ("POST", "/api/v1/cas", {"name": "sub", "algorithm": "p256", "parent": "root"}, "ca:write"),
    (
        "POST",
        "/api/v1/certificates",
        {"ca": "root", "profile": "person", "subject": "CN=x", "generate_key": "p256"},
        "cert:issue",
    ),
    ("GET", f"/api/v1/certificates/{SERIAL}", None, "ca:read"),
    ("POST", f"/api/v1/certificates/{SERIAL}/renew", None, "cert:issue"),
    ("POST", "/api/v1/renewals", {"expiring_within": "30d"}, "cert:issue"),
    ("POST", f"/api/v1/certificates/{SERIAL}/revoke", {"reason": "certificate_hold"}, "cert:revoke"),
]


@pytest.fixture
def api(platform: Platform) -> tuple[TestClient, dict[str, str], str]:
    service = CaService(platform)
    service.create_ca("root", KeyAlgorithm.P256, ACTOR)
    serial = service.issue("root", "person", ACTOR, subject="CN=张三", generate=KeyAlgorithm.P256).serial
    keys = ApiKeyService(platform)
    tokens = {role: keys.create(f"key-{role}", role, ACTOR)[1] for role in ROLES}
    revoked = keys.create("gone", "admin", ACTOR)[1]
    keys.revoke("gone", ACTOR)
    tokens["revoked"] = revoked
    return TestClient(create_app(platform)), tokens, serial


def _call(client: TestClient, method: str, path: str, body: object, token: str | None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body", "permission"), ENDPOINTS)
def test_every_endpoint_for_every_role(api, method: str, path: str, body: object, permission: str) -> None:  # type: ignore[no-untyped-def]
    client, tokens, serial = api
    path = path.replace(SERIAL, serial)
    for token in (None, "cs_0000000000000000_" + "A" * 43, "garbage", tokens["revoked"]):
        response = _call(client, method, path, body, token)
        assert response.status_code == 401, (token, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
    allowed = [role for role, permissions in ROLES.items() if permission in permissions]
    for role in ROLES:
        if role not in allowed:
            response = _call(client, method, path, body, tokens[role])
            assert response.status_code == 403, (role, response.text)
            assert role in response.json()["error"]
    first = _call(client, method, path, body, tokens[allowed[0]])
    assert first.status_code in (200, 201), (allowed[0], first.text)
    for role in allowed[1:]:  # a repeated write may conflict (409), but it must get past authorisation
        assert _call(client, method, path, body, tokens[role]).status_code not in (401, 403), role


def test_issue_from_csr_over_the_api_verifies_with_openssl(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _ = api
    csr = _csr(tmp_path, "r", "/CN=HIS system/O=Hospital")
    auth = {"Authorization": f"Bearer {tokens['registration-officer']}"}
    response = client.post(
        "/api/v1/certificates",
        headers=auth,
        json={"ca": "root", "profile": "document-signer", "csr_pem": csr},
    )
    assert response.status_code == 201, response.text
    (tmp_path / "c.pem").write_text(response.json()["certificate_pem"])
    ca = client.get("/api/v1/cas/root", headers=auth).json()
    (tmp_path / "ca.pem").write_text(ca["certificate_pem"])
    checked = subprocess.run(
        ["openssl", "verify", "-CAfile", tmp_path / "ca.pem", tmp_path / "c.pem"], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    assert response.json()["subject"].endswith("CN=HIS system")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"ca": "root", "profile": "person", "subject": "CN=x"}, 422, "key"),
        ({"ca": "root", "profile": "nope", "subject": "CN=x", "generate_key": "p256"}, 422, "profile"),
        ({"ca": "root", "profile": "person", "subject": "CN=x", "generate_key": "dsa"}, 422, None),
        (
            {
                "ca": "root",
                "profile": "person",
                "csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
            },
            422,
            "csr",
        ),
        ({"ca": "nope", "profile": "person", "subject": "CN=x", "generate_key": "p256"}, 404, None),
        (
            {"ca": "root", "profile": "organisation", "subject": "CN=x,O=y,serialNumber=123", "generate_key": "p256"},
            422,
            "subject",
        ),
    ],
)
def test_bad_input_is_a_clear_4xx_and_stores_nothing(
    api,
    platform: Platform,
    body: dict[str, object],
    status: int,  # type: ignore[no-untyped-def]
    field: str | None,
) -> None:
    client, tokens, _ = api
    before = len(list(CaService(platform).certificates()))
    response = client.post("/api/v1/certificates", json=body, headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert response.status_code == status, response.text
    if field:
        assert response.json()["field"] == field
    assert len(list(CaService(platform).certificates())) == before


def test_openapi_documents_every_api_route(api) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = api
    paths = client.get("/openapi.json").json()["paths"]
    for _, path, _, _ in ENDPOINTS:
        assert path.replace("/cas/root", "/cas/{name}") in paths
    assert "HTTPBearer" in client.get("/openapi.json").json()["components"]["securitySchemes"]


def _csr(tmp_path: Path, name: str, subject: str | None = None) -> str:
    """A P-256 CSR made by the OpenSSL CLI, PEM."""
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            tmp_path / f"{name}.key",
            "-subj",
            subject or f"/CN={name}",
            "-out",
            tmp_path / f"{name}.csr",
        ],
        check=True,
        capture_output=True,
    )
    return (tmp_path / f"{name}.csr").read_text()


def test_batch_issuance_over_the_api(api, platform: Platform, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _ = api
    auth = {"Authorization": f"Bearer {tokens['registration-officer']}"}
    csrs = [_csr(tmp_path, f"pharmacist-{i}") for i in range(5)]
    one = {"ca": "root", "profile": "person", "requests": [{"csr_pem": csrs[0]}]}
    assert client.post("/api/v1/certificates/batch", json=one).status_code == 401
    auditor = {"Authorization": f"Bearer {tokens['auditor']}"}
    assert client.post("/api/v1/certificates/batch", headers=auditor, json=one).status_code == 403
    response = client.post(
        "/api/v1/certificates/batch",
        headers=auth,
        json={"ca": "root", "profile": "person", "requests": [{"csr_pem": c} for c in csrs]},
    )
    assert response.status_code == 201, response.text
    issued = response.json()
    assert [c["subject"] for c in issued] == [f"CN=pharmacist-{i}" for i in range(5)]
    (tmp_path / "ca.pem").write_text(client.get("/api/v1/cas/root", headers=auth).json()["certificate_pem"])
    for i, cert in enumerate(issued):
        (tmp_path / f"{i}.pem").write_text(cert["certificate_pem"])
        checked = subprocess.run(
            ["openssl", "verify", "-CAfile", tmp_path / "ca.pem", tmp_path / f"{i}.pem"], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr
    before = len(list(CaService(platform).certificates()))
    bad = client.post(
        "/api/v1/certificates/batch",
        headers=auth,
        json={"ca": "root", "profile": "person", "requests": [{"csr_pem": csrs[0]}, {"csr_pem": "garbage"}]},
    )
    assert bad.status_code == 422 and bad.json()["field"] == "requests[1].csr_pem"
    assert len(list(CaService(platform).certificates())) == before
