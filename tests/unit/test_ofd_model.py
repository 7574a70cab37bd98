"""The OFD model, writer, reader and package: round trips, determinism, laziness, the builder's rules, bad input."""

from __future__ import annotations

import io
import random
import time
import zipfile
from dataclasses import replace
from datetime import date

import pytest

from certseal.errors import CertsealError, ConfigError, ValidationError
from certseal.ofd.fonts import TrueTypeFont, find_cjk_font
from certseal.ofd.model import (
    Box,
    Color,
    Document,
    ImageObject,
    Layer,
    Matrix,
    PageBlock,
    PageList,
    PathCommand,
    PathObject,
    TextObject,
    compress_deltas,
    expand_deltas,
    page_objects,
    parse_numbers,
    parse_path,
)
from certseal.ofd.package import OfdPackage, normalize_name
from certseal.ofd.reader import read_ofd
from certseal.ofd.writer import DocumentBuilder, num, write_ofd, write_package
from tests import ofddocs

# --- value types ---------------------------------------------------------------------------------------------


def test_numbers_boxes_and_matrices_parse_like_the_files_write_them() -> None:
    assert parse_numbers("0 0 210 297", "PhysicalBox") == (0.0, 0.0, 210.0, 297.0)
    assert parse_numbers("#ee #20 #25", "Value") == (238.0, 32.0, 37.0)  # iOFD's hexadecimal colours
    assert parse_numbers("1.5,-2e1 .5", "x") == (1.5, -20.0, 0.5)
    assert Box.parse("31.7 25.4 40.5 5") == Box(31.7, 25.4, 40.5, 5.0)
    assert Matrix.parse("20 0 0 20 0 0").apply(0.5, 1.0) == (10.0, 20.0)
    for bad in ("1 2 3", "1 2 3 x", "1 2 3 nan"):
        with pytest.raises(ValidationError):
            Box.parse(bad)
    with pytest.raises(ValidationError):
        Matrix.parse("1 0 0 1 0")


def test_matrix_composition_applies_the_inner_transform_first() -> None:
    rotate = Matrix(0.0, 1.0, -1.0, 0.0, 0.0, 0.0)  # 90° (x → y)
    move = Matrix.translation(10.0, 5.0)
    assert rotate.then(move).apply(2.0, 0.0) == (10.0, 7.0)
    assert move.then(rotate).apply(2.0, 0.0) == (-5.0, 12.0)
    assert Matrix(2, 0, 0, 3, 1, 1).box(Box(0, 0, 1, 1)) == Box(1, 1, 2, 3)


def test_delta_g_shorthand_expands_and_pads_with_the_last_value() -> None:
    assert expand_deltas("g 3 2.5", 3) == (2.5, 2.5, 2.5)
    assert expand_deltas("1.59 g 4 3.17 1.59 3.17", 7) == (1.59, 3.17, 3.17, 3.17, 3.17, 1.59, 3.17)
    assert expand_deltas("1.59", 11) == (1.59,) * 11  # v4signed.ofd writes one value for a 12-digit number
    assert expand_deltas("g 27 2.5 -67.5 g 2 2.5", 30) == (2.5,) * 27 + (-67.5, 2.5, 2.5)
    assert expand_deltas("1 2 3 4", 2) == (1.0, 2.0)
    assert expand_deltas("g 1000000 1", 3) == (1.0, 1.0, 1.0)
    assert expand_deltas("", 4) == ()
    for bad in ("g 3", "g x 2", "g -1 2", "1 two"):
        with pytest.raises(ValidationError):
            expand_deltas(bad, 5)


def test_deltas_are_written_with_the_g_shorthand_and_read_back_equal() -> None:
    values = (3.175,) * 14 + (1.59, 1.59, 2.0, 2.0, 2.0)
    text = compress_deltas(values, num)
    assert text == "g 14 3.175 1.59 1.59 g 3 2"
    assert expand_deltas(text, len(values)) == values


