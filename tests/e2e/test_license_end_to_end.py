"""The issue's end-to-end check, against a running `certseal serve` and headless Chromium on a phone viewport:

1. an officer logs in and issues a Drug Production License through the REST API;
2. the sealed PDF is accepted by poppler's pdfsig and by our verification service (the public /verify page);
3. the QR code is read from the rendered PDF (pdftoppm, then zxing-cpp through certseal.licenses.qr.decode_qr_image)
   and leads to the public page, which shows the current data with the phone and the legal representative's ID
   masked, and whose offline check (WebCrypto in Chromium) accepts the code;
4. a change (through the API) shows the new data at the SAME QR URL, with the version banner;
5. a revoke shows 已撤销 revoked on the public page and in the offline check of a freshly fetched payload; that
   payload, fetched again outside the browser, is checked by pyca/cryptography and says revoked.

The server revalidates its cached page at most REVALIDATE_AFTER (1 s) after building it, so the pages after a
change are opened until they show it (bounded wait, not a timing assertion).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from certseal.licenses.qr import decode_qr_image, parse_qr_text
from certseal.services.users import UserService
from certseal.services.verification import VerificationService
from certseal.signing.verify.report import Indication
from tests import pdfdocs
from tests.conftest import ACTOR
from tests.e2e.test_public_portal import Visit, phone, registry_of, visit
from tests.fixtures.server import LiveDeployment
from tests.integration.test_public_pages import (
    DIVISION,
    HOLDER,
    LEGAL_ID,
    PHONE,
    drug_application,
    masked,
    prepare_registry,
    verify_jws,
)

pytestmark = pytest.mark.slow  # a server, issuance, two changes and a browser: about 30 s
PASSWORD = "Tea-Kettle-Horizon-42"
NEW_HEAD = "钱新任"
WAIT_SECONDS = 20.0


def login(client: httpx.Client) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": "officer-hubei", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def qr_from_pdf(pdf: bytes) -> str:
    """The QR code on page 1 as pdftoppm renders it, read by zxing-cpp."""
    picture = pdfdocs.render(pdf, 0, dpi=300)
    png = io.BytesIO()
    picture.save(png, format="PNG")
    return decode_qr_image(png.getvalue())


def until(open_page: Callable[[], Visit], shows: Callable[[Visit], bool]) -> Visit:
    """Open the page again until it shows what is expected (the server's cache revalidates within a second)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        shown = open_page()
        if shows(shown) or time.monotonic() > deadline:
            return shown
        shown.page.close()
        time.sleep(0.5)


def test_issue_scan_change_revoke(browser: Browser, live: LiveDeployment, tmp_path: Path) -> None:
    platform = registry_of(live)
    prepare_registry(platform)
    UserService(platform).create("officer-hubei", "licensing-officer", PASSWORD, ACTOR, scope="420000")
    api = httpx.Client(base_url=live.url, timeout=120)
    context = phone(browser)
    try:
        csrf = login(api)
        # 1. issuance through the API
        body: dict[str, Any] = {"type": "drug-production", "data": drug_application(), "division_code": DIVISION}
        created = api.post("/api/v1/licenses/issue", json=body, headers=csrf)
        assert created.status_code == 201, created.text
        license_id = created.json()["license"]["info"]["id"]
        identifier = created.json()["license"]["info"]["identifier"]

        # 2. the sealed PDF: pdfsig and our verification service
        pdf = api.get(f"/api/v1/licenses/{license_id}/files/original.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        reports = pdfdocs.pdfsig(pdf.content)
        assert reports and all("Signature Validation: Signature is Valid." in r for r in reports), reports
        assert VerificationService(platform).verify(pdf.content, "license.pdf").indication is Indication.PASSED
        public_report = httpx.post(f"{live.url}/verify", files={"file": ("license.pdf", pdf.content)}, timeout=120)
        assert public_report.status_code == 200 and "PASSED" in public_report.text

        # 3. the QR code read from the rendered PDF leads to the public page
        qr_text = qr_from_pdf(pdf.content)
        assert qr_text == created.json()["qr_text"]
        assert parse_qr_text(qr_text).url_identifier == identifier and qr_text.startswith(f"{live.url}/v/")
        shown = visit(context, qr_text, tmp_path / "1-issued.png")
        assert shown.text("#status").startswith("有效 valid")
        text = shown.text("main")
        assert HOLDER in text and "刘海涛" in text
        assert masked("contact_phone", PHONE) in text and PHONE not in text
        assert masked("legal_representative_id_number", LEGAL_ID) in text and LEGAL_ID not in text
        assert (shown.state("qr-state"), shown.state("live-state"), shown.state("live-status")) == (
            "valid",
            "valid",
            "issued",
        )
        assert shown.errors == []

        # 4. a change: new data at the same QR URL
        change = {"action": "change", "data": drug_application(enterprise_head=NEW_HEAD), "reason": "企业负责人变更"}
        changed = api.post(f"/api/v1/licenses/{license_id}/transitions", json=change, headers=csrf)
        assert changed.status_code == 200, changed.text
        assert changed.json()["info"]["version"] == 2
        shown = until(lambda: visit(context, qr_text, tmp_path / "2-changed.png"), lambda v: NEW_HEAD in v.text("main"))
        assert NEW_HEAD in shown.text("main") and "刘海涛" not in shown.text("main")
        assert shown.text("#version-banner").startswith("您扫描的是第1版，当前为第2版")
        assert (shown.state("qr-state"), shown.state("live-state")) == ("valid", "valid")
        assert "二维码签发后证照信息已变更" in shown.text("#live-result")  # the code predates the change

        # 5. a revoke: the public page and the offline check of a freshly fetched payload say revoked
        revoke = {"action": "revoke", "reason": "以欺骗手段取得许可"}
        revoked = api.post(f"/api/v1/licenses/{license_id}/transitions", json=revoke, headers=csrf)
        assert revoked.status_code == 200, revoked.text
        shown = until(
            lambda: visit(context, qr_text, tmp_path / "3-revoked.png"), lambda v: v.state("live-status") == "revoked"
        )
        assert shown.text("#status").startswith("已撤销 revoked")
        assert (shown.state("qr-state"), shown.state("live-state"), shown.state("live-status")) == (
            "valid",
            "valid",
            "revoked",
        )
        assert "当前状态：已撤销" in shown.text("#live-result") and "revoked" in shown.text("#live-result")
        record = httpx.get(f"{live.url}/api/v1/public/licenses/{identifier}").json()
        payload = verify_jws(record["qr_jws"], httpx.get(f"{live.url}/qr-keys.json").json())
        assert (record["status"], payload.status, payload.version) == ("revoked", "revoked", 2)
    finally:
        context.close()
        api.close()
        platform.close()
