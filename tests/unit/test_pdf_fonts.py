"""Font decoding (code → Unicode, widths) for simple, Type3 and Type0 fonts and CMaps; poppler is the outside check."""

from __future__ import annotations

from pathlib import Path

import pytest
from reportlab.pdfbase import pdfmetrics

from certseal.signing.pdf.cmaps import parse_cmap, predefined_cmap
from certseal.signing.pdf.fonts import UNKNOWN_TEXT, FontCache, GlyphCode, glyph_name_to_text, load_font
from certseal.signing.pdf.objects import Name, Ref, Stream
from certseal.signing.pdf.reader import PdfDocument
from tests.unit.test_pdf_text import (
    assert_close,
    assert_inside,
    glyphs_of,
    only_hit,
    poppler_boxes,
    poppler_text,
    raw_pdf,
    stream,
    text_of,
)


def no_refs(value: object) -> object:
    assert not isinstance(value, Ref)
    return value


def decode(font: dict[str, object], data: bytes) -> list[GlyphCode]:
    loaded = load_font(font, no_refs)
    assert loaded is not None
    return loaded.decode(data)


def texts(font: dict[str, object], data: bytes) -> str:
    return "".join(code.text for code in decode(font, data))


def one_line_pdf(font: bytes, shown: bytes, *extra: bytes, size: int = 10) -> bytes:
    """A page showing `shown` (already in PDF string syntax) in `font` (object 3); `extra` objects become 4, 5, …"""
    content = b"BT /F1 %d Tf 72 700 Td " % size + shown + b" Tj ET"
    return raw_pdf([content], objects={3: font, **{4 + i: body for i, body in enumerate(extra)}})


# --- glyph names --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("A", "A"),
        ("eacute", "é"),
        ("Euro", "€"),
        ("quoteright", "’"),
        ("fi", "\ufb01"),
        ("f_f_i", "ffi"),
        ("uni4E2D", "中"),
        ("uni00660069", "fi"),
        ("u1F600", "😀"),
        ("u20000", "\U00020000"),
        ("afii10017", "А"),
        ("afii10071", "ё"),
        ("afii61352", "№"),
        ("a.sc", "a"),
        ("eacute.alt2", "é"),
        ("Delta", "Δ"),
        ("a73", "■"),  # ZapfDingbats, which reportlab draws for characters WinAnsi lacks
        ("a1", "✁"),
    ],
)
def test_glyph_names_to_text(name: str, text: str) -> None:
    assert glyph_name_to_text(name) == text


@pytest.mark.parametrize("name", ["g123", "cid42", "uniD800", "uni4E2", "u110000", ".notdef", "glyph7", ""])
def test_unknown_glyph_names_have_no_text(name: str) -> None:
    assert glyph_name_to_text(name) is None


# --- simple fonts -------------------------------------------------------------------------------------------------


def test_base_encodings_and_differences() -> None:
    win = {"Subtype": Name("Type1"), "BaseFont": Name("Helvetica"), "Encoding": Name("WinAnsiEncoding")}
    assert texts(win, b"\x80\x93x\x94\xe9\x96") == "€“x”é–"
    mac = {"Subtype": Name("TrueType"), "BaseFont": Name("Foo"), "Encoding": Name("MacRomanEncoding")}
    assert texts(mac, b"\x80\x8e\xd2\xd3") == "Äé“”"
    standard = {"Subtype": Name("Type1"), "BaseFont": Name("Times-Roman")}  # no /Encoding: StandardEncoding
    assert texts(standard, b"`'\xae\xe1") == "‘’\ufb01Æ"
    symbol = {"Subtype": Name("Type1"), "BaseFont": Name("Symbol")}
    assert texts(symbol, b"abp") == "αβπ"
    differences = [39, Name("quotesingle"), 128, Name("uni4E2D"), Name("afii10017"), Name("f_i"), Name("g17")]
    custom = {
        "Subtype": Name("Type1"),
        "BaseFont": Name("ABCDEF+Custom"),
        "Encoding": {"BaseEncoding": Name("WinAnsiEncoding"), "Differences": differences},
    }
    assert texts(custom, b"'\x80\x81\x82\x83\xe9\x00") == "'中Аfi" + UNKNOWN_TEXT + "é" + UNKNOWN_TEXT


