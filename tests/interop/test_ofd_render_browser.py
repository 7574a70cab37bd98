"""The OFD renderer's output in headless Chromium (system /usr/bin/chromium through Playwright): the SVG loads as an
XML document without parser errors, the embedded font is loaded and used, ink lands where the model puts text,
paths, clipped images and seals (pixel boxes measured with Pillow), and the HTML view matches the PNG."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageFilter
from playwright.sync_api import Browser, Page

from certseal.ofd.model import Box, Clip, ClipArea, Document, ImageObject, Matrix, MultiMedia, Resources, TextObject
from certseal.ofd.package import OfdPackage
from certseal.ofd.reader import read_ofd
from certseal.ofd.render import Rasterizer, RenderWarning, Stamp, render_html, render_page, stamps_from_signatures
from certseal.ofd.render.png import CSS_PX_PER_MM
from certseal.ofd.text import glyph_positions
from tests.ofddocs import license_builder
from tests.unit.test_ofd_render import one_page, rect_path, sample, sample_pages, solid_png, text

DPI = 100.0
Pixel = tuple[int, int, int]

pytestmark = pytest.mark.filterwarnings("ignore::certseal.ofd.render.RenderWarning")


@pytest.fixture(scope="module")
def rasterizer(browser: Browser) -> Rasterizer:
    return Rasterizer(browser=browser)


# --- helpers ------------------------------------------------------------------------------------------------------


def open_svg(browser: Browser, svg: str) -> Page:
    """The SVG as a top-level XML document (as the rasteriser loads it)."""
    page = browser.new_page()
    url = "https://render-test.invalid/page.svg"
    page.route(url, lambda route: route.fulfill(status=200, content_type="image/svg+xml", body=svg.encode()))
    page.goto(url)
    page.evaluate("document.fonts.ready.then(() => true)")
    return page


def is_clean_svg_document(page: Page) -> bool:
    return bool(
        page.evaluate(
            "document.documentElement.namespaceURI === 'http://www.w3.org/2000/svg' &&"
            " document.getElementsByTagNameNS('*', 'parsererror').length === 0"
        )
    )


def image_of(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGB")


def crop_mm(image: Image.Image, box: Box, dpi: float = DPI) -> Image.Image:
    scale = dpi / 25.4
    return image.crop((round(box.x * scale), round(box.y * scale), round(box.right * scale), round(box.bottom * scale)))


def pixels(image: Image.Image) -> Iterator[Pixel]:
    data = image.tobytes()
    return zip(data[0::3], data[1::3], data[2::3], strict=True)


def count(image: Image.Image, wanted: Callable[[Pixel], bool]) -> int:
    return sum(1 for pixel in pixels(image) if wanted(pixel))


def ink(pixel: Pixel) -> bool:
    return sum(pixel) < 600


def red(pixel: Pixel) -> bool:
    r, g, b = pixel
    return r > 180 and g < 100 and b < 100  # the invoices' brown (156, 82, 35) and its anti-aliasing are not


def ink_box(image: Image.Image, wanted: Callable[[Pixel], bool] = ink, dpi: float = DPI) -> Box:
    """The box (mm) around the pixels `wanted` picks."""
    mask = Image.frombytes("L", image.size, bytes(255 if wanted(p) else 0 for p in pixels(image)))
    bbox = mask.getbbox()
    assert bbox is not None, "no ink at all"
    left, top, right, bottom = (v * 25.4 / dpi for v in bbox)
    return Box(left, top, right - left, bottom - top)


def inside(inner: Box, outer: Box, slack: float) -> bool:
    return (
        inner.x >= outer.x - slack
        and inner.y >= outer.y - slack
        and inner.right <= outer.right + slack
        and inner.bottom <= outer.bottom + slack
    )


def model_box(obj: TextObject) -> Box:
    boxes = [g.box for g in glyph_positions(obj)]
    union = boxes[0]
    for box in boxes[1:]:
        union = union.union(box)
    return union


def png_of(rasterizer: Rasterizer, document: Document, stamps: Sequence[Stamp] = ()) -> Image.Image:
    return image_of(rasterizer.page_png(document, 0, dpi=DPI, stamps=stamps))


# --- loading and painting --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "index"), list(sample_pages()))
def test_sample_pages_load_as_svg_documents_and_paint(
    browser: Browser, rasterizer: Rasterizer, name: str, index: int
) -> None:
    document = read_ofd(sample(name))
    svg = render_page(document, index)
    page = open_svg(browser, svg)
    try:
        assert is_clean_svg_document(page)
        assert page.evaluate("document.querySelectorAll('text').length") > 0
    finally:
        page.close()
    picture = image_of(rasterizer.svg_to_png(svg, document.page_size(document.pages[index]), DPI))
    assert count(picture, ink) > 500


def test_license_page_paints_title_fields_frame_and_qr_where_the_model_puts_them(rasterizer: Rasterizer) -> None:
    document = read_ofd(license_builder().build())
    picture = png_of(rasterizer, document)
    page_px = round(210 / 25.4 * DPI), round(297 / 25.4 * DPI)
    assert picture.size == page_px
    title = next(
        o for o in document.pages[0].layers[0].objects if isinstance(o, TextObject) and o.text == "药品生产许可证"
    )
    title_ink = ink_box(crop_mm(picture, Box(20, 30, 170, 20)))
    assert inside(title_ink.moved(20, 30), model_box(title), 0.8)
    assert title_ink.width > 0.85 * model_box(title).width
    assert count(crop_mm(picture, Box(20, 30, 170, 20)), red) > 1000  # the title is red
    qr = crop_mm(picture, Box(30, 225, 35, 35))
    assert 0.25 < count(qr, lambda p: sum(p) < 200) / (qr.width * qr.height) < 0.75
    assert count(crop_mm(picture, Box(9.4, 100, 1.2, 50)), red) > 0.9 * 5 * 197  # the frame's left edge
    assert count(crop_mm(picture, Box(20, 190, 100, 25)), ink) == 0  # nothing drawn there


def test_embedded_font_is_loaded_and_decides_the_glyph_shapes(browser: Browser, rasterizer: Rasterizer) -> None:
    document = read_ofd(license_builder().build())
    font = document.public_res.fonts[0]
    renamed = replace(font, name="CertsealNoSuchFace", family="CertsealNoSuchFace")
    document = replace(document, public_res=Resources(fonts=(renamed,)))
    svg = render_page(document, 0)
    family = re.search(r"@font-face\{font-family:'([^']+)'", svg)
    assert family is not None
    page = open_svg(browser, svg)
    try:
        faces = page.evaluate("Array.from(document.fonts).map(f => [f.family.replace(/[\"']/g, ''), f.status])")
        assert [family.group(1), "loaded"] in faces
        assert page.evaluate(f"document.fonts.check(\"12px '{family.group(1)}'\", '许可证')")
    finally:
        page.close()
    box = document.page_size(document.pages[0])
    with_font = image_of(rasterizer.svg_to_png(svg, box, DPI))
    without_font = image_of(rasterizer.svg_to_png(re.sub(r"@font-face\{[^}]*\}", "", svg), box, DPI))
    fields = Box(25, 80, 160, 80)
    changed = ImageChops.difference(crop_mm(with_font, fields), crop_mm(without_font, fields))
    assert count(changed, lambda p: max(p) > 96) > 1500  # the system fallback (Noto Serif CJK) draws other glyphs


def test_html_view_matches_the_png(browser: Browser, rasterizer: Rasterizer) -> None:
    document = read_ofd(license_builder().build())
    context = browser.new_context(viewport={"width": 1000, "height": 1300}, device_scale_factor=1)
    try:
        page = context.new_page()
        page.set_content(render_html(document))
        page.evaluate("document.fonts.ready.then(() => true)")
        sheet = page.locator("#page-1 > svg")
        size = sheet.bounding_box()
        assert size is not None and size["width"] == pytest.approx(210 * CSS_PX_PER_MM, abs=0.5)
        html_view = image_of(sheet.screenshot())
        labels = page.locator(".ofd-label").all_inner_texts()
        narrow = context.new_page()
        narrow.set_viewport_size({"width": 400, "height": 800})
        narrow.set_content(render_html(document))
        narrow_width = narrow.locator("#page-1 > svg").bounding_box()
    finally:
        context.close()
    assert labels == ["1 / 1"]
    assert narrow_width is not None and narrow_width["width"] <= 400  # scaled down to the window
    png_view = image_of(rasterizer.page_png(document, 0, dpi=96))
    width, height = min(html_view.width, png_view.width), min(html_view.height, png_view.height)
    assert abs(html_view.width - png_view.width) <= 1 and abs(html_view.height - png_view.height) <= 1
    diff = ImageChops.difference(html_view.crop((0, 0, width, height)), png_view.crop((0, 0, width, height)))
    # the HTML sheet sits at a fractional x, so anti-aliased edges differ by a pixel: a 3x3 minimum filter drops
    # differences one pixel wide, and what is left would be a real difference (a glyph, a line, a seal)
    assert count(diff, lambda p: max(p) > 64) / (width * height) < 0.01
    assert count(diff.filter(ImageFilter.MinFilter(3)), lambda p: max(p) > 64) / (width * height) < 0.0005
    assert count(png_view, ink) > 10_000  # not two blank pages


# --- seals --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["v4signed.ofd", "signedFile.ofd"])
def test_tax_invoice_seal_is_red_at_its_stamp_annot_boundary(rasterizer: Rasterizer, name: str) -> None:
    package = OfdPackage.from_bytes(sample(name))
    document = read_ofd(package)
    stamps = stamps_from_signatures(package, document)
    (boundary,) = {s.boundary for s in stamps}
    sealed = png_of(rasterizer, document, stamps=stamps)
    bare = png_of(rasterizer, document)
    assert count(crop_mm(sealed, boundary), red) > 600
    assert count(crop_mm(bare, boundary), red) < 20  # the template's brown is not red: the seal is what is red
    assert inside(ink_box(sealed, red), boundary, 0.6)


def test_riding_style_clipped_png_seal_shows_only_its_slice(rasterizer: Rasterizer) -> None:
    package = OfdPackage.from_bytes(sample("nonstandard-v1.ofd"))
    document = read_ofd(package)
    (stamp,) = stamps_from_signatures(package, document)
    sliced = replace(stamp, clip=Box(0, 0, 11, 33))
    picture = image_of(rasterizer.page_png(document, 1, dpi=DPI, stamps=[sliced]))
    seal_ink = ink_box(picture, red)
    assert inside(seal_ink, Box(stamp.boundary.x, stamp.boundary.y, 11, 33), 0.4)
    assert seal_ink.width > 9


# --- positions against the model ----------------------------------------------------------------------------------


def test_delta_x_g_shorthand_places_glyphs_where_the_model_does(rasterizer: Rasterizer) -> None:
    from certseal.ofd.model import expand_deltas

    obj = text("一一一一", Box(10, 40, 50, 10), x=0.0, y=6.0, size=6.0, delta_x=expand_deltas("g 3 12", 3))
    picture = png_of(rasterizer, one_page(obj))
    expected = model_box(obj)
    found = ink_box(picture)
    assert inside(found, expected, 0.5)
    assert found.width > 0.85 * expected.width and found.x < 10.8 and found.right > 10 + 36 + 5


def test_ctm_rotated_text_runs_down_the_page(rasterizer: Rasterizer) -> None:
    obj = text(
        "一一一", Box(60, 10, 10, 40), x=0.0, y=5.0, size=6.0, ctm=Matrix(0, 1, -1, 0, 8, 0), delta_x=(10.0, 10.0)
    )
    picture = png_of(rasterizer, one_page(obj))
    expected = model_box(obj)
    found = ink_box(picture)
    assert expected.height > 2 * expected.width  # the model turns the run downwards…
    assert inside(found, expected, 0.5)  # …and the ink is there
    assert found.height > 0.8 * expected.height and found.width < 0.4 * found.height


def test_clipped_image_shows_only_the_clip_area(rasterizer: Rasterizer) -> None:
    clip = Clip((ClipArea(rect_path(Box(0, 0, 20, 40))),))
    image = ImageObject(boundary=Box(20, 20, 40, 40), ctm=Matrix(40, 0, 0, 40, 0, 0), resource_id=60, clips=(clip,))
    document = one_page(image, media=(MultiMedia(60, solid_png(), format="PNG"),))
    found = ink_box(png_of(rasterizer, document), red)
    assert found.x == pytest.approx(20, abs=0.3) and found.y == pytest.approx(20, abs=0.3)
    assert found.width == pytest.approx(20, abs=0.3) and found.height == pytest.approx(40, abs=0.3)
    unclipped = ink_box(
        png_of(rasterizer, one_page(replace(image, clips=()), media=document.document_res.multimedias)), red
    )
    assert unclipped.width == pytest.approx(40, abs=0.3)


def test_malformed_page_renders_the_good_parts(rasterizer: Rasterizer) -> None:
    objects = (
        ImageObject(id=71, boundary=Box(10, 10, 10, 10), resource_id=404),
        ImageObject(id=72, boundary=Box(10, 30, 10, 10), resource_id=61),
        text("无字体", Box(30, 10, 30, 6), font_id=405),
        rect_path(Box(60, 60, 20, 20), fill=True, stroke=False, fill_color=None),
        rect_path(Box(60, 60, 20, 20), stroke=True),
    )
    document = one_page(*objects, media=(MultiMedia(61, b"\x89PNG\r\n\x1a\n broken"),))
    with pytest.warns(RenderWarning):
        picture = png_of(rasterizer, document)
    assert count(crop_mm(picture, Box(30, 8, 30, 8)), ink) > 50  # the text, in a system font
    assert inside(ink_box(crop_mm(picture, Box(50, 50, 40, 40))).moved(50, 50), Box(60, 60, 20, 20), 0.6)
    assert count(crop_mm(picture, Box(10, 10, 10, 30)), ink) == 0  # the broken images: nothing


# --- the command --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_writes_a_png_at_the_requested_dpi(tmp_path: Path) -> None:
    source = tmp_path / "invoice.ofd"
    source.write_bytes(sample("v4signed.ofd"))
    out = tmp_path / "invoice.png"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "certseal.cli",
            "ofd",
            "render",
            str(source),
            "-f",
            "png",
            "--dpi",
            "60",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    picture = image_of(out.read_bytes())
    assert picture.size == (round(210 / 25.4 * 60), round(140 / 25.4 * 60))
    assert count(crop_mm(picture, Box(90, 8, 30, 20), 60), red) > 150
