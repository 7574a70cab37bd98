"""Serialisation, incremental updates, the seal's PDF structure, signatures() and the DSS, checked with qpdf,
pyHanko's reader and gmalg (SM3); bad input and an oversized CMS are refused with clear errors."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import pytest
from gmalg import SM3
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils.reader import PdfFileReader

from certseal.errors import CryptoError, ValidationError
from certseal.signing.pdf import appearance
from certseal.signing.pdf.dss import add_dss, dss, vri_key
from certseal.signing.pdf.objects import Name, Ref
from certseal.signing.pdf.reader import PdfDocument, parse_object
from certseal.signing.pdf.sealing import Placement, SealImage, placement_at, riding_placements, seal, signatures
from certseal.signing.pdf.serialize import pdf_date, pdf_number, pdf_text, serialize
from certseal.signing.pdf.writer import IncrementalUpdate
from tests import pdfdocs

IMAGE = SealImage(pdfdocs.seal_png(), 40, 40)


@dataclass
class RecordingProducer:
    """Returns a fixed DER blob and records the digests it was given (the CMS itself is not under test here)."""

    digest_algorithm: str = "sha256"
    subfilter: str = "ETSI.CAdES.detached"
    reserved_size: int = 64
    cms: bytes = bytes.fromhex("3006020101020102")
    digests: list[bytes] = field(default_factory=list)

    def __call__(self, digest: bytes) -> bytes:
        self.digests.append(digest)
        return self.cms


# --- serialisation ---------------------------------------------------------------------------------------------

pdf_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: round(f, 4))
    | st.binary(max_size=20)
    | st.text(st.characters(min_codepoint=33, max_codepoint=0xFF), min_size=1, max_size=8).map(Name)
    | st.builds(Ref, st.integers(1, 10**6), st.integers(0, 5)),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text("abcXYZ", min_size=1, max_size=4).map(Name), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(pdf_values)
def test_serialised_objects_parse_back_equal(value: object) -> None:
    assert parse_object(serialize(value)) == value


def test_numbers_strings_and_dates() -> None:
    assert pdf_number(1e-7) == b"0.0000001"
    assert pdf_number(595.2756) == b"595.2756"
    assert pdf_number(12.0) == b"12"
    assert pdf_text("Reason") == b"(Reason)"
    assert pdf_text("审批") == b"<FEFF5BA16279>"
    assert serialize(b"a(b)\\c") == b"(a\\(b\\)\\\\c)"
    assert serialize(b"\x00\xff") == b"<00FF>"
    assert pdf_date(datetime(2025, 3, 1, 8, 5, 9, tzinfo=UTC)) == b"(D:20250301080509Z)"
    assert pdf_date(datetime(2025, 3, 1, 8, 5, 9, tzinfo=timezone(timedelta(hours=8)))) == b"(D:20250301080509+08'00')"
    with pytest.raises(ValidationError):
        pdf_number(float("nan"))


# --- incremental updates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source", [pdfdocs.one_page, pdfdocs.object_streams, pdfdocs.prev_chain, pdfdocs.hybrid, pdfdocs.linearized]
)
def test_incremental_update_appends_and_keeps_the_trailer(source: object) -> None:
    assert callable(source)
    original: bytes = source()
    document = PdfDocument(original)
    update = IncrementalUpdate(document)
    added = update.add({Name("Title"): "appended"})
    catalog = dict(document.catalog())
    catalog[Name("Appended")] = added
    update.put(document.trailer["Root"], catalog)  # type: ignore[arg-type]
    result = original + update.build().data
    assert result.startswith(original)
    pdfdocs.qpdf_check(result)
    updated = PdfDocument(result)
    assert updated.xref_is_stream == document.xref_is_stream
    assert updated.trailer["Prev"] == document.startxref
    for key in ("Root", "Info", "ID"):
        assert updated.trailer.get(key) == document.trailer.get(key)
    assert len(updated.revisions) == len(document.revisions) + 1
    theirs = PdfFileReader(io.BytesIO(result))
    assert theirs.root["/Appended"]["/Title"] == "appended"
    assert theirs.xrefs.total_revisions == len(updated.revisions)


def test_encrypted_pdfs_are_refused() -> None:
    encrypted = pdfdocs.qpdf(pdfdocs.one_page(), "--encrypt", "user", "owner", "256", "--")
    with pytest.raises(ValidationError, match="encrypted"):
        seal(encrypted, [], IMAGE, RecordingProducer())


# --- sealing structure -----------------------------------------------------------------------------------------


def test_seal_structure_and_signatures_read_back() -> None:
    producer = pdfdocs.TestProducer(pdfdocs.identity("ecdsa"), reserved_size=4096)
    original = pdfdocs.one_page()
    document = PdfDocument(original)
    placement = placement_at(document, 0, 300, 400, IMAGE)
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    sealed = seal(original, [placement], IMAGE, producer, "审批章", reason="批准", name="Tester", signing_time=when)
    pdfdocs.qpdf_check(sealed)
    found = signatures(PdfDocument(sealed))
    assert len(found) == 1
    signature = found[0]
    assert signature.field_name == "审批章"
    assert (signature.subfilter, signature.filter) == ("ETSI.CAdES.detached", "Adobe.PPKLite")
    assert signature.contents == producer.last_cms
    assert len(signature.contents_raw) == producer.reserved_size
    assert (signature.reason, signature.name, signature.signing_time) == ("批准", "Tester", "D:20250102030405Z")
    assert signature.covers_revision and signature.covers_document
    assert signature.revision_end == len(sealed)
    assert signature.widgets[0].page == 0
    assert signature.widgets[0].rect == pytest.approx(placement.rect, abs=1e-3)
    half = IMAGE.width_pt / 2
    assert placement.rect == pytest.approx((300 - half, 400 - half, 300 + half, 400 + half))
    # the digest the producer got is the SHA-256 of the byte ranges, as pyHanko's reader computes it
    embedded = PdfFileReader(io.BytesIO(sealed)).embedded_signatures[0]
    assert producer.digests == [embedded.compute_digest()]
    assert embedded.sig_object["/ByteRange"] == list(signature.byte_range)
    # appending anything makes the signature no longer cover the whole document
    appended = PdfDocument(sealed + b"% trailing comment\n")
    assert not signatures(appended)[0].covers_document


def test_sm3_digest_matches_gmalg() -> None:
    producer = RecordingProducer(digest_algorithm="sm3", subfilter="adbe.pkcs7.detached")
    sealed = seal(pdfdocs.one_page(), [], IMAGE, producer)
    signature = signatures(PdfDocument(sealed))[0]
    assert signature.subfilter == "adbe.pkcs7.detached"
    assert producer.digests == [_gmalg_sm3(signature.signed_data(sealed))]


def _gmalg_sm3(data: bytes) -> bytes:
    hasher = SM3()
    hasher.update(data)
    return hasher.value()


def test_oversized_cms_is_a_crypto_error_naming_the_sizes() -> None:
    producer = RecordingProducer(reserved_size=4)
    with pytest.raises(CryptoError, match="8 bytes but only 4 bytes were reserved"):
        seal(pdfdocs.one_page(), [], IMAGE, producer)


@pytest.mark.parametrize(
    ("placements", "field_name", "message"),
    [
        ([Placement(5, (0, 0, 10, 10))], None, "page 5 is outside 0..0"),
        ([Placement(0, (10, 0, 0, 10))], None, "x0 < x1"),
        ([Placement(0, (0, 0, 10, 10), (0.5, 0.2))], None, "slice"),
        ([], "a.b", "no '.'"),
    ],
)
def test_bad_placements_and_names_are_refused(
    placements: list[Placement], field_name: str | None, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        seal(pdfdocs.one_page(), placements, IMAGE, RecordingProducer(), field_name)


def test_duplicate_field_name_and_bad_producer_are_refused() -> None:
    sealed = seal(pdfdocs.one_page(), [], IMAGE, RecordingProducer(), "Seal")
    with pytest.raises(ValidationError, match="exists already"):
        seal(sealed, [], IMAGE, RecordingProducer(), "Seal")
    assert [s.field_name for s in signatures(PdfDocument(seal(sealed, [], IMAGE, RecordingProducer())))] == [
        "Seal",
        "Signature1",
    ]
    with pytest.raises(ValidationError, match="subfilter"):
        seal(pdfdocs.one_page(), [], IMAGE, RecordingProducer(subfilter="adbe.x509.rsa_sha1"))
    with pytest.raises(ValidationError, match="seal_image"):
        seal(pdfdocs.one_page(), [Placement(0, (0, 0, 9, 9))], SealImage(b"not a png", 10, 10), RecordingProducer())


def test_riding_placements_slice_the_image_over_every_page() -> None:
    document = PdfDocument(pdfdocs.twenty_pages())
    placements = riding_placements(document, IMAGE)
    assert [p.page for p in placements] == list(range(20))
    width = IMAGE.width_pt / 20
    _, _, x1, y1 = document.pages()[0].media_box()
    for index, placement in enumerate(placements):
        assert placement.slice == pytest.approx((index / 20, (index + 1) / 20))
        assert placement.rect == pytest.approx((x1 - width, (y1 - IMAGE.height_pt) / 2, x1, (y1 + IMAGE.height_pt) / 2))
    low = riding_placements(document, IMAGE, y=100)[3]
    assert low.rect[1] == pytest.approx(100 - IMAGE.height_pt / 2)


def test_seal_image_is_encoded_once_per_image() -> None:
    first = appearance.encode_image(IMAGE.png)
    assert appearance.encode_image(bytes(IMAGE.png)) is first
    assert first.alpha is not None and (first.width, first.height) == (240, 240)


def test_existing_form_fields_are_kept() -> None:
    sealed = seal(pdfdocs.with_text_field(), [], IMAGE, RecordingProducer())
    pdfdocs.qpdf_check(sealed)
    form = PdfFileReader(io.BytesIO(sealed)).root["/AcroForm"]
    names = [f.get_object()["/T"] for f in form["/Fields"]]
    assert names == ["licence_number", "Signature1"]
    assert form["/SigFlags"] == 3


# --- DSS ---------------------------------------------------------------------------------------------------------


def test_dss_is_added_then_extended_without_duplicates() -> None:
    sealed = seal(pdfdocs.one_page(), [], IMAGE, RecordingProducer())
    who = pdfdocs.identity("rsa")
    once = add_dss(sealed, [who.certificate], [b"\x30\x03\x0a\x01\x00"], [], vri_for=[RecordingProducer().cms])
    twice = add_dss(once, [who.certificate, who.root], [], [b"\x30\x00"])
    pdfdocs.qpdf_check(twice)
    assert twice.startswith(once) and once.startswith(sealed)
    content = dss(PdfDocument(twice))
    assert content.certificates == [who.certificate, who.root]
    assert content.ocsp_responses == [b"\x30\x03\x0a\x01\x00"]
    assert content.crls == [b"\x30\x00"]
    contents_raw = signatures(PdfDocument(twice))[0].contents_raw
    assert content.vri_keys == [vri_key(contents_raw)]  # hashed over the padded /Contents, as pyHanko does
    assert dss(PdfDocument(sealed)).certificates == []
    with pytest.raises(ValidationError, match="dss"):
        add_dss(sealed, [b""], [], [])