def test_widths_from_widths_array_missing_width_and_standard_metrics() -> None:
    font = {
        "Subtype": Name("TrueType"),
        "BaseFont": Name("Custom"),
        "FirstChar": 65,
        "Widths": [600, 700.5],
        "FontDescriptor": {"MissingWidth": 250, "Ascent": 900, "Descent": -300},
    }
    loaded = load_font(font, no_refs)
    assert loaded is not None
    assert [code.width for code in loaded.decode(b"ABC")] == [0.6, 0.7005, 0.25]
    assert (loaded.ascent, loaded.descent) == (0.9, -0.3)
    for base, face in [
        ("Helvetica", "Helvetica"),
        ("Arial,Bold", "Helvetica-Bold"),
        ("TimesNewRomanPS-ItalicMT", "Times-Italic"),
        ("CourierNew", "Courier"),
    ]:
        standard = {"Subtype": Name("TrueType"), "BaseFont": Name(base), "Encoding": Name("WinAnsiEncoding")}
        text = "Width check: Wéll…"
        widths = sum(code.width for code in decode(standard, text.encode("cp1252")))
        assert widths == pytest.approx(pdfmetrics.stringWidth(text, face, 1))
    unknown = {"Subtype": Name("Type1"), "BaseFont": Name("NoSuchFont")}
    assert [code.width for code in decode(unknown, b"ab")] == [0.5, 0.5]  # no metrics anywhere: half an em


def test_simple_font_texts_and_widths_agree_with_pdftotext(tmp_path: Path) -> None:
    encoding = b"<< /Type /Encoding /BaseEncoding /WinAnsiEncoding /Differences [1 /uni4E2D /afii10017 /fi /Euro] >>"
    widths = b"[" + b" ".join(b"%d" % (300 + 5 * i) for i in range(224)) + b"]"
    font = (
        b"<< /Type /Font /Subtype /TrueType /BaseFont /Custom /FirstChar 1 /LastChar 224 /Widths "
        + widths
        + b" /Encoding 4 0 R /FontDescriptor 5 0 R >>"
    )
    descriptor = (
        b"<< /Type /FontDescriptor /FontName /Custom /Flags 32 /Ascent 800 /Descent -200"
        b" /FontBBox [0 -200 1000 800] /ItalicAngle 0 /CapHeight 700 /StemV 80 >>"
    )
    pdf = one_line_pdf(font, b"(Caf\\351 \\001\\002\\003\\004 \\223quoted\\224)", encoding, descriptor)
    ours = text_of(glyphs_of(pdf))
    assert ours == "Café 中А\ufb01€ “quoted”"
    assert poppler_text(pdf, tmp_path).strip() == ours.replace("\ufb01", "fi")  # poppler expands ligatures
    theirs = {box.text: box.bbox for box in poppler_boxes(pdf, tmp_path)}
    for word in ("Café", "“quoted”"):
        assert_close(only_hit(pdf, word).bbox, theirs[word], 1.0)


def test_embedded_type1_encoding_is_the_base_when_no_encoding_is_named(tmp_path: Path) -> None:
    clear = (
        b"%!PS-AdobeFont-1.0: CMMI10 003.002\n/FontName /CMMI10 def\n/Encoding 256 array\n"
        b"0 1 255 {1 index exch /.notdef put} for\ndup 58 /period put\ndup 15 /bullet put\ndup 65 /A put\n"
        b"dup 161 /Gamma put\nreadonly def\ncurrentdict end\ncurrentfile eexec\n"
    )
    program = stream(b"/Length1 %d /Length2 0 /Length3 0" % len(clear), clear)
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /CMMI10 /FirstChar 0 /Widths [%s] /FontDescriptor 4 0 R >>"
    descriptor = (
        b"<< /Type /FontDescriptor /FontName /CMMI10 /Flags 4 /FontBBox [0 -250 1000 750] /Ascent 750"
        b" /Descent -250 /ItalicAngle 0 /StemV 50 /CapHeight 700 /FontFile 5 0 R >>"
    )
    pdf = one_line_pdf(font % (b"500 " * 256), b"(A:\\017\\241:)", descriptor, program)
    ours = text_of(glyphs_of(pdf))
    assert ours == "A.•Γ."  # StandardEncoding would have said "A:" and nothing for 15 and 161
    assert poppler_text(pdf, tmp_path).strip() == ours


def test_type3_widths_use_the_font_matrix(tmp_path: Path) -> None:
    font = {
        "Subtype": Name("Type3"),
        "FontMatrix": [0.01, 0, 0, 0.01, 0, 0],
        "FirstChar": 65,
        "Widths": [50, 70],
        "Encoding": {"Differences": [65, Name("A"), Name("B")]},
    }
    assert [(c.text, c.width) for c in decode(font, b"AB")] == [("A", 0.5), ("B", pytest.approx(0.7))]


# --- CMaps --------------------------------------------------------------------------------------------------------

