"""The license REST API over HTTP: an officer logged in with a session cookie (+ X-CSRF-Token) creates a Drug
Production License, submits, approves and issues it; the detail masks sensitive values unless revealed; the sealed
PDF is accepted by poppler's pdfsig; search, versions, a change (version 2, same number), a revoke; the one-call
issuance with its QR text checked by `cryptography` against the published JWKS; bad input answers 422 naming the
field and the rule with nothing stored; the OpenAPI document lists every endpoint with its response models.

Helpers here (`registry_platform`, `drug_json`, `login`) are shared with test_license_access.py and
test_cli_license.py."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, func, select

from certseal.config import Settings
from certseal.licenses.schema import builtin_registry
from certseal.services.access import Principal
from certseal.services.ca import CaService
from certseal.services.deployment import DEMO_CAS
from certseal.services.license_documents import LicenseDocuments
from certseal.services.platform import Platform
from certseal.services.qr_keys import QrKeyService
from certseal.services.users import LoginPolicy, UserService
from certseal.web.app import create_app
from tests import pdfdocs
from tests.conftest import ACTOR, TEST_AUDIT_KEY, TEST_KEK
from tests.unit.test_license_render import drug_data, pharmacist_data

FAST = LoginPolicy(hash_time_cost=1, hash_memory_kib=1024, hash_parallelism=1)
PASSWORD = "Tea-Kettle-Horizon-42"
USCC_A = "91110108551385082Q"
USCC_B = "91420600MA48A1B2CG"
USCC_C = "91420111MA4K8Q2P7T"
LEGAL_ID = "420111198001011238"
PHONE = "13912345678"
PHARMACIST_ID = "11010519491231002X"
SETUP = Principal.for_user("setup-admin", "provincial-admin", "*")
LICENSE_PREFIXES = ("/api/v1/licenses", "/api/v1/license-types")


# --- shared helpers ------------------------------------------------------------------------------------------


def registry_platform(root: Path) -> Platform:
    """A migrated SQLite deployment with the demo CAs, the regulator's license seals and a QR key."""
    root.mkdir(parents=True, exist_ok=True)
    settings = Settings(home=root, kek=TEST_KEK, audit_key=TEST_AUDIT_KEY)  # type: ignore[call-arg]
    platform = Platform(settings)
    platform.db.migrate()
    cas = CaService(platform)
    for name, algorithm, parent, subject in DEMO_CAS:  # the demo CAs only: no demo users or licenses
        cas.create_ca(name, algorithm, ACTOR, parent=parent, subject=subject)
    LicenseDocuments(platform).ensure_license_seals(ACTOR)  # the PDF and OFD seals and the QR key
    return platform


def jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def without_issue_fields(type_code: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The data an applicant gives: the fields the registry fills at issuance (number, dates, issuer) left out."""
    license_type = builtin_registry().get(type_code)
    filled = {f.key for f in license_type.fields if f.set_on_issue}
    return {k: jsonable(v) for k, v in data.items() if k not in filled}


def drug_json(uscc: str = USCC_A, name: str | None = None, phone: str = PHONE) -> dict[str, Any]:
    data = drug_data(sites=1, workshops=1, lines=2)
    data.update(uscc=uscc, legal_representative_id_number=LEGAL_ID, contact_phone=phone)
    if name is not None:
        data["enterprise_name"] = name
    return without_issue_fields("drug-production", data)


def pharmacist_json(id_number: str = PHARMACIST_ID) -> dict[str, Any]:
    data = pharmacist_data()
    data["id_number"] = id_number
    return without_issue_fields("pharmacist-registration", data)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the API (the client keeps the cookie); returns the session's CSRF token."""
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    csrf: str = response.json()["csrf_token"]
    return csrf


def license_row_counts(platform: Platform) -> dict[str, int]:
    """Rows of every license table (whatever the storage calls them: every table named license*)."""
    metadata = MetaData()
    metadata.reflect(platform.db.engine)
    tables = [t for name, t in metadata.tables.items() if name.startswith("license")]
    assert tables, "no license tables in the database"
    with platform.db.engine.connect() as connection:
        return {t.name: int(connection.scalar(select(func.count()).select_from(t)) or 0) for t in tables}


def license_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route under /api/v1/licenses and /api/v1/license-types (included routers too)."""
    return {
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and (context.path or "").startswith(LICENSE_PREFIXES)
        for method in context.original_route.methods
    }


def pdfsig_valid(pdf: bytes) -> list[str]:
    """pdfsig's report blocks; asserts poppler finds at least one signature and every one valid."""
    reports = pdfdocs.pdfsig(pdf)
    assert reports, "pdfsig found no signature"
    for report in reports:
        assert "Signature Validation: Signature is Valid." in report, report
    return reports


def verify_jws_with_cryptography(jws: str, jwks: Mapping[str, Any]) -> dict[str, Any]:
    """ES256 compact JWS checked by pyca/cryptography against a JWK Set (not by certseal's own code)."""
    header_b64, payload_b64, signature_b64 = jws.split(".")
    header = json.loads(_b64(header_b64))
    assert header["alg"] == "ES256"
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(_b64(jwk["x"]), "big"), int.from_bytes(_b64(jwk["y"]), "big"), ec.SECP256R1()
    )
    raw = _b64(signature_b64)
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    numbers.public_key().verify(signature, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    return {"header": header, "payload": _b64(payload_b64)}


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def platform_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    platform = registry_platform(tmp_path_factory.mktemp("api-licenses") / "var")
    users = UserService(platform, FAST)
    users.create("officer-hubei", "licensing-officer", PASSWORD, ACTOR, scope="420000")
    users.create("ent-user", "enterprise-user", PASSWORD, ACTOR, scope=USCC_A)
    yield platform
    platform.close()


@pytest.fixture(scope="module")
def app_client(platform_module: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform_module)) as client:
        yield client


@pytest.fixture
def officer(app_client: TestClient) -> dict[str, str]:
    """Logged in as the provincial licensing officer; the headers every state-changing request needs."""
    app_client.cookies.clear()
    return {"X-CSRF-Token": login(app_client, "officer-hubei")}


# --- tests ---------------------------------------------------------------------------------------------------


def test_license_types_are_listed_with_their_fields(app_client: TestClient, officer: dict[str, str]) -> None:
    listed = app_client.get("/api/v1/license-types")
    assert listed.status_code == 200, listed.text
    by_code = {t["code"]: t for t in listed.json()}
    assert {"drug-production", "pharmacist-registration", "drug-distribution", "medical-device-production"} <= set(
        by_code
    )
    drug = by_code["drug-production"]
    assert (drug["name"], drug["family"], drug["number_mode"]) == ("药品生产许可证", "enterprise", "pattern")
    fields = {f["key"]: f for f in drug["fields"]}
    assert fields["contact_phone"]["sensitivity"] == "sensitive" and fields["uscc"]["required"] is True
    sites = fields["production_sites"]
    assert sites["kind"] == "list" and "workshops" in {f["key"] for f in sites["items"]}
    document = app_client.get("/api/v1/license-types/drug-production")
    assert document.status_code == 200
    assert document.json()["format"] == "certseal.license-type/1"
    assert document.json()["lifecycle"]["confirmations"]["approve"][0]["code"] == "on_site_inspection_passed"
    unknown = app_client.get("/api/v1/license-types/no-such-type")
    assert unknown.status_code == 404 and "no-such-type" in unknown.json()["error"]


