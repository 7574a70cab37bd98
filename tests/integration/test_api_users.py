"""/api/v1/users over HTTP: every endpoint with an admin's login session and with an admin API key, refusals
(no credential 401, a role without the permission 403, a cookie write without its CSRF token 403, a user outside
the caller's data scope 403), bad input 422 naming the field (nothing stored), the password never in a response,
log, audit event or the database in clear, and the OpenAPI document.  Also: the existing API endpoints accept a
login session through `authorised`.

Outside checkers: argon2pure (a pure-Python Argon2 we did not write) recomputes the stored hash of the password
sent through the API; jsonschema validates every response against the schemas the OpenAPI document publishes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import argon2pure
import httpx
import jsonschema
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from certseal.config import Settings
from certseal.services.apikeys import ApiKeyService
from certseal.services.platform import Platform
from certseal.services.users import UserService
from certseal.store.models import AuditEvent, User
from certseal.web.app import create_app
from certseal.web.routes import api_users
from certseal.web.sessions import SESSION_COOKIE
from tests.conftest import ACTOR

PASSWORD = "Tea-Kettle-Horizon-42"
NEW_PASSWORD = "Lantern-Orchard-Quiet-77"
RESET_PASSWORD = "Granite-Meadow-Sparrow-19"
HUBEI_USCC = "91420100MA4K00001U"  # registration division 420100 (characters 3-8)
FUJIAN_USCC = "91350100M000100Y43"
ID_NUMBER = "11010519491231002X"
FAST_HASH = {"password_hash_time_cost": 1, "password_hash_memory_kib": 1024, "password_hash_parallelism": 1}

# (method, path, json body or None, permission); "target" is an existing licensing officer in city 420100
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/api/v1/users", None, "user:read"),
    ("GET", "/api/v1/users/target", None, "user:read"),
    (
        "POST",
        "/api/v1/users",
        {"username": "new-officer", "role": "licensing-officer", "scope": "420102", "password": NEW_PASSWORD},
        "user:write",
    ),
    ("PUT", "/api/v1/users/target/role", {"role": "licensing-officer", "scope": "420102"}, "user:write"),
    ("POST", "/api/v1/users/target/disable", None, "user:write"),
    ("POST", "/api/v1/users/target/enable", None, "user:write"),
    ("POST", "/api/v1/users/target/unlock", None, "user:write"),
    ("PUT", "/api/v1/users/target/password", {"password": RESET_PASSWORD}, "user:write"),
]


@dataclass
class Caller:
    """One HTTP client acting as a user (session cookie + CSRF token) or an API key."""

    client: TestClient
    csrf: str | None = None
    token: str | None = None

    def call(self, method: str, path: str, json: Any = None, csrf: bool = True, **kwargs: Any) -> httpx.Response:
        headers: dict[str, str] = dict(kwargs.pop("headers", {}))
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.csrf and csrf:
            headers["X-CSRF-Token"] = self.csrf
        return self.client.request(method, path, json=json, headers=headers, **kwargs)


class Deployment:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.app = create_app(platform)
        users = UserService(platform)
        users.create("admin-wang", "provincial-admin", PASSWORD, ACTOR, scope="*", display_name="王芳")
        users.create("admin-hubei", "provincial-admin", PASSWORD, ACTOR, scope="420000")
        users.create("auditor-zhao", "auditor", PASSWORD, ACTOR, scope="*")
        users.create("officer-li", "licensing-officer", PASSWORD, ACTOR, scope="420100")
        users.create("target", "licensing-officer", PASSWORD, ACTOR, scope="420100")
        keys = ApiKeyService(platform)
        self.admin_key = keys.create("script", "admin", ACTOR)[1]
        self.seal_user_key = keys.create("gateway", "seal-user", ACTOR)[1]
        self.clients: list[TestClient] = []

    def anonymous(self) -> Caller:
        client = TestClient(self.app)
        self.clients.append(client)
        return Caller(client)

    def session(self, username: str, password: str = PASSWORD) -> Caller:
        caller = self.anonymous()
        response = caller.client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        caller.csrf = response.json()["csrf_token"]
        return caller

    def api_key(self, token: str) -> Caller:
        caller = self.anonymous()
        caller.token = token
        return caller

    def caller(self, kind: str) -> Caller:
        return self.session("admin-wang") if kind == "session" else self.api_key(self.admin_key)

    def user_rows(self) -> int:
        with self.platform.db.reading() as session:
            return int(session.scalar(select(func.count()).select_from(User)) or 0)

    def audit(self, entity_id: str) -> list[AuditEvent]:
        with self.platform.db.reading() as session:
            query = select(AuditEvent).where(AuditEvent.entity == "user", AuditEvent.entity_id == entity_id)
            return list(session.scalars(query.order_by(AuditEvent.seq)))


@pytest.fixture
def deployment(make_settings: Callable[..., Settings]) -> Iterator[Deployment]:
    platform = Platform(make_settings(login_max_failures=2, **FAST_HASH))
    platform.db.migrate()
    found = Deployment(platform)
    yield found
    for client in found.clients:
        client.close()
    platform.close()


def user_routes(deployment: Deployment) -> set[tuple[str, str]]:
    """Every /api/v1/users operation: the router's routes and what the OpenAPI document lists (FastAPI no longer
    flattens included routers into app.routes)."""
    routed = {
        (method, route.path)
        for route in api_users.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    spec = deployment.app.openapi()
    documented = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        if path.startswith("/api/v1/users")
        for method in item
    }
    return routed | documented


def concrete(path: str) -> str:
    return path.replace("{username}", "target")


def test_the_endpoint_table_lists_every_user_route(deployment: Deployment) -> None:
    assert {(method, concrete(path)) for method, path in user_routes(deployment)} == {
        (method, path) for method, path, _, _ in ENDPOINTS
    }


@pytest.mark.parametrize("kind", ["session", "api-key"])
def test_every_endpoint_works_with_an_admin_session_and_an_api_key(deployment: Deployment, kind: str) -> None:
    admin = deployment.caller(kind)
    actor = "admin-wang" if kind == "session" else "api:script"
    body = {
        "username": "officer-chen",
        "role": "licensing-officer",
        "scope": "420102",
        "display_name": "陈  静",
        "password": NEW_PASSWORD,
    }
    created = admin.call("POST", "/api/v1/users", body)
    assert created.status_code == 201, created.text
    assert created.json() | {"created_at": None} == {
        "username": "officer-chen",
        "display_name": "陈 静",
        "role": "licensing-officer",
        "scope": "division:420102",
        "status": "active",
        "locked": False,
        "failed_attempts": 0,
        "locked_until": None,
        "last_login_at": None,
        "totp_enabled": False,
        "created_by": actor,
        "created_at": None,
    }
    assert deployment.session("officer-chen", NEW_PASSWORD).call("GET", "/api/v1/auth/me").json()["role"] == (
        "licensing-officer"
    )
    listed = admin.call("GET", "/api/v1/users")
    assert listed.status_code == 200
    assert [u["username"] for u in listed.json()] == [
        "admin-hubei",
        "admin-wang",
        "auditor-zhao",
        "officer-chen",
        "officer-li",
        "target",
    ]
    shown = admin.call("GET", "/api/v1/users/officer-chen").json()
    assert shown["last_login_at"] is not None and shown["scope"] == "division:420102"

    moved = admin.call("PUT", "/api/v1/users/officer-chen/role", {"role": "auditor", "scope": "420100"})
    assert moved.status_code == 200 and (moved.json()["role"], moved.json()["scope"]) == ("auditor", "division:420100")

    disabled = admin.call("POST", "/api/v1/users/officer-chen/disable")
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
    refused = deployment.anonymous().client.post(
        "/api/v1/auth/login", json={"username": "officer-chen", "password": NEW_PASSWORD}
    )
    assert refused.status_code == 401
    enabled = admin.call("POST", "/api/v1/users/officer-chen/enable")
    assert enabled.status_code == 200 and enabled.json()["status"] == "active"

    login = deployment.anonymous().client.post
    for _ in range(2):  # login_max_failures=2
        login("/api/v1/auth/login", json={"username": "officer-chen", "password": "wrong-password-123"})
    locked = admin.call("GET", "/api/v1/users/officer-chen").json()
    assert locked["locked"] and locked["failed_attempts"] == 2 and locked["locked_until"]
    unlocked = admin.call("POST", "/api/v1/users/officer-chen/unlock")
    assert unlocked.status_code == 200
    assert (unlocked.json()["locked"], unlocked.json()["failed_attempts"], unlocked.json()["locked_until"]) == (
        False,
        0,
        None,
    )

    live = deployment.session("officer-chen", NEW_PASSWORD)
    reset = admin.call("PUT", "/api/v1/users/officer-chen/password", {"password": RESET_PASSWORD})
    assert reset.status_code == 204 and reset.content == b""
    assert live.call("GET", "/api/v1/auth/me").status_code == 401  # the password change ended the session
    old = login("/api/v1/auth/login", json={"username": "officer-chen", "password": NEW_PASSWORD})
    assert old.status_code == 401
    assert deployment.session("officer-chen", RESET_PASSWORD).csrf

    trail = [(e.action, e.actor, e.source) for e in deployment.audit("officer-chen") if e.actor == actor]
    assert trail == [
        ("create", actor, "testclient"),
        ("set-role", actor, "testclient"),
        ("disable", actor, "testclient"),
        ("enable", actor, "testclient"),
        ("unlock", actor, "testclient"),
        ("set-password", actor, "testclient"),
    ]


@pytest.mark.parametrize(("method", "path", "body", "permission"), ENDPOINTS)
def test_roles_without_the_permission_get_403_and_no_credential_401(
    deployment: Deployment, method: str, path: str, body: dict[str, Any] | None, permission: str
) -> None:
    before = deployment.user_rows(), len(deployment.audit("target"))
    officer = deployment.session("officer-li")  # a licensing officer: neither user:read nor user:write
    denied = officer.call(method, path, body)
    assert denied.status_code == 403, denied.text
    assert f"may not {permission}: the role licensing-officer does not grant it" in denied.json()["error"]
    seal_key = deployment.api_key(deployment.seal_user_key).call(method, path, body)
    assert seal_key.status_code == 403 and "API key api:gateway" in seal_key.json()["error"]
    auditor = deployment.session("auditor-zhao").call(method, path, body)
    assert auditor.status_code == (200 if permission == "user:read" else 403), auditor.text
    nobody = deployment.anonymous().call(method, path, body)
    assert nobody.status_code == 401 and nobody.headers["www-authenticate"] == "Bearer"
    assert "log in" in nobody.json()["error"]
    wrong_key = deployment.api_key("cs_0123456789abcdef_" + "x" * 43).call(method, path, body)
    assert wrong_key.status_code == 401
    assert (deployment.user_rows(), len(deployment.audit("target"))) == before


@pytest.mark.parametrize(("method", "path", "body", "permission"), [e for e in ENDPOINTS if e[0] != "GET"])
def test_a_cookie_write_needs_the_csrf_token(
    deployment: Deployment, method: str, path: str, body: dict[str, Any] | None, permission: str
) -> None:
    admin = deployment.session("admin-wang")
    before = deployment.user_rows(), len(deployment.audit("target"))
    missing = admin.call(method, path, body, csrf=False)
    assert missing.status_code == 403 and "CSRF token missing" in missing.json()["error"]
    wrong = admin.call(method, path, body, csrf=False, headers={"X-CSRF-Token": "not-this-sessions-token"})
    assert wrong.status_code == 403 and "CSRF token wrong" in wrong.json()["error"]
    assert (deployment.user_rows(), len(deployment.audit("target"))) == before
    assert admin.call(method, path, body).status_code in (200, 201, 204)


BAD_INPUT: list[tuple[str, str, Any, str, str]] = [
    # (method, path, json body, field named, words of the rule)
    ("POST", "/api/v1/users", {"username": "bob-x", "password": NEW_PASSWORD}, "role", "field required"),
    ("POST", "/api/v1/users", {"username": "bob-x", "role": "root", "password": NEW_PASSWORD}, "role", "input should"),
    ("POST", "/api/v1/users", {"username": "b", "role": "auditor", "password": NEW_PASSWORD}, "username", "2-64"),
    ("POST", "/api/v1/users", {"username": "bob-x", "role": "auditor", "password": "short-pw"}, "password", "12"),
    (
        "POST",
        "/api/v1/users",
        {"username": "bob-x-officer", "role": "auditor", "password": "BOB-X-OFFICER"},
        "password",
        "not be the user name",
    ),
    (
        "POST",
        "/api/v1/users",
        {"username": "bob-x", "role": "auditor", "password": "Password1234"},
        "password",
        "too common",
    ),
    (
        "POST",
        "/api/v1/users",
        {"username": "bob-x", "role": "auditor", "passwd": NEW_PASSWORD, "password": NEW_PASSWORD},
        "passwd",
        "extra inputs",
    ),
    (
        "POST",
        "/api/v1/users",
        {"username": "bob-x", "role": "licensing-officer", "password": NEW_PASSWORD},
        "scope",
        "needs a scope",
    ),
    (
        "POST",
        "/api/v1/users",
        {"username": "bob-x", "role": "licensing-officer", "scope": "4201", "password": NEW_PASSWORD},
        "scope",
        "6-digit division code",
    ),
    (
        "POST",
        "/api/v1/users",
        {"username": "bob-x", "role": "enterprise-user", "scope": HUBEI_USCC[:-1] + "X", "password": NEW_PASSWORD},
        "scope",
        "uscc",
    ),
    (
        "POST",
        "/api/v1/users",
        {"username": "bob-x", "role": "pharmacist", "scope": ID_NUMBER[:-1] + "1", "password": NEW_PASSWORD},
        "scope",
        "resident id number",
    ),
    ("POST", "/api/v1/users", {"username": "bob-x", "role": "auditor", "password": 1234567890123}, "password", "str"),
    ("POST", "/api/v1/users", [NEW_PASSWORD], "body", "valid dictionary"),
    ("PUT", "/api/v1/users/target/role", {"role": "pharmacist"}, "scope", "needs a scope"),
    ("PUT", "/api/v1/users/target/role", {"scope": "420100"}, "role", "field required"),
    ("PUT", "/api/v1/users/target/password", {}, "password", "field required"),
    ("PUT", "/api/v1/users/target/password", {"password": "target"}, "password", "at least 12"),
    ("GET", "/api/v1/users/" + "x" * 65, None, "username", "at most 64"),
]


@pytest.mark.parametrize(("method", "path", "body", "field", "rule"), BAD_INPUT)
def test_bad_input_is_422_naming_the_field_and_nothing_is_stored(
    deployment: Deployment, method: str, path: str, body: Any, field: str, rule: str
) -> None:
    admin = deployment.session("admin-wang")
    before = deployment.user_rows(), len(deployment.audit("target")), len(deployment.audit("bob-x"))
    response = admin.call(method, path, body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert set(error) == {"error", "field", "rule"} and error["field"] == field, error
    assert rule in error["rule"].lower() and error["error"].startswith(f"{field}: "), error
    assert NEW_PASSWORD not in response.text and "input" not in error
    after = deployment.user_rows(), len(deployment.audit("target")), len(deployment.audit("bob-x"))
    assert after == before


def test_malformed_json_is_422(deployment: Deployment) -> None:
    admin = deployment.session("admin-wang")
    sent = f'{{"username": "bob-x", "role": "auditor", "password": "{NEW_PASSWORD}"'
    response = admin.call("POST", "/api/v1/users", content=sent, headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["field"] == "body", response.text
    assert "valid JSON" in response.json()["rule"] and NEW_PASSWORD not in response.text


def test_missing_user_is_404_and_duplicate_409(deployment: Deployment) -> None:
    admin = deployment.api_key(deployment.admin_key)
    for method, path, body, _ in ENDPOINTS[1:]:
        if path == "/api/v1/users":
            continue
        response = admin.call(method, path.replace("/target", "/nobody"), body)
        assert response.status_code == 404 and "no user named 'nobody'" in response.json()["error"], path
    duplicate = {"username": "target", "role": "auditor", "password": NEW_PASSWORD}
    assert admin.call("POST", "/api/v1/users", duplicate).status_code == 409


def test_the_password_is_never_in_a_response_log_audit_event_or_the_database(
    deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = deployment.session("admin-wang")
    api = deployment.api_key(deployment.admin_key)
    responses = [
        admin.call("POST", "/api/v1/users", {"username": "pharm-sun", "role": "pharmacist", "password": NEW_PASSWORD}),
        admin.call(
            "POST",
            "/api/v1/users",
            {"username": "pharm-sun", "role": "pharmacist", "scope": ID_NUMBER, "password": NEW_PASSWORD},
        ),
        admin.call("POST", "/api/v1/users", {"username": "pharm-sun", "role": "auditor", "password": NEW_PASSWORD}),
        api.call("PUT", "/api/v1/users/pharm-sun/password", {"password": RESET_PASSWORD}),
        api.call("PUT", "/api/v1/users/pharm-sun/password", {"password": RESET_PASSWORD, "extra": RESET_PASSWORD}),
        api.call("PUT", "/api/v1/users/pharm-sun/password", {"password": [RESET_PASSWORD]}),
        admin.call("GET", "/api/v1/users/pharm-sun"),
        admin.call("GET", "/api/v1/users"),
    ]
    assert [r.status_code for r in responses] == [422, 201, 409, 204, 422, 422, 200, 200]
    created = responses[1].json()
    assert created["scope"].startswith("person:") and ID_NUMBER not in responses[1].text
    secrets = (NEW_PASSWORD, RESET_PASSWORD, ID_NUMBER)
    for response in responses:
        text = response.text.lower()
        assert not any(secret.lower() in text for secret in secrets), response.text
        assert "hash" not in text and "argon2" not in text and "totp_secret" not in text, response.text
    assert not any(secret in caplog.text for secret in secrets)
    with deployment.platform.db.reading() as session:
        events = list(session.scalars(select(AuditEvent)))
        stored_hash = session.scalars(select(User.password_hash).where(User.username == "pharm-sun")).one()
    trail = " ".join(f"{e.before} {e.after} {e.entity_id}" for e in events)
    assert not any(secret in trail for secret in secrets)
    for database in deployment.platform.settings.home_dir.glob("certseal.db*"):  # with -wal and -shm
        assert not any(secret.encode() in database.read_bytes() for secret in secrets), database
    assert _argon2pure_verifies(stored_hash, RESET_PASSWORD)
    assert not _argon2pure_verifies(stored_hash, NEW_PASSWORD)


def _argon2pure_verifies(encoded: str, password: str) -> bool:
    """Recompute an argon2id PHC string with argon2pure (independent of argon2-cffi) and compare."""
    import base64

    _, variant, version, params, salt, tag = encoded.split("$")
    assert variant == "argon2id" and version == "v=19"
    cost = dict(item.split("=") for item in params.split(","))
    salt_bytes = base64.b64decode(salt + "=" * (-len(salt) % 4))
    tag_bytes = base64.b64decode(tag + "=" * (-len(tag) % 4))
    computed = argon2pure.argon2(
        password.encode(),
        salt_bytes,
        time_cost=int(cost["t"]),
        memory_cost=int(cost["m"]),
        parallelism=int(cost["p"]),
        tag_length=len(tag_bytes),
        type_code=argon2pure.ARGON2ID,
    )
    return bool(computed == tag_bytes)


def test_a_province_admin_manages_only_users_inside_its_scope(deployment: Deployment) -> None:
    hubei = deployment.session("admin-hubei")  # provincial-admin, scope division 420000
    names = [u["username"] for u in hubei.call("GET", "/api/v1/users").json()]
    assert names == ["admin-hubei", "officer-li", "target"]  # '*' accounts are outside a province's scope
    outside = hubei.call("GET", "/api/v1/users/admin-wang")
    assert outside.status_code == 403 and "outside the data scope" in outside.json()["error"]
    assert hubei.call("POST", "/api/v1/users/admin-wang/disable").status_code == 403
    wider = {"username": "auditor-x", "role": "auditor", "scope": "*", "password": NEW_PASSWORD}
    assert hubei.call("POST", "/api/v1/users", wider).status_code == 403
    other_province = {"username": "officer-x", "role": "licensing-officer", "scope": "350100", "password": NEW_PASSWORD}
    assert hubei.call("POST", "/api/v1/users", other_province).status_code == 403
    fujian_firm = {"username": "ent-x", "role": "enterprise-user", "scope": FUJIAN_USCC, "password": NEW_PASSWORD}
    assert hubei.call("POST", "/api/v1/users", fujian_firm).status_code == 403
    escalate = hubei.call("PUT", "/api/v1/users/admin-hubei/role", {"role": "provincial-admin", "scope": "*"})
    assert escalate.status_code == 403
    assert deployment.user_rows() == 5
    for body in (
        {"username": "officer-x", "role": "licensing-officer", "scope": "420111", "password": NEW_PASSWORD},
        {"username": "ent-x", "role": "enterprise-user", "scope": HUBEI_USCC, "password": NEW_PASSWORD},
        {"username": "pharm-x", "role": "pharmacist", "scope": ID_NUMBER, "password": NEW_PASSWORD},
    ):
        assert hubei.call("POST", "/api/v1/users", body).status_code == 201, body
    assert hubei.call("POST", "/api/v1/users/ent-x/disable").json()["status"] == "disabled"
    city_auditor = deployment.api_key(deployment.admin_key).call(
        "POST", "/api/v1/users", {"username": "aud-city", "role": "auditor", "scope": "420100", "password": PASSWORD}
    )
    assert city_auditor.status_code == 201
    seen = [u["username"] for u in deployment.session("aud-city").call("GET", "/api/v1/users").json()]
    assert seen == ["aud-city", "ent-x", "officer-li", "officer-x", "target"]  # no pharmacist: not a province


def test_existing_endpoints_accept_a_login_session(deployment: Deployment) -> None:
    officer = deployment.session("officer-li")  # seal:read, seal:use, verify; no ca:read
    assert officer.call("GET", "/api/v1/seals").json() == []
    denied = officer.call("GET", "/api/v1/cas")
    assert denied.status_code == 403 and "user officer-li" in denied.json()["error"]
    upload = {"file": ("x.pdf", b"%PDF-1.7 not really", "application/pdf")}
    no_csrf = officer.call("POST", "/api/v1/verify", csrf=False, files=upload)
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["error"]
    with_csrf = officer.call("POST", "/api/v1/verify", files=upload)
    assert with_csrf.status_code not in (401, 403), with_csrf.text
    admin = deployment.session("admin-wang")  # audit:read
    assert admin.call("GET", "/api/v1/audit/verify").json()["ok"] is True  # audit:read through a session
    forged = deployment.anonymous()
    forged.client.cookies.set(SESSION_COOKIE, "forged.tag")
    assert forged.call("GET", "/api/v1/seals").status_code == 401


def test_openapi_documents_the_user_api(deployment: Deployment) -> None:
    spec = deployment.anonymous().client.get("/openapi.json").json()
    operations = {
        (method.upper(), path): operation
        for path, item in spec["paths"].items()
        if path.startswith("/api/v1/users")
        for method, operation in item.items()
    }
    assert set(operations) == user_routes(deployment)
    for (method, path), operation in operations.items():
        assert operation.get("summary") and operation["tags"] == ["users"], path
        assert {"HTTPBearer": []} in operation["security"] and {"APIKeyCookie": []} in operation["security"], path
        assert {"401", "403", "404", "422"} <= set(operation["responses"]), (method, path)
    schemas = spec["components"]["schemas"]
    for name in ("UserCreate", "PasswordReset"):
        password = schemas[name]["properties"]["password"]
        assert password["format"] == "password" and password["writeOnly"] is True
    assert set(schemas["UserOut"]["properties"]).isdisjoint({"password", "password_hash", "totp_secret"})
    assert "enum" in schemas["Role"] and "pharmacist" in schemas["Role"]["enum"]
    assert operations[("PUT", "/api/v1/users/{username}/password")]["responses"].keys() >= {"204"}
    assert operations[("POST", "/api/v1/users")]["responses"].keys() >= {"201"}


def test_responses_match_the_published_schemas(deployment: Deployment) -> None:
    """jsonschema (an outside validator) checks real answers against the OpenAPI document's own schemas."""
    spec = deployment.anonymous().client.get("/openapi.json").json()
    definitions = {"components": spec["components"]}

    def check(response: httpx.Response, schema: dict[str, Any]) -> None:
        jsonschema.validate(response.json(), {**schema, **definitions})

    user = {"$ref": "#/components/schemas/UserOut"}
    error = {"$ref": "#/components/schemas/ErrorBody"}
    admin = deployment.session("admin-wang")
    body = {"username": "officer-x", "role": "licensing-officer", "scope": "420111", "password": NEW_PASSWORD}
    check(admin.call("POST", "/api/v1/users", body), user)
    check(admin.call("GET", "/api/v1/users"), {"type": "array", "items": user})
    check(admin.call("GET", "/api/v1/users/officer-x"), user)
    check(admin.call("POST", "/api/v1/users/officer-x/disable"), user)
    check(admin.call("POST", "/api/v1/users", {"username": "z"}), error)
    check(admin.call("GET", "/api/v1/users/nobody"), error)
    check(deployment.anonymous().call("GET", "/api/v1/users"), error)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"username": "x"}, {**user, **definitions})  # the negative: the validator does bite
