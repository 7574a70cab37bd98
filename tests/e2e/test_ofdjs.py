"""Our sealed OFDs opened by ofd.js 0.2.6 (DLTech21/ofd.js, Apache-2.0: its own OFD parser, SVG renderer, SES_Signature
parser and sm-crypto SM2 check) in headless Chromium, as a reader in a browser would show them.

ofd.js is a test-only npm dependency (tests/e2e/ofdjs/package.json and its lock file; `npm ci` runs when it is not
installed yet). Per document the page runs ofd.parseOfdDocument + ofd.renderOfd and reports, for every seal element
ofd.js draws: its signature's VerifyRet (ofd.js's SM2 check of the SES_Signature), ofd.digestCheck of the
References (ofd.js keeps the digests of the last signature it parsed only — a limitation of 0.2.6 — so earlier
signatures of a multi-signature document get no digest verdict), and where it drew the seal; the screenshot shows
the seal in red where its StampAnnot puts it, and for a riding seal only the page's slice (Clip honoured).
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Browser

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.ofd.package import OfdPackage
from certseal.services.ofd_sealing import AtKeyword, AtPosition, OfdSealingService, Riding
from certseal.services.platform import Platform
from tests import ofddocs
from tests.conftest import ACTOR
from tests.integration.test_pdf_sealing import SEAL_MM, make_seal

OFDJS_DIR = Path(__file__).resolve().parent / "ofdjs"
LIBRARY = OFDJS_DIR / "node_modules" / "ofd.js" / "lib" / "ofd.umd.min.js"
ORIGIN = "https://ofdjs.invalid"
pytestmark = pytest.mark.slow  # a browser and ofd.js per test: about 5 s each
PAGE_PX = 794  # the width ofd.js is asked to render a page at
PAGE_HTML = f"""<!doctype html><html><head><meta charset="utf-8"><script src="{ORIGIN}/ofd.js"></script></head>
<body style="margin:0;background:rgb(200,200,200)"><div id="view"></div></body></html>"""
RENDER_JS = f"""async () => {{
  const data = await (await fetch('{ORIGIN}/doc.ofd')).arrayBuffer();
  const parsed = await new Promise(
    (resolve, reject) => ofd.parseOfdDocument({{ofd: data, success: resolve, fail: reject}}));
  const doc = Array.isArray(parsed) ? parsed[0] : parsed;
  const view = document.getElementById('view');
  for (const div of ofd.renderOfd({PAGE_PX}, doc)) view.appendChild(div);
  await new Promise(resolve => setTimeout(resolve, 300));
  const box = element => {{ const r = element.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }};
  const seals = [...document.querySelectorAll('[name=seal_img_div]')].map(element => {{
    const info = JSON.parse(element.dataset.signedInfo);
    const pending = window.toBeChecked ? window.toBeChecked.get(info.signatureID) : undefined;
    return {{id: info.signatureID, verified: info.VerifyRet, digests: pending ? ofd.digestCheck(pending) : null,
             rect: box(element)}};
  }});
  return {{pages: [...view.children].map(box), seals}};
}}"""


@dataclass(frozen=True)
class Shown:
    pages: list[list[float]]  # x, y, width, height in CSS px
    seals: list[dict[str, Any]]
    screenshot: Image.Image

    @property
    def px_per_mm(self) -> float:
        return self.pages[0][2] / 210.0

    def red_pixels(self, left: float, top: float, right: float, bottom: float) -> int:
        region = self.screenshot.crop((round(left), round(top), round(right), round(bottom))).convert("RGB")
        raw = region.tobytes()
        return sum(1 for i in range(0, len(raw), 3) if raw[i] > 170 and raw[i + 1] < 90 and raw[i + 2] < 90)


@pytest.fixture(scope="module")
def library() -> bytes:
    if not LIBRARY.exists():
        npm = shutil.which("npm")
        assert npm is not None, "ofd.js is not installed and npm is missing: run `npm ci` in tests/e2e/ofdjs"
        done = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=OFDJS_DIR, capture_output=True, timeout=600
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
    return LIBRARY.read_bytes()


@pytest.fixture
def show(browser: Browser, library: bytes, tmp_path: Path) -> Callable[[bytes, str], Shown]:
    def shown(ofd: bytes, name: str) -> Shown:
        page = browser.new_page(viewport={"width": PAGE_PX + 100, "height": 1200})
        try:
            page.route(f"{ORIGIN}/", lambda r: r.fulfill(status=200, content_type="text/html", body=PAGE_HTML))
            page.route(f"{ORIGIN}/ofd.js", lambda r: r.fulfill(content_type="application/javascript", body=library))
            page.route(f"{ORIGIN}/doc.ofd", lambda r: r.fulfill(content_type="application/ofd", body=ofd))
            page.goto(f"{ORIGIN}/")
            result = page.evaluate(RENDER_JS)
            png = page.screenshot(full_page=True)
        finally:
            page.close()
        (tmp_path / f"{name}.png").write_bytes(png)
        return Shown(result["pages"], result["seals"], Image.open(io.BytesIO(png)))

    return shown


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("ofdjs-deployment")
    settings = Settings(
        home=home,
        kek="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        audit_key="ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",
        database_url=f"sqlite:///{home / 'certseal.db'}",
    )
    platform = Platform(settings)
    platform.db.migrate()
    make_seal(platform, KeyAlgorithm.SM2, name="sm2")
    yield platform
    platform.close()


def seal(platform: Platform, ofd: bytes, placement: Any) -> bytes:
    return OfdSealingService(platform).seal(ofd, "sm2", ACTOR, placement).ofd


def tampered(ofd: bytes, name: str, change: Callable[[bytes], bytes]) -> bytes:
    package = OfdPackage.from_bytes(ofd)
    package.put(name, change(package[name]))
    return package.to_bytes()


def flip(data: bytes, back: int) -> bytes:
    out = bytearray(data)
    out[-back] ^= 0x01
    return bytes(out)


def test_position_and_keyword_seals_are_verified_and_drawn_where_placed(
    deployment: Platform, show: Callable[[bytes, str], Shown]
) -> None:
    once = seal(deployment, ofddocs.license_ofd(), AtPosition(1, 150, 250))
    twice = seal(deployment, once, AtKeyword("许可证"))
    shown = show(twice, "license-two-seals")
    assert len(shown.pages) == 1
    assert [s["id"] for s in shown.seals] == ["s001", "s003", "s003"]
    assert all(s["verified"] is True for s in shown.seals)
    assert [s["digests"] for s in shown.seals if s["id"] == "s003"] == [True, True]
    scale = shown.px_per_mm
    x, y, width, height = shown.seals[0]["rect"]
    page_x, page_y = shown.pages[0][:2]
    assert (x - page_x) / scale == pytest.approx(130, abs=0.5) and (y - page_y) / scale == pytest.approx(230, abs=0.5)
    assert width / scale == pytest.approx(SEAL_MM, abs=0.5) and height / scale == pytest.approx(SEAL_MM, abs=0.5)
    for element in shown.seals:
        left, top, w, h = element["rect"]
        assert shown.red_pixels(left, top, left + w, top + h) > 500, f"no red seal drawn at {element['rect']}"
    assert shown.red_pixels(page_x + 60 * scale, page_y + 200 * scale, page_x + 100 * scale, page_y + 240 * scale) == 0


def test_riding_seal_shows_one_slice_per_page(deployment: Platform, show: Callable[[bytes, str], Shown]) -> None:
    shown = show(seal(deployment, ofddocs.long_ofd(4), Riding()), "riding")
    assert len(shown.pages) == len(shown.seals) == 4
    assert all(s["verified"] is True and s["digests"] is True for s in shown.seals)
    scale = shown.px_per_mm
    slice_px = SEAL_MM / 4 * scale
    for index, ((page_x, _, page_w, _), element) in enumerate(zip(shown.pages, shown.seals, strict=True)):
        left, top, width, height = element["rect"]
        right_edge = page_x + page_w
        assert (left - page_x) / scale == pytest.approx(210 - SEAL_MM / 4 * (index + 1), abs=0.5)
        assert width / scale == pytest.approx(SEAL_MM, abs=0.5)  # the whole seal is placed, its Clip shows a slice
        assert shown.red_pixels(right_edge - slice_px, top, right_edge, top + height) > 50
        assert shown.red_pixels(right_edge - SEAL_MM * scale, top, right_edge - slice_px - 2, top + height) == 0


def test_ofdjs_sees_tampering(deployment: Platform, show: Callable[[bytes, str], Shown]) -> None:
    sealed = seal(deployment, ofddocs.license_ofd(), AtPosition(1, 100, 100))
    later = tampered(sealed, "Doc_0/Pages/Page_0/Content.xml", lambda xml: xml.replace(b"2030", b"2031"))
    (content,) = show(later, "changed-content").seals
    assert content["verified"] is True and content["digests"] is False
    (value,) = show(tampered(sealed, "Doc_0/Signs/Sign_0/SignedValue.dat", lambda v: flip(v, 5)), "forged").seals
    assert value["verified"] is False and value["digests"] is True