def test_abbreviated_data_parses_every_operator() -> None:
    commands = parse_path("S 0 0 L 156.0 0.0 M 1 1 Q 1 2 3 4 B 1 2 3 4 5 6 A 5 5 0 0 1 10 10 C Z 1 L 2")
    assert [c.op for c in commands] == ["M", "L", "M", "Q", "B", "A", "C"]  # S is a move; unknown Z skipped
    assert commands[5].points() == ((10.0, 10.0),)
    assert commands[4].points() == ((1.0, 2.0), (3.0, 4.0), (5.0, 6.0))


def test_number_formatting_is_short_and_stable() -> None:
    assert [num(v) for v in (0.0, -0.0, 1.0, 2.5, 1 / 3, -1e-9, 210.0)] == [
        "0",
        "0",
        "1",
        "2.5",
        "0.333333",
        "0",
        "210",
    ]


# --- round trips and determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [ofddocs.license_builder, ofddocs.rich_builder, ofddocs.split_keyword_builder],
    ids=["license", "rich", "split-keyword"],
)
def test_build_read_gives_the_same_document(build: type[DocumentBuilder]) -> None:
    document = build().document()
    back = read_ofd(write_ofd(document))
    assert back == document
    assert back.pages.ids == document.pages.ids


def test_every_model_feature_survives_write_and_read() -> None:
    document = ofddocs.model_document()
    package = write_package(document)
    assert "Doc_0/Pages/Page_0/PageRes.xml" in package  # page resources, files in Doc_0/Res
    assert read_ofd(package) == document
    assert write_ofd(read_ofd(package)) == package.to_bytes()


def test_objects_without_ids_get_fresh_ones_above_max_unit_id() -> None:
    document = ofddocs.model_document()
    page = document.pages[1]
    anonymous = PathObject(boundary=Box(0, 0, 1, 1), abbreviated_data="M 0 0 L 1 1")
    layers = (Layer((anonymous, PageBlock((anonymous,))), None),)
    changed = replace(document, pages=PageList.of([document.pages[0], replace(page, layers=layers)]))
    back = read_ofd(write_ofd(changed))
    (layer,) = back.pages[1].layers
    first, block = layer.objects
    assert isinstance(block, PageBlock)
    ids = [layer.id, first.id, block.id, block.objects[0].id]
    assert ids == [61, 62, 63, 64] and back.max_unit_id == 64  # document.max_unit_id was 60


def test_twenty_pages_round_trip_and_rewrite_to_the_same_bytes() -> None:
    data = ofddocs.long_ofd(20)
    document = read_ofd(data)
    assert len(document.pages) == 20
    assert write_ofd(document) == data  # reading and writing again changes nothing, byte for byte
    texts = [next(o for o in page_objects(p) if isinstance(o, TextObject)).text for p in document.pages]
    assert texts[0] == "第1页 共20页" and texts[19] == "第20页 共20页"


def test_same_document_gives_the_same_bytes() -> None:
    first, second = ofddocs.rich_ofd(), ofddocs.rich_ofd()
    assert first == second
    assert ofddocs.license_ofd() == ofddocs.license_ofd()
    assert write_ofd(read_ofd(first)) == first