_ENCODING_CMAP = b"""/CIDInit /ProcSet findresource begin 12 dict begin begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> def
/CMapName /Test-Variable def /CMapType 1 def
2 begincodespacerange
<00> <80>
<8140> <FEFE>
endcodespacerange
2 begincidrange
<20> <7E> 1
<8140> <817F> 200
endcidrange
1 begincidchar
<8240> 500
endcidchar
endcmap CMapName currentdict /CMap defineresource pop end end"""

_TO_UNICODE = b"""/CIDInit /ProcSet findresource begin 12 dict begin begincmap
/CMapName /Test-UCS def /CMapType 2 def
2 begincodespacerange
<00> <80>
<8140> <FEFE>
endcodespacerange
3 beginbfrange
<20> <7E> <0020>
<8140> <8142> <4E2D>
<8143> <8145> [<6587> <00660069> <D83DDE00>]
endbfrange
2 beginbfchar
<8240> <D840DC00>
<8146> <8BC1>
endbfchar
endcmap CMapName currentdict /CMap defineresource pop end end"""


def test_parse_cmap_ranges_arrays_surrogates_and_codespace() -> None:
    cmap = parse_cmap(_TO_UNICODE)
    assert [cmap.to_unicode(c) for c in (0x41, 0x8140, 0x8142, 0x8143, 0x8144, 0x8145, 0x8240, 0x8146)] == [
        "A",
        "中",
        "丯",
        "文",
        "fi",
        "😀",
        "\U00020000",
        "证",
    ]
    assert cmap.to_unicode(0x9999) is None
    assert cmap.codespace.split(b"A\x81\x40B\x82\x40") == [(0x41, 1), (0x8140, 2), (0x42, 1), (0x8240, 2)]
    encoding = parse_cmap(_ENCODING_CMAP)
    assert [encoding.to_cid(c) for c in (0x20, 0x41, 0x8140, 0x817F, 0x8240, 0x9000)] == [1, 34, 200, 263, 500, None]


def test_parse_cmap_keeps_huge_ranges_lazy_and_survives_garbage() -> None:
    cmap = parse_cmap(
        b"1 begincodespacerange <0000> <FFFF> endcodespacerange 1 beginbfrange <0000> <FFFF> <0000> endbfrange"
    )
    assert cmap.to_unicode(0x4E2D) == "中"
    huge = parse_cmap(b"1 beginbfrange <00000000> <0001FFFF> <4E00> endbfrange")
    assert huge.unicode_ranges and huge.to_unicode(5) == "\u4e05"
    hostile = parse_cmap(b"beginbfrange " + b"<0000> <FFFE> <0041> " * 500 + b"endbfrange")  # bounded work
    assert hostile.to_unicode(1) == "B" and hostile.unicode_ranges
    for garbage in (
        b"",
        b"beginbfchar <41",
        b"beginbfrange <41> ] [ <42>",
        b"\xff\x00 begincidrange 1 2 3",
        b"(x) <zz>",
    ):
        parse_cmap(garbage)


@pytest.mark.parametrize(
    ("name", "data", "text"),
    [
        ("UniGB-UCS2-H", "药A".encode("utf-16-be"), "药A"),
        ("UniGB-UTF16-H", "\U00020000中".encode("utf-16-be"), "\U00020000中"),
        ("UniJIS-UTF8-H", "日本".encode(), "日本"),
        ("GBK-EUC-H", "许可证 A1".encode("gbk"), "许可证 A1"),
        ("90ms-RKSJ-H", "日本語".encode("cp932"), "日本語"),
        ("B5pc-H", "中華".encode("big5"), "中華"),
        ("KSCms-UHC-H", "한국".encode("cp949"), "한국"),
    ],
)
def test_predefined_cmaps_decode_text(name: str, data: bytes, text: str) -> None:
    cmap = predefined_cmap(name)
    assert cmap is not None
    assert "".join(cmap.to_unicode(code, size) or "?" for code, size in cmap.split(data)) == text


def test_unknown_predefined_cmaps() -> None:
    assert predefined_cmap("Identity-V") is not None and predefined_cmap("Identity-V").vertical  # type: ignore[union-attr]
    for name in ("Foo-H", "UniGB-UCS4-H", "Identity", "UniXY-UCS2-H", ""):
        assert predefined_cmap(name) is None


# --- Type0 fonts --------------------------------------------------------------------------------------------------


