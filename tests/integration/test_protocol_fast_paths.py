"""OCSP and TSA hot paths: the status cache keyed on SQLite's data_version never hides a revocation made by another
connection or process; the plain ASGI endpoints answer as the documented FastAPI routes do; a TSA on the event loop
never waits for a busy database; the hand-written TimeStampReq reader agrees with asn1crypto."""

from __future__ import annotations

import asyncio
import base64
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from asn1crypto import core, tsp
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.pki.tsa import RequestRejected, build_request, parse_request
from certseal.services.ca import CaService, RevocationReason
from certseal.services.ocsp import OcspService
from certseal.services.platform import Platform
from certseal.services.tsa import TsaService
from certseal.store.models import TimestampRecord
from certseal.web.app import create_app
from certseal.web.routes import ocsp as ocsp_routes
from certseal.web.routes import tsa as tsa_routes
from tests.conftest import ACTOR, TEST_AUDIT_KEY, TEST_KEK
from tests.integration.test_ocsp import _request, _statuses


@pytest.fixture
def sqlite_platform(make_settings: Callable[..., Settings], tmp_path: Path) -> Platform:
    platform = Platform(make_settings(f"sqlite:///{tmp_path / 'var' / 'fast.db'}"))
    platform.db.migrate()
    return platform


def _ca(platform: Platform, count: int = 2) -> tuple[bytes, list[str]]:
    cas = CaService(platform)
    ca = cas.create_ca("fast-ca", KeyAlgorithm.P256, ACTOR)
    serials = [
        cas.issue("fast-ca", "person", ACTOR, subject=f"CN=F{i}", generate=KeyAlgorithm.P256).serial
        for i in range(count)
    ]
    return ca.certificate_der, serials


def _revoke_in_another_process(platform: Platform, serial: str) -> None:
    env = {
        **os.environ,
        "CERTSEAL_HOME": str(platform.settings.home_dir),
        "CERTSEAL_KEK": TEST_KEK,
        "CERTSEAL_AUDIT_KEY": TEST_AUDIT_KEY,
        "CERTSEAL_DATABASE_URL": platform.settings.resolved_database_url,
    }
    script = (
        "from certseal.config import Settings; from certseal.services.platform import Platform; "
        "from certseal.services.ca import CaService, RevocationReason; from certseal.services.audit import Actor; "
        f"p = Platform(Settings()); CaService(p).revoke({serial!r}, RevocationReason.KEY_COMPROMISE, "
        "Actor('other', 'process')); p.close()"
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True, timeout=120)


def test_revocation_by_another_process_is_seen_by_the_next_request(sqlite_platform: Platform) -> None:
    ca_der, serials = _ca(sqlite_platform)
    service = OcspService(sqlite_platform)
    plain = _request(ca_der, [int(serials[0], 16)])
    nonced = _request(ca_der, [int(serials[0], 16)], nonce=b"n" * 16)
    for _ in range(3):  # statuses and the response now come from memory
        assert _statuses(service.respond("fast-ca", plain)) == [("good", None)]
        assert _statuses(service.respond("fast-ca", nonced)) == [("good", None)]
    _revoke_in_another_process(sqlite_platform, serials[0])
    assert _statuses(service.respond("fast-ca", plain)) == [("revoked", "key_compromise")]
    assert _statuses(service.respond("fast-ca", nonced)) == [("revoked", "key_compromise")]
    sqlite_platform.close()


def test_revocation_through_another_connection_is_seen_by_the_next_request(sqlite_platform: Platform) -> None:
    ca_der, serials = _ca(sqlite_platform)
    service = OcspService(sqlite_platform)
    request = _request(ca_der, [int(serials[1], 16)], nonce=b"x" * 8)
    assert _statuses(service.respond("fast-ca", request)) == [("good", None)]
    other = Platform(sqlite_platform.settings)
    try:
        CaService(other).revoke(serials[1], RevocationReason.CERTIFICATE_HOLD, ACTOR)
        assert _statuses(service.respond("fast-ca", request)) == [("revoked", "certificate_hold")]
        CaService(other).release_hold(serials[1], ACTOR)
        assert _statuses(service.respond("fast-ca", request)) == [("good", None)]
    finally:
        other.close()
        sqlite_platform.close()


