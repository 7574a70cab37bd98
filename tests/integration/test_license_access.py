"""Every license endpoint × every role, over HTTP.

Users of every role are created with UserService and log in through /api/v1/auth/login (session cookie +
X-CSRF-Token); an API key (role admin) and an anonymous caller complete the set.  The routes under /api/v1/licenses
and /api/v1/license-types are enumerated from app.routes: the test fails if one is missing from EXPECTED.  Then:

- an enterprise user cannot read another enterprise's license: 403 (the API answers the service's Forbidden, which
  names the scope that refused; record ids are random and licenses are public registers, so 404 would hide nothing
  worth hiding) — likewise a pharmacist for a license not its own;
- a city officer cannot act outside its city (create, submit, revoke, read a license of another city: 403);
- reveal views (clear sensitive values) are audited: the audit trail holds an event naming the fields, not the values,
  and its HMAC chain verifies.

API keys: the key roles of certseal.services.apikeys grant no license:* permission, so every license endpoint
answers 403 to an API key (and 401 without any credential).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from certseal.services.apikeys import ApiKeyService
from certseal.services.licenses import LicenseService, TransitionRequest
from certseal.services.platform import Platform
from certseal.services.users import UserService
from certseal.store.models import AuditEvent
from certseal.web.app import create_app
from tests.conftest import ACTOR
from tests.integration.test_api_licenses import (
    FAST,
    LEGAL_ID,
    PASSWORD,
    PHARMACIST_ID,
    PHONE,
    SETUP,
    USCC_A,
    USCC_B,
    USCC_C,
    drug_json,
    license_routes,
    login,
    pharmacist_json,
    registry_platform,
)

pytestmark = pytest.mark.slow

# name → (role, scope); the caller names below add the API key and the anonymous caller
USERS: dict[str, tuple[str, str]] = {
    "admin": ("provincial-admin", "*"),
    "officer-province": ("licensing-officer", "420000"),
    "officer-city": ("licensing-officer", "420100"),
    "officer-county": ("licensing-officer", "420111"),
    "auditor": ("auditor", "*"),
    "enterprise": ("enterprise-user", USCC_A),
    "pharmacist": ("pharmacist", PHARMACIST_ID),
}
CALLERS = (*USERS, "api-key", "anonymous")


@dataclass
class World:
    """The licenses every case works on (created by the service as an administrator)."""

    platform: Platform
    own: str  # drug production, enterprise USCC_A, division 420111 (a county of the city 420100)
    own_identifier: str
    other: str  # drug production, another enterprise (USCC_B), division 420600 (another city)
    other_number: str
    other_identifier: str
    pharmacist: str  # pharmacist certificate of PHARMACIST_ID, division 420111
    drafts: dict[str, str] = field(default_factory=dict)  # caller → a fresh draft in 420111 for it to submit

    def draft(self, division: str = "420111") -> str:
        return LicenseService(self.platform).create(SETUP, "drug-production", drug_json(), division).info.id


@dataclass
class Caller:
    name: str
    client: TestClient
    headers: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    platform = registry_platform(tmp_path_factory.mktemp("license-access") / "var")
    users = UserService(platform, FAST)
    for name, (role, scope) in USERS.items():
        users.create(name, role, PASSWORD, ACTOR, scope=scope)
    service = LicenseService(platform)
    own = service.issue_now(SETUP, "drug-production", drug_json(USCC_A), "420111").detail.info
    other = service.issue_now(SETUP, "drug-production", drug_json(USCC_B, "襄阳示例药业有限公司"), "420600")
    pharmacist = service.issue_now(
        SETUP, "pharmacist-registration", pharmacist_json(), "420111", _pharmacist_request(platform)
    )
    assert own.identifier and other.detail.info.number and other.detail.info.identifier
    others = other.detail.info
    yield World(
        platform, own.id, own.identifier, others.id, others.number, others.identifier, pharmacist.detail.info.id
    )
    platform.close()


def _pharmacist_request(platform: Platform) -> TransitionRequest:
    approve = LicenseService(platform).type("pharmacist-registration").document.lifecycle.confirmations["approve"]
    return TransitionRequest(confirmed=frozenset(c.code for c in approve), number="ZY420120250001")


@pytest.fixture(scope="module")
def callers(world: World) -> Iterator[dict[str, Caller]]:
    app = create_app(world.platform)
    clients: list[TestClient] = []
    found: dict[str, Caller] = {}
    for name in CALLERS:
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        headers: dict[str, str] = {}
        if name in USERS:
            headers["X-CSRF-Token"] = login(client, name)
        elif name == "api-key":
            _, token = ApiKeyService(world.platform).create("integration", "admin", ACTOR)
            headers["Authorization"] = f"Bearer {token}"
        found[name] = Caller(name, client, headers)
    yield found
    for client in clients:
        client.__exit__(None, None, None)


# --- the expectation table -----------------------------------------------------------------------------------


def codes(text: str) -> dict[str, int]:
    """'200 200 …' in the order of CALLERS → {caller: status}."""
    values = [int(v) for v in text.split()]
    assert len(values) == len(CALLERS), text
    return dict(zip(CALLERS, values, strict=True))


#                admin prov city cnty audit ent  phar key  anon
READ_ALL = codes("200   200  200  200  200   200  200  403  401")
READ_OWN = codes("200   200  200  200  200   200  403  403  401")  # the enterprise's own license, in 420111
READ_OTHER = codes("200 200  403  403  200   403  403  403  401")  # another enterprise, another city (420600)
LOOKUP_OTHER = codes("200 200 404 404 200 404 404 403 401")  # by number: looked up within the caller's scope
READ_PHARMACIST = codes("200 200 200  200  200   403  200  403  401")
REVEAL_OWN = codes("200 200  200  200  403   403  403  403  401")  # license:view-sensitive, in scope
CREATE = codes("201     201  201  201  403   403  403  403  401")
ISSUE = codes("201      201  403  403  403   403  403  403  401")  # approve/issue: admin and provincial officers
SUBMIT = codes("200     200  200  200  403   403  403  403  401")


@dataclass(frozen=True)
class Case:
    method: str
    route: str  # the route's path template, as in app.routes
    url: Callable[[World, str], str]
    expect: dict[str, int]
    body: Callable[[World, str], dict[str, Any]] | None = None
    params: dict[str, str] = field(default_factory=dict)
    label: str = ""


def _issue_body(world: World, caller: str) -> dict[str, Any]:
    name = f"湖北{caller}发证制药有限公司"
    return {"type": "drug-production", "data": drug_json(USCC_C, name), "division_code": "420111"}


def _submit_url(world: World, caller: str) -> str:
    return f"/api/v1/licenses/{world.drafts[caller]}/transitions"


EXPECTED: list[Case] = [
    Case("GET", "/api/v1/license-types", lambda w, c: "/api/v1/license-types", READ_ALL),
    Case("GET", "/api/v1/license-types/{code}", lambda w, c: "/api/v1/license-types/drug-production", READ_ALL),
    Case("GET", "/api/v1/licenses", lambda w, c: "/api/v1/licenses", READ_ALL),
    Case("POST", "/api/v1/licenses", lambda w, c: "/api/v1/licenses", CREATE,
         body=lambda w, c: {"type": "drug-production", "data": drug_json()}),
    Case("POST", "/api/v1/licenses/issue", lambda w, c: "/api/v1/licenses/issue", ISSUE, body=_issue_body),
    Case("GET", "/api/v1/licenses/lookup", lambda w, c: "/api/v1/licenses/lookup", READ_OWN,
         params={"key": "{own_identifier}"}),
    Case("GET", "/api/v1/licenses/lookup", lambda w, c: "/api/v1/licenses/lookup", LOOKUP_OTHER,
         params={"key": "{other_number}"}, label="by the number of another enterprise's license"),
    Case("GET", "/api/v1/licenses/{license_id}", lambda w, c: f"/api/v1/licenses/{w.own}", READ_OWN),
    Case("GET", "/api/v1/licenses/{license_id}", lambda w, c: f"/api/v1/licenses/{w.own}", REVEAL_OWN,
         params={"reveal": "true"}, label="reveal"),
    Case("GET", "/api/v1/licenses/{license_id}", lambda w, c: f"/api/v1/licenses/{w.other}", READ_OTHER,
         label="another enterprise in another city"),
    Case("GET", "/api/v1/licenses/{license_id}", lambda w, c: f"/api/v1/licenses/{w.pharmacist}", READ_PHARMACIST,
         label="a pharmacist's certificate"),
    Case("POST", "/api/v1/licenses/{license_id}/transitions", _submit_url, SUBMIT,
         body=lambda w, c: {"action": "submit"}),
    Case("GET", "/api/v1/licenses/{license_id}/versions/{version}",
         lambda w, c: f"/api/v1/licenses/{w.own}/versions/1", READ_OWN),
    Case("GET", "/api/v1/licenses/{license_id}/versions/{version}",
         lambda w, c: f"/api/v1/licenses/{w.other}/versions/1", READ_OTHER, label="another enterprise"),
    Case("GET", "/api/v1/licenses/{license_id}/files/{copy}.{format}",
         lambda w, c: f"/api/v1/licenses/{w.own}/files/original.pdf", READ_OWN),
    Case("GET", "/api/v1/licenses/{license_id}/files/{copy}.{format}",
         lambda w, c: f"/api/v1/licenses/{w.other}/files/duplicate.pdf", READ_OTHER, label="another enterprise"),
]  # fmt: skip


def test_every_license_route_is_in_the_expectation_table(world: World) -> None:
    routes = license_routes(create_app(world.platform))
    covered = {(case.method, case.route) for case in EXPECTED}
    assert routes - covered == set(), f"license routes without expectations: {sorted(routes - covered)}"
    assert covered - routes == set(), f"expectations for routes that do not exist: {sorted(covered - routes)}"


def test_every_endpoint_for_every_role(world: World, callers: dict[str, Caller]) -> None:
    for name in CALLERS:
        world.drafts[name] = world.draft()
    failures: list[str] = []
    for case in EXPECTED:
        for name, caller in callers.items():
            known = {"own_identifier": world.own_identifier, "other_number": world.other_number}
            params = {k: v.format(**known) for k, v in case.params.items()}
            url = case.url(world, name)
            if case.method == "GET":
                response = caller.client.get(url, params=params, headers=caller.headers)
            else:
                body = case.body(world, name) if case.body else None
                response = caller.client.post(url, params=params, json=body, headers=caller.headers)
            if response.status_code != case.expect[name]:
                failures.append(
                    f"{case.method} {url} {case.label} as {name}: {response.status_code} "
                    f"(expected {case.expect[name]}): {response.text[:200]}"
                )
            elif response.status_code >= 400:
                assert set(response.json()) >= {"error"}, response.text
    assert not failures, "\n".join(failures)


def test_search_shows_only_what_the_scope_covers(world: World, callers: dict[str, Caller]) -> None:
    def ids(name: str) -> set[str]:
        caller = callers[name]
        response = caller.client.get("/api/v1/licenses", params={"limit": "500"}, headers=caller.headers)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    everything = {world.own, world.other, world.pharmacist}
    for name in ("admin", "officer-province", "auditor"):
        assert everything <= ids(name), name
    for name in ("officer-city", "officer-county"):
        seen = ids(name)
        assert world.own in seen and world.pharmacist in seen and world.other not in seen, name
    assert ids("enterprise") >= {world.own} and not ids("enterprise") & {world.other, world.pharmacist}
    assert ids("pharmacist") == {world.pharmacist}
    enterprise = callers["enterprise"]
    listed = enterprise.client.get("/api/v1/licenses", headers=enterprise.headers).json()["items"]
    assert {item["holder_code"] for item in listed} == {USCC_A}


def test_an_enterprise_cannot_read_another_enterprises_license(world: World, callers: dict[str, Caller]) -> None:
    enterprise = callers["enterprise"]
    for url in (
        f"/api/v1/licenses/{world.other}",
        f"/api/v1/licenses/{world.other}/versions/1",
        f"/api/v1/licenses/{world.other}/files/original.pdf",
        f"/api/v1/licenses/{world.pharmacist}",
    ):
        response = enterprise.client.get(url, headers=enterprise.headers)
        assert response.status_code == 403, (url, response.text)
        assert "outside the data scope" in response.json()["error"], response.text
        # the refusal names the record's scope (division, USCC: public register data), never a sensitive value
        assert PHARMACIST_ID not in response.text and PHONE not in response.text and LEGAL_ID not in response.text
    # lookup by identifier (unique): 403 as above; by number: numbers are looked up within the caller's scope only
    # (a number is unique per type, not across types), so another enterprise's number is simply not found: 404
    lookup = enterprise.client.get(
        "/api/v1/licenses/lookup", params={"key": world.other_identifier}, headers=enterprise.headers
    )
    assert lookup.status_code == 403 and "outside the data scope" in lookup.json()["error"]
    by_number = enterprise.client.get(
        "/api/v1/licenses/lookup", params={"key": world.other_number}, headers=enterprise.headers
    )
    assert by_number.status_code == 404 and USCC_B not in by_number.text
    own = enterprise.client.get(f"/api/v1/licenses/{world.own}", headers=enterprise.headers).json()
    assert own["audience"] == "owner" and PHONE not in json.dumps(own) and LEGAL_ID not in json.dumps(own)


def test_a_city_officer_cannot_act_outside_its_city(world: World, callers: dict[str, Caller]) -> None:
    city = callers["officer-city"]
    outside = world.draft("420600")
    submit = city.client.post(
        f"/api/v1/licenses/{outside}/transitions", json={"action": "submit"}, headers=city.headers
    )
    assert submit.status_code == 403 and "outside the data scope" in submit.json()["error"]
    revoke = city.client.post(
        f"/api/v1/licenses/{world.other}/transitions", json={"action": "revoke", "reason": "test"}, headers=city.headers
    )
    assert revoke.status_code == 403
    create = city.client.post(
        "/api/v1/licenses",
        json={"type": "drug-production", "data": drug_json(), "division_code": "420600"},
        headers=city.headers,
    )
    assert create.status_code == 403
    # inside its city it may submit, but approving is for the province (the lifecycle's role rule)
    inside = world.draft("420111")
    url = f"/api/v1/licenses/{inside}/transitions"
    assert city.client.post(url, json={"action": "submit"}, headers=city.headers).status_code == 200
    approve = city.client.post(
        url, json={"action": "approve", "confirmed": ["on_site_inspection_passed"]}, headers=city.headers
    )
    assert approve.status_code == 403 and "licensing-officer:city" in approve.json()["error"]
    status = LicenseService(world.platform).get(SETUP, outside).info.status
    assert status == "draft" and LicenseService(world.platform).get(SETUP, world.other).info.status == "issued"


def test_reveal_views_are_audited(world: World, callers: dict[str, Caller]) -> None:
    county = callers["officer-county"]
    with world.platform.db.reading() as session:
        last = session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) or 0
    masked = county.client.get(f"/api/v1/licenses/{world.own}", headers=county.headers)
    assert masked.status_code == 200 and PHONE not in masked.text
    with world.platform.db.reading() as session:
        after_masked = list(session.scalars(select(AuditEvent).where(AuditEvent.seq > last)))
    assert not [e for e in after_masked if e.actor == "officer-county"], "a masked view is not a reveal"
    revealed = county.client.get(f"/api/v1/licenses/{world.own}", params={"reveal": "true"}, headers=county.headers)
    assert revealed.status_code == 200 and revealed.json()["fields"]["contact_phone"] == PHONE
    with world.platform.db.reading() as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.seq > last)))
        verification = world.platform.audit.verify(session)
    reveals = [e for e in events if e.actor == "officer-county" and world.own in e.entity_id]
    assert reveals, [(e.actor, e.entity, e.entity_id, e.action) for e in events]
    recorded = json.dumps([e.after for e in reveals], ensure_ascii=False)
    assert "contact_phone" in recorded and PHONE not in recorded and LEGAL_ID not in recorded
    assert verification.ok, verification.problem
    auditor = callers["auditor"]
    refused = auditor.client.get(f"/api/v1/licenses/{world.own}", params={"reveal": "true"}, headers=auditor.headers)
    assert refused.status_code == 403 and "license:view-sensitive" in refused.json()["error"]
