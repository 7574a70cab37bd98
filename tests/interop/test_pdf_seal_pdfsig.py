"""Seals checked by poppler: pdfsig validates every signature and notices tampering and later changes; pdftoppm
shows the seal image where it was asked for; qpdf --check accepts every update."""

from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image

from certseal.signing.pdf.reader import PdfDocument
from certseal.signing.pdf.sealing import Placement, SealImage, placement_at, riding_placements, seal, signatures
from tests import pdfdocs

IMAGE = SealImage(pdfdocs.seal_png(), 40, 40)
DPI = 50


def _valid(block: str) -> bool:
    return "Signature Validation: Signature is Valid." in block


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
@pytest.mark.parametrize("source", [pdfdocs.one_page, pdfdocs.object_streams, pdfdocs.chinese, pdfdocs.linearized])
def test_seal_is_valid_and_a_changed_byte_is_a_digest_mismatch(kind: str, source: object) -> None:
    assert callable(source)
    original: bytes = source()
    producer = pdfdocs.TestProducer(pdfdocs.identity(kind))
    sealed = seal(original, [placement_at(PdfDocument(original), 0, 300, 400, IMAGE)], IMAGE, producer)
    pdfdocs.qpdf_check(sealed)
    (report,) = pdfdocs.pdfsig(sealed)
    assert _valid(report), report
    assert "Total document signed" in report
    assert f"certseal test seal ({kind})" in report
    # flip one byte inside the first signed range (in the original file's bytes)
    position = sealed.index(b"/MediaBox") + 2
    tampered = sealed[:position] + bytes([sealed[position] ^ 0x20]) + sealed[position + 1 :]
    (report,) = pdfdocs.pdfsig(tampered)
    assert "Digest Mismatch" in report, report
    # and one inside the second range (our update, after /Contents)
    position = sealed.rindex(b"startxref") - 3
    tampered = sealed[:position] + bytes([sealed[position] ^ 0x01]) + sealed[position + 1 :]
    (report,) = pdfdocs.pdfsig(tampered)
    assert "Digest Mismatch" in report, report


def test_successive_seals_all_stay_valid() -> None:
    producer = pdfdocs.TestProducer(pdfdocs.identity("rsa"))
    pdf = pdfdocs.twenty_pages()
    pdf = seal(pdf, [placement_at(PdfDocument(pdf), 0, 150, 150, IMAGE)], IMAGE, producer, reason="first")
    pdf = seal(pdf, riding_placements(PdfDocument(pdf), IMAGE), IMAGE, producer, reason="riding")
    pdf = seal(pdf, [placement_at(PdfDocument(pdf), 19, 400, 150, IMAGE)], IMAGE, producer, reason="last")
    pdfdocs.qpdf_check(pdf)
    reports = pdfdocs.pdfsig(pdf)
    # pdfsig lists the riding seal once per widget (each kid carries /V), so 1 + 20 + 1 entries
    assert len(reports) == 22
    assert all(_valid(r) for r in reports), reports
    assert "Total document signed" in reports[-1]
    assert all("Not total document signed" in r for r in reports[:-1])
    found = signatures(PdfDocument(pdf))
    assert [s.reason for s in found] == ["first", "riding", "last"]
    assert [s.covers_revision for s in found] == [True, True, True]
    assert [s.covers_document for s in found] == [False, False, True]


def test_content_changing_update_after_sealing_is_reported() -> None:
    producer = pdfdocs.TestProducer(pdfdocs.identity("ecdsa"))
    sealed = seal(
        pdfdocs.one_page(), [placement_at(PdfDocument(pdfdocs.one_page()), 0, 300, 400, IMAGE)], IMAGE, producer
    )
    changed = pdfdocs.append_page_content(sealed, b"BT /F1 30 Tf 100 100 Td (FORGED) Tj ET")
    pdfdocs.qpdf_check(changed)
    (report,) = pdfdocs.pdfsig(changed)
    assert _valid(report), report  # the signed revision itself is intact ...
    assert "Not total document signed" in report  # ... but it no longer covers the document
    (signature,) = signatures(PdfDocument(changed))
    assert signature.covers_revision and not signature.covers_document
    assert signature.revision_end == len(sealed)


# --- where the seal shows up -------------------------------------------------------------------------------------


def _expected_box(rect: tuple[float, float, float, float], page_height: float) -> tuple[float, float, float, float]:
    left, top = pdfdocs.to_pixels(rect[0], rect[3], page_height, DPI)
    right, bottom = pdfdocs.to_pixels(rect[2], rect[1], page_height, DPI)
    return left, top, right, bottom


def _inside(found: tuple[int, int, int, int], expected: tuple[float, float, float, float], slack: float) -> bool:
    return (
        found[0] >= expected[0] - slack
        and found[1] >= expected[1] - slack
        and found[2] <= expected[2] + slack
        and found[3] <= expected[3] + slack
    )


