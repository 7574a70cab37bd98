"""Text positions and keyword search on PDF pages, checked against reportlab's metrics and poppler's pdftotext."""

from __future__ import annotations

import html
import io
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from certseal.errors import ValidationError
from certseal.signing.pdf.objects import Name
from certseal.signing.pdf.reader import PdfDocument
from certseal.signing.pdf.text import Glyph, KeywordHit, find_keyword, iter_operations, page_glyphs

Box = tuple[float, float, float, float]
WQY = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
HELVETICA = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"

pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
pdfmetrics.registerFont(TTFont("WQY", WQY, subfontIndex=0))


# --- test-only PDF builders and the poppler checker ---------------------------------------------------------------


def stream(dictionary: bytes, data: bytes) -> bytes:
    """An indirect stream object body: dictionary (without << >>) plus data, /Length filled in."""
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def raw_pdf(
    contents: list[bytes],
    resources: bytes = b"<< /Font << /F1 3 0 R >> >>",
    objects: dict[int, bytes] | None = None,
    media_box: bytes = b"[0 0 612 792]",
) -> bytes:
    """A minimal PDF: catalog 1, pages 2, Helvetica as object 3 unless `objects` says otherwise (numbers 3..99),
    page i as object 100+2i with content 101+2i."""
    body: dict[int, bytes] = {3: HELVETICA}
    body.update(objects or {})
    kids = b" ".join(b"%d 0 R" % (100 + 2 * i) for i in range(len(contents)))
    body[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
    body[2] = b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % len(contents)
    for i, content in enumerate(contents):
        body[100 + 2 * i] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox "
            + media_box
            + b" /Resources "
            + resources
            + b" /Contents %d 0 R >>" % (101 + 2 * i)
        )
        body[101 + 2 * i] = stream(b"", content)
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number in sorted(body):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + body[number] + b"\nendobj\n"
    size = max(body) + 1
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets[number] if number in offsets else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    return bytes(out)


def reportlab_pdf(draw: Callable[[Canvas], None]) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(612, 792))
    draw(canvas)
    canvas.save()
    return buffer.getvalue()


@dataclass(frozen=True)
class PopplerBox:
    page: int
    text: str
    bbox: Box


def poppler_boxes(pdf: bytes, tmp_path: Path, element: str = "word") -> list[PopplerBox]:
    """Word (or, with -bbox-layout, line) boxes from pdftotext, turned into PDF user space (origin bottom left)."""
    path = tmp_path / "poppler.pdf"
    path.write_bytes(pdf)
    flag = "-bbox" if element == "word" else "-bbox-layout"
    out = subprocess.run(["pdftotext", flag, str(path), "-"], check=True, capture_output=True, text=True).stdout
    boxes: list[PopplerBox] = []
    for index, page in enumerate(re.findall(r"<page (.*?)</page>", out, re.S)):
        height = float(re.search(r'height="([\d.]+)"', page).group(1))  # type: ignore[union-attr]
        pattern = rf'<{element} xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</{element}>'
        for x0, y0, x1, y1, inner in re.findall(pattern, page, re.S):
            text = "".join(re.findall(r">([^<]*)</word>", inner)) if element == "line" else inner
            box = (float(x0), height - float(y1), float(x1), height - float(y0))
            boxes.append(PopplerBox(index, html.unescape(text), box))
    return boxes


def poppler_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "text.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-raw", str(path), "-"], check=True, capture_output=True, text=True).stdout


def assert_close(ours: Box, theirs: Box, tolerance: float) -> None:
    assert all(abs(a - b) <= tolerance for a, b in zip(ours, theirs, strict=True)), (ours, theirs)


def assert_inside(inner: Box, outer: Box, tolerance: float = 1.0) -> None:
    assert inner[0] >= outer[0] - tolerance and inner[1] >= outer[1] - tolerance, (inner, outer)
    assert inner[2] <= outer[2] + tolerance and inner[3] <= outer[3] + tolerance, (inner, outer)