def _type0(encoding: bytes, to_unicode: bytes = b"", widths: bytes = b"", vertical: bytes = b"") -> bytes:
    return (
        b"<< /Type /Font /Subtype /Type0 /BaseFont /TestCID /Encoding "
        + encoding
        + to_unicode
        + b" /DescendantFonts [<< /Type /Font /Subtype /CIDFontType2 /BaseFont /TestCID"
        + b" /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >>"
        + b" /FontDescriptor << /Type /FontDescriptor /FontName /TestCID /Flags 4 /Ascent 800 /Descent -200"
        + b" /FontBBox [0 -200 1000 800] /ItalicAngle 0 /CapHeight 700 /StemV 80 >> "
        + widths
        + vertical
        + b" >>] >>"
    )


def test_embedded_encoding_and_to_unicode_cmaps_agree_with_pdftotext(tmp_path: Path) -> None:
    font = _type0(b"4 0 R", b" /ToUnicode 5 0 R", b"/DW 1000 /W [1 95 500 200 [800 900] 203 205 700]")
    shown = b"<41 42 8140 8141 20 8142 8143 8144 8145 8240 8146>"
    pdf = one_line_pdf(
        font, shown, stream(b"/Type /CMap /CMapName /Test-Variable", _ENCODING_CMAP), stream(b"", _TO_UNICODE)
    )
    glyphs = glyphs_of(pdf)
    ours = text_of(glyphs)
    assert ours == "AB中丮 丯文fi😀\U00020000证"
    assert poppler_text(pdf, tmp_path).strip() == ours
    advances = [round(g.bbox[2] - g.bbox[0], 3) for g in glyphs]
    assert advances == [5.0, 5.0, 8.0, 9.0, 5.0, 10.0, 7.0, 7.0, 7.0, 10.0, 10.0]
    [word_ab, *_] = poppler_boxes(pdf, tmp_path)
    assert_close(only_hit(pdf, "AB中丮").bbox, word_ab.bbox, 1.0)
    assert_close(only_hit(pdf, "丯文fi😀\U00020000证").bbox, poppler_boxes(pdf, tmp_path)[-1].bbox, 1.0)


def test_identity_h_widths_and_word_spacing_only_for_one_byte_32(tmp_path: Path) -> None:
    to_unicode = stream(
        b"", b"1 begincodespacerange <0000> <FFFF> endcodespacerange 1 beginbfrange <0000> <00FF> <0000> endbfrange "
    )
    font = _type0(b"/Identity-H", b" /ToUnicode 4 0 R", b"/DW 600 /W [65 [400 450] 32 32 250]")
    content = b"BT /F1 10 Tf 20 Tw 72 700 Td <0041 0020 0042 0043> Tj ET"
    pdf = raw_pdf([content], objects={3: font, 4: to_unicode})
    glyphs = glyphs_of(pdf)
    assert text_of(glyphs) == "A BC"
    assert [g.bbox[0] for g in glyphs] == pytest.approx([72, 76, 78.5, 83])  # Tw does not apply to <0020>
    theirs = {box.text: box.bbox for box in poppler_boxes(pdf, tmp_path)}
    assert_close(only_hit(pdf, "BC").bbox, theirs["BC"], 1.0)


def test_identity_v_glyphs_stack_downwards() -> None:
    to_unicode = stream(
        b"", b"1 begincodespacerange <0000> <FFFF> endcodespacerange 1 beginbfrange <4E00> <9FFF> <4E00> endbfrange"
    )
    font = _type0(b"/Identity-V", b" /ToUnicode 4 0 R", b"/DW 1000", b" /DW2 [880 -1000] /W2 [20013 [-1200 500 900]]")
    content = b"BT /F1 10 Tf 300 500 Td <4E2D 6587 5B57> Tj ET"
    glyphs = glyphs_of(raw_pdf([content], objects={3: font, 4: to_unicode}))
    assert text_of(glyphs) == "中文字"
    # 中 (CID 0x4E2D = 20013) has its own W2 entry: w1y -1200, v = (500, 900); the others use DW2 and half the width
    assert_close(glyphs[0].bbox, (295, 500 - 9 - 2, 305, 500 - 9 + 8), 1e-6)
    assert_close(glyphs[1].bbox, (295, 488 - 8.8 - 2, 305, 488 - 8.8 + 8), 1e-6)
    assert_close(glyphs[2].bbox, (295, 478 - 8.8 - 2, 305, 478 - 8.8 + 8), 1e-6)