def test_package_layout_and_resources_of_the_rich_document() -> None:
    document = ofddocs.rich_builder().document()
    names = write_package(document).names()
    assert names[:4] == ["OFD.xml", "Doc_0/Document.xml", "Doc_0/PublicRes.xml", "Doc_0/DocumentRes.xml"]
    assert "Doc_0/Tpls/Tpl_1/Content.xml" in names and "Doc_0/Pages/Page_1/Content.xml" in names
    assert "Doc_0/Attachs/license-data.json" in names and "Doc_0/Attachs/Attach_2.txt" in names
    assert "Doc_0/Tags/Tag_0.xml" in names
    assert [m.format for m in document.document_res.multimedias] == ["PNG", "JPEG"]  # the repeated PNG shared
    images = [o for o in page_objects(document.pages[0]) if isinstance(o, ImageObject)]
    assert images[0].resource_id == images[2].resource_id != images[1].resource_id
    assert images[0].ctm == Matrix(40.0, 0.0, 0.0, 20.0, 0.0, 0.0)
    (font,) = document.public_res.fonts
    assert font.data is not None and TrueTypeFont.from_bytes(font.data).family == font.family
    assert [t.z_order for t in document.templates] == ["Background", "Foreground"]
    assert [r.template_id for r in document.pages[0].templates] == [t.id for t in document.templates]
    second = document.pages[1]
    assert second.area is not None and document.page_size(second) == Box(0, 0, 297, 210)
    assert document.page_size(document.pages[0]) == Box(0, 0, 210, 297)
    chapter = document.outlines[0]
    assert (chapter.title, chapter.page_id, chapter.top) == ("第一章 总则", document.pages.ids[0], 20.0)
    assert chapter.children[0].title == "1.1 图像与路径"
    assert document.outlines[1].page_id == document.pages.ids[1]
    assert [a.name for a in document.attachments] == ["license-data.json", "附件说明.txt"]
    assert document.attachments[0].visible is False and document.attachments[1].data == "说明文字".encode()
    assert document.custom_tags[0].namespace == "urn:certseal:e-license:1"
    assert document.doc_info.custom_data("证照类型") == "测试"


def test_every_id_is_unique_and_within_max_unit_id() -> None:
    document = read_ofd(ofddocs.rich_ofd())
    ids = [*document.pages.ids, *(t.id for t in document.templates)]
    ids += [f.id for f in document.public_res.fonts] + [m.id for m in document.document_res.multimedias]
    for page in [*document.pages, *document.templates]:
        ids += [layer.id for layer in page.layers if layer.id is not None]
        ids += [o.id for o in page_objects(page) if o.id is not None]
    assert len(ids) == len(set(ids))
    assert max(ids) == document.max_unit_id


def test_text_is_laid_out_from_the_font_advances() -> None:
    builder = DocumentBuilder(doc_id="t", creation_date=date(2025, 1, 1))
    left = builder.text(100, 50, "证照Ab", size_mm=10)
    centred = builder.text(100, 70, "证照Ab", size_mm=10, align="center")
    right = builder.text(100, 90, "证照Ab", size_mm=10, align="right")
    font = find_cjk_font()
    advances = [round(font.advance_em(c) * 10, 4) for c in "证照Ab"]
    assert left.text_codes[0].delta_x == tuple(advances[:-1])
    width = sum(advances)
    assert left.boundary.x == 100 and left.boundary.width == pytest.approx(width)
    assert centred.boundary.x == pytest.approx(100 - width / 2) and right.boundary.right == pytest.approx(100)
    ascent = font.ascent / font.units_per_em * 10
    assert left.boundary.y + left.text_codes[0].y == pytest.approx(50)  # the baseline where asked
    assert left.text_codes[0].y == pytest.approx(ascent, abs=1e-4)
    assert left.fill_color == Color.rgb(0, 0, 0)


def test_paths_are_stored_relative_to_their_boundary() -> None:
    builder = DocumentBuilder(doc_id="p", creation_date=date(2025, 1, 1))
    line = builder.line(20, 100, 190, 100, line_width=0.5)
    assert line.boundary == Box(19.75, 99.75, 170.5, 0.5)  # half the line width around the points
    assert line.abbreviated_data == "M 0.25 0.25 L 170.25 0.25"
    box = builder.rect(10, 10, 20, 30, stroke=None, fill=(255, 0, 0))
    assert box.boundary == Box(10, 10, 20, 30) and box.fill and not box.stroke and box.line_width is None
    assert [c.op for c in box.commands()] == ["M", "L", "L", "L", "C"]


