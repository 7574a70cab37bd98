"""A license face as OFD (GB/T 33190, the e-license file format of GB/T 36905): the shared layout painted with
the OFD DocumentBuilder, the GB/T 36901 core metadata written as DocInfo CustomData entries.

The seal position is reported the way services/ofd_sealing.AtPosition takes it: page 1-based, centre in mm from the
page's top-left corner. The document ID is derived from the identifier and the face, so the output is deterministic.
Text is embedded in the license font (layout.license_font) unless `font_path` names another TrueType CJK font (the
setting ofd_font_path); the layout is still measured with the license font, so a font of other widths shifts text.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certseal.licenses.render.layout import (
    Copy,
    Frame,
    IssueFacts,
    Item,
    Picture,
    QrCode,
    Rule,
    Text,
    layout_license,
    license_font,
)
from certseal.licenses.schema import LicenseType
from certseal.ofd.writer import DocumentBuilder, FontHandle

_DOC_ID_NAMESPACE = uuid.UUID("6f1d8f0e-3f43-5b8e-9d0c-6c6963656e73")


@dataclass(frozen=True)
class RenderedOfdLicense:
    """The OFD and where to seal it: (page 1-based, x_mm, y_mm) is the seal's centre from the top-left corner."""

    ofd: bytes
    seal_position: tuple[int, float, float]
    seal_size_mm: float
    page_count: int
    metadata: tuple[tuple[str, str], ...]


def render_ofd(
    license_type: LicenseType,
    data: Mapping[str, Any],
    facts: IssueFacts,
    *,
    copy: Copy,
    font_path: str | Path | None = None,
) -> RenderedOfdLicense:
    """One face (正本 "original" / 副本 "duplicate") of a license as OFD; `facts` as issue_facts checked them;
    `font_path`: the TrueType CJK font to embed instead of the license font (ConfigError if it cannot be read or
    has no Chinese glyphs)."""
    layout = layout_license(license_type, data, copy, facts)
    first = layout.pages[0]
    builder = DocumentBuilder(
        (first.width, first.height),
        doc_id=uuid.uuid5(_DOC_ID_NAMESPACE, f"{facts.identifier}/{copy}").hex,
        title=f"{layout.title} {facts.number}",
        author=facts.issuer,
        subject=str(facts.identifier),
        creation_date=facts.issue_date,
        font_path=font_path,
    )
    if font_path:
        handle = builder.font()  # the given font, checked for Chinese glyphs
    else:
        font = license_font()
        handle = builder.font(font.path, font.index)
    for page in layout.pages:
        size = None if (page.width, page.height) == (first.width, first.height) else (page.width, page.height)
        builder.page(size_mm=size)
        for item in page.items:
            _draw(builder, item, handle)
    for name, value in layout.metadata:
        builder.custom_data(name, value)
    seal = layout.seal
    return RenderedOfdLicense(
        builder.build(), (seal.page, seal.x, seal.y), seal.size, len(layout.pages), layout.metadata
    )


def _draw(builder: DocumentBuilder, item: Item, font: FontHandle) -> None:
    if isinstance(item, Text):
        weight = 700 if item.bold else 400
        builder.text(item.x, item.y, item.text, font, item.size, colour=item.colour, align=item.align, weight=weight)
    elif isinstance(item, Frame):
        builder.rect(
            item.x, item.y, item.width, item.height, stroke=item.colour, fill=item.fill, line_width=item.line_width
        )
    elif isinstance(item, Rule):
        builder.line(item.x1, item.y1, item.x2, item.y2, colour=item.colour, line_width=item.line_width)
    elif isinstance(item, QrCode):
        builder.rect(item.x, item.y, item.size, item.size, stroke=None, fill=(255, 255, 255))
        builder.qr(item.payload, (item.x, item.y, item.size, item.size))  # the modules the PDF face draws
    elif isinstance(item, Picture):
        builder.image(item.data, (item.x, item.y, item.width, item.height))
