"""The public license page in headless Chromium on a phone viewport (375 × 812 CSS px), served by a running
`certseal serve`: the offline check of public.js (WebCrypto ES256 through /static/qr-verify.js) accepts the real QR
text of an issued license and the freshly signed live payload; one character changed in the fragment makes it
fail; with the network gone for the keys and the record, the keys kept in localStorage still verify the code.
A page built before the latest change (the server keeps it up to a second) is brought up to date by the signed live
record.  Screenshots go to the test's tmp directory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, Route, ViewportSize

from certseal.config import Settings
from certseal.services.licenses import IssuedLicense
from certseal.services.platform import Platform
from tests.conftest import TEST_AUDIT_KEY, TEST_KEK
from tests.fixtures.browser import collect_errors, console_error, screenshot
from tests.fixtures.server import LiveDeployment
from tests.integration.test_public_pages import LEGAL_ID, PHONE, issue, masked, prepare_registry

pytestmark = pytest.mark.slow  # a server, a registry with seals and a browser: about 15 s
PHONE_VIEWPORT: ViewportSize = {"width": 375, "height": 812}


def registry_of(live: LiveDeployment) -> Platform:
    """The live deployment's data, opened in the test process (the server sees every change)."""
    settings = Settings(home=live.root / "var", kek=TEST_KEK, audit_key=TEST_AUDIT_KEY, base_url=live.url)
    return Platform(settings)


def phone(browser: Browser) -> BrowserContext:
    return browser.new_context(viewport=PHONE_VIEWPORT, device_scale_factor=2, is_mobile=True, has_touch=True)


@dataclass
class Visit:
    page: Page
    errors: list[str] = field(default_factory=list)

    def state(self, name: str) -> str | None:
        return self.page.get_attribute("#offline-check", f"data-{name}")

    def text(self, selector: str) -> str:
        return " ".join(self.page.inner_text(selector).split())


def visit(context: BrowserContext, url: str, shot: Path | None = None) -> Visit:
    """Open `url` in a new tab and wait until the offline check has finished."""
    page = context.new_page()
    seen = Visit(page)
    collect_errors(page, seen.errors, console_error)
    page.goto(url)
    page.wait_for_selector("#offline-check[data-state=done]", timeout=20_000)
    if shot is not None:
        screenshot(page, shot)
    return seen


def tamper(qr_text: str) -> str:
    """One character of the signature (in the middle, so the decoded bytes change) replaced."""
    url, jws = qr_text.split("#", 1)
    header, payload, signature = jws.split(".")
    at = len(signature) // 2
    swapped = "A" if signature[at] != "A" else "B"
    return f"{url}#{header}.{payload}.{signature[:at]}{swapped}{signature[at + 1 :]}"


@pytest.fixture
def issued(live: LiveDeployment) -> Iterator[IssuedLicense]:
    platform = registry_of(live)
    prepare_registry(platform)
    yield issue(platform)
    platform.close()


def test_offline_check_on_a_phone(
    browser: Browser, live: LiveDeployment, issued: IssuedLicense, tmp_path: Path
) -> None:
    assert issued.qr_text.startswith(f"{live.url}/v/")
    context = phone(browser)
    try:
        shown = visit(context, issued.qr_text, tmp_path / "public-page-375.png")
        assert (shown.state("qr-state"), shown.state("live-state"), shown.state("live-status")) == (
            "valid",
            "valid",
            "issued",
        )
        assert shown.text("#qr-result").startswith("二维码签名有效 QR signature valid")
        assert "签名有效 · 当前状态：有效" in shown.text("#live-result")
        assert "status and digest match" in shown.text("#live-result")
        assert shown.text("#status").startswith("有效 valid")
        page_text = shown.text("main")
        assert masked("contact_phone", PHONE) in page_text and PHONE not in page_text
        assert masked("legal_representative_id_number", LEGAL_ID) in page_text and LEGAL_ID not in page_text
        width = shown.page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_VIEWPORT["width"]  # readable at 375 px: nothing scrolls sideways
        assert shown.page.evaluate("localStorage.getItem('certseal.qr-keys') !== null")
        assert shown.errors == []
        with Image.open(tmp_path / "public-page-375.png") as screenshot:
            assert screenshot.width == 2 * PHONE_VIEWPORT["width"]

        forged = visit(context, tamper(issued.qr_text), tmp_path / "public-page-tampered.png")
        assert forged.state("qr-state") == "invalid"
        assert forged.text("#qr-result").startswith("二维码签名无效 QR signature INVALID")
        assert "signature" in forged.text("#qr-result")
        assert forged.state("live-state") == "valid"  # the live record itself is still genuine

        bare = visit(context, issued.qr_text.split("#", 1)[0])
        assert (bare.state("qr-state"), bare.state("live-state")) == ("absent", "valid")
    finally:
        context.close()


def _as_if_stale(route: Route) -> None:
    """The real page, altered as if it had been built before a suspension and a change: other status, digest."""
    response = route.fetch()
    page = response.text().replace('data-shown="issued"', 'data-shown="suspended"')
    page = page.replace("status status-ok", "status status-warn")
    page = re.sub(r'data-digest="[0-9a-f]+"', 'data-digest="' + "0" * 64 + '"', page)
    route.fulfill(response=response, body=page)


def test_a_page_older_than_the_live_record_is_brought_up_to_date(
    browser: Browser, live: LiveDeployment, issued: IssuedLicense
) -> None:
    context = phone(browser)
    try:
        context.route(issued.qr_text.split("#", 1)[0], _as_if_stale)
        shown = visit(context, issued.qr_text)
        assert shown.state("live-state") == "valid"
        assert shown.page.get_attribute("#status", "data-shown") == "issued"  # from the signed live payload
        assert shown.page.get_attribute("#status", "class") == "status status-ok"
        assert "updated from the signed live record" in shown.text("#live-result")
        assert "this page predates the live record: reload it" in shown.text("#live-result")
    finally:
        context.close()


def test_keys_kept_on_the_phone_verify_without_network(
    browser: Browser, live: LiveDeployment, issued: IssuedLicense, tmp_path: Path
) -> None:
    context = phone(browser)
    try:
        visit(context, issued.qr_text)  # the first visit keeps the keys in localStorage
        context.route("**/qr-keys.json", lambda route: route.abort())
        context.route("**/api/v1/public/licenses/**", lambda route: route.abort())
        offline = visit(context, issued.qr_text, tmp_path / "public-page-offline.png")
        assert (offline.state("qr-state"), offline.state("live-state")) == ("valid", "unavailable")
        assert "offline" in offline.text("#qr-result") and "无法获取实时记录" in offline.text("#live-result")
        forged = visit(context, tamper(issued.qr_text))
        assert forged.state("qr-state") == "invalid"
    finally:
        context.close()
    fresh = phone(browser)  # a phone that never saw the keys cannot check anything offline
    try:
        fresh.route("**/qr-keys.json", lambda route: route.abort())
        blind = visit(fresh, issued.qr_text)
        assert blind.state("qr-state") == "error" and "无法获取核验密钥" in blind.text("#qr-result")
    finally:
        fresh.close()
