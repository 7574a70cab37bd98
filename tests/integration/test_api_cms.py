"""POST /api/v1/seals/{name}/cms: the JSON digest body and the multipart file, every role, the seal's users, bad input
(nothing recorded), size limits, OpenAPI; the signatures that come back are checked by `openssl cms -verify`,
`openssl ts -verify` and gmalg (tests/sm2check.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.services.apikeys import ROLES, ApiKeyService, Permission
from certseal.services.platform import Platform
from certseal.web.app import create_app
from certseal.web.routes import api_cms
from tests.conftest import ACTOR, TEST_AUDIT_KEY, TEST_KEK
from tests.integration.test_cms_signing import (
    CONTENT,
    SealDeployment,
    event_count,
    gmalg_accepts,
    openssl_cms_accepts,
    openssl_ts_accepts,
    seal_deployment,
    signer_info,
    sm3,
    timestamp_token,
)
from tests.integration.test_pdf_sealing import make_seal

USERS = tuple(f"api:key-{role}" for role in ROLES)
SHA256 = hashlib.sha256(CONTENT).digest()
CMS_TYPE = "application/pkcs7-signature"
NO_SEAL_USE = next(role for role, permissions in sorted(ROLES.items()) if Permission.SEAL_USE not in permissions)


class Api:
    def __init__(self, deployment: SealDeployment) -> None:
        self.deployment = deployment
        keys = ApiKeyService(deployment.platform)
        self.tokens = {role: keys.create(f"key-{role}", role, ACTOR)[1] for role in ROLES}
        self.tokens["outsider"] = keys.create("outsider", "seal-user", ACTOR)[1]  # may use seals, not these
        self.client = TestClient(create_app(deployment.platform))

    def headers(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def sign_digest(self, body: Any, seal: str = "rsa-seal", role: str | None = "seal-user") -> httpx.Response:
        response: httpx.Response = self.client.post(f"/api/v1/seals/{seal}/cms", headers=self.headers(role), json=body)
        return response

    def sign_file(
        self,
        content: bytes | None = CONTENT,
        seal: str = "p256-seal",
        role: str | None = "seal-user",
        **fields: str,
    ) -> httpx.Response:
        # without a file, another part keeps the body multipart
        files = (
            {"file": ("license.txt", content, "text/plain")}
            if content is not None
            else {"other": ("x.txt", b"-", "text/plain")}
        )
        response: httpx.Response = self.client.post(
            f"/api/v1/seals/{seal}/cms", headers=self.headers(role), data=fields, files=files
        )
        return response


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    directory = tmp_path_factory.mktemp("api-cms")
    (directory / "var").mkdir()
    platform = Platform(Settings(home=directory / "var", kek=TEST_KEK, audit_key=TEST_AUDIT_KEY))
    platform.db.migrate()
    yield Api(seal_deployment(platform, directory, users=USERS))
    platform.close()


def _ok(response: httpx.Response) -> bytes:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CMS_TYPE
    return response.content


# --- the digest path (JSON) ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seal", ["rsa-seal", "p256-seal"])
def test_json_digest_accepted_by_openssl(api: Api, tmp_path: Path, seal: str) -> None:
    response = api.sign_digest({"digest": SHA256.hex(), "digest_algorithm": "sha256"}, seal)
    der = _ok(response)
    assert response.headers["x-cades-level"] == "CAdES-B" and response.headers["x-digest-algorithm"] == "sha256"
    assert response.headers["x-message-digest"] == SHA256.hex()
    root = api.deployment.roots[seal]
    checked = openssl_cms_accepts(der, root, tmp_path, CONTENT)
    assert checked.returncode == 0, checked.stderr
    assert openssl_cms_accepts(der, root, tmp_path, CONTENT[1:]).returncode != 0


def test_json_sm3_digest_checked_by_gmalg(api: Api) -> None:
    der = _ok(api.sign_digest({"digest": sm3(CONTENT).hex().upper()}, "sm2-seal"))
    assert gmalg_accepts(der, api.deployment.certificates["sm2-seal"], CONTENT)
    assert not gmalg_accepts(der, api.deployment.certificates["sm2-seal"], CONTENT + b" ")


def test_json_cades_t_timestamp_accepted_by_openssl_ts(api: Api, tmp_path: Path) -> None:
    response = api.sign_digest({"digest": SHA256.hex(), "timestamp": True})
    der = _ok(response)
    assert response.headers["x-cades-level"] == "CAdES-T"
    signature = signer_info(der)["signature"].native
    tsa_root = api.deployment.roots["tsa"]
    assert openssl_ts_accepts(timestamp_token(der), hashlib.sha256(signature).digest(), tsa_root, tmp_path)
    assert not openssl_ts_accepts(timestamp_token(der), SHA256, tsa_root, tmp_path)
    assert openssl_cms_accepts(der, api.deployment.roots["rsa-seal"], tmp_path, CONTENT).returncode == 0


# --- the file path (multipart) -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seal", ["rsa-seal", "p256-seal"])
def test_file_detached_and_attached_accepted_by_openssl(api: Api, tmp_path: Path, seal: str) -> None:
    root = api.deployment.roots[seal]
    detached = _ok(api.sign_file(seal=seal))
    checked = openssl_cms_accepts(detached, root, tmp_path, CONTENT)
    assert checked.returncode == 0, checked.stderr
    assert openssl_cms_accepts(detached, root, tmp_path, CONTENT.upper()).returncode != 0

    attached = _ok(api.sign_file(seal=seal, detached="false", timestamp="true"))
    checked = openssl_cms_accepts(attached, root, tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert (tmp_path / "verified.bin").read_bytes() == CONTENT
    at = attached.index(b"renewal")
    tampered = attached[:at] + b"R" + attached[at + 1 :]
    assert openssl_cms_accepts(tampered, root, tmp_path).returncode != 0


def test_file_with_an_sm2_seal_checked_by_gmalg(api: Api) -> None:
    der = _ok(api.sign_file(seal="sm2-seal"))
    assert gmalg_accepts(der, api.deployment.certificates["sm2-seal"], CONTENT)


def test_digest_as_a_form_field(api: Api, tmp_path: Path) -> None:
    der = _ok(api.sign_file(None, seal="rsa-seal", digest=SHA256.hex(), digest_algorithm="sha256"))
    assert openssl_cms_accepts(der, api.deployment.roots["rsa-seal"], tmp_path, CONTENT).returncode == 0


# --- who may sign --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_role(api: Api, role: str) -> None:
    response = api.sign_digest({"digest": SHA256.hex()}, role=role)
    if Permission.SEAL_USE in ROLES[role]:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 403 and "seal:use" in response.json()["error"]


def test_without_a_key_401(api: Api) -> None:
    assert api.sign_digest({"digest": SHA256.hex()}, role=None).status_code == 401
    assert api.sign_file(role=None).status_code == 401


def test_a_key_that_is_not_a_user_of_the_seal_403(api: Api) -> None:
    before = event_count(api.deployment.platform)
    for response in (api.sign_digest({"digest": SHA256.hex()}, role="outsider"), api.sign_file(role="outsider")):
        assert response.status_code == 403 and "api:outsider" in response.json()["error"]
    assert event_count(api.deployment.platform) == before


def test_unknown_seal_404(api: Api) -> None:
    response = api.sign_digest({"digest": SHA256.hex()}, seal="nope")
    assert response.status_code == 404 and "nope" in response.json()["error"]


# --- bad input: 422 naming the field, nothing recorded --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "seal", "field", "words"),
    [
        ({"digest": SHA256.hex()[:-2]}, "rsa-seal", "digest", "32 bytes"),
        ({"digest": SHA256.hex(), "digest_algorithm": "sm3"}, "rsa-seal", "digest_algorithm", "signs sha256"),
        ({"digest": SHA256.hex(), "digest_algorithm": "sha256"}, "sm2-seal", "digest_algorithm", "signs sm3"),
        ({"digest": SHA256.hex(), "digest_algorithm": "md5"}, "rsa-seal", "digest_algorithm", "sha256"),
        ({"digest": "zz" * 32}, "rsa-seal", "digest", "hex"),
        ({"digest_algorithm": "sha256"}, "rsa-seal", "digest", "required"),
        ({"digest": SHA256.hex(), "file": "x"}, "rsa-seal", "file", "not permitted"),
        ([SHA256.hex()], "rsa-seal", "body", "object"),
    ],
)
def test_bad_json_is_422(api: Api, body: Any, seal: str, field: str, words: str) -> None:
    before = event_count(api.deployment.platform)
    response = api.sign_digest(body, seal)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["field"] == field and words in error["rule"], error
    assert event_count(api.deployment.platform) == before


@pytest.mark.parametrize(
    ("content", "fields", "field", "words"),
    [
        (CONTENT, {"digest": SHA256.hex()}, "input", "exactly one"),
        (None, {"timestamp": "true"}, "input", "exactly one"),
        (None, {"digest": SHA256.hex(), "detached": "false"}, "detached", "detached"),
        (CONTENT, {"detached": "maybe"}, "detached", "boolean"),
    ],
)
def test_bad_form_is_422(api: Api, content: bytes | None, fields: dict[str, str], field: str, words: str) -> None:
    before = event_count(api.deployment.platform)
    response = api.sign_file(content, seal="rsa-seal", **fields)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["field"] == field and words in error["rule"], error
    assert event_count(api.deployment.platform) == before


def test_other_content_types_are_422(api: Api) -> None:
    response = api.client.post(
        "/api/v1/seals/rsa-seal/cms", headers={**api.headers("seal-user"), "Content-Type": "text/plain"}, content=b"x"
    )
    assert response.status_code == 422 and response.json()["field"] == "body"


def test_timestamp_without_a_tsa_is_422_naming_the_command(make_settings: Callable[..., Settings]) -> None:
    platform = Platform(make_settings())
    platform.db.migrate()
    try:
        make_seal(platform, KeyAlgorithm.P256, "p256-seal", users=["api:key"])
        token = ApiKeyService(platform).create("key", "seal-user", ACTOR)[1]
        client = TestClient(create_app(platform))
        response = client.post(
            "/api/v1/seals/p256-seal/cms",
            headers={"Authorization": f"Bearer {token}"},
            json={"digest": SHA256.hex(), "timestamp": True},
        )
        assert response.status_code == 422
        error = response.json()
        assert error["field"] == "timestamp" and "certseal tsa setup" in error["rule"], error
    finally:
        platform.close()


# --- size limits ---------------------------------------------------------------------------------------------------


def test_json_body_over_the_limit_is_413(api: Api) -> None:
    response = api.sign_digest({"digest": SHA256.hex(), "padding": "x" * api_cms.MAX_JSON_BYTES})
    assert response.status_code == 413 and response.json()["field"] == "body"


def test_file_over_the_limit_is_413_and_not_signed(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_cms, "MAX_CONTENT_BYTES", 1000)
    before = event_count(api.deployment.platform)
    response = api.sign_file(b"x" * 1001, seal="rsa-seal")
    assert response.status_code == 413 and response.json()["field"] == "file"
    assert _ok(api.sign_file(b"x" * 1000, seal="rsa-seal"))
    assert event_count(api.deployment.platform) == before + 1


def test_the_body_is_not_read_before_authorisation(api: Api) -> None:
    """An unauthorised caller gets 401/403 even with a body over the limit: the key is checked first."""
    big = {"digest": "00" * (api_cms.MAX_JSON_BYTES // 2)}
    assert api.sign_digest(big, role=None).status_code == 401
    assert api.sign_digest(big, role=NO_SEAL_USE).status_code == 403


# --- OpenAPI -------------------------------------------------------------------------------------------------------


def test_openapi_documents_both_bodies_and_the_answer(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    operation = document["paths"]["/api/v1/seals/{name}/cms"]["post"]
    bodies = operation["requestBody"]["content"]
    assert bodies["application/json"]["schema"]["$ref"].endswith("/CmsDigestRequest")
    assert bodies["multipart/form-data"]["schema"]["$ref"].endswith("/CmsFileForm")
    schemas = document["components"]["schemas"]
    assert set(schemas["CmsDigestRequest"]["properties"]) == {"digest", "digest_algorithm", "timestamp"}
    assert {"file", "digest", "detached", "timestamp"} <= set(schemas["CmsFileForm"]["properties"])
    assert "hex" in schemas["CmsDigestRequest"]["properties"]["digest"]["description"]
    assert CMS_TYPE in operation["responses"]["200"]["content"]
    assert {"401", "403", "404", "413", "422"} <= set(operation["responses"])
    assert {"HTTPBearer": []} in operation.get("security", [])
