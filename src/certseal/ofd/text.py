"""Where the glyphs of OFD text are on the page (mm), and keyword search over them.

A glyph's origin is TextCode X/Y plus the DeltaX/DeltaY before it (none given: no offset), in the object's own
coordinates; the object's CTM maps those into its Boundary, whose top-left corner is placed on the page. A glyph's box
spans its width (the embedded font's advance, else the DeltaX to the next glyph, else an estimate) and the font size
above and a little below the baseline. Used by keyword stamping (find_keyword) and by the renderer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from certseal.errors import ValidationError
from certseal.ofd.fonts import TrueTypeFont, estimated_advance_em
from certseal.ofd.model import Box, Document, Matrix, Page, TemplatePage, TextObject, page_objects

ASCENT = 0.85  # part of the font size above the baseline in a glyph box (the rest is below)

AdvanceEm = Callable[[str], float]


@dataclass(frozen=True, slots=True)
class Glyph:
    """One character: its origin on the baseline and its box, both in page mm; x/y/advance in object space too."""

    char: str
    x: float  # page mm
    y: float
    box: Box
    local_x: float  # object coordinates (before CTM and Boundary offset)
    local_y: float
    width: float  # object coordinates


def glyph_origins(obj: TextObject, advance_em: AdvanceEm | None = None) -> Iterator[tuple[str, float, float, float]]:
    """(char, x, y, width) per glyph in the object's own coordinates, in text order. Without DeltaX (DeltaY) the
    glyphs do not move in x (y), as GB/T 33190 says and ofd.js does. The width is the font's advance when its
    metrics are known, else the DeltaX to the next glyph when it looks like one, else an estimate."""
    for code in obj.text_codes:
        x, y = code.x, code.y
        last = len(code.text) - 1
        for index, char in enumerate(code.text):
            gap = code.delta_x[index] if index < last and index < len(code.delta_x) else None
            yield char, x, y, _width(obj, char, gap, advance_em)
            if index < last:
                x += gap or 0.0
                y += code.delta_y[index] if index < len(code.delta_y) else 0.0


def _width(obj: TextObject, char: str, gap: float | None, advance_em: AdvanceEm | None) -> float:
    if advance_em is not None:
        return advance_em(char) * obj.size * obj.h_scale
    if gap is not None and 0 < gap <= 1.5 * obj.size:
        return gap
    return estimated_advance_em(char) * obj.size * obj.h_scale


def glyph_positions(
    obj: TextObject, advance_em: AdvanceEm | None = None, outer: Matrix = Matrix.IDENTITY
) -> list[Glyph]:
    """Every glyph of a text object placed on the page (`outer` maps the object's parent space to the page)."""
    to_page = obj.to_page().then(outer)
    glyphs = []
    for char, x, y, width in glyph_origins(obj, advance_em):
        local_box = Box(x, y - ASCENT * obj.size, width, obj.size)
        page_x, page_y = to_page.apply(x, y)
        glyphs.append(Glyph(char, page_x, page_y, to_page.box(local_box), x, y, width))
    return glyphs


def font_advances(document: Document, font_id: int, page: Page | None = None) -> AdvanceEm | None:
    """The advance widths (em) of an embedded TrueType font, or None when the font is not embedded or unreadable."""
    font = document.font(font_id, page)
    if font is None or not font.data:
        return None
    parsed = _parse_embedded(font.data)
    return parsed.advance_em if parsed is not None else None


@lru_cache(maxsize=32)
def _parse_embedded(data: bytes) -> TrueTypeFont | None:
    try:
        return TrueTypeFont.from_bytes(data)
    except ValidationError:
        return None


def page_glyphs(document: Document, page: Page | TemplatePage) -> list[Glyph]:
    """The glyphs of every text object of a page (its own content, not its templates) in document order."""
    glyphs: list[Glyph] = []
    own = page if isinstance(page, Page) else None
    for obj in page_objects(page):
        if isinstance(obj, TextObject):
            glyphs.extend(glyph_positions(obj, font_advances(document, obj.font_id, own)))
    return glyphs


def page_text(page: Page | TemplatePage) -> str:
    """The text of a page's own content, objects in document order."""
    return "".join(obj.text for obj in page_objects(page) if isinstance(obj, TextObject))


def find_keyword(document: Document, keyword: str, pages: Iterable[int] | None = None) -> list[tuple[int, Box]]:
    """(page index, box in page mm) of every occurrence of `keyword` in the pages' text; an occurrence may run
    across TextCodes and TextObjects (text is joined in document order, as ofdrw's KeywordExtractor does)."""
    if not keyword:
        raise ValidationError("keyword", "must not be empty")
    hits: list[tuple[int, Box]] = []
    for index in pages if pages is not None else range(len(document.pages)):
        glyphs = page_glyphs(document, document.pages[index])
        text = "".join(g.char for g in glyphs)
        start = text.find(keyword)
        while start >= 0:
            box = glyphs[start].box
            for glyph in glyphs[start + 1 : start + len(keyword)]:
                box = box.union(glyph.box)
            hits.append((index, box))
            start = text.find(keyword, start + len(keyword))
    return hits
