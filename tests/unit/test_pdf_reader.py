"""The PDF reader against files made by reportlab, qpdf and pyHanko, checked with qpdf, pdfinfo and pyHanko's reader;
malformed input always gives ValidationError."""

from __future__ import annotations

import base64
import io
import re
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils.reader import PdfFileReader

from certseal.errors import ValidationError
from certseal.signing.pdf.objects import Name, Ref, Stream
from certseal.signing.pdf.reader import PdfDocument, parse_object
from tests import pdfdocs

DOCUMENTS = {
    "one_page": pdfdocs.one_page,
    "twenty_pages": pdfdocs.twenty_pages,
    "chinese": pdfdocs.chinese,
    "object_streams": pdfdocs.object_streams,
    "prev_chain": pdfdocs.prev_chain,
    "linearized": pdfdocs.linearized,
}


def build_pdf(objects: dict[int, bytes], root: int = 1, tail: bytes = b"") -> bytes:
    """A classic-xref PDF from object bodies (test-only; offsets computed here)."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    size = max(objects) + 1
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets[number] if number in offsets else b"0000000000 65535 f \n"
    out += b"trailer\n<</Size %d/Root %d 0 R%s>>\nstartxref\n%d\n%%%%EOF\n" % (size, root, tail, xref)
    return bytes(out)


def nested_tree() -> bytes:
    """Pages nested two levels deep with MediaBox, Rotate and Resources inherited from intermediate nodes."""
    content = b"BT /F1 12 Tf 72 700 Td (x) Tj ET"
    return build_pdf(
        {
            1: b"<</Type/Catalog/Pages 2 0 R>>",
            2: b"<</Type/Pages/Kids[3 0 R 6 0 R]/Count 3/MediaBox[0 0 300 400]/Resources<</Font<</F1 9 0 R>>>>>>",
            3: b"<</Type/Pages/Parent 2 0 R/Kids[4 0 R 5 0 R]/Count 2/Rotate 90>>",
            4: b"<</Type/Page/Parent 3 0 R/Contents 8 0 R>>",
            5: b"<</Type/Page/Parent 3 0 R/MediaBox[0 0 500 600]/Rotate 180>>",
            6: b"<</Type/Pages/Parent 2 0 R/Kids[7 0 R]/Count 1>>",
            7: b"<</Type/Page/Parent 6 0 R/Contents[8 0 R 8 0 R]>>",
            8: b"<</Length %d>>stream\n%s\nendstream" % (len(content), content),
            9: b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
        }
    )


@pytest.mark.parametrize("name", DOCUMENTS)
def test_pages_and_contents_agree_with_pyhanko_and_qpdf(name: str) -> None:
    data = DOCUMENTS[name]()
    document = PdfDocument(data)
    pages = document.pages()
    assert len(pages) == int(pdfdocs.run_tool("qpdf", "--show-npages", "{}", data=data).split()[0])
    assert document.page_count() == len(pages)
    reference = PdfFileReader(io.BytesIO(data))
    for page in pages:
        theirs, _ = reference.find_page_for_modification(page.index)
        assert page.ref.num == theirs.idnum
        assert page.media_box() == tuple(float(v) for v in theirs.get_object()["/MediaBox"])
        contents = theirs.get_object()["/Contents"]
        items = contents if isinstance(contents, list) else [contents]
        assert page.contents() == b"\n".join(item.get_object().data for item in items)
        assert set(page.resources()) == {str(k)[1:] for k in theirs.get_object()["/Resources"]}
        assert document.page(page.index).ref == page.ref


def test_xref_streams_and_object_streams() -> None:
    data = pdfdocs.object_streams()
    assert b"/ObjStm" in data
    document = PdfDocument(data)
    assert document.xref_is_stream
    assert document.trailer["Type"] == "XRef"
    catalog = document.catalog()
    reference = PdfFileReader(io.BytesIO(data))
    assert set(catalog) == {str(k)[1:] for k in reference.root}
    assert len(document.pages()) == 3
    assert document.next_object_number() == reference.trailer["/Size"]


def test_prev_chain_revisions_and_newest_objects() -> None:
    data = pdfdocs.prev_chain()
    document = PdfDocument(data)
    assert len(document.revisions) == 3 == PdfFileReader(io.BytesIO(data)).xrefs.total_revisions
    assert document.revisions[-1] == len(data)
    assert all(data[end - 6 : end] == b"%%EOF\n" for end in document.revisions)
    info = document.resolve(document.trailer["Info"])
    assert isinstance(info, dict)
    assert info["Title"] == b"second update"
    assert PdfDocument(data[: document.revisions[1]]).resolve(document.trailer["Info"])["Title"] == b"first update"  # type: ignore[index]


def test_hybrid_reference_file() -> None:
    data = pdfdocs.hybrid()
    pdfdocs.qpdf_check(data)
    document = PdfDocument(data)
    assert not document.xref_is_stream
    (page,) = document.pages()
    font = document.resolve(page.resources()["Font"])
    assert isinstance(font, dict)
    assert document.resolve(font["F1"])["BaseFont"] == "Helvetica"  # type: ignore[index]


def test_nested_page_tree_inherits_attributes_as_pdfinfo_sees_them() -> None:
    data = nested_tree()
    info = pdfdocs.run_tool("pdfinfo", "-f", "1", "-l", "3", "{}", data=data)
    document = PdfDocument(data)
    pages = document.pages()
    for page in pages:
        size = re.search(rf"Page\s+{page.index + 1} size:\s+([\d.]+) x ([\d.]+)", info)
        rotation = re.search(rf"Page\s+{page.index + 1} rot:\s+(\d+)", info)
        assert size is not None and rotation is not None
        x0, y0, x1, y1 = page.media_box()
        assert (x1 - x0, y1 - y0) == (float(size.group(1)), float(size.group(2)))
        assert page.rotation() == int(rotation.group(1))
        assert "Font" in page.resources()
        assert document.page(page.index).ref == page.ref
        assert document.page(page.index).media_box() == page.media_box()
    assert [p.ref.num for p in pages] == [4, 5, 7]
    assert pages[2].contents().count(b"BT") == 2
    assert pages[1].contents() == b""


def test_parse_object_values() -> None:
    parsed = parse_object(
        b"<</A 1/B -2.5/C(lit\\(e\\)ral\\n\\101)/D<48 65 6C6C6F>/E[true false null/N#20ame 3 0 R]/F<<>>/G .5>>"
    )
    assert parsed == {
        "A": 1,
        "B": -2.5,
        "C": b"lit(e)ral\nA",
        "D": b"Hello",
        "E": [True, False, None, Name("N ame"), Ref(3, 0)],
        "F": {},
        "G": 0.5,
    }
    assert isinstance(parsed["E"][3], Name)  # type: ignore[index]


def test_filters_ascii85_asciihex_runlength_lzw_and_png_predictor() -> None:
    raw = b"seal " * 50
    assert Stream({"Filter": Name("ASCII85Decode")}, base64.a85encode(raw) + b"~>").decoded() == raw
    assert Stream({"Filter": [Name("ASCIIHexDecode")]}, raw.hex().encode() + b">").decoded() == raw
    assert Stream({"Filter": Name("RunLengthDecode")}, b"\x02abc\xfdx\x80").decoded() == b"abcxxxx"
    # ISO 32000-1 §7.4.4.2: "-----A---B" encodes to 80 0B 60 50 22 0C 0C 85 01
    assert Stream({"Filter": Name("LZWDecode")}, bytes.fromhex("800B6050220C0C8501")).decoded() == b"-----A---B"
    rows = [bytes([2, 1, 2, 3]), bytes([2, 1, 1, 1])]  # PNG "Up" rows of 3 columns
    predicted = Stream(
        {"Filter": Name("FlateDecode"), "DecodeParms": {"Predictor": 12, "Columns": 3}}, zlib.compress(b"".join(rows))
    )
    assert predicted.decoded() == bytes([1, 2, 3, 2, 3, 4])
    chained = Stream({"Filter": [Name("ASCII85Decode"), Name("FlateDecode")]}, base64.a85encode(zlib.compress(raw)))
    assert chained.decoded() == raw


def test_wrong_xref_offset_falls_back_to_scanning_for_the_object() -> None:
    data = pdfdocs.one_page()
    document = PdfDocument(data)
    page_offset = data.index(b"\n%d 0 obj" % document.pages()[0].ref.num) + 1
    broken = data.replace(b"%010d 00000 n" % page_offset, b"%010d 00000 n" % (page_offset + 7), 1)
    assert broken != data
    assert PdfDocument(broken).pages()[0].media_box() == document.pages()[0].media_box()


_XREF = b"%PDF-1.7\nxref\n0 1\n0000000000 65535 f \n"
MALFORMED = {
    "empty": b"",
    "no header": b"hello world",
    "no startxref": b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF",
    "startxref beyond the end": b"%PDF-1.7\nstartxref\n999999\n%%EOF",
    "startxref at garbage": b"%PDF-1.7\ngarbage here\nstartxref\n9\n%%EOF",
    "broken xref entry": _XREF + b"BROKEN\ntrailer<</Root 1 0 R>>\nstartxref\n9\n%%EOF",
    "no root": _XREF + b"trailer<</Size 1>>\nstartxref\n9\n%%EOF",
    "prev cycle": _XREF + b"trailer<</Size 1/Root 1 0 R/Prev 9>>\nstartxref\n9\n%%EOF",
}


EXPECTED_RULE = {
    "empty": "no %PDF- header",
    "no header": "no %PDF- header",
    "no startxref": "no startxref",
    "startxref beyond the end": "beyond the end",
    "startxref at garbage": "no xref table or xref stream",
    "broken xref entry": "broken xref",
    "no root": "no /Root",
    "prev cycle": "cycle in the /Prev chain",
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_files_are_refused(name: str) -> None:
    with pytest.raises(ValidationError) as raised:
        PdfDocument(MALFORMED[name]).pages()
    assert raised.value.field == "pdf"
    assert EXPECTED_RULE[name] in raised.value.rule


def test_cyclic_page_tree_is_refused() -> None:
    data = build_pdf(
        {
            1: b"<</Type/Catalog/Pages 2 0 R>>",
            2: b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
            3: b"<</Type/Pages/Kids[2 0 R]/Count 1>>",
        }
    )
    document = PdfDocument(data)
    with pytest.raises(ValidationError, match="cycle in the page tree"):
        document.pages()
    with pytest.raises(ValidationError, match="cycle"):
        document.page(0)


def test_reference_cycles_and_self_containing_object_streams_are_refused() -> None:
    data = build_pdf({1: b"<</Type/Catalog/Pages 2 0 R>>", 2: b"3 0 R", 3: b"2 0 R"})
    with pytest.raises(ValidationError, match="cycle"):
        PdfDocument(data).resolve(Ref(2))
    deep = build_pdf({1: b"[" * 5000 + b"]" * 5000})
    with pytest.raises(ValidationError, match="nested too deeply"):
        PdfDocument(deep).catalog()


def test_truncated_file_is_refused() -> None:
    data = pdfdocs.one_page()
    for cut in (10, len(data) // 2, len(data) - 30):
        with pytest.raises(ValidationError):
            PdfDocument(data[:cut]).pages()


def _exercise(data: bytes) -> None:
    try:
        document = PdfDocument(data)
        for page in document.pages():
            page.media_box(), page.rotation(), page.resources(), page.contents()
        document.page(0)
    except ValidationError:
        pass


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzzed_bit_flips_and_truncations_give_validation_error_only(data: st.DataObject) -> None:
    source = data.draw(st.sampled_from([pdfdocs.one_page(), pdfdocs.object_streams()]))
    mutated = bytearray(source)
    for _ in range(data.draw(st.integers(1, 8))):
        index = data.draw(st.integers(0, len(mutated) - 1))
        mutated[index] ^= 1 << data.draw(st.integers(0, 7))
    if data.draw(st.booleans()):
        mutated = mutated[: data.draw(st.integers(0, len(mutated)))]
    _exercise(bytes(mutated))


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=400))
def test_fuzzed_garbage_with_a_pdf_frame_gives_validation_error_only(junk: bytes) -> None:
    _exercise(
        b"%PDF-1.7\n1 0 obj\n" + junk + b"\nendobj\nxref\n0 2\n0000000000 65535 f \n0000000009 00000 n \n"
        b"trailer<</Size 2/Root 1 0 R>>\nstartxref\n" + str(27 + len(junk)).encode() + b"\n%%EOF"
    )


def test_junk_before_the_header_is_tolerated() -> None:
    data = b"JUNK BEFORE THE HEADER\n" + pdfdocs.one_page()
    (page,) = PdfDocument(data).pages()
    assert page.contents() == PdfDocument(pdfdocs.one_page()).pages()[0].contents()
