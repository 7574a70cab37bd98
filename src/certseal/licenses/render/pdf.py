"""A license face as PDF: the shared layout painted with reportlab, text in an embedded CJK TrueType subset.

Text stays text (a subset of the CJK font with a ToUnicode map, so it can be searched and extracted), the QR code is
drawn as vector rectangles, and the output is deterministic (reportlab's invariant mode). The seal position is
reported the way services/pdf_sealing.AtPosition takes it: page 1-based, centre in points from the bottom-left.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from certseal.errors import ValidationError
from certseal.licenses.render.layout import (
    Copy,
    Frame,
    IssueFacts,
    Item,
    PageLayout,
    Picture,
    QrCode,
    Rule,
    Text,
    layout_license,
    license_font,
)
from certseal.licenses.schema import LicenseType
from certseal.ofd.qr import QUIET_ZONE, dark_runs, qr_modules

PT_PER_MM = 72 / 25.4
FONT_NAME = "CertsealLicenseCJK"


@dataclass(frozen=True)
class RenderedLicense:
    """The PDF and where to seal it: (page 1-based, x_pt, y_pt) is the seal's centre from the bottom-left corner."""

    pdf: bytes
    seal_position: tuple[int, float, float]
    seal_size_mm: float
    page_count: int


@cache
def _font() -> str:
    """Register the CJK font with reportlab once per process (parsing it is the slow part)."""
    font = license_font()
    pdfmetrics.registerFont(TTFont(FONT_NAME, font.path, subfontIndex=font.index))
    return FONT_NAME


def render_pdf(
    license_type: LicenseType,
    data: Mapping[str, Any],
    facts: IssueFacts,
    *,
    copy: Copy,
) -> RenderedLicense:
    """One face (正本 "original" / 副本 "duplicate") of a license as PDF; `facts` as issue_facts checked them."""
    layout = layout_license(license_type, data, copy, facts)
    buffer = io.BytesIO()
    font = _font()
    # our font as the initial one, or reportlab references an unembedded Helvetica on every page
    canvas = Canvas(buffer, invariant=True, pageCompression=1, initialFontName=font, initialFontSize=10)
    canvas.setTitle(f"{layout.title} {facts.number}")
    canvas.setAuthor(facts.issuer)
    canvas.setSubject(str(facts.identifier))
    canvas.setCreator("certseal")
    canvas.setKeywords([f"{name}={value}" for name, value in layout.metadata])
    for page in layout.pages:
        _page(canvas, page, font)
    canvas.save()
    seal = layout.seal
    height = layout.pages[seal.page - 1].height
    position = (seal.page, seal.x * PT_PER_MM, (height - seal.y) * PT_PER_MM)
    return RenderedLicense(buffer.getvalue(), position, seal.size, len(layout.pages))


def _page(canvas: Canvas, page: PageLayout, font: str) -> None:
    canvas.setPageSize((page.width * PT_PER_MM, page.height * PT_PER_MM))
    for item in page.items:
        _draw(canvas, item, page.height, font)
    canvas.showPage()


def _draw(canvas: Canvas, item: Item, page_height: float, font: str) -> None:
    if isinstance(item, Text):
        _text(canvas, item, page_height, font)
    elif isinstance(item, Frame):
        canvas.setLineWidth(item.line_width * PT_PER_MM)
        canvas.setStrokeColorRGB(*_rgb(item.colour))
        if item.fill is not None:
            canvas.setFillColorRGB(*_rgb(item.fill))
        x, y = item.x * PT_PER_MM, (page_height - item.y - item.height) * PT_PER_MM
        canvas.rect(x, y, item.width * PT_PER_MM, item.height * PT_PER_MM, stroke=1, fill=int(item.fill is not None))
    elif isinstance(item, Rule):
        canvas.setLineWidth(item.line_width * PT_PER_MM)
        canvas.setStrokeColorRGB(*_rgb(item.colour))
        canvas.line(
            item.x1 * PT_PER_MM,
            (page_height - item.y1) * PT_PER_MM,
            item.x2 * PT_PER_MM,
            (page_height - item.y2) * PT_PER_MM,
        )
    elif isinstance(item, QrCode):
        _qr(canvas, item, page_height)
    elif isinstance(item, Picture):
        _picture(canvas, item, page_height)


def _text(canvas: Canvas, item: Text, page_height: float, font: str) -> None:
    size = item.size * PT_PER_MM
    x, y = item.x * PT_PER_MM, (page_height - item.y) * PT_PER_MM
    text = canvas.beginText()
    text.setFont(font, size)
    text.setFillColorRGB(*_rgb(item.colour))
    if item.bold:  # the font has no bold face: fill and stroke the glyphs
        canvas.setStrokeColorRGB(*_rgb(item.colour))
        canvas.setLineWidth(size * 0.035)
        text.setTextRenderMode(2)
    width = pdfmetrics.stringWidth(item.text, font, size)
    x -= {"left": 0.0, "center": width / 2, "right": width}[item.align]
    text.setTextOrigin(x, y)
    text.textOut(item.text)
    canvas.drawText(text)


def _qr(canvas: Canvas, item: QrCode, page_height: float) -> None:
    try:
        modules = qr_modules(item.payload)  # the OFD face draws the same modules
    except ValidationError as exc:
        raise ValidationError("qr_text", exc.rule) from None
    count = len(modules) + 2 * QUIET_ZONE
    unit = item.size * PT_PER_MM / count
    canvas.saveState()
    # module units, origin at the symbol's top-left, y down: integer coordinates keep the path short and fast
    canvas.translate(item.x * PT_PER_MM, (page_height - item.y) * PT_PER_MM)
    canvas.scale(unit, -unit)
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(0, 0, count, count, stroke=0, fill=1)
    path = canvas.beginPath()
    for row, start, end in dark_runs(modules):
        path.rect(start + QUIET_ZONE, row + QUIET_ZONE, end - start, 1)
    canvas.setFillColorRGB(0, 0, 0)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()


def _picture(canvas: Canvas, item: Picture, page_height: float) -> None:
    try:
        image = ImageReader(io.BytesIO(item.data))
    except Exception as exc:  # reportlab wraps PIL's many error types
        raise ValidationError("image", f"is not a readable PNG or JPEG ({exc})") from exc
    y = (page_height - item.y - item.height) * PT_PER_MM
    canvas.drawImage(image, item.x * PT_PER_MM, y, item.width * PT_PER_MM, item.height * PT_PER_MM, mask="auto")


def _rgb(colour: tuple[int, int, int]) -> tuple[float, float, float]:
    return colour[0] / 255, colour[1] / 255, colour[2] / 255
