"""R2: malformed OCSP requests, timestamp requests and CSRs get a protocol error or a 4xx, never a 500."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.pki.tsa import build_request
from certseal.services.apikeys import ApiKeyService
from certseal.services.ca import CaService
from certseal.services.platform import Platform
from certseal.services.tsa import TsaService
from certseal.web.app import create_app
from tests.conftest import ACTOR

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# a valid OCSP request (openssl ocsp -reqout) for serial 1 under some issuer, used as a seed for mutations
OCSP_SEED = base64.b64decode(
    "MEMwQTA/MD0wOzAJBgUrDgMCGgUABBSzCs6jcfsPtMpYJMPYOvpTqWAaZAQUkaYBV2FbPVwBfs2wpyYp+/KM1xcCAhAA"
)


@pytest.fixture
def client(make_settings, tmp_path) -> Iterator[tuple[TestClient, str]]:  # type: ignore[no-untyped-def]
    platform = Platform(make_settings(f"sqlite:///{tmp_path / 'var' / 'fuzz.db'}"))
    platform.db.migrate()
    CaService(platform).create_ca("root", KeyAlgorithm.P256, ACTOR)
    TsaService(platform).setup("root", KeyAlgorithm.P256, ACTOR)
    token = ApiKeyService(platform).create("fuzzer", "admin", ACTOR)[1]
    with TestClient(create_app(platform), raise_server_exceptions=False) as test_client:
        yield test_client, token
    platform.close()


@st.composite
def _mutations(draw: st.DrawFn) -> bytes:
    """A valid request with a few bytes changed and possibly cut short."""
    out = bytearray(OCSP_SEED if draw(st.booleans()) else build_request(b"x"))
    for _ in range(draw(st.integers(1, 4))):
        out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
    return bytes(out[: draw(st.integers(0, len(out)))])


@FUZZ
@given(body=st.one_of(st.binary(max_size=300), _mutations()))
def test_ocsp_never_500(client: tuple[TestClient, str], body: bytes) -> None:
    test_client, _ = client
    post = test_client.post("/ocsp/root", content=body, headers={"Content-Type": "application/ocsp-request"})
    assert post.status_code < 500, post.text
    get = test_client.get(f"/ocsp/root/{base64.b64encode(body).decode()}")
    assert get.status_code < 500, get.text


@FUZZ
@given(body=st.one_of(st.binary(max_size=300), _mutations()))
def test_tsa_never_500(client: tuple[TestClient, str], body: bytes) -> None:
    test_client, _ = client
    response = test_client.post("/tsa", content=body, headers={"Content-Type": "application/timestamp-query"})
    assert response.status_code < 500, response.text


@FUZZ
@given(body=st.binary(max_size=400))
def test_csr_never_500(client: tuple[TestClient, str], body: bytes) -> None:
    test_client, token = client
    text = (
        "-----BEGIN CERTIFICATE REQUEST-----\n"
        + base64.b64encode(body).decode()
        + "\n-----END CERTIFICATE REQUEST-----\n"
    )
    response = test_client.post(
        "/api/v1/certificates",
        headers={"Authorization": f"Bearer {token}"},
        json={"ca": "root", "profile": "person", "csr_pem": text},
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "csr"
