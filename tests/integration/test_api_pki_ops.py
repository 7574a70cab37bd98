"""/api/v1 for CRLs, OCSP responders, the TSA, cross-certification, trust anchors and path validation:
every endpoint × every role, and what each returns, checked with asn1crypto and openssl."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from asn1crypto import crl, pem, x509
from fastapi.testclient import TestClient

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.services.apikeys import ROLES, ApiKeyService
from certseal.services.ca import CaService
from certseal.services.platform import Platform
from certseal.web.app import create_app
from tests.conftest import ACTOR

ENDPOINTS = [
    ("POST", "/api/v1/cas/root/crls", {"delta": False}, "ca:write"),
    ("GET", "/api/v1/cas/root/crls", None, "ca:read"),
    ("GET", "/api/v1/cas/root/ocsp-responder", None, "ca:read"),
    ("POST", "/api/v1/cas/root/ocsp-responder", {"algorithm": "p256"}, "ca:write"),
    ("POST", "/api/v1/tsa", {"ca": "root", "algorithm": "p256"}, "ca:write"),
    ("GET", "/api/v1/tsa", None, "ca:read"),
    ("POST", "/api/v1/cross-certificates", {"issuer": "root", "subject": "other"}, "ca:write"),
    ("GET", "/api/v1/trust-anchors", None, "ca:read"),
    ("POST", "/api/v1/validations", {"certificate_pem": "{leaf}"}, "ca:read"),
]


@pytest.fixture
def api(platform: Platform) -> tuple[TestClient, dict[str, str], str]:
    cas = CaService(platform)
    cas.create_ca("root", KeyAlgorithm.P256, ACTOR, subject="CN=Root,O=Regulator,C=CN")
    cas.create_ca("other", KeyAlgorithm.SM2, ACTOR, subject="CN=Other Root,O=Other,C=CN")
    leaf = cas.issue("other", "person", ACTOR, subject="CN=某医生", generate=KeyAlgorithm.SM2)
    keys = ApiKeyService(platform)
    tokens = {role: keys.create(f"ops-{role}", role, ACTOR)[1] for role in ROLES}
    return TestClient(create_app(platform)), tokens, bytes(pem.armor("CERTIFICATE", leaf.certificate_der)).decode()


def _call(client: TestClient, method: str, path: str, body: object, token: str | None):  # type: ignore[no-untyped-def]
    return client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"} if token else {})


@pytest.mark.parametrize(("method", "path", "body", "permission"), ENDPOINTS)
def test_every_endpoint_for_every_role(
    api,
    method: str,
    path: str,
    body: dict[str, str] | None,  # type: ignore[no-untyped-def]
    permission: str,
) -> None:
    client, tokens, leaf = api
    if body and body.get("certificate_pem") == "{leaf}":
        body = {"certificate_pem": leaf}
    if path == "/api/v1/tsa" and method == "GET":
        _call(client, "POST", "/api/v1/tsa", {"ca": "root", "algorithm": "p256"}, tokens["admin"])
    assert _call(client, method, path, body, None).status_code == 401
    assert _call(client, method, path, body, "cs_0123456789abcdef_" + "x" * 43).status_code == 401
    allowed = [role for role, permissions in ROLES.items() if permission in permissions]
    for role in ROLES:
        if role not in allowed:
            assert _call(client, method, path, body, tokens[role]).status_code == 403, role
    first = _call(client, method, path, body, tokens[allowed[0]])
    assert first.status_code in (200, 201), first.text
    for role in allowed[1:]:
        assert _call(client, method, path, body, tokens[role]).status_code not in (401, 403), role


def test_crls_over_the_api(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _ = api
    auth = {"Authorization": f"Bearer {tokens['pki-officer']}"}
    assert client.post("/api/v1/cas/root/crls", json={"delta": True}, headers=auth).status_code == 422
    full = client.post("/api/v1/cas/root/crls", json={}, headers=auth).json()
    delta = client.post("/api/v1/cas/root/crls", json={"delta": True}, headers=auth).json()
    assert (full["number"], delta["number"], delta["delta_base"]) == (1, 2, 1)
    der = base64.b64decode(full["crl_der_base64"])
    assert crl.CertificateList.load(der)["tbs_cert_list"]["crl_extensions"][1]["extn_value"].native == 1
    (tmp_path / "crl.der").write_bytes(der)
    (tmp_path / "ca.pem").write_text(client.get("/api/v1/cas/root", headers=auth).json()["certificate_pem"])
    checked = subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", tmp_path / "crl.der", "-CAfile", tmp_path / "ca.pem", "-noout"],
        capture_output=True,
        text=True,
    )
    assert "verify OK" in checked.stdout + checked.stderr
    history = client.get("/api/v1/cas/root/crls", headers=auth).json()
    assert [c["number"] for c in history] == [2, 1]
    assert client.post("/api/v1/cas/nope/crls", json={}, headers=auth).status_code == 404


def test_ocsp_delegation_and_tsa_over_the_api(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _ = api
    auth = {"Authorization": f"Bearer {tokens['admin']}"}
    assert client.get("/api/v1/cas/root/ocsp-responder", headers=auth).json()["delegated"] is False
    delegated = client.post("/api/v1/cas/root/ocsp-responder", json={}, headers=auth).json()
    cert = x509.Certificate.load(pem.unarmor(delegated["certificate_pem"].encode())[2])
    assert delegated["delegated"] and cert.extended_key_usage_value.native == ["ocsp_signing"]
    assert client.get("/api/v1/tsa", headers=auth).status_code == 404
    made = client.post("/api/v1/tsa", json={"ca": "root", "algorithm": "sm2"}, headers=auth).json()
    tsa = x509.Certificate.load(pem.unarmor(made["certificate_pem"].encode())[2])
    assert tsa.extended_key_usage_value.native == ["time_stamping"] and made["algorithm"] == "sm2"
    assert client.get("/api/v1/tsa", headers=auth).json()["serial"] == made["serial"]
    bad = client.post("/api/v1/tsa", json={"ca": "root", "algorithm": "dsa"}, headers=auth)
    assert bad.status_code == 422


def test_cross_certification_anchors_and_validation(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, leaf = api
    auth = {"Authorization": f"Bearer {tokens['admin']}"}
    names = [a["name"] for a in client.get("/api/v1/trust-anchors", headers=auth).json()]
    assert names == ["root", "other"]
    passed = client.post("/api/v1/validations", json={"certificate_pem": leaf}, headers=auth).json()
    assert passed["indication"] == "PASSED" and passed["path"][-1].endswith("CN=Other Root")
    cross = client.post(
        "/api/v1/cross-certificates", json={"issuer": "root", "subject": "other", "path_len": 0}, headers=auth
    )
    assert cross.status_code == 201
    cert = x509.Certificate.load(pem.unarmor(cross.json()["certificate_pem"].encode())[2])
    assert cert.basic_constraints_value.native == {"ca": True, "path_len_constraint": 0}
    garbage = client.post("/api/v1/validations", json={"certificate_pem": "not a certificate"}, headers=auth)
    assert garbage.status_code == 422 and garbage.json()["field"] == "certificate_pem"
    imported = client.post("/api/v1/trust-anchors", json={"name": "again", "certificate_pem": leaf}, headers=auth)
    assert imported.status_code == 422  # a person certificate is not a CA
    assert (
        client.post("/api/v1/cross-certificates", json={"issuer": "root", "subject": "root"}, headers=auth).status_code
        == 422
    )


def test_openapi_documents_errors_and_auth_on_every_api_operation(api) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = api
    spec = client.get("/openapi.json").json()
    operations = [
        (path, op) for path, item in spec["paths"].items() if path.startswith("/api/v1") for op in item.values()
    ]
    assert len(operations) >= len(ENDPOINTS)
    for path, operation in operations:
        if path.startswith(("/api/v1/auth/", "/api/v1/public/")):
            continue  # login and public records take no credential; me and logout are covered by test_sessions.py
        assert {"401", "403", "422"} <= set(operation["responses"]), path
        assert {"HTTPBearer": []} in operation.get("security", []), path  # or the session cookie
        assert operation.get("summary"), path
