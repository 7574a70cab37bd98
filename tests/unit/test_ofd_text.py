"""Glyph positions of OFD text (X/Y, DeltaX/DeltaY with the g shorthand, CTM, Boundary) and keyword search."""

from __future__ import annotations

from datetime import date

import pytest

from certseal.errors import ValidationError
from certseal.ofd.fonts import find_cjk_font
from certseal.ofd.model import (
    Box,
    DocInfo,
    Document,
    Layer,
    Matrix,
    Page,
    PageArea,
    PageBlock,
    PageList,
    TextCode,
    TextObject,
    expand_deltas,
)
from certseal.ofd.package import OfdPackage
from certseal.ofd.reader import read_ofd
from certseal.ofd.text import ASCENT, find_keyword, font_advances, glyph_positions, page_glyphs, page_text
from certseal.ofd.writer import DocumentBuilder
from tests import ofddocs


def _text(codes: tuple[TextCode, ...], ctm: Matrix | None = None, size: float = 4.0) -> TextObject:
    return TextObject(id=1, boundary=Box(10, 20, 50, 50), font_id=1, size=size, text_codes=codes, ctm=ctm)


def _values(box: Box) -> tuple[float, float, float, float]:
    return box.x, box.y, box.width, box.height


def _document(*objects: TextObject | PageBlock) -> Document:
    page = Page(1, (Layer(tuple(objects), 2),))
    return Document(DocInfo("d"), PageArea(Box(0, 0, 210, 297)), PageList.of([page]))


def test_glyphs_follow_delta_x_and_the_boundary_offset() -> None:
    glyphs = glyph_positions(_text((TextCode("ABC", 1.0, 5.0, (3.0, 3.0)),)))
    assert [(g.char, g.x, g.y) for g in glyphs] == [("A", 11.0, 25.0), ("B", 14.0, 25.0), ("C", 17.0, 25.0)]
    assert glyphs[0].box == Box(11.0, 25.0 - ASCENT * 4, 3.0, 4.0)  # the DeltaX gap is the glyph's width
    assert glyphs[2].box.width == 2.0  # the last glyph: estimated half an em (no font metrics)


def test_ctm_scales_and_moves_glyphs_inside_the_boundary() -> None:
    glyphs = glyph_positions(_text((TextCode("AB", 1.0, 5.0, (3.0,)),), Matrix(2, 0, 0, 2, 1, 1)))
    assert [(g.x, g.y) for g in glyphs] == [(13.0, 31.0), (19.0, 31.0)]
    assert _values(glyphs[0].box) == pytest.approx((13.0, 31.0 - 2 * ASCENT * 4, 6.0, 8.0))
    assert (glyphs[0].local_x, glyphs[0].local_y) == (1.0, 5.0)


def test_a_rotating_ctm_turns_the_text_run_downwards() -> None:
    glyphs = glyph_positions(_text((TextCode("上下", 1.0, 5.0, (4.0,)),), Matrix(0, 1, -1, 0, 0, 0)))
    assert [(g.x, g.y) for g in glyphs] == [(5.0, 21.0), (5.0, 25.0)]
    first = glyphs[0].box
    assert first.width == pytest.approx(4.0) and first.height == pytest.approx(4.0)  # the box turned with the text


def test_g_shorthand_delta_x_places_each_glyph() -> None:
    text = "北京市海淀区11号"
    deltas = expand_deltas("g 6 3.175 1.59", len(text) - 1)
    glyphs = glyph_positions(_text((TextCode(text, 0.0, 4.4875, deltas),), size=3.175))
    xs = [round(g.x - 10, 4) for g in glyphs]
    assert xs == [0.0, 3.175, 6.35, 9.525, 12.7, 15.875, 19.05, 20.64, 22.23]


def test_delta_y_and_later_text_codes() -> None:
    codes = (TextCode("竖排", 2.0, 4.0, (0.0,), (5.0,)), TextCode("二", 8.0, 4.0))
    glyphs = glyph_positions(_text(codes))
    assert [(g.char, g.x - 10, g.y - 20) for g in glyphs] == [("竖", 2.0, 4.0), ("排", 2.0, 9.0), ("二", 8.0, 4.0)]
    assert glyphs[0].box.width == 4.0  # a zero gap is no width: a full-width CJK estimate instead