@pytest.mark.parametrize(
    ("action", "field"),
    [
        (lambda b: b.text(10, 10, ""), "text"),
        (lambda b: b.text(10, 10, "two\nlines"), "text"),
        (lambda b: b.text(10, 10, "笑😀"), "text"),  # no emoji glyph in the CJK font
        (lambda b: b.text(10, 10, "x", size_mm=0), "size_mm"),
        (lambda b: b.text(10, 10, "x", weight=450), "weight"),
        (lambda b: b.text(10, 10, "x", colour=(0, 0, 256)), "colour"),
        (lambda b: b.rect(0, 0, 0, 10), "boundary"),
        (lambda b: b.path([PathCommand("L", (1.0, 1.0))]), "path"),
        (lambda b: b.path([PathCommand("M", (1.0, 1.0))], stroke=None), "path"),
        (lambda b: b.path([PathCommand("M", (1.0, 1.0)), PathCommand("L", (1.0, 2.0, 3.0))]), "path"),
        (lambda b: b.path([PathCommand("M", (1.0, 1.0)), PathCommand("X", ())]), "path"),
        (lambda b: b.text(10, 10, "x", align="middle"), "align"),
        (lambda b: b.image(b"GIF89a....", (0, 0, 10, 10)), "image"),
        (lambda b: b.image(b"\x89PNG\r\n\x1a\nbroken", (0, 0, 10, 10)), "image"),
        (lambda b: b.qr("", (0, 0, 10, 10)), "qr"),
        (lambda b: b.qr("x" * 8000, (0, 0, 10, 10)), "qr"),
        (lambda b: b.qr("x", (0, 0, 10, 10), error="z"), "qr"),
        (lambda b: b.custom_tags(b"<not-closed>"), "custom_tags"),
        (lambda b: b.outline("nowhere"), "outline"),
        (lambda b: b.page(templates=[99]), "templates"),
        (lambda b: b.attach(" ", b"x"), "name"),
    ],
)
def test_builder_rejects_bad_input_naming_the_field(action: object, field: str) -> None:
    builder = DocumentBuilder(doc_id="bad", creation_date=date(2025, 1, 1))
    with pytest.raises(ValidationError) as caught:
        action(builder)  # type: ignore[operator]
    assert caught.value.field == field


def test_values_xml_cannot_hold_are_refused() -> None:
    builder = DocumentBuilder(doc_id="ctl", creation_date=date(2025, 1, 1))
    builder.custom_data("编号", "A\x01B")
    with pytest.raises(ValidationError, match="not allowed in XML"):
        builder.build()