def glyphs_of(pdf: bytes, page: int = 0) -> list[Glyph]:
    doc = PdfDocument(pdf)
    return page_glyphs(doc, doc.pages()[page])


def text_of(glyphs: list[Glyph]) -> str:
    return "".join(g.text for g in glyphs)


def only_hit(pdf: bytes, keyword: str) -> KeywordHit:
    hits = find_keyword(PdfDocument(pdf), keyword)
    assert len(hits) == 1, hits
    return hits[0]


def assert_hits_match_poppler(pdf: bytes, tmp_path: Path, words: list[str], tolerance: float = 1.0) -> None:
    theirs = {(box.page, box.text): box.bbox for box in poppler_boxes(pdf, tmp_path)}
    for word in words:
        hit = only_hit(pdf, word)
        assert_close(hit.bbox, theirs[(hit.page, word)], tolerance)


# --- lexer --------------------------------------------------------------------------------------------------------


def test_lexer_reads_every_kind_of_operand() -> None:
    content = (
        b"% a comment (with a parenthesis\n"
        b"1 -2 +3.5 -.25 4. /Name /A#20B /  (lit\\(er\\)al (nested) \\101\\12\\n\\\\ end\\\n-continued) "
        b"<48 65 6c6C 6> [1 [2 /X] (s)] << /K [1 2] /D << /E true >> /N null >> false op"
    )
    [(operator, operands)] = list(iter_operations(content))
    assert operator == "op"
    assert operands == [
        1,
        -2,
        3.5,
        -0.25,
        4.0,
        Name("Name"),
        Name("A B"),
        Name(""),
        b"lit(er)al (nested) A\n\n\\ end-continued",
        b"Hell`",
        [1, [2, Name("X")], b"s"],
        {"K": [1, 2], "D": {"E": True}, "N": None},
        False,
    ]
    assert isinstance(operands[5], Name)


def test_lexer_splits_operators_without_whitespace() -> None:
    assert list(iter_operations(b"q 1 0 0 1 0 0 cm/F1 12 Tf(a)Tj[(b)-20(c)]TJ Q")) == [
        ("q", []),
        ("cm", [1, 0, 0, 1, 0, 0]),
        ("Tf", [Name("F1"), 12]),
        ("Tj", [b"a"]),
        ("TJ", [[b"b", -20, b"c"]]),
        ("Q", []),
    ]


def test_lexer_skips_inline_images_even_with_ei_inside_the_data() -> None:
    pixels = bytes(range(256)) + b" EI \x00\xff binary" + bytes(range(255, -1, -1))
    content = b"q BI /W 16 /H 33 /BPC 8 /CS /G ID " + pixels + b"\nEI Q BT (after) Tj ET"
    operations = list(iter_operations(content))
    assert operations[0] == ("q", [])
    assert operations[1] == ("BI", [{"W": 16, "H": 33, "BPC": 8, "CS": Name("G")}])
    assert [op for op, _ in operations[2:]] == ["Q", "BT", "Tj", "ET"]
    assert operations[4] == ("Tj", [b"after"])


