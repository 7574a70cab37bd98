"""The enterprise/pharmacist portal (/portal) in headless Chromium against a running `certseal serve`.

Two enterprises and a pharmacist hold issued licenses (issued in process).  The enterprise user sees only its own
license, with the phone and the legal representative's ID masked, downloads the sealed PDF (pdfsig says the
signature is valid) and finds the public page the QR code opens; the other enterprise's license is refused even by
its record id.  The pharmacist sees its certificate with the ID number masked.  An officer is sent to /console.
Screenshots of each screen go to the test's tmp dir (paths printed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_console import Site, enterprise_data, issue, login, pdfsig, shot, start_site
from tests.fixtures.server import start_server, stop_server
from tests.unit.test_license_render import pharmacist_data

pytestmark = pytest.mark.slow  # a deployment, a server and a browser: tens of seconds

OWN_USCC = "91420111MA4KLC3N7M"  # valid USCCs (GB 32100 and GB 11714 check characters)
OTHER_USCC = "914205067226831490"
OWN_PHONE = "13912345678"
OWN_ID = "420102198404200467"
PHARMACIST_ID = "11010519491231002X"
CERTIFICATE_NUMBER = "ZY420120260001"


def pharmacist_application() -> dict[str, Any]:
    data: dict[str, Any] = {
        k: v for k, v in pharmacist_data().items() if k not in ("certificate_number", "issue_date", "valid_until")
    }
    data.pop("issuing_authority", None)
    return data


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("portal")
    users = [
        ("enterprise-own", "enterprise-user", OWN_USCC),
        ("pharmacist-ou", "pharmacist", PHARMACIST_ID),
        ("officer-wuhan", "licensing-officer", "420100"),
    ]
    running = start_site(root, users)
    own = issue(running, "drug-production", enterprise_data(OWN_USCC, "武汉自有制药有限公司", OWN_PHONE, OWN_ID))
    other = issue(
        running, "drug-production", enterprise_data(OTHER_USCC, "他家制药有限公司", "13700002222", "42010619830314035X")
    )
    pharmacist = issue(running, "pharmacist-registration", pharmacist_application(), number=CERTIFICATE_NUMBER)
    running.notes.update(own=own.detail.info, other=other.detail.info, pharmacist=pharmacist.detail.info)
    start_server(running.deployment)
    yield running
    stop_server(running.deployment)


def test_enterprise_user_sees_only_its_own_license_masked(page: Page, site: Site) -> None:
    own, other = site.notes["own"], site.notes["other"]
    login(page, site, "enterprise-own", start="/portal")
    expect(page).to_have_url(re.compile(r"/portal"))
    expect(page.locator("table.results tbody tr")).to_have_count(1)
    assert page.locator("table.results tbody tr").get_attribute("data-id") == own.id
    assert other.number not in page.locator("#main").inner_text()
    shot(page, site, "portal-list")

    page.click(f'table.results tr[data-id="{own.id}"] a')
    page.wait_for_selector("#license-title")
    assert own.number in page.locator("#license-title").inner_text()
    shown = page.locator("table.fields").inner_text()
    assert OWN_PHONE not in shown and OWN_ID not in shown, "sensitive values must be masked"
    phone = page.locator('table.fields tr[data-field="contact_phone"] td').inner_text()
    assert "*" in phone and phone[-4:] == OWN_PHONE[-4:], phone
    id_shown = page.locator('table.fields tr[data-field="legal_representative_id_number"] td').inner_text()
    assert "*" in id_shown, id_shown
    assert page.locator("#actions").count() == 0 and page.locator("#reveal").count() == 0
    link = page.locator(".public-link a")
    assert link.get_attribute("href") == f"/v/{own.identifier}"
    shot(page, site, "portal-detail")

    with page.expect_download() as downloading:
        page.click('tr[data-version="1"] .file[data-copy="original"][data-format="pdf"] a.download')
    pdf = site.shots / "own.pdf"
    downloading.value.save_as(str(pdf))
    assert "Signature is Valid" in pdfsig(pdf)
    assert page.locator('tr[data-version="1"] .file[data-format="ofd"] a.download').count() >= 1

    page.goto(f"{site.url}/portal#/license/{other.id}")
    expect(page.locator("#main .error")).to_be_visible()
    assert other.number not in page.locator("#main").inner_text()
    status = page.evaluate("async (id) => (await fetch(`/api/v1/licenses/${encodeURIComponent(id)}`)).status", other.id)
    assert status in (403, 404)


def test_pharmacist_sees_its_certificate_masked(page: Page, site: Site) -> None:
    certificate = site.notes["pharmacist"]
    login(page, site, "pharmacist-ou", start="/portal")
    expect(page.locator("table.results tbody tr")).to_have_count(1)
    page.click(f'table.results tr[data-id="{certificate.id}"] a')
    page.wait_for_selector("#license-title")
    assert CERTIFICATE_NUMBER in page.locator("#license-title").inner_text()
    assert page.locator(".title-row .chip").get_attribute("data-status") == "issued"
    main = page.locator("#main").inner_text()
    assert PHARMACIST_ID not in main, "the ID number must be masked"
    shown_id = page.locator('table.fields tr[data-field="id_number"] td').inner_text()
    assert "*" in shown_id, shown_id
    assert str(date.today().year) in page.locator(".summary").inner_text()
    shot(page, site, "portal-pharmacist")


def test_officer_is_sent_to_the_console(page: Page, site: Site) -> None:
    login(page, site, "officer-wuhan", start="/portal")
    expect(page).to_have_url(re.compile(r"/console"))
    capabilities = page.evaluate("async () => (await fetch('/console/capabilities.json')).json()")
    assert capabilities["role_token"] == "licensing-officer:city"
    offered = capabilities["actions"]["drug-production"]
    assert {"create", "edit", "submit"} <= set(offered), offered
    assert not {"approve", "issue", "revoke"} & set(offered), "a city officer only applies; the province decides"
    page.wait_for_selector("#results")
    expect(page.locator("#new-draft")).to_be_visible()
    assert page.locator("table.results").count() == 0, "the licenses of division 420000 are outside Wuhan's scope"
