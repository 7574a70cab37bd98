"""Our OFD output checked by implementations we did not write: the GB/T 33190 XSDs (lxml/libxml2), fontTools,
reportlab's TrueType parser and Chromium (embedded subset fonts), zxing-cpp (QR codes drawn as vector paths)."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image, ImageDraw

from certseal.ofd.fonts import find_cjk_font
from certseal.ofd.model import PathObject, page_objects
from certseal.ofd.package import OfdPackage
from certseal.ofd.reader import read_ofd
from certseal.ofd.writer import NS, DocumentBuilder, write_ofd
from tests import ofddocs
from tests.fixtures.browser import CHROMIUM_ARGS

XSD_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "ofd-xsd"
ENTRY_XSD = {
    "OFD": "OFD.xsd",
    "Document": "Document.xsd",
    "Res": "Res.xsd",
    "Page": "Page.xsd",
    "Attachments": "Attachments.xsd",
    "CustomTags": "CustomTags.xsd",
    "Annotations": "Annotations.xsd",
    "PageAnnot": "Annotation.xsd",
    "Signatures": "Signatures.xsd",
    "Signature": "Signature.xsd",
    "DocVersion": "Version.xsd",
    "Extensions": "Extensions.xsd",
}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@cache
def schema(root_name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_DIR / ENTRY_XSD[root_name])))


def schema_errors(xml: bytes) -> list[str]:
    root = etree.fromstring(xml)
    qname = etree.QName(root)
    assert qname.namespace == NS, f"not an OFD part: {qname}"
    checker = schema(qname.localname)
    return [] if checker.validate(root) else [str(e) for e in checker.error_log]


def ofd_parts(package: OfdPackage) -> dict[str, bytes]:
    """Every XML part of the OFD structure; custom tag and attachment files are the user's own content."""
    document = read_ofd(package)
    own = {tag.data for tag in document.custom_tags} | {a.data for a in document.attachments}
    return {name: package[name] for name in package if name.endswith(".xml") and package[name] not in own}


SAMPLES: dict[str, Callable[[], bytes]] = {
    "license": ofddocs.license_ofd,
    "rich": ofddocs.rich_ofd,
    "twenty-pages": lambda: ofddocs.long_ofd(20),
    "split-keyword": lambda: ofddocs.split_keyword_builder().build(),
    "whole-model": lambda: write_ofd(ofddocs.model_document()),
}


@pytest.mark.parametrize("make", SAMPLES.values(), ids=SAMPLES.keys())
def test_every_xml_part_we_write_validates_against_the_ofd_xsds(make: Callable[[], bytes]) -> None:
    package = OfdPackage.from_bytes(make())
    parts = ofd_parts(package)
    assert {"OFD.xml", "Doc_0/Document.xml", "Doc_0/Pages/Page_0/Content.xml"} <= parts.keys()
    failures = {name: errors for name, xml in parts.items() if (errors := schema_errors(xml))}
    assert failures == {}


def test_the_rich_document_exercises_every_part_type() -> None:
    roots = {
        etree.QName(etree.fromstring(xml)).localname
        for xml in ofd_parts(OfdPackage.from_bytes(ofddocs.rich_ofd())).values()
    }
    assert roots == {"OFD", "Document", "Res", "Page", "Attachments", "CustomTags"}


@pytest.mark.parametrize(
    ("part", "change", "complaint"),
    [
        (
            "Doc_0/Document.xml",
            lambda x: re.sub(rb"(<ofd:CommonData>.*</ofd:CommonData>)(<ofd:Pages>.*</ofd:Pages>)", rb"\2\1", x),
            "Pages",
        ),
        ("Doc_0/Document.xml", lambda x: x.replace(b'<ofd:Page ID="', b'<ofd:Page ID="p'), "ID"),
        ("OFD.xml", lambda x: x.replace(b'Version="1.0"', b'Version="1.1"'), "Version"),
        ("Doc_0/Pages/Page_0/Content.xml", lambda x: x.replace(b"<ofd:FillColor", b"<ofd:Colour", 1), "Colour"),
        ("Doc_0/Attachs/Attachments.xml", lambda x: x.replace(b'ID="att1"', b'ID="1"'), "ID"),
        ("Doc_0/PublicRes.xml", lambda x: x.replace(b"FontName=", b"Fontname="), "FontName"),
    ],
    ids=["order", "page-id", "version", "unknown-element", "attachment-id", "attribute-name"],
)
def test_the_xsds_reject_a_damaged_part(part: str, change: Callable[[bytes], bytes], complaint: str) -> None:
    package = OfdPackage.from_bytes(ofddocs.rich_ofd())
    damaged = change(package[part])
    assert damaged != package[part]
    errors = schema_errors(damaged)
    assert errors and any(complaint in e for e in errors), errors