def test_lexer_uses_the_inline_image_length_when_given() -> None:
    data = b"xx EI yy"  # looks like an end marker but /L says the data is 8 bytes
    content = b"BI /W 8 /H 1 /BPC 8 /L 8 ID " + data + b" EI (z) Tj"
    assert list(iter_operations(content))[1:] == [("Tj", [b"z"])]


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        (b"BT (never closed Tj ET", "unterminated literal string"),
        (b"BT <4142 Tj ET", "unterminated hex string"),
        (b"BI /W 1 /H 1 ID \x00\x01", "has no EI"),
        (b"BI /W 1 /H 1", "has no ID"),
        (b"[" * 65, "nested deeper than 64"),
    ],
)
def test_lexer_reports_unreadable_streams_as_validation_errors(content: bytes, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        list(iter_operations(content))
    assert caught.value.field == "content stream"
    assert rule in caught.value.rule


def test_lexer_does_not_recurse_on_repeated_bi() -> None:
    assert list(iter_operations(b"BI " * 5000 + b"/W 1 ID \x00 EI (x) Tj")) == [("BI", [{"W": 1}]), ("Tj", [b"x"])]


def test_lexer_tolerates_stray_delimiters_and_operators_inside_arrays() -> None:
    operations = list(iter_operations(b") } { >> ] 1 [2 Tj 3 4 Td [1 2 (never closed array)"))
    assert operations == [("Tj", [1]), ("Td", [3, 4])]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_lexer_raises_nothing_but_validation_error_on_random_bytes(data: bytes) -> None:
    try:
        list(iter_operations(data))
    except ValidationError:
        pass


_SOUP = st.lists(
    st.sampled_from(
        (
            b"BT ET q Q cm Tf Tj TJ ' \" Td TD Tm T* Tc Tw Tz TL Ts Do /F1 /F9 /X 1 0 -3.5 1e9 (a) <41> [ ] << >>"
            b" BI ID EI ( ) % true null 99999999999 \n"
        ).split(b" ")
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(_SOUP)
def test_interpreter_raises_nothing_but_validation_error_on_operator_soup(tokens: list[bytes]) -> None:
    form = stream(b"/Type /XObject /Subtype /Form /BBox [0 0 9 9]", b"/X Do BT /F1 9 Tf (f) Tj ET")
    resources = b"<< /Font << /F1 3 0 R >> /XObject << /X 4 0 R >> >>"
    pdf = raw_pdf([b" ".join(tokens)], resources, {4: form})
    try:
        glyphs_of(pdf)
    except ValidationError:
        pass


# --- positions against reportlab's metrics ------------------------------------------------------------------------


@pytest.mark.parametrize(("font", "size", "x", "y"), [("Helvetica", 12, 72, 700), ("Times-Bold", 20, 100.5, 400)])
def test_glyph_boxes_follow_reportlab_widths_and_the_drawstring_origin(
    font: str, size: float, x: float, y: float
) -> None:
    text = "Hello, World! fiancé"

    def draw(canvas: Canvas) -> None:
        canvas.setFont(font, size)
        canvas.drawString(x, y, text)

    glyphs = glyphs_of(reportlab_pdf(draw))
    assert text_of(glyphs) == text
    face = pdfmetrics.getFont(font).face
    bottom, top = y + face.descent * size / 1000, y + face.ascent * size / 1000
    for index, glyph in enumerate(glyphs):
        left = x + pdfmetrics.stringWidth(text[:index], font, size)
        right = x + pdfmetrics.stringWidth(text[: index + 1], font, size)
        assert_close(glyph.bbox, (left, bottom, right, top), 0.5)


def test_chinese_in_stsong_light_has_reportlab_widths(tmp_path: Path) -> None:
    text = "药品生产许可证 No.2024"

    def draw(canvas: Canvas) -> None:
        canvas.setFont("STSong-Light", 14)
        canvas.drawString(80, 500, text)

    pdf = reportlab_pdf(draw)
    glyphs = glyphs_of(pdf)
    assert text_of(glyphs) == text
    for index, glyph in enumerate(glyphs):
        assert abs(glyph.bbox[0] - (80 + pdfmetrics.stringWidth(text[:index], "STSong-Light", 14))) <= 0.5
    hit = only_hit(pdf, "许可证")
    assert abs(hit.bbox[0] - (80 + pdfmetrics.stringWidth("药品生产", "STSong-Light", 14))) <= 0.5
    assert abs(hit.bbox[2] - hit.bbox[0] - 42) <= 0.5
    [line] = [box for box in poppler_boxes(pdf, tmp_path, "line") if "许可证" in box.text]
    assert_inside(hit.bbox, line.bbox)


def test_chinese_in_an_embedded_truetype_subset(tmp_path: Path) -> None:
    text = "中华人民共和国药品生产许可证 (副本)"

    def draw(canvas: Canvas) -> None:
        canvas.setFont("WQY", 12)
        canvas.drawString(60, 300, text)

    pdf = reportlab_pdf(draw)
    glyphs = glyphs_of(pdf)
    assert text_of(glyphs) == text
    for index, glyph in enumerate(glyphs):
        assert abs(glyph.bbox[0] - (60 + pdfmetrics.stringWidth(text[:index], "WQY", 12))) <= 0.5
    hit = only_hit(pdf, "生产许可证")
    [line] = [box for box in poppler_boxes(pdf, tmp_path, "line") if "生产许可证" in box.text]
    assert_inside(hit.bbox, line.bbox)
    assert abs(hit.centre[1] - (line.bbox[1] + line.bbox[3]) / 2) <= 1.0


# --- positions against poppler ------------------------------------------------------------------------------------


def test_latin_keyword_boxes_agree_with_pdftotext(tmp_path: Path) -> None:
    def draw(canvas: Canvas) -> None:
        canvas.setFont("Helvetica", 11)
        canvas.drawString(72, 720, "Marketing authorisation holder")
        canvas.setFont("Times-Roman", 16)
        canvas.drawString(150.25, 640.5, "Certificate number")
        canvas.setFont("Courier-Bold", 9)
        canvas.drawString(300, 100, "expires 2027-12-31")
        canvas.showPage()
        canvas.setFont("Helvetica-BoldOblique", 24)
        canvas.drawString(40, 60, "Second page")

    pdf = reportlab_pdf(draw)
    assert_hits_match_poppler(pdf, tmp_path, ["authorisation", "Certificate", "2027-12-31", "Second"])


def test_rotated_and_scaled_text_agrees_with_pdftotext(tmp_path: Path) -> None:
    def draw(canvas: Canvas) -> None:
        canvas.setFont("Helvetica", 12)
        canvas.saveState()
        canvas.translate(300, 300)
        canvas.rotate(90)
        canvas.drawString(0, 0, "Rotated words")
        canvas.restoreState()
        canvas.saveState()
        canvas.translate(100, 100)
        canvas.scale(2, 1.5)
        canvas.drawString(0, 0, "Scaled words")
        canvas.restoreState()
        text = canvas.beginText()
        text.setTextTransform(0, -1.5, 1.5, 0, 500, 700)  # Tm: rotated -90° and enlarged
        text.setFont("Times-Roman", 10)
        text.textOut("Downwards words")
        canvas.drawText(text)

    pdf = reportlab_pdf(draw)
    assert_hits_match_poppler(pdf, tmp_path, ["Rotated", "Scaled", "Downwards"])
    rotated = only_hit(pdf, "Rotated")
    width = pdfmetrics.stringWidth("Rotated", "Helvetica", 12)
    assert_close(rotated.bbox, (300 - 0.718 * 12, 300, 300 + 0.207 * 12, 300 + width), 0.5)


def test_skewed_and_thirty_degree_text_boxes_enclose_the_rotated_glyphs() -> None:
    def draw(canvas: Canvas) -> None:
        text = canvas.beginText()
        text.setTextTransform(0.8660254, 0.5, -0.5, 0.8660254, 300, 500)
        text.setFont("Courier", 10)
        text.textOut("Thirty")
        canvas.drawText(text)

    glyphs = glyphs_of(reportlab_pdf(draw))
    first = glyphs[0]
    width = 6.0  # Courier: 600 units
    corners = [(0, -1.57), (width, -1.57), (0, 6.29), (width, 6.29)]
    xs = [300 + 0.8660254 * cx - 0.5 * cy for cx, cy in corners]
    ys = [500 + 0.5 * cx + 0.8660254 * cy for cx, cy in corners]
    assert_close(first.bbox, (min(xs), min(ys), max(xs), max(ys)), 0.05)
    last = glyphs[-1]
    assert abs(last.bbox[0] - first.bbox[0] - 5 * width * 0.8660254) <= 0.05


def test_form_xobjects_with_matrix_and_own_resources_agree_with_pdftotext(tmp_path: Path) -> None:
    inner = stream(
        b"/Type /XObject /Subtype /Form /BBox [0 0 500 500] /Matrix [1 0 0 1 5 7]",
        b"BT /FI 10 Tf 0 0 Td (Nested form) Tj ET /Self Do",
    )
    outer = stream(
        b"/Type /XObject /Subtype /Form /BBox [0 0 500 500] /Matrix [2 0 0 2 10 20]"
        b" /Resources << /Font << /FI 3 0 R >> /XObject << /Inner 5 0 R /Self 4 0 R >> >>",
        b"q BT /FI 12 Tf 20 30 Td (Outer form) Tj ET Q /Inner Do",
    )
    content = (
        b"BT /F1 12 Tf 72 700 Td (Page text) Tj ET q 1 0 0 1 100 200 cm /Fm Do Q BT /F1 12 Tf 72 100 Td (After) Tj ET"
    )
    resources = b"<< /Font << /F1 3 0 R >> /XObject << /Fm 4 0 R >> >>"
    pdf = raw_pdf([content], resources, {4: outer, 5: inner})
    glyphs = glyphs_of(pdf)
    assert text_of(glyphs) == "Page textOuter formNested formAfter"  # the self-referencing /Self Do is not followed
    assert_hits_match_poppler(pdf, tmp_path, ["Outer", "Nested", "After"])
    outer_hit = only_hit(pdf, "Outer")
    assert outer_hit.bbox[0] == pytest.approx(100 + 10 + 2 * 20)  # page cm, then the form /Matrix scaled by 2
    assert outer_hit.bbox[1] == pytest.approx(200 + 20 + 2 * 30 - 2 * 12 * 0.207)


def test_reportlab_forms_are_followed(tmp_path: Path) -> None:
    def draw(canvas: Canvas) -> None:
        canvas.beginForm("letterhead")
        canvas.setFont("Helvetica", 10)
        canvas.drawString(10, 10, "Inside the letterhead")
        canvas.endForm()
        canvas.saveState()
        canvas.translate(50, 650)
        canvas.doForm("letterhead")
        canvas.restoreState()

    pdf = reportlab_pdf(draw)
    assert_hits_match_poppler(pdf, tmp_path, ["letterhead"])
    assert only_hit(pdf, "letterhead").bbox[0] == pytest.approx(
        60 + pdfmetrics.stringWidth("Inside the ", "Helvetica", 10)
    )


def test_tj_kerning_and_text_state_operators_agree_with_pdftotext(tmp_path: Path) -> None:
    content = b"""BT /F1 12 Tf 72 700 Td [(Kern) -2000 (ing) -1500 (Wo) 100 (rds)] TJ ET
BT /F1 10 Tf 2 Tc 5 Tw 72 650 Td (Spaced out words) Tj ET
BT /F1 10 Tf 150 Tz 72 600 Td (Wide letters) Tj ET
BT /F1 10 Tf 72 550 Td 14 TL (First line) Tj T* (Second line) Tj (Third) ' 3 1 (Fourth) " ET
BT /F1 10 Tf 72 440 Td 4 Ts (Raised) Tj 0 Ts ( Level) Tj 20 -30 TD (Moved) Tj T* (Below) Tj ET"""
    pdf = raw_pdf([content])
    words = ["Kern", "ing", "Words", "Spaced", "words", "Wide", "letters", "Second", "Third", "Fourth", "Moved"]
    assert_hits_match_poppler(pdf, tmp_path, [*words, "Below", "Raised", "Level"])
    kern, ing, words_hit = only_hit(pdf, "Kern"), only_hit(pdf, "ing"), only_hit(pdf, "Words")
    assert ing.bbox[0] - kern.bbox[2] == pytest.approx(24.0)  # -2000 thousandths of 12 pt
    width = pdfmetrics.stringWidth("Words", "Helvetica", 12)
    assert words_hit.bbox[2] - words_hit.bbox[0] == pytest.approx(width - 1.2)  # 100 thousandths of 12 pt kerned
    fourth, third = only_hit(pdf, "Fourth"), only_hit(pdf, "Third")
    assert fourth.bbox[1] == pytest.approx(third.bbox[1] - 14)
    raised, level = only_hit(pdf, "Raised"), only_hit(pdf, "Level")
    assert raised.bbox[1] - level.bbox[1] == pytest.approx(4.0)
    spaced = [g for g in glyphs_of(pdf) if g.bbox[1] < 650 < g.bbox[3]]
    assert text_of(spaced) == "Spaced out words"
    assert spaced[6].bbox[0] - spaced[5].bbox[2] == pytest.approx(2.0)  # "d" → " ": character spacing only
    assert spaced[7].bbox[0] - spaced[6].bbox[2] == pytest.approx(7.0)  # " " → "o": character and word spacing
    wide = [g for g in glyphs_of(pdf) if g.bbox[1] < 600 < g.bbox[3]]
    assert wide[0].bbox[2] - wide[0].bbox[0] == pytest.approx(1.5 * pdfmetrics.stringWidth("W", "Helvetica", 10))


# --- keyword search -----------------------------------------------------------------------------------------------


def test_keyword_split_across_two_drawstring_calls() -> None:
    def draw(canvas: Canvas) -> None:
        canvas.setFont("STSong-Light", 16)
        canvas.drawString(100, 600, "药品生产")
        canvas.drawString(100 + pdfmetrics.stringWidth("药品生产", "STSong-Light", 16), 600, "许可证")
        canvas.setFont("Helvetica", 10)
        canvas.drawString(100, 500, "valid until")
        canvas.setFont("WQY", 10)
        canvas.drawString(100, 480, "药品")
        canvas.drawString(100, 468, "生产 许可证")  # continues on the next line, with a space

    pdf = reportlab_pdf(draw)
    hits = find_keyword(PdfDocument(pdf), "药品生产许可证")
    assert len(hits) == 2
    assert_close(hits[0].bbox, (100, 600 - 0.271 * 16, 100 + 7 * 16, 600 + 0.752 * 16), 0.01)
    assert hits[0].centre == pytest.approx((100 + 3.5 * 16, 600 + (0.752 - 0.271) * 8))
    assert hits[1].bbox[1] < 468 < 480 < hits[1].bbox[3]  # the union of both lines


def test_every_occurrence_on_every_page_and_page_selection() -> None:
    def draw(canvas: Canvas) -> None:
        canvas.setFont("STSong-Light", 12)
        for page in range(6):
            if page == 0:
                canvas.drawString(50, 700, "许可证 一 许可证")
                canvas.drawString(50, 650, "副本许可证")
            elif page == 4:
                canvas.drawString(300, 100, "许可证编号")
            else:
                canvas.drawString(50, 700, f"无关内容 page {page}")
            canvas.showPage()
            canvas.setFont("STSong-Light", 12)

    doc = PdfDocument(reportlab_pdf(draw))
    hits = find_keyword(doc, "许可证")
    assert [hit.page for hit in hits] == [0, 0, 0, 4]
    assert hits[0].bbox[0] == pytest.approx(50) and hits[2].bbox[0] == pytest.approx(50 + 2 * 12)
    assert hits[3].bbox[0] == pytest.approx(300)
    assert [hit.page for hit in find_keyword(doc, "许可证", pages=[4, 1])] == [4]
    assert find_keyword(doc, "许可证", pages=[1, 2, 3]) == []
    assert find_keyword(doc, "营业执照") == []


def test_keyword_matching_normalises_with_nfkc_and_ignores_whitespace() -> None:
    def draw(canvas: Canvas) -> None:
        canvas.setFont("Helvetica", 12)
        canvas.drawString(72, 700, "Pharmacy  licence  No 12")

    doc = PdfDocument(reportlab_pdf(draw))
    assert len(find_keyword(doc, "ｌｉｃｅｎｃｅ No")) == 1  # full-width letters are NFKC-equal
    assert len(find_keyword(doc, "licenceNo12")) == 1
    assert find_keyword(doc, "licenseNo") == []


@pytest.mark.parametrize(("keyword", "pages"), [("   ", None), ("x", [6]), ("x", [-1]), ("x", [True])])
def test_keyword_search_rejects_bad_arguments(keyword: str, pages: list[int] | None) -> None:
    doc = PdfDocument(raw_pdf([b"BT /F1 9 Tf (x) Tj ET"]))
    with pytest.raises(ValidationError) as caught:
        find_keyword(doc, keyword, pages)
    assert caught.value.field in ("keyword", "pages")


# --- robustness ---------------------------------------------------------------------------------------------------


def test_text_in_unknown_or_missing_fonts_is_skipped() -> None:
    content = b"""BT (no font yet) Tj /Missing 12 Tf (missing font) Tj /Bad 12 Tf (bad font) Tj
/F1 (wrong operands) Tf /Cid 12 Tf <0041> Tj /F1 12 Tf 1 2 Td (kept) Tj 1 Tj [1 (x) /N] TJ ET"""
    cid = b"<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Unknown-CMap-H /DescendantFonts [] >>"
    resources = b"<< /Font << /F1 3 0 R /Bad 4 0 R /Cid 5 0 R >> >>"
    glyphs = glyphs_of(raw_pdf([content], resources, {4: b"42", 5: cid}))
    assert text_of(glyphs) == "keptx"
    assert glyphs[0].bbox[0] == pytest.approx(1)


def test_missing_resources_and_broken_forms_give_no_glyphs() -> None:
    broken_form = stream(b"/Type /XObject /Subtype /Form /BBox [0 0 1 1]", b"BT /F1 9 Tf (shown) Tj (cut")
    image = stream(b"/Type /XObject /Subtype /Image /Width 1 /Height 1 /BitsPerComponent 8", b"\x00")
    content = b"/Nothing Do /Image Do /Broken Do BT /F1 9 Tf (end) Tj ET"
    with_resources = raw_pdf(
        [content],
        b"<< /Font << /F1 3 0 R >> /XObject << /Broken 4 0 R /Image 5 0 R >> >>",
        {4: broken_form, 5: image},
    )
    assert text_of(glyphs_of(with_resources)) == "shownend"
    assert glyphs_of(raw_pdf([content], b"<< >>")) == []


def test_forms_drawing_forms_over_and_over_end_in_bounded_work() -> None:
    levels = 6  # each form draws the next 20 times: 20**6 runs if nothing bounded them
    forms = {
        4 + level: stream(
            b"/Type /XObject /Subtype /Form /BBox [0 0 9 9] /Resources << /Font << /F1 3 0 R >>"
            b" /XObject << /N %d 0 R >> >>" % (5 + level),
            b"BT /F1 9 Tf (x) Tj ET " + b"/N Do " * 20,
        )
        for level in range(levels)
    }
    content = b"/N Do BT /F1 9 Tf (end) Tj ET"
    pdf = raw_pdf([content], b"<< /Font << /F1 3 0 R >> /XObject << /N 4 0 R >> >>", forms)
    glyphs = glyphs_of(pdf)
    assert text_of(glyphs).endswith("end")
    assert 1000 < len(glyphs) < 200_000


def test_garbage_page_content_raises_validation_error() -> None:
    pdf = raw_pdf([b"BT /F1 12 Tf (unterminated Tj ET"])
    with pytest.raises(ValidationError) as caught:
        find_keyword(PdfDocument(pdf), "unterminated")
    assert caught.value.field == "content stream"


def test_inline_image_between_text_keeps_positions(tmp_path: Path) -> None:
    pixels = b"\x00EI\xff" * 8 + b" EI\n\x80\x81"
    content = (
        b"BT /F1 12 Tf 72 700 Td (Before) Tj ET q 10 0 0 10 200 200 cm BI /W 6 /H 6 /BPC 8 /CS /G ID "
        + pixels
        + b"\nEI Q BT /F1 12 Tf 72 600 Td (Behind) Tj ET"
    )
    pdf = raw_pdf([content])
    assert text_of(glyphs_of(pdf)) == "BeforeBehind"
    assert_hits_match_poppler(pdf, tmp_path, ["Before", "Behind"])
