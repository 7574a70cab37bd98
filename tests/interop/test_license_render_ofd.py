"""Rendered license OFDs checked by the GB/T 33190 XSDs (libxml2) and, rasterised by Chromium or Pillow, by zxing-cpp;
the QR modules compared with those of the PDF face as qpdf uncompresses it."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from certseal.licenses.render import render_ofd, render_pdf
from certseal.ofd.model import PathObject, parse_path
from certseal.ofd.package import OfdPackage
from certseal.ofd.reader import read_ofd
from tests.interop.test_ofd_xsd import ofd_parts, schema_errors
from tests.unit.test_license_render import (
    IDENTIFIER,
    ISSUER,
    QR_TEXT,
    drug_data,
    drug_facts,
    drug_type,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.parametrize("copy", ["original", "duplicate"])
def test_every_part_validates_against_the_ofd_xsds(copy: str) -> None:
    data = drug_data(sites=12, workshops=2, lines=2)
    rendered = render_ofd(drug_type(), data, drug_facts(status_watermark="已注销"), copy=copy)  # type: ignore[arg-type]
    package = OfdPackage.from_bytes(rendered.ofd)
    parts = ofd_parts(package)
    assert f"Doc_0/Pages/Page_{rendered.page_count - 1}/Content.xml" in parts
    failures = {name: errors for name, xml in parts.items() if (errors := schema_errors(xml))}
    assert failures == {}
    damaged = parts["Doc_0/Document.xml"].replace(b"MaxUnitID>", b"MaxUnitId>")
    assert schema_errors(damaged)


def test_core_metadata_is_written_as_custom_data() -> None:
    rendered = render_ofd(drug_type(), drug_data(), drug_facts(), copy="original")
    info = read_ofd(rendered.ofd).doc_info
    assert dict(info.custom_datas) == dict(rendered.metadata)
    assert info.custom_data("证照标识") == IDENTIFIER
    assert info.custom_data("颁发机构") == ISSUER
    assert info.custom_data("持证主体") == drug_data()["enterprise_name"]
    assert len(info.custom_datas) == 12
    package = OfdPackage.from_bytes(rendered.ofd)
    assert "证照标识".encode() in package["OFD.xml"]


@pytest.mark.slow
def test_chromium_rendering_shows_the_face_and_a_qr_code_zxing_decodes(tmp_path: Path) -> None:
    import zxingcpp

    from certseal.ofd.render.png import Rasterizer

    with Rasterizer() as rasterizer:
        for copy in ("original", "duplicate"):
            rendered = render_ofd(drug_type(), drug_data(), drug_facts(), copy=copy)  # type: ignore[arg-type]
            document = read_ofd(rendered.ofd)
            image = Image.open(io.BytesIO(rasterizer.page_png(document, 0, dpi=150)))
            image.save(tmp_path / f"drug-{copy}-ofd.png")  # screenshot, to look at
            results = [r for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]
            assert [r.text for r in results] == [QR_TEXT]
            # ink where the text is: the page is not blank below the title
            grey = image.convert("L")
            assert grey.getextrema()[0] < 80


# --- the QR code: the same modules as the PDF face, decoded by zxing-cpp -------------------------------------------

Rects = list[tuple[float, float, float, float]]  # x0, y0, x1, y1


def ofd_qr(ofd: bytes) -> tuple[float, Rects]:
    """Size (mm) and dark rectangles (mm, from the symbol's top-left) of the first page's QR path."""
    page = read_ofd(ofd).pages[0]
    paths = [o for layer in page.layers for o in layer.objects if isinstance(o, PathObject)]
    (qr,) = [p for p in paths if p.abbreviated_data.count("M") > 50]
    rects = []
    for move, _, corner, *_ in zip(*[iter(parse_path(qr.abbreviated_data))] * 5, strict=True):
        rects.append((move.args[0], move.args[1], corner.args[0], corner.args[1]))
    return qr.boundary.width, rects


def pdf_qr(pdf: bytes, folder: Path) -> Rects:
    """The QR path of the first page in module units (quiet zone included), as qpdf uncompresses the content."""
    (folder / "face.pdf").write_bytes(pdf)
    command = ["qpdf", "--qdf", "--object-streams=disable", str(folder / "face.pdf"), str(folder / "qdf.pdf")]
    result = subprocess.run(command, capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    (line,) = [raw for raw in (folder / "qdf.pdf").read_bytes().split(b"\n") if raw.count(b" 1 re") > 50]
    runs = re.findall(rb"(\d+) (\d+) (\d+) 1 re", line)
    return [(float(x), float(y), float(x) + float(w), float(y) + 1) for x, y, w in runs]


def grid(rects: Rects, unit: float, count: int) -> list[list[bool]]:
    modules = [[False] * count for _ in range(count)]
    for x0, y0, x1, _ in rects:
        for column in range(round(x0 / unit), round(x1 / unit)):
            modules[round(y0 / unit)][column] = True
    return modules


def test_the_ofd_qr_code_has_the_pdf_faces_modules_and_decodes(tmp_path: Path) -> None:
    text = f"{QR_TEXT}#eyJhbGciOiJFUzI1NiJ9.payload.sig"  # a text for which segno would choose mask 6, not 4
    facts = drug_facts(qr_text=text)
    size, rects = ofd_qr(render_ofd(drug_type(), drug_data(), facts, copy="original").ofd)
    in_modules = pdf_qr(render_pdf(drug_type(), drug_data(), facts, copy="original").pdf, tmp_path)
    count = round(max(x1 for _, _, x1, _ in in_modules)) + 2  # the quiet zone right of the last dark module
    assert count % 4 == 1 and len(in_modules) > 100  # 4 * version + 17 modules, plus 2 * 2 quiet ones
    assert grid(rects, size / count, count) == grid(in_modules, 1.0, count)
    # the OFD path, filled as OFD viewers do, at 8 pixels a module
    scale = 8 * count / size
    image = Image.new("L", (round(size * scale), round(size * scale)), 255)
    draw = ImageDraw.Draw(image)
    for x0, y0, x1, y1 in rects:
        draw.rectangle((x0 * scale, y0 * scale, x1 * scale - 1, y1 * scale - 1), fill=0)
    import zxingcpp

    assert [r.text for r in zxingcpp.read_barcodes(image)] == [text]
    # negative: with the top-left quarter (a finder pattern) wiped, zxing finds no code
    wiped = image.copy()
    ImageDraw.Draw(wiped).rectangle((0, 0, image.width // 2, image.height // 2), fill=255)
    assert [r.text for r in zxingcpp.read_barcodes(wiped)] == []
