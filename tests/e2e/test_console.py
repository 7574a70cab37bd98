"""The officer console (/console) in headless Chromium against a running `certseal serve`.

A province-level licensing officer logs in through /login, creates a Drug Production License draft through the form
generated from the type's field list (a wrong USCC check digit first: the API's error shows next to that field),
submits, approves (confirmation checkbox), issues, sees the number, downloads the sealed PDF (pdfsig, the outside
checker, says the signature is valid; a copy with one byte changed is not), shows clear values (audited), changes
the address and sees version 2.  An auditor sees no action; an enterprise user is sent to /portal; no session →
/login.  Screenshots of each main screen go to the test's tmp dir (paths printed).

The deployment: `certseal init`, then in process the demo CAs, the regulator's license seals and QR key
(LicenseDocuments.ensure_license_seals) and users made with UserService, then the server.
"""

from __future__ import annotations

import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from certseal.config import Settings
from certseal.services.access import Principal
from certseal.services.ca import CaService
from certseal.services.deployment import DEMO_CAS
from certseal.services.license_documents import LicenseDocuments
from certseal.services.licenses import IssuedLicense, LicenseService, TransitionRequest
from certseal.services.platform import Platform
from certseal.services.users import UserService
from certseal.store.models import AuditEvent
from tests.conftest import ACTOR, TEST_AUDIT_KEY, TEST_KEK
from tests.fixtures.browser import screenshot
from tests.fixtures.server import LiveDeployment, free_port, init_deployment, start_server, stop_server
from tests.unit.test_license_render import drug_data

pytestmark = pytest.mark.slow  # a deployment, a server and a browser: tens of seconds

PASSWORD = "Correct-Horse-Battery-42"
ADMIN = Principal.for_user("pytest-admin", "provincial-admin", "*", "pytest")
SET_ON_ISSUE = ("license_number", "issue_date", "valid_until", "issuing_authority", "issuer")
ENTERPRISE_A = "91420102MA4KR87T3W"  # valid USCCs (GB 32100 and GB 11714 check characters)
ENTERPRISE_B = "91420115MA4KUB8D35"


@dataclass
class Site:
    """A running deployment with its users; `platform` opens the same database in this process."""

    deployment: LiveDeployment
    settings: Settings
    shots: Path
    users: dict[str, str] = field(default_factory=dict)  # user name → role
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.deployment.url

    def platform(self) -> Platform:
        return Platform(self.settings)


def start_site(root: Path, users: list[tuple[str, str, str | None]]) -> Site:
    """`certseal init`, demo CAs, license seals and QR key, the users (name, role, scope); the server NOT started."""
    deployment = init_deployment(root, free_port(), XDG_CONFIG_HOME=str(root / "xdg-config"))
    settings = Settings(home=root / "var", kek=TEST_KEK, audit_key=TEST_AUDIT_KEY, base_url=deployment.url)  # type: ignore[arg-type]
    shots = root / "screenshots"
    shots.mkdir()
    site = Site(deployment, settings, shots)
    platform = site.platform()
    try:
        cas = CaService(platform)
        for name, algorithm, parent, subject in DEMO_CAS:
            cas.create_ca(name, algorithm, ACTOR, parent=parent, subject=subject)
        LicenseDocuments(platform).ensure_license_seals(ACTOR)
        accounts = UserService(platform)
        for username, role, scope in users:
            accounts.create(username, role, PASSWORD, ACTOR, scope=scope, display_name=username)
            site.users[username] = role
    finally:
        platform.close()
    return site


def enterprise_data(uscc: str, name: str, phone: str, id_number: str) -> dict[str, Any]:
    """A Drug Production License's application data (tests/unit/test_license_render.py) for another enterprise."""
    data = {k: v for k, v in drug_data(sites=1, workshops=1, lines=1).items() if k not in SET_ON_ISSUE}
    data.update(enterprise_name=name, uscc=uscc, contact_phone=phone, legal_representative_id_number=id_number)
    return data