def test_predefined_cmaps_in_pdfs_agree_with_pdftotext(tmp_path: Path) -> None:
    def cjk_font(encoding: bytes) -> bytes:
        return (
            b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /" + encoding + b" /DescendantFonts"
            b" [<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /DW 1000 /W [1 95 500]"
            b" /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >>"
            b" /FontDescriptor << /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /Ascent 752 /Descent -271"
            b" /FontBBox [-25 -254 1000 880] /ItalicAngle 0 /CapHeight 737 /StemV 58 >> >>] >>"
        )

    for encoding, shown in [
        (b"UniGB-UCS2-H", "药品生产许可证".encode("utf-16-be")),
        (b"UniGB-UTF16-H", "许可证 No1".encode("utf-16-be")),
        (b"GBK-EUC-H", "药品经营许可证".encode("gbk")),
    ]:
        pdf = one_line_pdf(cjk_font(encoding), b"<" + shown.hex().encode() + b">", size=12)
        ours = text_of(glyphs_of(pdf))
        assert ours == poppler_text(pdf, tmp_path).strip()
        theirs = {box.text: box.bbox for box in poppler_boxes(pdf, tmp_path)}
        hit = only_hit(pdf, "许可证")
        [word] = [box for text, box in theirs.items() if "许可证" in text]
        assert_inside(hit.bbox, word, 0.5)
        assert abs(hit.bbox[2] - word[2]) <= 0.5  # the keyword ends each of these words
        assert abs(hit.bbox[2] - hit.bbox[0] - 36) <= 0.01
        if "No1" in theirs:  # ASCII in a Uni* CMap: CIDs 1..95 with the /W widths, as poppler's full CMap says
            assert_close(only_hit(pdf, "No1").bbox, theirs["No1"], 0.5)


def test_ucs2_widths_approximate_the_adobe_gb1_map() -> None:
    font = {
        "Subtype": Name("Type0"),
        "Encoding": Name("UniGB-UCS2-H"),
        "DescendantFonts": [{"Subtype": Name("CIDFontType0"), "DW": 1000, "W": [1, [207, 270], 34, 34, 640]}],
    }
    codes = decode(font, " !A中éəｶ，".encode("utf-16-be"))
    # W for CIDs 1, 2 and 34 (ASCII); then full-width, East Asian ambiguous (full-width in GB fonts), narrow, half-width
    assert [c.width for c in codes] == pytest.approx([0.207, 0.27, 0.64, 1.0, 1.0, 0.5, 0.5, 1.0])


# --- robustness and caching ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "font",
    [
        None,
        42,
        [],
        {"Subtype": Name("Type0"), "Encoding": Name("No-Such-CMap-H")},
        {"Subtype": Name("Type0")},
    ],
)
def test_unreadable_fonts_give_none(font: object) -> None:
    assert load_font(font, no_refs) is None


@pytest.mark.parametrize(
    "font",
    [
        {},
        {"Subtype": Name("Type1"), "Widths": "garbage", "FirstChar": Name("x"), "Encoding": 5},
        {"Subtype": Name("TrueType"), "Widths": [None, True, Name("x")], "FontDescriptor": [1, 2]},
        {"Subtype": Name("Type1"), "Encoding": {"Differences": [1000, Name("A"), -5, Name("B"), 3.5, b"x"]}},
        {"Subtype": Name("Type3"), "FontMatrix": [0, 0], "Widths": [1]},
        {"Subtype": Name("Type0"), "Encoding": Name("Identity-H"), "DescendantFonts": [{"W": [1, 2, Name("x"), [3]]}]},
        {"Subtype": Name("Type0"), "Encoding": Name("Identity-V"), "DescendantFonts": [{"W2": [1, [2]], "DW2": [1]}]},
    ],
)
def test_malformed_font_dictionaries_still_decode(font: dict[str, object]) -> None:
    loaded = load_font(font, no_refs)
    assert loaded is not None
    assert len(loaded.decode(b"\x00\x41\x42\x43")) in (2, 4)


def test_a_to_unicode_stream_with_an_unsupported_filter_is_ignored() -> None:
    broken = Stream({"Filter": Name("JBIG2Decode")}, b"whatever")
    font = {"Subtype": Name("Type1"), "BaseFont": Name("Helvetica"), "ToUnicode": broken}
    assert texts(font, b"Hi") == "Hi"


def test_font_cache_parses_each_font_dictionary_once() -> None:
    doc = PdfDocument(raw_pdf([b"BT /F1 9 Tf (a) Tj ET"]))
    cache = FontCache()
    first = cache.get(Ref(3), doc.resolve)
    assert first is not None and cache.get(Ref(3), doc.resolve) is first
    direct = {"Subtype": Name("Type1"), "BaseFont": Name("Courier")}
    assert cache.get(direct, doc.resolve) is cache.get(direct, doc.resolve)
