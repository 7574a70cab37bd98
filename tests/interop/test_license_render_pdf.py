"""Rendered license PDFs checked by poppler (pdftotext, pdffonts, pdftoppm), qpdf and zxing-cpp (the QR code)."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from certseal.licenses.render import RenderedLicense, issue_facts, render_pdf
from tests.unit.test_license_render import (
    DUPLICATE_FACE,
    ISSUER,
    ORIGINAL_FACE,
    PHARMACIST_FACE,
    PHARMACIST_IDENTIFIER,
    QR_TEXT,
    drug_data,
    drug_kwargs,
    drug_type,
    pharmacist_data,
    pharmacist_type,
    printed,
)


def run(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, input=data, capture_output=True, timeout=60, check=False)


def pdftotext(pdf: bytes, *options: str) -> str:
    result = run("pdftotext", *options, "-enc", "UTF-8", "-", "-", data=pdf)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def original(**changes: Any) -> RenderedLicense:
    return render_pdf(drug_type(), drug_data(), issue_facts(**drug_kwargs(**changes)), copy="original")


def test_pdftotext_finds_every_face_value_of_the_original() -> None:
    text = flat(pdftotext(original().pdf, "-raw"))
    for key in ORIGINAL_FACE:
        assert printed(drug_data()[key]) in text, key
    for site in drug_data()["production_sites"]:
        assert site["address"] in text
    for fixed in ("药品生产许可证", "鄂20160001", ISSUER, "2025年07月01日"):
        assert fixed in text


def test_pdftotext_finds_every_value_of_a_three_page_duplicate() -> None:
    data = drug_data(sites=12, workshops=3, lines=3)
    rendered = render_pdf(drug_type(), data, issue_facts(**drug_kwargs()), copy="duplicate")
    assert rendered.page_count >= 3
    info = run("pdfinfo", "-", data=rendered.pdf).stdout.decode()
    assert re.search(rf"^Pages:\s+{rendered.page_count}$", info, re.MULTILINE), info
    text = flat(pdftotext(rendered.pdf, "-raw"))
    for key in DUPLICATE_FACE:
        assert printed(data[key]) in text, key
    for site in data["production_sites"]:
        assert site["address"] in text
    assert text.count("片剂生产线3") == 12 * 3


def test_pdftotext_finds_the_pharmacist_certificate_face() -> None:
    rendered = render_pdf(
        pharmacist_type(),
        pharmacist_data(),
        issue_facts(**drug_kwargs(identifier=PHARMACIST_IDENTIFIER, version=1, number="ZY420120250001")),
        copy="original",
    )
    text = flat(pdftotext(rendered.pdf, "-raw"))
    for key in PHARMACIST_FACE:
        assert printed(pharmacist_data()[key]) in text, key


def test_pdffonts_shows_one_embedded_unicode_cjk_subset() -> None:
    result = run("pdffonts", "-", data=original().pdf)
    assert result.returncode == 0, result.stderr
    rows = result.stdout.decode().splitlines()[2:]
    assert rows
    for row in rows:
        name, *_, emb, sub, uni, _obj, _gen = row.split()
        assert re.match(r"^[A-Z]{6}\+", name), row
        assert (emb, sub, uni) == ("yes", "yes", "yes"), row
        assert "TrueType" in row


def qpdf_check(pdf: bytes, path: Path) -> subprocess.CompletedProcess[bytes]:
    path.write_bytes(pdf)
    return run("qpdf", "--check", str(path))


def test_qpdf_check_is_clean_and_catches_damage(tmp_path: Path) -> None:
    pdf = original(status_watermark="已注销").pdf
    good = qpdf_check(pdf, tmp_path / "good.pdf")
    assert good.returncode == 0, good.stdout + good.stderr
    assert b"No syntax or stream encoding errors found" in good.stdout
    stream_at = pdf.index(b"stream\n", pdf.index(b"/FlateDecode")) + 7 + 20
    damaged = pdf[:stream_at] + bytes([pdf[stream_at] ^ 0xFF]) + pdf[stream_at + 1 :]
    bad = qpdf_check(damaged, tmp_path / "bad.pdf")
    assert bad.returncode != 0 or b"error" in (bad.stdout + bad.stderr).lower()


def page_png(pdf: bytes, page: int = 1, dpi: int = 150) -> Image.Image:
    result = run("pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-png", "-", data=pdf)
    assert result.returncode == 0, result.stderr
    return Image.open(io.BytesIO(result.stdout))


def test_pdftoppm_page_shows_a_qr_code_that_zxing_decodes(tmp_path: Path) -> None:
    import zxingcpp

    for copy in ("original", "duplicate"):
        rendered = render_pdf(drug_type(), drug_data(), issue_facts(**drug_kwargs()), copy=copy)  # type: ignore[arg-type]
        image = page_png(rendered.pdf)
        image.save(tmp_path / f"drug-{copy}.png")  # screenshot, to look at
        results = [r for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]
        assert [r.text for r in results] == [QR_TEXT]
    other = render_pdf(
        drug_type(), drug_data(), issue_facts(**drug_kwargs(qr_text="https://other.example/x")), copy="original"
    )
    assert [r.text for r in zxingcpp.read_barcodes(page_png(other.pdf))] == ["https://other.example/x"]


def test_the_seal_position_is_over_the_issuer_line_as_poppler_places_it() -> None:
    rendered = original()
    page, x_pt, y_pt = rendered.seal_position
    html = pdftotext(rendered.pdf, "-bbox")
    page_height = float(re.search(r'<page width="[0-9.]+" height="([0-9.]+)"', html).group(1))  # type: ignore[union-attr]
    words = re.findall(
        r'<word xMin="([0-9.]+)" yMin="([0-9.]+)" xMax="([0-9.]+)" yMax="([0-9.]+)">([^<]*)</word>', html
    )
    issuer = [tuple(map(float, w[:4])) for w in words if ISSUER in w[4]]
    assert len(issuer) == 1 and page == 1
    x0, y0, x1, y1 = issuer[0]
    radius_pt = rendered.seal_size_mm / 2 * 72 / 25.4
    assert x0 < x_pt < x1
    assert abs((page_height - (y0 + y1) / 2) - y_pt) < radius_pt


@pytest.mark.parametrize("copy", ["original", "duplicate"])
def test_a_watermark_is_text_poppler_finds(copy: str) -> None:
    rendered = render_pdf(drug_type(), drug_data(), issue_facts(**drug_kwargs(status_watermark="已注销")), copy=copy)  # type: ignore[arg-type]
    assert "已注销" in flat(pdftotext(rendered.pdf))
    assert "已注销" not in flat(pdftotext(original().pdf))
