"""Web sessions over HTTP: the login API and page, cookie flags, forged and tampered cookies, CSRF on every
state-changing cookie request, logout everywhere, idle and absolute expiry, and role and scope checks through
`current_principal` for sessions and API keys alike."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from certseal.config import Settings
from certseal.services.access import LicensePermission, LicenseScope, Principal
from certseal.services.apikeys import ApiKeyService
from certseal.services.platform import Platform
from certseal.services.users import LoginPolicy, UserService
from certseal.store.models import AuditEvent, UserSession, utcnow
from certseal.web.app import create_app
from certseal.web.sessions import LOGIN_CSRF_COOKIE, SESSION_COOKIE, requires, sign
from tests.conftest import ACTOR

FAST = LoginPolicy(hash_time_cost=1, hash_memory_kib=1024, hash_parallelism=1)
PASSWORD = "Tea-Kettle-Horizon-42"
USCC = "91350100M000100Y43"


def add_license_routes(app: FastAPI) -> None:
    """Endpoints shaped like the license API to come: permission by dependency, scope once the record is known."""

    @app.get("/test/licenses/{division}")
    def read(division: str, caller: Annotated[Principal, Depends(requires(LicensePermission.READ))]) -> dict[str, str]:
        caller.require_scope(LicenseScope(division, USCC))
        return {"read_by": caller.name}

    @app.post("/test/licenses/{division}/revoke")
    def revoke(
        division: str, caller: Annotated[Principal, Depends(requires(LicensePermission.REVOKE))]
    ) -> dict[str, str]:
        caller.require_scope(LicenseScope(division, USCC))
        return {"revoked_by": caller.name}


@pytest.fixture
def platform_sqlite(make_settings: Callable[..., Settings]) -> Iterator[Platform]:
    platform = Platform(make_settings())
    platform.db.migrate()
    users = UserService(platform, FAST)
    users.create("officer-li", "licensing-officer", PASSWORD, ACTOR, scope="420100")
    users.create("ent-user", "enterprise-user", PASSWORD, ACTOR, scope=USCC)
    yield platform
    platform.close()


@pytest.fixture
def client(platform_sqlite: Platform) -> Iterator[TestClient]:
    app = create_app(platform_sqlite)
    add_license_routes(app)
    with TestClient(app) as test_client:
        yield test_client


def login(client: TestClient, username: str = "officer-li", password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    csrf: str = response.json()["csrf_token"]
    return csrf


def set_cookie_of(response_headers: list[str], name: str) -> str:
    found = [h for h in response_headers if h.startswith(f"{name}=")]
    assert found, response_headers
    return found[0]


def test_login_sets_a_signed_httponly_lax_cookie(client: TestClient) -> None:
    response = client.post("/api/v1/auth/login", json={"username": "officer-li", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "officer-li" and body["role"] == "licensing-officer"
    assert body["scope"] == "division:420100" and "license:view-sensitive" in body["permissions"]
    assert len(body["csrf_token"]) >= 32
    header = set_cookie_of(response.headers.get_list("set-cookie"), SESSION_COOKIE)
    attributes = {a.strip().lower() for a in header.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    assert "secure" not in attributes  # plain http here
    value = SimpleCookie(header)[SESSION_COOKIE].value
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}", value)
    me = client.get("/api/v1/auth/me").json()
    assert me["name"] == "officer-li" and me["kind"] == "user" and me["csrf_token"] == body["csrf_token"]


def test_cookie_is_secure_behind_https(make_settings: Callable[..., Settings]) -> None:
    platform = Platform(make_settings(base_url="https://licenses.example.gov.cn"))
    platform.db.migrate()
    UserService(platform, FAST).create("officer-li", "licensing-officer", PASSWORD, ACTOR, scope="420100")
    try:
        with TestClient(create_app(platform)) as https_client:
            response = https_client.post("/api/v1/auth/login", json={"username": "officer-li", "password": PASSWORD})
            header = set_cookie_of(response.headers.get_list("set-cookie"), SESSION_COOKIE)
            assert "secure" in {a.strip().lower() for a in header.split(";")}
    finally:
        platform.close()


def test_failed_logins_answer_401_and_lock(client: TestClient) -> None:
    for _ in range(5):
        response = client.post("/api/v1/auth/login", json={"username": "officer-li", "password": "Wrong-Password-1"})
        assert response.status_code == 401 and response.json()["error"] == "wrong user name or password"
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    response = client.post("/api/v1/auth/login", json={"username": "officer-li", "password": PASSWORD})
    assert response.status_code == 401 and "locked after 5 failed logins" in response.json()["error"]
    response = client.post("/api/v1/auth/login", json={"username": "officer-li", "password": "", "totp": "12"})
    assert response.status_code == 422


def test_no_tampered_or_forged_cookie_gets_in(client: TestClient, platform_sqlite: Platform) -> None:
    assert client.get("/api/v1/auth/me").status_code == 401
    login(client)
    good = client.cookies[SESSION_COOKIE]
    session_id, tag = good.split(".")
    flipped_id = ("A" if session_id[0] != "A" else "B") + session_id[1:]
    flipped_tag = tag[:-1] + ("A" if tag[-1] != "A" else "B")
    for forged in (f"{flipped_id}.{tag}", f"{session_id}.{flipped_tag}", session_id, "", ".", f"{session_id}."):
        client.cookies.set(SESSION_COOKIE, forged)
        response = client.get("/api/v1/auth/me")
        assert response.status_code == 401, forged
    # correctly signed, but no such session: the database says no
    client.cookies.set(SESSION_COOKIE, sign(platform_sqlite, "session", "x" * 43))
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401 and "unknown" in response.json()["error"]
    client.cookies.set(SESSION_COOKIE, good)
    assert client.get("/api/v1/auth/me").status_code == 200


def test_csrf_is_required_on_state_changing_cookie_requests(client: TestClient) -> None:
    csrf = login(client)
    assert client.get("/test/licenses/420102").json() == {"read_by": "officer-li"}
    missing = client.post("/test/licenses/420102/revoke")
    assert missing.status_code == 403 and "CSRF token missing" in missing.json()["error"]
    wrong = client.post("/test/licenses/420102/revoke", headers={"X-CSRF-Token": csrf[:-2] + "xx"})
    assert wrong.status_code == 403 and "CSRF token wrong" in wrong.json()["error"]
    form_missing = client.post("/test/licenses/420102/revoke", data={"reason": "x"})
    assert form_missing.status_code == 403
    by_form = client.post("/test/licenses/420102/revoke", data={"csrf_token": csrf})
    assert by_form.status_code == 200
    by_header = client.post("/test/licenses/420102/revoke", headers={"X-CSRF-Token": csrf})
    assert by_header.json() == {"revoked_by": "officer-li"}


def test_role_and_scope_are_checked_for_sessions_and_api_keys(client: TestClient, platform_sqlite: Platform) -> None:
    csrf = login(client)
    assert client.get("/test/licenses/420102").status_code == 200
    outside = client.get("/test/licenses/430102")
    assert outside.status_code == 403 and "outside the data scope" in outside.json()["error"]
    login(client, "ent-user")
    assert client.get("/test/licenses/430102").json() == {"read_by": "ent-user"}  # its own USCC, any division
    ent_csrf = client.get("/api/v1/auth/me").json()["csrf_token"]
    denied = client.post("/test/licenses/430102/revoke", headers={"X-CSRF-Token": ent_csrf})
    assert denied.status_code == 403 and "may not license:revoke" in denied.json()["error"]
    assert csrf != ent_csrf
    _, token = ApiKeyService(platform_sqlite).create("his-gateway", "seal-user", ACTOR)
    client.cookies.clear()
    headers = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/auth/me", headers=headers).json()
    assert (me["name"], me["kind"], me["role"], me["csrf_token"]) == ("api:his-gateway", "api-key", "seal-user", None)
    no_permission = client.get("/test/licenses/420102", headers=headers)
    assert no_permission.status_code == 403 and "API key api:his-gateway" in no_permission.json()["error"]
    bad_key = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer cs_nonsense"})
    assert bad_key.status_code == 401
    basic = client.get("/api/v1/auth/me", headers={"Authorization": "Basic b2ZmaWNlcjpwdw=="})
    assert basic.status_code == 401


def test_role_changes_and_disabling_apply_to_live_sessions(client: TestClient, platform_sqlite: Platform) -> None:
    login(client)
    users = UserService(platform_sqlite, FAST)
    users.set_role("officer-li", "licensing-officer", ACTOR, scope="430000")
    assert client.get("/test/licenses/420102").status_code == 403
    assert client.get("/test/licenses/430102").status_code == 200
    users.disable("officer-li", ACTOR)
    assert client.get("/api/v1/auth/me").status_code == 401


def test_logout_ends_the_session_everywhere(client: TestClient, platform_sqlite: Platform) -> None:
    csrf = login(client)
    cookie = client.cookies[SESSION_COOKIE]
    assert client.post("/api/v1/auth/logout").status_code == 403  # no CSRF token
    response = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    assert 'certseal_session=""' in response.headers["set-cookie"] or "Max-Age=0" in response.headers["set-cookie"]
    client.cookies.set(SESSION_COOKIE, cookie)  # a copy kept by someone
    ended = client.get("/api/v1/auth/me")
    assert ended.status_code == 401 and "ended" in ended.json()["error"]
    with platform_sqlite.db.reading() as session:
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.entity_id == "officer-li")))
    assert actions[-2:] == ["login", "logout"]
    client.cookies.clear()
    _, token = ApiKeyService(platform_sqlite).create("script", "auditor", ACTOR)
    api_logout = client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert api_logout.status_code == 422


@pytest.mark.parametrize("column", ["last_seen_at", "expires_at"])
def test_idle_and_absolute_expiry(client: TestClient, platform_sqlite: Platform, column: str) -> None:
    login(client)
    assert client.get("/api/v1/auth/me").status_code == 200
    past = {"last_seen_at": utcnow() - timedelta(minutes=31), "expires_at": utcnow() - timedelta(seconds=1)}
    with platform_sqlite.db.transaction() as session:
        session.execute(update(UserSession).values({column: past[column]}))
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert ("30 idle minutes" if column == "last_seen_at" else "expired") in response.json()["error"]


def test_activity_keeps_the_session_alive(client: TestClient, platform_sqlite: Platform) -> None:
    login(client)
    with platform_sqlite.db.transaction() as session:
        session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=29)))
    assert client.get("/api/v1/auth/me").status_code == 200
    with platform_sqlite.db.reading() as session:
        last_seen = session.scalars(select(UserSession.last_seen_at)).one()
    assert utcnow() - last_seen < timedelta(minutes=1)


def test_login_page_form_with_csrf(client: TestClient) -> None:
    page = client.get("/login?next=/console")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token and 'name="next" value="/console"' in page.text
    assert client.cookies.get(LOGIN_CSRF_COOKIE)
    form = {"username": "officer-li", "password": PASSWORD, "next": "/console"}
    missing = client.post("/login", data=form, follow_redirects=False)
    assert missing.status_code == 403 and "CSRF token missing" in missing.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', missing.text)
    assert token
    wrong = client.post("/login", data={**form, "csrf_token": token.group(1) + "x"}, follow_redirects=False)
    assert wrong.status_code == 403 and "CSRF token wrong" in wrong.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', wrong.text)
    assert token
    bad_password = client.post(
        "/login", data={**form, "password": "nope-nope-nope", "csrf_token": token.group(1)}, follow_redirects=False
    )
    assert bad_password.status_code == 401 and "wrong user name or password" in bad_password.text
    assert "nope-nope-nope" not in bad_password.text and 'value="officer-li"' in bad_password.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', bad_password.text)
    assert token
    ok = client.post("/login", data={**form, "csrf_token": token.group(1)}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/console"
    assert client.get("/api/v1/auth/me").json()["name"] == "officer-li"
    csrf = client.get("/api/v1/auth/me").json()["csrf_token"]
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/api/v1/auth/me").status_code == 401


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_login_page_never_redirects_off_site(client: TestClient, target: str) -> None:
    page = client.get("/login", params={"next": target})
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token and 'name="next" value="/"' in page.text
    form = {"username": "officer-li", "password": PASSWORD, "csrf_token": token.group(1), "next": target}
    response = client.post("/login", data=form, follow_redirects=False)
    # an off-site target is dropped: the user lands on its home page (an officer: the console)
    assert response.status_code == 303 and response.headers["location"] == "/console"


def test_login_page_escapes_what_it_echoes(client: TestClient) -> None:
    page = client.get("/login", params={"next": '/"><script>alert(1)</script>'})
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text


def test_openapi_describes_login_and_both_credentials(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/auth/login", "/api/v1/auth/logout", "/api/v1/auth/me"} <= set(spec["paths"])
    schemes = spec["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyCookie"} <= set(schemes)
    assert schemes["APIKeyCookie"]["name"] == SESSION_COOKIE