def test_plain_asgi_endpoints_answer_as_the_documented_routes(sqlite_platform: Platform) -> None:
    ca_der, serials = _ca(sqlite_platform)
    TsaService(sqlite_platform).setup("fast-ca", KeyAlgorithm.P256, ACTOR)
    request = _request(ca_der, [int(serials[0], 16)])
    expected = OcspService(sqlite_platform).respond("fast-ca", request)
    with TestClient(create_app(sqlite_platform)) as client:
        post = client.post("/ocsp/fast-ca", content=request, headers={"Content-Type": "application/ocsp-request"})
        assert (post.status_code, post.headers["content-type"], post.content) == (
            200,
            "application/ocsp-response",
            expected,
        )
        get = client.get(f"/ocsp/fast-ca/{base64.b64encode(request).decode()}")
        assert get.content == expected and "max-age=" in get.headers["cache-control"] and "etag" in get.headers
        missing = client.post("/ocsp/nope", content=request)
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/plain")
        assert client.put("/ocsp/fast-ca", content=request).status_code == 405
        wrong = client.post("/tsa", content=b"x", headers={"Content-Type": "text/plain"})
        assert wrong.status_code == 415 and "application/timestamp-query" in wrong.json()["error"]
        stamped = client.post(
            "/tsa", content=build_request(b"doc"), headers={"Content-Type": "application/timestamp-query"}
        )
        assert stamped.status_code == 200 and stamped.headers["content-type"] == "application/timestamp-reply"
        assert tsp.TimeStampResp.load(stamped.content)["status"]["status"].native == "granted"
        paths = client.get("/openapi.json").json()["paths"]
        assert {"post"} <= set(paths["/ocsp/{ca}"]) and "get" in paths["/ocsp/{ca}/{encoded}"]
        assert "post" in paths["/tsa"]
    sqlite_platform.close()