def test_other_producers_files_fail_the_xsds_but_read() -> None:
    """The schemas are a lint on our output, not an input gate (see reference/ofd.md)."""
    data = (XSD_DIR.parent / "ofd-samples" / "v4signed.ofd").read_bytes()
    package = OfdPackage.from_bytes(data)
    assert schema_errors(package["Doc_0/Document.xml"])  # TemplatePage before PageArea, no MaxUnitID
    assert schema_errors(package["OFD.xml"])  # Version="1.1"
    assert len(read_ofd(data).pages) == 1


@pytest.mark.parametrize("name", ["v4signed.ofd", "signedFile.ofd", "nonstandard-v1.ofd", "helloworld.ofd"])
def test_samples_rewritten_by_our_writer_validate(name: str) -> None:
    source = read_ofd((XSD_DIR.parent / "ofd-samples" / name).read_bytes())
    package = OfdPackage.from_bytes(write_ofd(source))
    failures = {part: errors for part, xml in ofd_parts(package).items() if (errors := schema_errors(xml))}
    assert failures == {}
    again = read_ofd(package)
    assert again.pages.ids == source.pages.ids and len(again.templates) == len(source.templates)


# --- embedded subset fonts -----------------------------------------------------------------------------------

USED = "药品生产许可证ABC abc 123，。"
WQY = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"


def subset_font() -> bytes:
    builder = DocumentBuilder(doc_id="font", creation_date=ofddocs.FIXED_DAY)
    builder.text(10, 10, USED, size_mm=5)
    (font,) = builder.document().public_res.fonts
    assert font.data is not None
    return font.data


def test_subset_font_parses_in_fonttools_with_exactly_the_used_glyphs() -> None:
    from fontTools import ttLib as ttlib

    data = subset_font()
    subset = ttlib.TTFont(io.BytesIO(data))
    source = ttlib.TTFont(WQY, fontNumber=0, lazy=True)
    used = {ord(c) for c in USED}
    assert subset["maxp"].numGlyphs == len(used) + 1  # + .notdef
    cmap = subset.getBestCmap()
    assert set(cmap) == used
    assert {t.platformID for t in subset["cmap"].tables} == {3}
    source_cmap = source.getBestCmap()
    for code in used:
        mine, theirs = cmap[code], source_cmap[code]
        assert subset["hmtx"][mine] == source["hmtx"][theirs]
        glyph, original = subset["glyf"][mine], source["glyf"][theirs]
        if original.numberOfContours:
            assert list(glyph.getCoordinates(subset["glyf"])[0]) == list(original.getCoordinates(source["glyf"])[0])
    assert subset["head"].indexToLocFormat == 1
    assert subset["name"].getDebugName(1) == "WenQuanYi Zen Hei"
    subset.ensureDecompiled()  # every table decodes
    # table checksums verified by fontTools on load; the whole font sums to the magic number (head adjustment)
    ttlib.TTFont(io.BytesIO(data), checkChecksums=2).ensureDecompiled()
    from fontTools.ttLib.sfnt import calcChecksum

    assert calcChecksum(data) == 0xB1B0AFBA


def test_subset_keeps_the_components_of_composite_glyphs() -> None:
    from fontTools import ttLib as ttlib

    subset = ttlib.TTFont(io.BytesIO(find_cjk_font().subset("‖")))  # U+2016 is built from the glyph of U+2225
    source = ttlib.TTFont(WQY, fontNumber=0, lazy=True)
    assert subset["maxp"].numGlyphs == 3 and set(subset.getBestCmap()) == {0x2016}
    mine, theirs = subset["glyf"][subset.getBestCmap()[0x2016]], source["glyf"][source.getBestCmap()[0x2016]]
    assert mine.isComposite() and theirs.isComposite()
    assert [source.getGlyphID(c.glyphName) for c in theirs.components] == [773]
    assert [subset.getGlyphID(c.glyphName) for c in mine.components] in ([1], [2])  # renumbered into the subset
    mine_points = mine.getCoordinates(subset["glyf"])[0]
    assert list(mine_points) == list(theirs.getCoordinates(source["glyf"])[0])


