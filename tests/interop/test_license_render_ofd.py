"""Rendered license OFDs checked by the GB/T 33190 XSDs (libxml2) and, rasterised by Chromium, by zxing-cpp."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from certseal.licenses.render import render_ofd
from certseal.ofd.package import OfdPackage
from certseal.ofd.reader import read_ofd
from tests.interop.test_ofd_xsd import ofd_parts, schema_errors
from tests.unit.test_license_render import (
    IDENTIFIER,
    ISSUER,
    QR_TEXT,
    drug_data,
    drug_kwargs,
    drug_type,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.parametrize("copy", ["original", "duplicate"])
def test_every_part_validates_against_the_ofd_xsds(copy: str) -> None:
    data = drug_data(sites=12, workshops=2, lines=2)
    rendered = render_ofd(drug_type(), data, copy=copy, **drug_kwargs(status_watermark="已注销"))  # type: ignore[arg-type]
    package = OfdPackage.from_bytes(rendered.ofd)
    parts = ofd_parts(package)
    assert f"Doc_0/Pages/Page_{rendered.page_count - 1}/Content.xml" in parts
    failures = {name: errors for name, xml in parts.items() if (errors := schema_errors(xml))}
    assert failures == {}
    damaged = parts["Doc_0/Document.xml"].replace(b"MaxUnitID>", b"MaxUnitId>")
    assert schema_errors(damaged)


def test_core_metadata_is_written_as_custom_data() -> None:
    rendered = render_ofd(drug_type(), drug_data(), copy="original", **drug_kwargs())
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
            rendered = render_ofd(drug_type(), drug_data(), copy=copy, **drug_kwargs())  # type: ignore[arg-type]
            document = read_ofd(rendered.ofd)
            image = Image.open(io.BytesIO(rasterizer.page_png(document, 0, dpi=150)))
            image.save(tmp_path / f"drug-{copy}-ofd.png")  # screenshot, to look at
            results = [r for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]
            assert [r.text for r in results] == [QR_TEXT]
            # ink where the text is: the page is not blank below the title
            grey = image.convert("L")
            assert grey.getextrema()[0] < 80