def issue(site: Site, type_code: str, data: dict[str, Any], number: str | None = None) -> IssuedLicense:
    """Issue a license in process, as a provincial admin (create, submit, approve, issue)."""
    platform = site.platform()
    try:
        request = TransitionRequest(number=number) if number else None
        return LicenseService(platform).issue_now(ADMIN, type_code, data, request=request)
    finally:
        platform.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("console")
    users = [
        ("officer-province", "licensing-officer", "420000"),
        ("auditor-zhou", "auditor", "*"),
        ("enterprise-a", "enterprise-user", ENTERPRISE_A),
    ]
    running = start_site(root, users)
    data = enterprise_data(ENTERPRISE_A, "湖北示例药业有限公司", "13800001111", "420102198404200467")
    running.notes["issued_id"] = issue(running, "drug-production", data).detail.info.id
    data = enterprise_data(ENTERPRISE_B, "湖北另一药业有限公司", "13800002222", "42010619830314035X")
    running.notes["live_id"] = issue(running, "drug-production", data).detail.info.id
    start_server(running.deployment)
    yield running
    stop_server(running.deployment)


def login(page: Page, site: Site, username: str, start: str = "/console") -> None:
    page.goto(f"{site.url}{start}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#main .screen")


def shot(page: Page, site: Site, name: str) -> Path:
    return screenshot(page, site.shots / f"{name}.png")


def pdfsig(path: Path) -> str:
    done = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def flipped(path: Path, into: Path) -> Path:
    """A copy with one byte changed inside the signed range (the middle of the first page's content)."""
    data = bytearray(path.read_bytes())
    at = data.index(b"stream") + 40
    data[at] ^= 0x01
    into.write_bytes(bytes(data))
    return into


# --- the officer's screens -------------------------------------------------------------------------------------

DRAFT: dict[str, str] = {
    "enterprise_name": "武汉示例生物制药有限公司",
    "uscc": "91420111MA4F2WQ60L",
    "classification_code": "Ahz",
    "province": "湖北省",
    "registered_address": "湖北省武汉市洪山区珞喻路1037号",
    "legal_representative": "张三",
    "legal_representative_id_number": "11010519491231002X",
    "enterprise_head": "李四",
    "quality_head": "王五",
    "production_head": "赵六",
    "qualified_person": "钱七",
    "contact_phone": "13912345678",
    "supervising_authority": "武汉市市场监督管理局",
    "report_phone": "12315",
    "production_sites[0].address": "湖北省武汉市东湖新技术开发区神墩一路100号1号厂房",
    "production_sites[0].scope": "片剂，硬胶囊剂",
}
BAD_USCC = "91420111MA4F2WQ60A"  # the check character of 91420111MA4F2WQ60 is L
NEW_ADDRESS = "湖北省武汉市洪山区珞喻路1200号"


def field_error(page: Page, path: str) -> str:
    return page.locator(f'.field[data-path="{path}"] > .field-error').inner_text()


def act(page: Page, action: str, confirm: tuple[str, ...] = ()) -> None:
    """Press an action button on the detail screen, tick confirmations, send; back on the detail screen."""
    page.click(f'#actions [data-action="{action}"]')
    page.wait_for_selector(f'form[data-action="{action}"]')
    for code in confirm:
        page.check(f'input[name="confirmed"][value="{code}"]')
    page.click(f'form[data-action="{action}"] button[type=submit]')
    page.wait_for_selector("#license-title")


def status_shown(page: Page) -> str:
    return page.locator(".title-row .chip").first.get_attribute("data-status") or ""