def test_without_delta_x_glyphs_do_not_move_across() -> None:
    vertical = glyph_positions(_text((TextCode("竖排文字", 2.0, 4.0, (), (5.0, 5.0, 5.0)),)))
    assert [(g.x, g.y) for g in vertical] == [(12.0, 24.0), (12.0, 29.0), (12.0, 34.0), (12.0, 39.0)]
    assert vertical[0].box.width == 4.0  # the width is still estimated (full width for CJK)


def test_a_text_code_without_x_takes_the_previous_x() -> None:
    page = (
        '<ofd:Page xmlns:ofd="http://www.ofdspec.org/2016"><ofd:Content><ofd:Layer ID="2">'
        '<ofd:TextObject ID="3" Boundary="10 10 100 20" Font="9" Size="5">'
        '<ofd:TextCode X="1" Y="5" DeltaX="g 2 5">甲乙丙</ofd:TextCode><ofd:TextCode Y="12">丁</ofd:TextCode>'
        "</ofd:TextObject></ofd:Layer></ofd:Content></ofd:Page>"
    ).encode()
    package = OfdPackage.from_bytes(ofddocs.long_ofd(1))
    package.put("Doc_0/Pages/Page_0/Content.xml", page)
    document = read_ofd(package)
    glyphs = page_glyphs(document, document.pages[0])
    assert [(g.char, g.x, g.y) for g in glyphs] == [("甲", 11, 15), ("乙", 16, 15), ("丙", 21, 15), ("丁", 11, 22)]


def test_embedded_font_metrics_give_the_glyph_widths() -> None:
    builder = DocumentBuilder(doc_id="m", creation_date=date(2025, 1, 1))
    obj = builder.text(20, 50, "证照A1", size_mm=10)
    document = read_ofd(builder.build())
    advance = font_advances(document, obj.font_id)
    assert advance is not None
    font = find_cjk_font()
    glyphs = page_glyphs(document, document.pages[0])
    assert [g.box.width for g in glyphs] == pytest.approx([font.advance_em(c) * 10 for c in "证照A1"])
    assert glyphs[0].x == pytest.approx(20) and glyphs[0].y == pytest.approx(50)
    assert glyphs[-1].box.right == pytest.approx(obj.boundary.right)
    assert font_advances(document, 12345) is None


def test_keyword_split_over_two_text_objects_is_found() -> None:
    builder = ofddocs.split_keyword_builder()
    document = builder.document()
    first, second, line2 = (o for o in document.pages[0].layers[0].objects if isinstance(o, TextObject))
    hits = find_keyword(document, "电子证照")
    assert len(hits) == 2
    (page_a, box_a), (page_b, box_b) = hits
    assert page_a == page_b == 0
    assert box_a.x == pytest.approx(first.boundary.x) and box_a.right == pytest.approx(second.boundary.right)
    assert box_a.y == pytest.approx(60 - ASCENT * 5) and box_a.height == pytest.approx(5)
    assert box_b.y == pytest.approx(80 - ASCENT * 5)
    assert box_b.x == pytest.approx(line2.boundary.x + 2 * 5)  # after "这是", two full-width glyphs
    ((page_c, box_c),) = find_keyword(document, "证照的")
    assert page_c == 0 and _values(box_c) == pytest.approx((box_b.x + 10, box_b.y, 15, 5))
    assert find_keyword(document, "不存在") == []
    assert page_text(document.pages[0]) == "电子证照这是电子证照的说明"
    with pytest.raises(ValidationError):
        find_keyword(document, "")


def test_keyword_across_text_codes_and_inside_page_blocks() -> None:
    codes = (TextCode("许可", 0.0, 4.0, (4.0,)), TextCode("证号", 8.0, 4.0, (4.0,)))
    block = PageBlock((_text(codes),), 5)
    document = _document(block, _text((TextCode("无关", 0.0, 30.0, (4.0,)),)))
    ((page, box),) = find_keyword(document, "可证")
    assert page == 0 and box.x == pytest.approx(14.0) and box.right == pytest.approx(22.0)
    assert find_keyword(document, "证号无关", pages=[0])[0][1].bottom == pytest.approx(50 + 4 * (1 - ASCENT))


def test_keyword_hits_on_several_pages() -> None:
    document = read_ofd(ofddocs.long_ofd(5))
    hits = find_keyword(document, "共5页")
    assert [page for page, _ in hits] == [0, 1, 2, 3, 4]
    ((page, box),) = find_keyword(document, "第3页")
    assert page == 2 and box.x == pytest.approx(20) and box.y == pytest.approx(30 - ASCENT * 6)
    assert [page for page, _ in find_keyword(document, "第3页", pages=[0, 1])] == []