async def _call(endpoint: Any, platform: Platform, method: str, path: str, body: bytes, headers: list[Any]) -> Any:
    """The endpoint called as an app that dispatches before its router would (scope['app'] is the FastAPI app)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    app = SimpleNamespace(state=SimpleNamespace(platform=platform))
    scope = {"type": "http", "method": method, "path": path, "headers": headers, "app": app}
    await endpoint(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


def test_fast_path_selectors(sqlite_platform: Platform) -> None:
    ca_der, serials = _ca(sqlite_platform)
    TsaService(sqlite_platform).setup("fast-ca", KeyAlgorithm.P256, ACTOR)
    request = _request(ca_der, [int(serials[0], 16)])

    def scope(method: str, path: str) -> dict[str, Any]:
        return {"type": "http", "method": method, "path": path}

    assert ocsp_routes.fast_path(scope("POST", "/ocsp/fast-ca")) is ocsp_routes.ENDPOINT
    assert ocsp_routes.fast_path(scope("GET", "/ocsp/fast-ca/MAA=")) is ocsp_routes.ENDPOINT
    for method, path in (("POST", "/ocsp/a/b"), ("PUT", "/ocsp/a"), ("GET", "/ocsp/a"), ("POST", "/ocsp/")):
        assert ocsp_routes.fast_path(scope(method, path)) is None
    assert tsa_routes.fast_path(scope("POST", "/tsa")) is tsa_routes.ENDPOINT
    assert tsa_routes.fast_path(scope("GET", "/tsa")) is None

    status, headers, body = asyncio.run(
        _call(ocsp_routes.ENDPOINT, sqlite_platform, "POST", "/ocsp/fast-ca", request, [])
    )
    assert (status, headers[b"content-type"]) == (200, b"application/ocsp-response")
    assert _statuses(body) == [("good", None)]
    status, _, body = asyncio.run(_call(ocsp_routes.ENDPOINT, sqlite_platform, "POST", "/ocsp/fast-ca", b"\0", []))
    assert status == 200 and body == b"\x30\x03\x0a\x01\x01"  # malformedRequest
    query = [(b"content-type", b"application/timestamp-query")]
    status, headers, body = asyncio.run(
        _call(tsa_routes.ENDPOINT, sqlite_platform, "POST", "/tsa", build_request(b"x"), query)
    )
    assert (status, headers[b"content-type"]) == (200, b"application/timestamp-reply")
    sqlite_platform.close()


def test_tsa_does_not_wait_for_a_busy_database_on_the_event_loop(sqlite_platform: Platform) -> None:
    CaService(sqlite_platform).create_ca("root", KeyAlgorithm.P256, ACTOR)
    service = TsaService(sqlite_platform)
    service.setup("root", KeyAlgorithm.P256, ACTOR)
    request = build_request(b"document", nonce=5)
    assert service.stamp_without_waiting(request) is not None
    database = sqlite_platform.settings.resolved_database_url.split("///", 1)[1]
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        assert service.stamp_without_waiting(request) is None  # nothing issued, nothing recorded
        assert service.stamp_without_waiting(b"garbage") is not None  # a rejection needs no database
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert service.stamp_without_waiting(request) is not None
    with sqlite_platform.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(TimestampRecord)) == 2
    sqlite_platform.close()


def _asn1crypto_fields(der: bytes) -> tuple[object, ...]:
    request = tsp.TimeStampReq.load(der, strict=True)
    imprint = request["message_imprint"]
    return (
        int(request["version"]),
        imprint.dump(),
        imprint["hashed_message"].native,
        request["nonce"].native,
        bool(request["cert_req"].native),
        request["req_policy"].dotted if request["req_policy"].native is not None else None,
    )


VARIANTS = [
    build_request(b"a"),
    build_request(b"a", "sha384", nonce=2**70, cert_req=False),
    build_request(b"a", "sha512", nonce=-5, policy="1.3.6.1.4.1.60350.1.1"),
    build_request(b"a", "sm3", nonce=0),
    tsp.TimeStampReq(
        {"version": 1, "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\1" * 32}}
    ).dump(),  # parameters absent
]


@pytest.mark.parametrize("der", VARIANTS)
def test_tsa_reader_reads_what_asn1crypto_reads(der: bytes) -> None:
    parsed = parse_request(der)
    version, imprint, hashed, nonce, cert_req, policy = _asn1crypto_fields(der)
    assert (parsed.imprint_der, parsed.hashed_message, parsed.nonce, parsed.cert_req, parsed.policy) == (
        imprint,
        hashed,
        nonce,
        cert_req,
        policy,
    )
    assert version == 1
    assert parsed.nonce_der == (None if nonce is None else core.Integer(nonce).dump())


@settings(max_examples=300, deadline=None)
@given(seed=st.sampled_from(VARIANTS), data=st.data())
def test_tsa_reader_accepts_nothing_asn1crypto_refuses(seed: bytes, data: st.DataObject) -> None:
    out = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 3))):
        out[data.draw(st.integers(0, len(out) - 1))] = data.draw(st.integers(0, 255))
    mutated = bytes(out[: data.draw(st.integers(1, len(out)))])
    try:
        parsed = parse_request(mutated)
    except RequestRejected:
        return
    version, imprint, hashed, nonce, cert_req, policy = _asn1crypto_fields(mutated)
    assert (version, parsed.imprint_der, parsed.hashed_message, parsed.nonce, parsed.cert_req, parsed.policy) == (
        1,
        imprint,
        hashed,
        nonce,
        cert_req,
        policy,
    )