def test_font_discovery_takes_a_path_and_explains_failures(tmp_path: object) -> None:
    assert "WenQuanYi" in find_cjk_font().family
    assert find_cjk_font("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc").family == find_cjk_font().family
    with pytest.raises(ConfigError, match="cannot be read"):
        find_cjk_font("/nonexistent/font.ttf")
    with pytest.raises(ConfigError, match="no glyphs for Chinese"):
        find_cjk_font("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    with pytest.raises(CertsealError, match="CFF"):
        find_cjk_font("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
    with pytest.raises(ValidationError, match="font"):
        TrueTypeFont.from_bytes(b"\x00\x01\x00\x00" + b"\xff" * 40)


# --- the package ---------------------------------------------------------------------------------------------


def test_package_reads_edits_and_writes_in_a_stable_order() -> None:
    package = OfdPackage.from_bytes(ofddocs.license_ofd())
    names = package.names()
    assert names[0] == "OFD.xml" and len(package) == len(names)
    assert package.find("/doc_0/document.XML") == "Doc_0/Document.xml"
    assert "/Doc_0/Document.xml" in package and "Doc_0/nothing" not in package
    package.put("Doc_0/Signs/Signatures.xml", b"<x/>")
    package.put("OFD.xml", package["OFD.xml"] + b"\n")
    package.remove("Doc_0/Res/" + next(n.rsplit("/", 1)[1] for n in names if n.endswith(".ttf")))
    assert package.names()[0] == "OFD.xml" and package.names()[-1] == "Doc_0/Signs/Signatures.xml"
    written = package.to_bytes()
    assert written == package.copy().to_bytes()
    again = OfdPackage.from_bytes(written)
    assert again.names() == package.names()
    assert {n: again[n] for n in again} == {n: package[n] for n in package}
    with zipfile.ZipFile(io.BytesIO(written)) as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert normalize_name("\\Doc_0\\./Pages/../Res/a.png") == "Doc_0/Res/a.png"
    with pytest.raises(KeyError):
        package["missing.xml"]


# --- bad input -----------------------------------------------------------------------------------------------


def _zip(files: dict[str, bytes]) -> bytes:
    return OfdPackage(files).to_bytes()


def _with(data: bytes, name: str, content: bytes) -> bytes:
    package = OfdPackage.from_bytes(data)
    package.put(name, content)
    return package.to_bytes()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: b"%PDF-1.7 not a zip", "not a ZIP"),
        (lambda: b"", "not a ZIP"),
        (lambda: ofddocs.license_ofd()[:2000], "not a ZIP"),
        (lambda: _zip({"Doc_0/Document.xml": b"<x/>"}), "OFD.xml is missing"),
        (
            lambda: _with(ofddocs.license_ofd(), "OFD.xml", b"<ofd:OFD xmlns:ofd='x'><unclosed>"),
            "OFD.xml is not well-formed",
        ),
        (lambda: _with(ofddocs.license_ofd(), "OFD.xml", b"<Other/>"), "not OFD"),
        (lambda: _with(ofddocs.license_ofd(), "OFD.xml", b"<OFD/>"), "no DocBody"),
        (
            lambda: _with(
                ofddocs.license_ofd(),
                "OFD.xml",
                b'<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"><ofd:DocBody><ofd:DocInfo><ofd:DocID>1</ofd:DocID>'
                b"</ofd:DocInfo><ofd:DocRoot>Doc_9/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>",
            ),
            "DocRoot 'Doc_9/Document.xml' names no file",
        ),
        (lambda: _with(ofddocs.license_ofd(), "Doc_0/Document.xml", b"<Document><Pages/></Document>"), "no CommonData"),
        (lambda: _with(ofddocs.license_ofd(), "Doc_0/Document.xml", b"\xff\xfe garbage"), "not well-formed"),
        (
            lambda: _with(ofddocs.license_ofd(), "Doc_0/PublicRes.xml", b"<Res><Fonts>"),
            "PublicRes.xml is not well-formed",
        ),
    ],
)
def test_malformed_packages_raise_validation_error(make: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        read_ofd(make())  # type: ignore[operator]
    assert caught.value.field == "ofd"


def _broken_page(data: bytes, index: int, content: bytes) -> Document:
    return read_ofd(_with(data, f"Doc_0/Pages/Page_{index}/Content.xml", content))


def test_a_broken_page_fails_when_it_is_read_not_before() -> None:
    data = ofddocs.long_ofd(3)
    document = _broken_page(data, 2, b"<Page><Content><Layer>")
    assert document.pages[0].id == document.pages.ids[0]  # pages 1 and 2 read fine
    with pytest.raises(ValidationError, match=r"Page_2/Content\.xml is not well-formed"):
        document.pages[2]
    bad_boundary = (
        b'<Page><Content><Layer><TextObject ID="1" Boundary="1 2 x" Font="1" Size="3"/></Layer></Content></Page>'
    )
    with pytest.raises(ValidationError, match="Boundary"):
        _broken_page(data, 0, bad_boundary).pages[0]
    no_font = b'<Page><Content><Layer><TextObject ID="1" Boundary="1 2 3 4" Size="3"/></Layer></Content></Page>'
    with pytest.raises(ValidationError, match="needs Font and Size"):
        _broken_page(data, 0, no_font).pages[0]
    bad_ctm = b'<Page><Content><Layer><PathObject Boundary="1 2 3 4" CTM="1 0 0"/></Layer></Content></Page>'
    with pytest.raises(ValidationError, match="CTM"):
        _broken_page(data, 0, bad_ctm).pages[0]
    missing = read_ofd(_zip({n: c for n, c in OfdPackage.from_bytes(data).items() if "Page_1" not in n}))
    with pytest.raises(ValidationError, match="page 2"):
        missing.pages[1]
    with pytest.raises(IndexError):
        missing.pages[3]


def test_unknown_elements_and_optional_parts_are_ignored() -> None:
    page = (
        b'<ofd:Page xmlns:ofd="http://www.ofdspec.org/2016" xmlns:x="urn:x"><x:Extra/><ofd:Content><!-- c -->'
        b'<ofd:Layer><x:Unknown a="1"/><ofd:PathObject Boundary="0 0 10 10" LineWidth="bad">'
        b"<ofd:AbbreviatedData>M 0 0 L 10 10</ofd:AbbreviatedData></ofd:PathObject>"
        b"</ofd:Layer></ofd:Content></ofd:Page>"
    )
    document = _broken_page(ofddocs.long_ofd(1), 0, page)
    (layer,) = document.pages[0].layers
    (path,) = layer.objects
    assert isinstance(path, PathObject) and path.id is None and path.line_width is None and layer.id is None
    stripped = OfdPackage.from_bytes(ofddocs.license_ofd())
    stripped.remove("Doc_0/PublicRes.xml")
    document = read_ofd(stripped)
    assert document.public_res.fonts == () and len(document.pages) == 1


def test_opening_a_thousand_page_document_reads_only_the_page_asked_for() -> None:
    data = ofddocs.long_ofd(1000)
    start = time.perf_counter()
    document = read_ofd(data)
    first = document.pages[0]
    elapsed = time.perf_counter() - start
    assert document.pages.loaded_count == 1 and len(document.pages) == 1000
    assert first.id == document.pages.ids[0]
    # a broken last page does not stop page 1 from being read
    broken = _broken_page(data, 999, b"<Page><Content>")
    assert broken.pages[0] == first
    print(f"open + first page of a 1,000-page OFD ({len(data)} bytes): {elapsed * 1000:.1f} ms")


def test_damaged_parts_only_ever_raise_validation_error() -> None:
    """Seeded random damage to the XML parts of our file and of a tax invoice: the reader, glyph positions and the
    writer either work or raise ValidationError, never anything else."""
    from certseal.ofd.text import find_keyword, page_glyphs

    sources = [OfdPackage.from_bytes(ofddocs.rich_ofd()), OfdPackage.from_bytes(ofddocs.license_ofd())]
    rng = random.Random(20250301)
    insertions = [b'"', b"<", b"-1e999", b" g 99999999 1", b"#zz", b"nan", b'ID="x"', b"/", b"..", b"]]>"]
    outcomes = {"ok": 0, "rejected": 0}
    for _ in range(300):
        package = rng.choice(sources).copy()
        name = rng.choice([n for n in package.names() if n.endswith(".xml")])
        data = bytearray(package[name])
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.4:
                data[at] = rng.randrange(256)
            elif choice < 0.7:
                del data[at : at + rng.randint(1, 20)]
            else:
                data[at:at] = rng.choice(insertions)
        package.put(name, bytes(data))
        try:
            document = read_ofd(package)
            for page in [*document.pages, *document.templates]:
                page_glyphs(document, page)
            find_keyword(document, "许可")
            write_ofd(document)
            outcomes["ok"] += 1
        except ValidationError:
            outcomes["rejected"] += 1
    assert outcomes["ok"] and outcomes["rejected"]
