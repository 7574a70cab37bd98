"""PNG of OFD pages: the page's SVG rasterised by headless Chromium through Playwright.

Chromium, not a pure-Python rasteriser: it loads the embedded fonts through @font-face exactly as the HTML viewer
does (so the PNG and the browser view agree), shapes CJK text, and handles clip paths, nested SVG seals and images;
the pure-Python options here (Pillow, reportlab's renderPM) have no SVG text with web fonts. The SVG is loaded as an
XML document (so Chromium also checks it is well-formed), every other request is refused, and the page is
screenshot at `dpi` through the device scale factor. Playwright is an optional dependency; Chromium is the system's
(/usr/bin/chromium), never one Playwright downloads.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from certseal.errors import ConfigError, ValidationError
from certseal.ofd.model import Box, Document
from certseal.ofd.render.svg import Annotation, Stamp, page_box, render_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
DEFAULT_DPI = 150.0
MIN_DPI, MAX_DPI = 10.0, 1200.0
MAX_PIXELS = 120_000_000  # one PNG; A4 at 1200 dpi is about 140 M, so very large pages need a lower dpi
CSS_PX_PER_MM = 96 / 25.4
_ORIGIN = "https://certseal-render.invalid"
_PAGE_URL = f"{_ORIGIN}/page.svg"


def default_chromium() -> str:
    return shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


def check_dpi(dpi: float, box: Box) -> None:
    if not MIN_DPI <= dpi <= MAX_DPI:
        raise ValidationError("dpi", f"must be between {MIN_DPI:g} and {MAX_DPI:g}, got {dpi:g}")
    pixels = (box.width / 25.4 * dpi) * (box.height / 25.4 * dpi)
    if pixels > MAX_PIXELS:
        raise ValidationError(
            "dpi", f"{dpi:g} dpi makes a {pixels / 1e6:.0f} Mpixel image, more than {MAX_PIXELS // 1_000_000} M"
        )


class Rasterizer:
    """A headless Chromium kept open to rasterise many pages; use as a context manager (or call close()).
    Pass `browser` to use a Playwright Browser the caller owns (one sync Playwright per thread is all there can be);
    otherwise Chromium is started from `executable_path` (default: the system's chromium)."""

    def __init__(self, executable_path: str | None = None, *, browser: Browser | None = None) -> None:
        try:
            from playwright.sync_api import Error as PlaywrightError
            from playwright.sync_api import sync_playwright
        except ImportError as exc:
            raise ConfigError("PNG rendering needs Playwright for Python: pip install 'playwright>=1.40'") from exc
        self._error: type[Exception] = PlaywrightError
        self._playwright: Playwright | None = None
        if browser is not None:
            self._browser = browser
            return
        path = executable_path or default_chromium()
        try:
            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(executable_path=path, args=list(CHROMIUM_ARGS))
        except PlaywrightError as exc:
            if self._playwright is not None:
                self._playwright.stop()
            raise ConfigError(f"Chromium at {path} cannot be started for PNG rendering ({exc.message})") from exc

    def __enter__(self) -> Rasterizer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the Chromium this Rasterizer started (a browser passed in stays open)."""
        if self._playwright is None:
            return
        try:
            self._browser.close()
        finally:
            self._playwright.stop()
            self._playwright = None

    def svg_to_png(self, svg: str, box: Box, dpi: float = DEFAULT_DPI) -> bytes:
        """The SVG (a page `box` in mm) as a PNG of round(mm / 25.4 × dpi) pixels per side."""
        check_dpi(dpi, box)
        scale = dpi / 96
        # the clip in CSS px that gives exactly round(mm / 25.4 × dpi) device pixels
        pixels = round(box.width / 25.4 * dpi), round(box.height / 25.4 * dpi)
        width, height = (pixels[0] + 0.25) / scale, (pixels[1] + 0.25) / scale  # Chromium floors the clip
        context = self._browser.new_context(
            viewport={"width": math.ceil(width), "height": math.ceil(height)},
            device_scale_factor=scale,
            java_script_enabled=True,  # only our own evaluate() below; the SVG has no scripts
        )
        try:
            body = svg.encode("utf-8")
            context.route(
                "**/*",
                lambda route: (
                    route.fulfill(status=200, content_type="image/svg+xml", body=body)
                    if route.request.url == _PAGE_URL
                    else route.abort()
                ),
            )
            page = context.new_page()
            page.goto(_PAGE_URL, wait_until="load")
            page.evaluate("document.fonts.ready.then(() => true)")
            return page.screenshot(clip={"x": 0, "y": 0, "width": width, "height": height}, type="png")
        except self._error as exc:
            raise ValidationError("ofd", f"Chromium could not rasterise the page ({exc})") from exc
        finally:
            context.close()

    def page_png(
        self,
        document: Document,
        index: int,
        *,
        dpi: float = DEFAULT_DPI,
        stamps: Sequence[Stamp] = (),
        annotations: Sequence[Annotation] = (),
    ) -> bytes:
        """Page `index` (0-based) as PNG at `dpi`."""
        box = page_box(document, index)
        check_dpi(dpi, box)
        return self.svg_to_png(render_page(document, index, stamps=stamps, annotations=annotations), box, dpi)


def render_png(
    document: Document,
    index: int,
    *,
    dpi: float = DEFAULT_DPI,
    stamps: Sequence[Stamp] = (),
    annotations: Sequence[Annotation] = (),
    chromium: str | None = None,
) -> bytes:
    """Page `index` (0-based) as PNG at `dpi`, starting and stopping Chromium (use Rasterizer for many pages)."""
    check_dpi(dpi, page_box(document, index))
    with Rasterizer(chromium) as rasterizer:
        return rasterizer.page_png(document, index, dpi=dpi, stamps=stamps, annotations=annotations)