def test_subset_font_parses_in_reportlab() -> None:
    from reportlab.pdfbase.ttfonts import TTFontFile

    data = subset_font()
    parsed = TTFontFile(io.BytesIO(data), validate=1)
    mapped = {chr(c) for c, g in parsed.charToGlyph.items() if g} - {"\xa0"}  # reportlab aliases NBSP to space
    assert mapped == set(USED)
    damaged = bytearray(data)
    damaged[-10] ^= 0x01  # one bit of the last table
    with pytest.raises(Exception, match="invalid checksum"):  # validate=1: reportlab checks the whole-font sum
        TTFontFile(io.BytesIO(bytes(damaged)), validate=1)


def _chromium_font_check(font: bytes, text: str) -> str:
    assert CHROMIUM is not None
    font_url = "data:font/ttf;base64," + base64.b64encode(font).decode()
    html = f"""<html><body><div id="r">pending</div><script>
const face = new FontFace("subset", "url({font_url})");
face.load().then(() => {{
  document.fonts.add(face);
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = "100px subset";
  document.getElementById("r").textContent = "loaded " + ctx.measureText({text!r}).width.toFixed(2);
}}).catch(e => {{ document.getElementById("r").textContent = "rejected " + e.name; }});
</script></body></html>"""
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            *CHROMIUM_ARGS,
            "--virtual-time-budget=5000",
            "--dump-dom",
            "data:text/html;charset=utf-8;base64," + base64.b64encode(html.encode()).decode(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r'<div id="r">([^<]*)</div>', result.stdout)
    assert match, result.stderr[-2000:]
    return match.group(1)


def test_chromium_loads_the_subset_font_and_measures_text_with_it() -> None:
    font = find_cjk_font()
    text = "许可证AB1"
    status = _chromium_font_check(subset_font(), text)
    assert status.startswith("loaded "), status
    expected = sum(font.advance_em(c) for c in text) * 100
    assert float(status.split()[1]) == pytest.approx(expected, abs=0.5)
    damaged = bytearray(subset_font())
    damaged[12 + 16 * 2 : 12 + 16 * 4] = b"\xff" * 32  # two table directory entries point nowhere
    assert _chromium_font_check(bytes(damaged), text).startswith("rejected")


# --- QR codes ------------------------------------------------------------------------------------------------


def rasterise(path: PathObject, scale: float = 10.0) -> Image.Image:
    """Fill the path's closed rectangles (what qr.py writes) on a white image with a light margin."""
    size = round(path.boundary.width * scale) + 40
    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    points: list[tuple[float, float]] = []
    for command in path.commands():
        if command.op == "C":
            draw.polygon(points, fill=0)
            points = []
        else:
            x, y = command.points()[-1]
            points.append((20 + x * scale, 20 + y * scale))
    return image


def qr_paths(data: bytes) -> list[PathObject]:
    document = read_ofd(data)
    return [
        o
        for page in document.pages
        for o in page_objects(page)
        if isinstance(o, PathObject) and o.fill and not o.stroke
    ]


def test_qr_code_paths_decode_to_the_payload() -> None:
    import zxingcpp

    (license_qr,) = qr_paths(ofddocs.license_ofd())
    (rich_qr,) = qr_paths(ofddocs.rich_ofd())
    for path, payload in ((license_qr, ofddocs.LICENSE_QR), (rich_qr, "OFD QR 测试")):
        results = zxingcpp.read_barcodes(rasterise(path))
        assert [r.text for r in results] == [payload]
        assert results[0].format == zxingcpp.BarcodeFormat.QRCode
    damaged = PathObject(
        boundary=license_qr.boundary,
        abbreviated_data=" C ".join(license_qr.abbreviated_data.split(" C ")[::3]),
        stroke=False,
        fill=True,
    )
    assert zxingcpp.read_barcodes(rasterise(damaged)) == []