@pytest.mark.slow
def test_officer_issues_changes_and_revokes_a_drug_production_license(
    app_client: TestClient, officer: dict[str, str], platform_module: Platform
) -> None:
    created = app_client.post(
        "/api/v1/licenses", json={"type": "drug-production", "data": drug_json(), "division_code": "420111"},
        headers=officer,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    draft = created.json()
    license_id = draft["info"]["id"]
    assert draft["info"]["status"] == "draft" and draft["info"]["number"] is None and "submit" in draft["actions"]

    def act(action: str, **extra: Any) -> dict[str, Any]:
        response = app_client.post(
            f"/api/v1/licenses/{license_id}/transitions", json={"action": action, **extra}, headers=officer
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    assert act("submit")["info"]["status"] == "submitted"
    assert act("approve", confirmed=["on_site_inspection_passed"])["info"]["status"] == "approved"
    issued = act("issue")
    info = issued["info"]
    assert info["status"] == "issued" and info["version"] == 1
    number = info["number"]
    assert number.startswith("鄂") and len(number) == 9 and number[1:5].isdigit()
    assert info["identifier"] and info["holder_code"] == USCC_A and info["division_code"] == "420111"
    (v1,) = issued["versions"]
    assert v1["current"] and {(f["copy"], f["format"]) for f in v1["files"]} >= {("original", "pdf")}

    # the detail: sensitive values masked; reveal shows them (and is audited by the service)
    detail = app_client.get(f"/api/v1/licenses/{license_id}").json()
    assert PHONE not in json.dumps(detail) and LEGAL_ID not in json.dumps(detail)
    assert detail["fields"]["enterprise_name"] == drug_json()["enterprise_name"]
    revealed = app_client.get(f"/api/v1/licenses/{license_id}", params={"reveal": "true"}).json()
    assert revealed["audience"] == "officer" and revealed["fields"]["contact_phone"] == PHONE

    # the sealed PDF, downloaded: poppler's pdfsig says the signature is valid; a changed byte is a mismatch
    pdf = app_client.get(f"/api/v1/licenses/{license_id}/files/original.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''" in pdf.headers["content-disposition"]
    assert hashlib.sha256(pdf.content).hexdigest() == _file(v1, "original", "pdf")["sha256"]
    pdfsig_valid(pdf.content)
    position = pdf.content.index(b"/MediaBox") + 2
    tampered = pdf.content[:position] + bytes([pdf.content[position] ^ 0x20]) + pdf.content[position + 1 :]
    (report, *_) = pdfdocs.pdfsig(tampered)
    assert "Digest Mismatch" in report
    if any(f["format"] == "ofd" for f in v1["files"]):
        ofd = app_client.get(f"/api/v1/licenses/{license_id}/files/duplicate.ofd")
        assert ofd.status_code == 200 and ofd.headers["content-type"] == "application/ofd"
        assert "OFD.xml" in zipfile.ZipFile(io.BytesIO(ofd.content)).namelist()

    # search: by number, by exact holder code (blind index), by name
    for params in ({"number": number}, {"holder_code": USCC_A, "type": "drug-production"}, {"holder_name": "示例制药"}):
        found = app_client.get("/api/v1/licenses", params=params).json()
        assert license_id in {item["id"] for item in found["items"]}, params
    nothing = app_client.get("/api/v1/licenses", params={"number": "鄂19990001"}).json()
    assert nothing == {"total": 0, "items": []}
    assert app_client.get("/api/v1/licenses/lookup", params={"key": number}).json()["info"]["id"] == license_id
    by_identifier = app_client.get("/api/v1/licenses/lookup", params={"key": info["identifier"]})
    assert by_identifier.json()["info"]["id"] == license_id

    # a change: version 2 with the same number; version 1 kept, superseded
    new_data = drug_json(phone="13812345678")
    new_data["registered_address"] = "湖北省武汉市东湖新技术开发区高新大道888号"
    changed = act("change", data=new_data, reason="注册地址变更", confirmed=[])
    assert changed["info"]["version"] == 2 and changed["info"]["number"] == number
    assert changed["fields"]["registered_address"] == new_data["registered_address"]
    version_one = app_client.get(f"/api/v1/licenses/{license_id}/versions/1").json()
    assert version_one["info"]["current"] is False and version_one["info"]["number"] == number
    assert version_one["fields"]["registered_address"] == drug_json()["registered_address"]
    version_two = app_client.get(f"/api/v1/licenses/{license_id}/versions/2").json()
    assert version_two["info"]["current"] is True and version_two["info"]["identifier"] != v1["identifier"]
    old_pdf = app_client.get(f"/api/v1/licenses/{license_id}/files/original.pdf", params={"version": 1})
    assert old_pdf.content == pdf.content
    assert app_client.get(f"/api/v1/licenses/{license_id}/versions/3").status_code == 404

    # revoke needs a reason (the lifecycle's rule); then it is revoked
    no_reason = app_client.post(
        f"/api/v1/licenses/{license_id}/transitions", json={"action": "revoke"}, headers=officer
    )
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    revoked = act("revoke", reason="以欺骗手段取得许可")
    assert revoked["info"]["status"] == "revoked"
    assert [h["action"] for h in revoked["history"]][-1] == "revoke"


def _file(version: Mapping[str, Any], copy: str, file_format: str) -> dict[str, Any]:
    (found,) = [f for f in version["files"] if f["copy"] == copy and f["format"] == file_format]
    assert isinstance(found, dict)
    return found


@pytest.mark.slow
def test_issue_in_one_call_answers_the_qr_text(
    app_client: TestClient, officer: dict[str, str], platform_module: Platform
) -> None:
    body = {"type": "drug-production", "data": drug_json(USCC_C, "湖北一次发证制药有限公司"), "division_code": "420111"}
    response = app_client.post("/api/v1/licenses/issue", json=body, headers=officer)
    assert response.status_code == 201, response.text
    issued = response.json()
    info = issued["license"]["info"]
    assert info["status"] == "issued" and info["number"].startswith("鄂")
    url, jws = issued["qr_text"].split("#", 1)
    assert url.endswith(f"/v/{info['identifier']}")
    checked = verify_jws_with_cryptography(jws, QrKeyService(platform_module).jwks())
    assert checked["header"]["kid"]
    tampered = jws[:-3] + ("AAA" if not jws.endswith("AAA") else "BBB")
    with pytest.raises((InvalidSignature, ValueError)):
        verify_jws_with_cryptography(tampered, QrKeyService(platform_module).jwks())
    history = [h["action"] for h in issued["license"]["history"]]
    assert history[-3:] == ["submit", "approve", "issue"]


BAD_INPUT: list[tuple[str, dict[str, Any] | str, str, str]] = [
    # (what, request body, field named, words of the rule)
    ("wrong USCC check digit", {"type": "drug-production", "data": {**drug_json(), "uscc": USCC_A[:-1] + "R"}},
     "uscc", "check"),
    ("wrong ID number", {"type": "drug-production", "data": {**drug_json(), "legal_representative_id_number":
     LEGAL_ID[:-1] + "9"}}, "legal_representative_id_number", ""),
    ("data not an object", {"type": "drug-production", "data": ["x"]}, "data", "dictionary"),
    ("no type", {"data": drug_json()}, "type", "required"),
    ("bad division", {"type": "drug-production", "data": drug_json(), "division_code": "4201"}, "division_code",
     "pattern"),
    ("malformed JSON", '{"type": "drug-production", "data": {', "body", "JSON"),
]  # fmt: skip


def test_bad_input_is_422_naming_field_and_rule_and_stores_nothing(
    app_client: TestClient, officer: dict[str, str], platform_module: Platform
) -> None:
    before = license_row_counts(platform_module)
    for what, body, field, words in BAD_INPUT:
        if isinstance(body, str):
            headers = {**officer, "content-type": "application/json"}
            response = app_client.post("/api/v1/licenses", content=body.encode(), headers=headers)
        else:
            response = app_client.post("/api/v1/licenses", json=body, headers=officer)
        assert response.status_code == 422, (what, response.text)
        error = response.json()
        assert set(error) == {"error", "field", "rule"}, (what, error)
        assert error["field"] == field and words.lower() in error["rule"].lower(), (what, error)
    unknown_type = app_client.post("/api/v1/licenses", json={"type": "no-such", "data": {}}, headers=officer)
    assert unknown_type.status_code == 404 and set(unknown_type.json()) == {"error"}
    assert license_row_counts(platform_module) == before

    # a draft missing a required field is refused at submit, naming the field; an illegal transition names the rule
    data = drug_json()
    del data["quality_head"]
    draft = app_client.post("/api/v1/licenses", json={"type": "drug-production", "data": data}, headers=officer)
    assert draft.status_code == 201, draft.text
    license_id = draft.json()["info"]["id"]
    before = license_row_counts(platform_module)
    url = f"/api/v1/licenses/{license_id}/transitions"
    refusals = [
        ({"action": "submit"}, "quality_head", "required"),
        ({"action": "approve"}, "status", "only from"),
        ({"action": "fly"}, "action", "input should be"),
        ({"action": "submit", "applied_on": "yesterday"}, "applied_on", "date"),
        ({}, "action", "required"),
    ]
    for body, field, words in refusals:
        response = app_client.post(url, json=body, headers=officer)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field and words in response.json()["rule"].lower(), (body, response.json())
    assert license_row_counts(platform_module) == before
    assert app_client.get(f"/api/v1/licenses/{license_id}").json()["info"]["status"] == "draft"
    for params, field in (({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"), ({"division": "42x"}, "division")):
        response = app_client.get("/api/v1/licenses", params=params)
        assert response.status_code == 422 and response.json()["field"] == field, response.text
    bad_copy = app_client.get(f"/api/v1/licenses/{license_id}/files/triplicate.pdf")
    assert bad_copy.status_code == 422 and bad_copy.json()["field"] == "copy"
    bad_format = app_client.get(f"/api/v1/licenses/{license_id}/files/original.docx")
    assert bad_format.status_code == 422 and bad_format.json()["field"] == "format"
    missing = app_client.get("/api/v1/licenses/no-such-record")
    assert missing.status_code == 404


def test_writes_with_the_cookie_need_the_csrf_token(app_client: TestClient, officer: dict[str, str]) -> None:
    body = {"type": "drug-production", "data": drug_json()}
    assert app_client.post("/api/v1/licenses", json=body).status_code == 403
    wrong = app_client.post("/api/v1/licenses", json=body, headers={"X-CSRF-Token": "x" * 32})
    assert wrong.status_code == 403 and "CSRF" in wrong.json()["error"]
    app_client.cookies.clear()
    assert app_client.get("/api/v1/licenses").status_code == 401
    assert app_client.get("/api/v1/license-types").headers.get("www-authenticate") == "Bearer"


def test_openapi_lists_every_license_endpoint_with_response_models(
    app_client: TestClient, platform_module: Platform
) -> None:
    document = app_client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    routes = license_routes(create_app(platform_module))
    expected = {
        ("GET", "/api/v1/license-types"),
        ("GET", "/api/v1/license-types/{code}"),
        ("POST", "/api/v1/licenses"),
        ("POST", "/api/v1/licenses/issue"),
        ("GET", "/api/v1/licenses"),
        ("GET", "/api/v1/licenses/lookup"),
        ("GET", "/api/v1/licenses/{license_id}"),
        ("POST", "/api/v1/licenses/{license_id}/transitions"),
        ("GET", "/api/v1/licenses/{license_id}/versions/{version}"),
        ("GET", "/api/v1/licenses/{license_id}/files/{copy}.{format}"),
    }
    assert routes == expected
    for method, path in routes:
        operation = document["paths"][path][method.lower()]
        assert operation.get("summary"), (method, path)
        success = next(code for code in ("200", "201") if code in operation["responses"])
        content = operation["responses"][success]["content"]
        if path.endswith("{copy}.{format}"):
            assert set(content) == {"application/pdf", "application/ofd"}
        else:
            schema = content["application/json"]["schema"]
            ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
            assert ref and ref.split("/")[-1] in schemas, (method, path, schema)
        for code in ("401", "403", "404", "422"):
            error = operation["responses"][code]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)
        assert {"HTTPBearer": []} in operation["security"] or any("Bearer" in k for s in operation["security"]
                                                                     for k in s), (method, path)  # fmt: skip
    issue_body = document["paths"]["/api/v1/licenses/issue"]["post"]["requestBody"]["content"]["application/json"]
    assert issue_body["schema"]["$ref"].endswith("LicenseIssueIn")
    actions = schemas["TransitionIn"]["properties"]["action"]["enum"]
    assert {"submit", "approve", "issue", "change", "renew", "revoke", "cancel"} <= set(actions)
    assert "create" not in actions and "import" not in actions