def test_officer_creates_issues_and_changes_a_drug_production_license(page: Page, site: Site) -> None:
    login(page, site, "officer-province")
    expect(page).to_have_url(re.compile(r"/console$|/console#"))
    shot(page, site, "console-search")

    page.click("#new-draft")
    page.select_option("#new-type", "drug-production")
    page.wait_for_selector('form[data-type="drug-production"]')
    assert page.locator('[name="license_number"]').count() == 0, "set-on-issue fields are not asked in a draft"
    for path, value in {**DRAFT, "uscc": BAD_USCC}.items():
        page.fill(f'[name="{path}"]', value)
    page.click('.field[data-path="production_sites[0].workshops"] > button.add')
    page.fill('[name="production_sites[0].workshops[0].name"]', "固体制剂1车间")
    page.click('form[data-type="drug-production"] button[type=submit]')
    expect(page.locator('.field[data-path="uscc"] > .field-error')).not_to_be_empty()
    expect(page.locator('.field[data-path="uscc"]')).to_have_class(re.compile("invalid"))
    assert page.locator(".field.invalid").count() == 1, "only the bad field is marked"
    assert field_error(page, "enterprise_name") == ""
    shot(page, site, "console-draft-error")

    page.fill('[name="uscc"]', DRAFT["uscc"])
    page.click('form[data-type="drug-production"] button[type=submit]')
    page.wait_for_selector("#license-title")
    assert status_shown(page) == "draft"
    license_id = page.evaluate("decodeURIComponent(location.hash.split('/')[2])")

    act(page, "submit")
    assert status_shown(page) == "submitted"
    page.click('#actions [data-action="approve"]')
    page.click('form[data-action="approve"] button[type=submit]')  # the confirmation not ticked
    expect(page.locator('.field[data-path="confirmed"] > .field-error')).to_contain_text("on_site_inspection_passed")
    page.check('input[name="confirmed"][value="on_site_inspection_passed"]')
    page.click('form[data-action="approve"] button[type=submit]')
    page.wait_for_selector("#license-title")
    assert status_shown(page) == "approved"
    act(page, "issue")
    assert status_shown(page) == "issued"
    number = page.locator(".summary dd.number").inner_text()
    assert re.fullmatch(rf"鄂{date.today().year}\d{{4}}", number), number
    assert number in page.locator("#license-title").inner_text()
    assert page.locator("#audience").inner_text().startswith("敏感信息已遮盖")
    phone_row = page.locator('table.fields tr[data-field="contact_phone"] td').inner_text()
    assert phone_row != DRAFT["contact_phone"] and "*" in phone_row
    shot(page, site, "console-issued")

    with page.expect_download() as downloading:
        page.click('tr[data-version="1"] .file[data-copy="original"][data-format="pdf"] a.download')
    pdf = site.shots / "issued-v1.pdf"
    downloading.value.save_as(str(pdf))
    report = pdfsig(pdf)
    assert "Signature is Valid" in report, report
    with page.context.expect_page() as viewing:
        page.click('tr[data-version="1"] .file[data-copy="original"][data-format="pdf"] a.view')
    viewer = viewing.value
    viewer.wait_for_url(re.compile(r"^blob:"))
    assert viewer.evaluate("document.contentType") == "application/pdf"
    viewer.close()
    tampered = pdfsig(flipped(pdf, site.shots / "tampered.pdf"))
    assert "Signature is Valid" not in tampered, tampered

    page.click("#reveal")
    expect(page.locator("#audience")).to_contain_text("明文")
    assert page.locator('table.fields tr[data-field="contact_phone"] td').inner_text() == DRAFT["contact_phone"]
    assert "审计" in page.locator("#notice").inner_text()
    shot(page, site, "console-clear-values")

    page.click('#actions [data-action="change"]')
    page.wait_for_selector('form[data-action="change"]')
    assert page.input_value('[name="registered_address"]') == DRAFT["registered_address"]
    assert page.input_value('[name="contact_phone"]') == phone_row, "the change form shows masked values"
    assert page.locator('[name="license_number"]').get_attribute("readonly") is not None
    page.fill('[name="registered_address"]', NEW_ADDRESS)
    shot(page, site, "console-change-form")
    page.click('form[data-action="change"] button[type=submit]')
    page.wait_for_selector("#license-title")
    expect(page.locator('tr[data-version="2"]')).to_have_class(re.compile("current"))
    expect(page.locator('tr[data-version="1"]')).to_have_class(re.compile("superseded"))
    assert (
        page.locator('table.fields tr[data-field="registered_address"] td').inner_text() != DRAFT["registered_address"]
    )
    assert page.locator(".summary dd.number").inner_text() == number, "the number stays on change"
    assert page.locator('tr[data-version="2"] .file[data-format="pdf"]').count() >= 1
    page.click("#reveal")
    expect(page.locator("#audience")).to_contain_text("明文")
    shown_phone = page.locator('table.fields tr[data-field="contact_phone"] td').inner_text()
    assert shown_phone == DRAFT["contact_phone"], "a masked value sent back unchanged is kept"
    shot(page, site, "console-version-2")

    page.goto(f"{site.url}/console#/?holder_code={DRAFT['uscc']}")
    expect(page.locator("#result-count")).to_contain_text("1")
    assert page.locator(f'table.results tr[data-id="{license_id}"] .chip').get_attribute("data-status") == "issued"

    assert reveal_events(site, "officer-province"), "showing clear values left no audit record"


