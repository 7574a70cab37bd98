"""/api/v1/seals: every endpoint × every role, multipart creation, bad input (nothing stored), OpenAPI."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import pem
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.keys import PrivateKey
from certseal.services.apikeys import ROLES, ApiKeyService
from certseal.services.platform import Platform
from certseal.services.seals import SealService
from certseal.store.models import AuditEvent, Seal
from certseal.web.app import create_app
from tests.conftest import ACTOR
from tests.integration.test_seals import SUBJECT, Pki, small_png

# (method, path, request keyword arguments builder name, permission needed); "main" is an existing seal
ENDPOINTS = [
    ("GET", "/api/v1/seals", None, "seal:read"),
    ("GET", "/api/v1/seals/main", None, "seal:read"),
    ("GET", "/api/v1/seals/main/image", None, "seal:read"),
    ("POST", "/api/v1/seals", "create", "seal:write"),
    ("PUT", "/api/v1/seals/main/users", {"json": {"users": ["alice"]}}, "seal:write"),
    ("PATCH", "/api/v1/seals/main/users", {"json": {"add": ["bob"]}}, "seal:write"),
    ("POST", "/api/v1/seals/main/disable", None, "seal:write"),
]


class Api:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.pki = Pki(platform)
        SealService(platform).create("main", self.pki.seal_certificate()[0], ACTOR, image_png=small_png())
        keys = ApiKeyService(platform)
        self.tokens = {role: keys.create(f"key-{role}", role, ACTOR)[1] for role in ROLES}
        self.client = TestClient(create_app(platform))

    def call(self, method: str, path: str, role: str | None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return self.client.request(method, path, headers=headers, **kwargs)

    def create_form(self, name: str = "new", image: bytes | None = None, **fields: Any) -> dict[str, Any]:
        """multipart/form-data for POST /api/v1/seals: a fresh seal certificate PEM and an image (or fields)."""
        certificate = fields.pop("certificate", None) or pem.armor("CERTIFICATE", self.pki.seal_certificate()[0])
        files: dict[str, Any] = {"certificate": ("seal.pem", certificate, "application/x-pem-file")}
        if image is not None or "unit_name" not in fields:
            files["image"] = ("seal.png", image if image is not None else small_png(), "image/png")
        return {"data": {"name": name, **fields}, "files": files}

    def counts(self) -> tuple[int, int]:
        with self.platform.db.reading() as session:
            return (
                session.scalar(select(func.count()).select_from(Seal)) or 0,
                session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
            )


@pytest.fixture
def api(platform: Platform) -> Api:
    return Api(platform)


@pytest.mark.parametrize(("method", "path", "request_", "permission"), ENDPOINTS)
def test_every_endpoint_for_every_role(api: Api, method: str, path: str, request_: Any, permission: str) -> None:
    def kwargs() -> dict[str, Any]:
        if request_ == "create":
            return api.create_form()
        return dict(request_ or {})

    for token in (None, "cs_0000000000000000_" + "A" * 43, "garbage"):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = api.client.request(method, path, headers=headers, **kwargs())
        assert response.status_code == 401, (token, response.text)
    allowed = [role for role, permissions in ROLES.items() if permission in permissions]
    assert "admin" in allowed
    for role in ROLES:
        if role not in allowed:
            response = api.call(method, path, role, **kwargs())
            assert response.status_code == 403, (role, response.text)
            assert role in response.json()["error"]
    first = api.call(method, path, allowed[0], **kwargs())
    assert first.status_code in (200, 201), (allowed[0], first.text)
    for role in allowed[1:]:  # a repeated create conflicts (409), but it must get past authorisation
        assert api.call(method, path, role, **kwargs()).status_code not in (401, 403), role


def test_roles_grant_the_seal_permissions() -> None:
    assert {"seal:read", "seal:write", "seal:use", "verify"} <= {p.value for p in ROLES["admin"]}
    assert {p.value for p in ROLES["seal-user"]} == {"seal:use", "seal:read", "verify"}
    assert {"seal:read", "seal:write"} <= {p.value for p in ROLES["pki-officer"]}


def test_create_a_drawn_seal_and_fetch_its_image(api: Api, tmp_path: Path) -> None:
    form = api.create_form(
        "fda-license",
        unit_name="某某市药品监督管理局",
        text="电子证照专用章",
        code="3201000012345",
        type="license",
        users=["api:his-gateway", "alice"],
    )
    response = api.call("POST", "/api/v1/seals", "pki-officer", **form)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["type"] == "license" and body["type_label"] == "电子证照专用章" and body["code"] == "3201000012345"
    assert body["users"] == ["api:his-gateway", "alice"] and body["created_by"] == "api:key-pki-officer"
    assert body["status"] == "active" and (body["width_mm"], body["height_mm"]) == (42.0, 42.0)
    image = api.call("GET", body["image_url"], "seal-user")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    (tmp_path / "seal.png").write_bytes(image.content)
    check = subprocess.run(["pngcheck", str(tmp_path / "seal.png")], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0 and "RGB+alpha" in check.stdout, check.stdout
    # the API key named as a user may seal with it
    assert SealService(api.platform).signer_for("fda-license", "api:his-gateway").info.name == "fda-license"

    listed = api.call("GET", "/api/v1/seals", "seal-user").json()
    assert [s["name"] for s in listed] == ["fda-license", "main"]


def test_create_with_der_certificate_and_defaults(api: Api) -> None:
    der = api.pki.seal_certificate()[0]
    form = api.create_form("uploaded", certificate=der, width_mm="40")
    response = api.call("POST", "/api/v1/seals", "admin", **form)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["users"] == ["api:key-admin"] and body["width_mm"] == 40.0 and body["height_mm"] == 40.0
    assert body["certificate_pem"] == pem.armor("CERTIFICATE", der).decode()


def _rejected(api: Api, status: int, form: dict[str, Any], field: str | None = None, rule: str = "") -> None:
    before = api.counts()
    response = api.call("POST", "/api/v1/seals", "admin", **form)
    assert response.status_code == status, response.text
    body = response.json()
    if field is not None:
        assert body["field"] == field and rule in body["rule"], body
    assert api.counts() == before, "nothing is stored when a request is refused"


def test_bad_input_is_refused_with_field_and_rule(api: Api, tmp_path: Path) -> None:
    _rejected(api, 422, api.create_form(image=small_png(opaque=True)), "image", "transparent")
    _rejected(api, 422, api.create_form(image=b"not a png at all"), "image", "PNG signature")
    _rejected(api, 422, api.create_form(image=small_png(size=(120, 120))), "image", "at least 200 px")
    _rejected(api, 422, api.create_form(image=b""), "image", "empty")
    _rejected(api, 422, api.create_form(image=b"x" * (2 * 1024 * 1024 + 10)), "image", "at most")
    _rejected(api, 422, api.create_form(certificate=b"-----BEGIN CERTIFICATE-----\nAAAA"), "certificate")
    outside = PrivateKey.generate(KeyAlgorithm.SM2).public_key
    no_key = api.pki.cas.issue("sub", "seal", ACTOR, subject=SUBJECT, public_key=outside).certificate_der
    _rejected(api, 422, api.create_form(certificate=no_key), "certificate", "matches no key")
    ca_cert = api.pki.cas.get_ca("root").certificate_der
    _rejected(api, 422, api.create_form(certificate=ca_cert), "certificate", "CA certificate")
    _rejected(api, 422, api.create_form("Bad Name"), "name", "lower-case")
    _rejected(api, 422, api.create_form(code="12"), "code", "13-20")
    _rejected(api, 422, api.create_form(text="电子证照专用章"), "text", "unit_name")
    _rejected(api, 422, api.create_form(unit_name="某", image=None), "unit_name", "2-24")
    _rejected(api, 422, api.create_form(not_after="2020-01-01T00:00:00+00:00"), "not_after")
    _rejected(api, 422, api.create_form(type="round"))  # FastAPI's own validation: detail names the field
    _rejected(api, 409, api.create_form("main"))
    form = api.create_form()
    del form["files"]["certificate"]
    _rejected(api, 422, form)


def test_users_and_disable(api: Api) -> None:
    put = api.call("PUT", "/api/v1/seals/main/users", "admin", json={"users": ["alice", "api:his"]})
    assert put.status_code == 200 and put.json()["users"] == ["alice", "api:his"]
    patch = api.call("PATCH", "/api/v1/seals/main/users", "admin", json={"add": ["bob"], "remove": ["alice"]})
    assert patch.status_code == 200 and patch.json()["users"] == ["api:his", "bob"]
    empty = api.call("PUT", "/api/v1/seals/main/users", "admin", json={"users": []})
    assert empty.status_code == 422
    bad = api.call("PATCH", "/api/v1/seals/main/users", "admin", json={"remove": ["api:his", "bob"]})
    assert bad.status_code == 422 and bad.json()["field"] == "users"
    disabled = api.call("POST", "/api/v1/seals/main/disable", "pki-officer")
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
    assert api.call("GET", "/api/v1/seals/main", "seal-user").json()["status"] == "disabled"


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/api/v1/seals/nope", {}),
        ("GET", "/api/v1/seals/nope/image", {}),
        ("PUT", "/api/v1/seals/nope/users", {"json": {"users": ["a"]}}),
        ("PATCH", "/api/v1/seals/nope/users", {"json": {"add": ["a"]}}),
        ("POST", "/api/v1/seals/nope/disable", {}),
    ],
)
def test_unknown_seal_is_404(api: Api, method: str, path: str, kwargs: dict[str, Any]) -> None:
    response = api.call(method, path, "admin", **kwargs)
    assert response.status_code == 404 and "no seal named 'nope'" in response.json()["error"]


def test_openapi_describes_the_seal_api(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    paths = spec["paths"]
    for path, methods in {
        "/api/v1/seals": ("get", "post"),
        "/api/v1/seals/{name}": ("get",),
        "/api/v1/seals/{name}/image": ("get",),
        "/api/v1/seals/{name}/users": ("put", "patch"),
        "/api/v1/seals/{name}/disable": ("post",),
    }.items():
        for method in methods:
            operation = paths[path][method]
            assert operation["summary"] and "seals" in operation["tags"]
            assert {"401", "403", "422"} <= set(operation["responses"])
    create = paths["/api/v1/seals"]["post"]
    form = create["requestBody"]["content"]["multipart/form-data"]["schema"]
    form = spec["components"]["schemas"][form["$ref"].rsplit("/", 1)[1]] if "$ref" in form else form
    assert {"name", "certificate"} <= set(form["required"])
    assert {"image", "unit_name", "text", "code", "type", "users", "not_before", "not_after"} <= set(form["properties"])
    assert "image/png" in paths["/api/v1/seals/{name}/image"]["get"]["responses"]["200"]["content"]
    seal_out = spec["components"]["schemas"]["SealOut"]["properties"]
    assert {"name", "code", "type", "users", "certificate_pem", "not_after", "image_url"} <= set(seal_out)
