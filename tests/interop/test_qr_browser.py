"""static/qr-verify.js in headless Chromium (system /usr/bin/chromium via Playwright): WebCrypto verifies the ES256
JWS our Python signed, decodes the payload exactly as Python does, and refuses tampered, unknown-key, alg-none and
expired-key codes.  The page is a file:// URL with the module inlined (Chromium refuses file:// module imports)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

import certseal.web
from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.keys import PrivateKey
from certseal.crypto.tokens.software import SoftwareSigner
from certseal.licenses import qr
from certseal.ofd.render.png import CHROMIUM_ARGS

pytestmark = pytest.mark.slow
MODULE = Path(certseal.web.__file__).parent / "static" / "qr-verify.js"
IDENTIFIER = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
KID = "license-qr-3"


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    html = tmp_path_factory.mktemp("qr") / "verify.html"
    source = MODULE.read_text("utf-8")
    html.write_text(
        "<!doctype html><meta charset=utf-8><script type=module>\n"
        f"{source}\nwindow.qrVerify = {{ verifyQr, decodePayload }}; window.qrReady = true;\n</script>",
        "utf-8",
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=list(CHROMIUM_ARGS))
        page = browser.new_page()
        page.goto(html.as_uri())
        page.wait_for_function("window.qrReady === true")
        assert page.evaluate("window.isSecureContext && !!crypto.subtle")
        yield page
        browser.close()


@pytest.fixture(scope="module")
def signer() -> SoftwareSigner:
    return SoftwareSigner(KID, PrivateKey.generate(KeyAlgorithm.P256), SignatureScheme.ECDSA_SHA256)


def _payload(**changes: object) -> qr.QrPayload:
    base = qr.QrPayload(
        IDENTIFIER,
        2,
        "4201**********1234",
        date(2024, 3, 1),
        date(2029, 2, 28),
        "changed",
        hashlib.sha256(b"public fields").digest(),
        datetime.now(UTC).replace(microsecond=0),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _jwks(signer: SoftwareSigner, **window: datetime) -> dict[str, object]:
    return {"keys": [qr.QrPublicKey(KID, signer.public_key, **window).jwk()]}


def _verify(page: Page, text: str, jwks: dict[str, object]) -> dict[str, object]:
    result: dict[str, object] = page.evaluate(
        """async ([text, jwks]) => {
            try { return { ok: true, payload: await window.qrVerify.verifyQr(text, jwks) }; }
            catch (e) { return { ok: false, reason: e.reason || 'exception', message: String(e.message) }; }
        }""",
        [text, jwks],
    )
    return result


def test_browser_verifies_and_decodes(page: Page, signer: SoftwareSigner) -> None:
    payload = _payload()
    jws = qr.sign_payload(signer, payload)
    text = qr.qr_text("https://yjj.example.gov.cn", IDENTIFIER, jws)
    now = datetime.now(UTC)
    jwks = _jwks(signer, not_before=now - timedelta(days=1), not_after=now + timedelta(days=1000))
    for argument in (text, jws):
        result = _verify(page, argument, jwks)
        assert result == {"ok": True, "payload": replace(payload, key_id=KID).to_json()}
    no_end = _payload(valid_until=None)
    result = _verify(page, qr.sign_payload(signer, no_end), jwks)
    assert result == {"ok": True, "payload": replace(no_end, key_id=KID).to_json()}


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def test_browser_refuses(page: Page, signer: SoftwareSigner) -> None:
    jws = qr.sign_payload(signer, _payload())
    jwks = _jwks(signer)
    header, body, signature = jws.split(".")
    none_header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": KID}).encode()).rstrip(b"=").decode()
    other = SoftwareSigner("license-qr-9", PrivateKey.generate(KeyAlgorithm.P256), SignatureScheme.ECDSA_SHA256)
    now = datetime.now(UTC)
    expired = _jwks(signer, not_before=now - timedelta(days=1000), not_after=now - timedelta(days=3))
    cases = [
        (_flip(jws, len(header) + 20), jwks, "signature"),
        (_flip(jws, len(jws) - 10), jwks, "signature"),
        (qr.sign_payload(other, _payload()), jwks, "kid"),
        (f"{none_header}.{body}.{signature}", jwks, "alg"),
        (jws, expired, "key-validity"),
        (qr.qr_text("https://x.example", IDENTIFIER.replace("2430599", "2430598"), jws), jwks, "identifier"),
        ("not a jws", jwks, "format"),
    ]
    for text, keys, reason in cases:
        result = _verify(page, text, keys)
        assert result["ok"] is False and result["reason"] == reason, (reason, result)