def reveal_events(site: Site, actor: str) -> list[str]:
    """The actions of the audit events `actor` left that record a view of clear values."""
    platform = site.platform()
    try:
        with platform.db.reading() as session:
            actions = session.scalars(select(AuditEvent.action).where(AuditEvent.actor == actor)).all()
    finally:
        platform.close()
    return [action for action in actions if "reveal" in action or "sensitive" in action]


def test_officer_renews_suspends_resumes_revokes_and_cancels(page: Page, site: Site) -> None:
    login(page, site, "officer-province")
    page.goto(f"{site.url}/console#/license/{site.notes['live_id']}")
    page.wait_for_selector("#license-title")
    assert status_shown(page) == "issued"
    page.click('#actions [data-action="renew"]')
    page.wait_for_selector('form[data-action="renew"]')
    assert page.input_value('[name="applied_on"]') == date.today().isoformat()
    page.click('form[data-action="renew"] button[type=submit]')
    page.wait_for_selector("#license-title")
    expect(page.locator('tr[data-version="2"]')).to_have_class(re.compile("current"))
    assert "延续" in page.locator('tr[data-version="2"] td').nth(1).inner_text()
    page.click('#actions [data-action="suspend"]')
    page.click('form[data-action="suspend"] button[type=submit]')  # no reason
    expect(page.locator('.field[data-path="reason"] > .field-error')).not_to_be_empty()
    page.fill('[name="reason"]', "飞行检查发现问题，责令整改")
    page.click('form[data-action="suspend"] button[type=submit]')
    page.wait_for_selector("#license-title")
    assert status_shown(page) == "suspended"
    act(page, "resume")
    assert status_shown(page) == "issued"
    page.click('#actions [data-action="revoke"]')
    page.fill('[name="reason"]', "以欺骗手段取得许可")
    page.click('form[data-action="revoke"] button[type=submit]')
    page.wait_for_selector("#license-title")
    assert status_shown(page) == "revoked"
    assert [a.get_attribute("data-action") for a in page.locator("#actions a").all()] == ["cancel"]
    page.click('#actions [data-action="cancel"]')
    page.wait_for_selector('form[data-action="cancel"]')
    grounds = page.locator('select[name="ground"] option').all_inner_texts()
    assert len(grounds) == 2 and "撤销" in grounds[1], "a revoked license is cancelled only on its ground"
    page.select_option('select[name="ground"]', "license_revoked")
    shot(page, site, "console-cancel-form")
    page.click('form[data-action="cancel"] button[type=submit]')
    page.wait_for_selector("#license-title")
    assert status_shown(page) == "cancelled"
    assert page.locator("#actions").count() == 0
    reasons = page.locator("table.history").inner_text()
    assert "以欺骗手段取得许可" in reasons and "飞行检查发现问题" in reasons


def test_auditor_reads_but_is_offered_no_action(page: Page, site: Site) -> None:
    login(page, site, "auditor-zhou")
    page.wait_for_selector("#results")
    assert page.locator("#new-draft").count() == 0
    page.goto(f"{site.url}/console#/license/{site.notes['issued_id']}")
    page.wait_for_selector("#license-title")
    assert page.locator("#actions").count() == 0
    assert page.locator("#reveal").count() == 0, "an auditor may not see clear values"
    shot(page, site, "console-auditor")


def test_pages_need_a_session_and_send_each_role_home(site: Site) -> None:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    for page_path in ("/console", "/portal"):
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(f"{site.url}{page_path}")
        assert answer.value.code == 303 and answer.value.headers["location"] == f"/login?next={page_path}"
    with pytest.raises(urllib.error.HTTPError) as missing:
        opener.open(f"{site.url}/console/capabilities.json")
    assert missing.value.code == 401
    with urllib.request.urlopen(f"{site.url}/static/console.js") as script:
        assert script.headers["content-type"].startswith("text/javascript")
        assert "innerHTML" not in script.read().decode(), "text goes in with textContent only"


def test_enterprise_user_is_sent_to_the_portal(page: Page, site: Site) -> None:
    login(page, site, "enterprise-a")
    expect(page).to_have_url(re.compile(r"/portal"))
    response = page.goto(f"{site.url}/console")
    assert response is not None and response.url.endswith("/portal")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
