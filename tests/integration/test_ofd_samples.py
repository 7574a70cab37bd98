"""Other producers' OFD files (ofdrw test resources: ofdrw's own writer, tax e-invoices, iOFD) read into the model,
and the `certseal ofd info` command run as a user runs it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from certseal.ofd.model import Color, Document, ImageObject, Matrix, PathObject, TextObject, page_objects
from certseal.ofd.package import OfdPackage
from certseal.ofd.reader import read_ofd, signature_count
from certseal.ofd.text import find_keyword, page_glyphs, page_text

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "ofd-samples"


def sample(name: str) -> Document:
    return read_ofd((SAMPLES / name).read_bytes())


def texts(document: Document, index: int = 0) -> list[TextObject]:
    return [o for o in page_objects(document.pages[index]) if isinstance(o, TextObject)]


def test_helloworld_from_ofdrw() -> None:
    document = sample("helloworld.ofd")
    assert document.doc_info.doc_id == "220c5913ebfe4f6e8070dabd3647f157"
    assert document.doc_info.creator == "OFD R&W" and str(document.doc_info.creation_date) == "2020-09-21"
    assert document.pages.ids == (1,) and document.max_unit_id == 4
    assert [(f.id, f.name, f.data) for f in document.public_res.fonts] == [(3, "宋体", None)]
    (text,) = texts(document)
    assert text.text == "你好呀，OFD Reader&Writer！" and text.font_id == 3 and text.size == 3.0
    assert text.text_codes[0].delta_x == (3.0,) * 4 + (1.5,) * 17
    glyphs = page_glyphs(document, document.pages[0])
    assert (glyphs[0].x, glyphs[0].y) == (31.7, 28.4) and glyphs[4].x == pytest.approx(31.7 + 12)


def test_tax_invoice_v4signed() -> None:
    document = sample("v4signed.ofd")
    assert document.page_area.physical_box.height == 297 and document.pages[0].area is not None
    assert document.page_size(document.pages[0]).height == 140
    (template,) = document.templates
    assert template.id == 2 and template.layers  # BaseLoc "TPLS/…" found although the file is "Tpls/…"
    assert document.pages[0].templates[0].template_id == 2 and document.pages[0].templates[0].z_order == "Background"
    assert "发票代码：" in page_text(template)
    assert [f.name for f in document.public_res.fonts] == ["楷体", "宋体", "Courier New"]
    (qr,) = document.document_res.multimedias
    assert qr.format == "PNG" and Image.open(io.BytesIO(qr.data)).size[0] > 0
    image = next(o for o in page_objects(document.pages[0]) if isinstance(o, ImageObject))
    assert image.resource_id == 106 and image.ctm == Matrix(20, 0, 0, 20, 0, 0)
    address = next(t for t in texts(document) if t.text.startswith("北京市海淀区颐和园"))
    assert address.text_codes[0].delta_x == (3.175,) * 14 + (1.59,) * 2  # "g 14 3.175 1.59", padded
    cipher = next(t for t in texts(document) if t.text.startswith("00664"))
    code = cipher.text_codes[0]
    assert code.delta_x[27] == -67.5 and code.delta_y[27] == 4.5  # four lines in one TextCode
    glyphs = page_glyphs(document, document.pages[0])
    line_starts = [g for g in glyphs if g.x == pytest.approx(126.3 + 3.6917)]
    assert len(line_starts) == 4 and line_starts[1].y - line_starts[0].y == pytest.approx(4.5)
    assert document.doc_info.custom_data("发票号码") == "99999951"
    (attachment,) = document.attachments
    assert attachment.name == "original_invoice" and attachment.data.startswith(b"<?xml")
    assert attachment.creation_date is not None and attachment.creation_date.year == 2020
    assert document.custom_tags == ()  # Tags/ is in the package but Document.xml does not reference it
    package = OfdPackage.from_bytes((SAMPLES / "v4signed.ofd").read_bytes())
    assert document.signatures_loc == "Doc_0/Signs/Signatures.xml" and signature_count(package, document) == 1


def test_tax_invoice_signed_file_with_draw_params_and_jbig2() -> None:
    document = sample("signedFile.ofd")
    assert document.max_unit_id == 101
    (param,) = document.document_res.draw_params
    assert param.id == 4 and param.line_width == 0.25 and param.stroke_color == Color((156.0, 82.0, 35.0), 5)
    assert document.draw_param(4) == param and document.multimedia(80) is not None
    assert document.multimedia(80).format == "GBIG2" and len(document.multimedia(80).data) == 382  # type: ignore[union-attr]
    (template,) = document.templates
    paths = [o for o in page_objects(template) if isinstance(o, PathObject)]
    assert paths and all(p.abbreviated_data.startswith("M ") for p in paths)
    assert template.layers[0].draw_param == 4
    title = texts(document)[0]
    assert title.text == "江苏增值税电子普通发票" and title.fill_color == Color((156.0, 82.0, 35.0))
    assert document.attachments[0].id == "101"
    (tag,) = document.custom_tags  # TypeID="" instead of the XSD's NameSpace
    assert tag.namespace == "" and tag.data.startswith(b"<?xml")
    ((page, box),) = find_keyword(document, "新北区河海华昇印章雕刻社")
    assert page == 0 and box.x == pytest.approx(36) and box.right == pytest.approx(36 + 12 * 3.175)
    assert 104 <= box.y and box.bottom <= 104 + 5.8 + 0.5


def test_nonstandard_iofd_file() -> None:
    document = sample("nonstandard-v1.ofd")  # absolute DocRoot, indented XML, hexadecimal colours
    assert document.pages.ids == (1001, 1021)
    assert [f.name for f in document.public_res.fonts] == ["宋体", "仿宋", "小标宋体"]
    assert [p.line_width for p in document.public_res.draw_params] == [1.0, 0.35, 0.35]
    heading = texts(document)[0]
    assert heading.text == "测试符路桥区卫生局文件" and heading.weight == 900 and heading.h_scale == 0.64
    assert heading.fill_color == Color((238.0, 32.0, 37.0), 1)
    rule = next(o for o in page_objects(document.pages[0]) if isinstance(o, PathObject))
    assert [c.op for c in rule.commands()] == ["M", "L", "C"] and rule.draw_param == 1006
    assert "2011年3月10日" in page_text(document.pages[1])
    hits = find_keyword(document, "路桥区卫生局")
    assert {page for page, _ in hits} == {0, 1}
    assert document.outlines == ()
    package = OfdPackage.from_bytes((SAMPLES / "nonstandard-v1.ofd").read_bytes())
    assert signature_count(package, document) == 1


@pytest.mark.parametrize("name", ["helloworld.ofd", "v4signed.ofd", "signedFile.ofd", "nonstandard-v1.ofd"])
def test_every_glyph_of_every_sample_lies_on_its_page(name: str) -> None:
    document = sample(name)
    for page in document.pages:
        size = document.page_size(page)
        for glyph in page_glyphs(document, page):
            assert -1 <= glyph.x <= size.width + 1 and -1 <= glyph.y <= size.height + 1


# --- the command line ----------------------------------------------------------------------------------------


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSEAL_")}
    env.update({"CERTSEAL_HOME": str(cwd / "var"), "XDG_CONFIG_HOME": str(cwd / "cfg"), "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "certseal.cli", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_ofd_info_command(tmp_path: Path) -> None:
    result = run_cli("ofd", "info", str(SAMPLES / "v4signed.ofd"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = {line.strip("│ ").split("│")[0].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "1" in lines["pages"] and "1" in lines["signatures"] and "1" in lines["attachments"]
    assert "Courier New" in result.stdout and "original_invoice" in result.stdout
    garbage = tmp_path / "not.ofd"
    garbage.write_bytes(b"PK\x03\x04 broken")
    failed = run_cli("ofd", "info", str(garbage), cwd=tmp_path)
    assert failed.returncode == 2 and "not a ZIP" in failed.stderr