def test_seal_is_drawn_at_the_requested_point() -> None:
    original = pdfdocs.one_page()
    document = PdfDocument(original)
    placement = placement_at(document, 0, 200, 300, IMAGE)
    sealed = seal(original, [placement], IMAGE, pdfdocs.TestProducer(pdfdocs.identity("rsa")))
    assert pdfdocs.red_box(pdfdocs.render(original, 0, DPI)) is None
    image = pdfdocs.render(sealed, 0, DPI)
    found = pdfdocs.red_box(image)
    assert found is not None
    height = document.pages()[0].media_box()[3]
    expected = _expected_box(placement.rect, height)
    assert _inside(found, expected, 2)
    # the seal's ring fills its box: the red area is nearly the whole requested square
    assert found[2] - found[0] >= (expected[2] - expected[0]) * 0.85
    centre = ((found[0] + found[2]) / 2, (found[1] + found[3]) / 2)
    assert centre == pytest.approx(pdfdocs.to_pixels(200, 300, height, DPI), abs=2)


def test_riding_seal_is_on_every_right_edge() -> None:
    original = pdfdocs.object_streams()
    document = PdfDocument(original)
    placements = riding_placements(document, IMAGE)
    sealed = seal(original, placements, IMAGE, pdfdocs.TestProducer(pdfdocs.identity("rsa")))
    pdfdocs.qpdf_check(sealed)
    assert all(_valid(r) for r in pdfdocs.pdfsig(sealed))
    _, _, width, height = document.pages()[0].media_box()
    page_width_px = width * DPI / 72
    seal_height_px = IMAGE.height_pt * DPI / 72
    slice_px = IMAGE.width_pt / 3 * DPI / 72
    for placement in placements:
        found = pdfdocs.red_box(pdfdocs.render(sealed, placement.page, DPI))
        assert found is not None, f"no seal on page {placement.page + 1}"
        assert found[0] >= page_width_px - slice_px - 1  # a third of the seal, on the right edge
        assert found[2] >= page_width_px - slice_px / 2
        assert _inside(found, _expected_box(placement.rect, height), 2)
        assert (found[1] + found[3]) / 2 == pytest.approx(height * DPI / 72 / 2, abs=seal_height_px / 2)


def test_seal_is_upright_on_a_rotated_page() -> None:
    """An image red only in its top half must show red only in the top half on the displayed (rotated) page."""
    top_half = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    top_half.paste((220, 0, 0, 255), (0, 0, 100, 50))
    buffer = io.BytesIO()
    top_half.save(buffer, format="PNG")
    image = SealImage(buffer.getvalue(), 30, 30)
    original = pdfdocs.rotated()
    document = PdfDocument(original)
    assert document.pages()[0].rotation() == 90
    sealed = seal(
        original, [placement_at(document, 0, 200, 150, image)], image, pdfdocs.TestProducer(pdfdocs.identity("rsa"))
    )
    rendered = pdfdocs.render(sealed, 0, DPI)
    displayed_width, displayed_height = rendered.size
    _, _, media_width, media_height = document.pages()[0].media_box()
    assert media_width > media_height  # a landscape MediaBox ...
    assert displayed_width < displayed_height  # ... that poppler shows turned by 90 degrees
    found = pdfdocs.red_box(rendered)
    assert found is not None
    size = image.width_pt * DPI / 72
    centre_x, centre_y = pdfdocs.to_pixels(200, 150, displayed_height * 72 / DPI, DPI)
    assert found[0] == pytest.approx(centre_x - size / 2, abs=2)
    assert found[2] == pytest.approx(centre_x + size / 2, abs=2)
    assert found[1] == pytest.approx(centre_y - size / 2, abs=2)  # red starts at the seal's top ...
    assert found[3] == pytest.approx(centre_y, abs=2)  # ... and stops at its middle


def test_keyword_style_seal_with_several_widgets_on_one_page() -> None:
    original = pdfdocs.one_page()
    document = PdfDocument(original)
    placements = [placement_at(document, 0, 150, 200, IMAGE), placement_at(document, 0, 400, 600, IMAGE)]
    sealed = seal(original, placements, IMAGE, pdfdocs.TestProducer(pdfdocs.identity("ecdsa")))
    pdfdocs.qpdf_check(sealed)
    reports = pdfdocs.pdfsig(sealed)
    assert len(reports) == 2 and all(_valid(r) for r in reports)
    rendered = pdfdocs.render(sealed, 0, DPI)
    height = document.pages()[0].media_box()[3]
    for placement in placements:
        left, top, right, bottom = (round(v) for v in _expected_box(placement.rect, height))
        assert pdfdocs.red_box(rendered.crop((left, top, right, bottom))) is not None
    assert zlib.crc32(sealed) != zlib.crc32(original)


def test_invisible_signature_draws_nothing() -> None:
    sealed = seal(pdfdocs.one_page(), list[Placement](), IMAGE, pdfdocs.TestProducer(pdfdocs.identity("rsa")))
    (report,) = pdfdocs.pdfsig(sealed)
    assert _valid(report)
    assert pdfdocs.red_box(pdfdocs.render(sealed, 0, DPI)) is None
