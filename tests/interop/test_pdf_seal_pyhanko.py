"""Seals checked by pyHanko's validator: intact, valid and trusted; earlier seals see only permitted (form filling /
signature) modifications; a B-LT DSS is found with its certificates, OCSP responses, CRLs and VRI keys; tampering
and content changes are caught."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from certseal.signing.pdf.dss import add_dss
from certseal.signing.pdf.reader import PdfDocument
from certseal.signing.pdf.sealing import SealImage, placement_at, riding_placements, seal, signatures
from tests import pdfdocs

IMAGE = SealImage(pdfdocs.seal_png(), 40, 40)
PERMITTED = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES, ModificationLevel.FORM_FILLING)


def _statuses(pdf: bytes, kind: str = "rsa") -> list[PdfSignatureStatus]:
    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(pdfdocs.identity(kind).root)], allow_fetching=False
    )
    reader = PdfFileReader(io.BytesIO(pdf))
    return [validate_pdf_signature(embedded, context) for embedded in reader.embedded_signatures]


def _seal_at(pdf: bytes, kind: str = "rsa", **options: object) -> bytes:
    placement = placement_at(PdfDocument(pdf), 0, 300, 400, IMAGE)
    return seal(pdf, [placement], IMAGE, pdfdocs.TestProducer(pdfdocs.identity(kind)), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
@pytest.mark.parametrize("source", [pdfdocs.one_page, pdfdocs.object_streams, pdfdocs.prev_chain])
def test_seal_is_intact_valid_and_trusted(kind: str, source: object) -> None:
    assert callable(source)
    (status,) = _statuses(_seal_at(source(), kind), kind)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.coverage.name == "ENTIRE_FILE"


def test_successive_seals_leave_earlier_ones_with_permitted_changes_only() -> None:
    pdf = _seal_at(pdfdocs.object_streams(), reason="first")
    pdf = seal(pdf, riding_placements(PdfDocument(pdf), IMAGE), IMAGE, pdfdocs.TestProducer(pdfdocs.identity("rsa")))
    pdf = _seal_at(pdf, reason="third")
    first, riding, third = _statuses(pdf)
    for earlier in (first, riding):
        assert earlier.intact and earlier.valid and earlier.trusted
        assert earlier.coverage.name == "ENTIRE_REVISION"
        assert earlier.docmdp_ok
        assert earlier.modification_level in PERMITTED, earlier.modification_level
    assert third.coverage.name == "ENTIRE_FILE"
    assert [s.field_name for s in signatures(PdfDocument(pdf))] == ["Signature1", "Signature2", "Signature3"]


def test_existing_form_fields_are_kept_and_allowed() -> None:
    pdf = _seal_at(_seal_at(pdfdocs.with_text_field()))
    first, second = _statuses(pdf)
    assert first.intact and first.valid and first.modification_level in PERMITTED
    assert second.coverage.name == "ENTIRE_FILE"
    form = PdfFileReader(io.BytesIO(pdf)).root["/AcroForm"]
    assert [f.get_object()["/T"] for f in form["/Fields"]] == ["licence_number", "Signature1", "Signature2"]


def test_tampered_and_content_changed_documents_are_caught() -> None:
    sealed = _seal_at(pdfdocs.one_page())
    position = sealed.index(b"/MediaBox") + 2
    tampered = sealed[:position] + bytes([sealed[position] ^ 0x20]) + sealed[position + 1 :]
    (status,) = _statuses(tampered)
    assert not status.intact
    (status,) = _statuses(pdfdocs.append_page_content(sealed, b"BT /F1 30 Tf 100 100 Td (FORGED) Tj ET"))
    assert status.intact and status.valid  # the signed revision is untouched ...
    assert status.coverage.name == "ENTIRE_REVISION"
    assert status.modification_level == ModificationLevel.OTHER  # ... but the page was changed after it


def _crl_and_ocsp() -> tuple[bytes, bytes]:
    """A CRL and a 'good' OCSP response for the seal certificate, made by cryptography with the test root."""
    who = pdfdocs.identity("rsa")
    root = x509.load_der_x509_certificate(who.root)
    leaf = x509.load_der_x509_certificate(who.certificate)
    now = datetime.now(UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root.subject)
        .last_update(now - timedelta(minutes=5))
        .next_update(now + timedelta(days=1))
        .sign(who.root_key, hashes.SHA256())
    )
    response = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=leaf,
            issuer=root,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=now - timedelta(minutes=5),
            next_update=now + timedelta(hours=4),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, root)
        .sign(who.root_key, hashes.SHA256())
    )
    return crl.public_bytes(Encoding.DER), response.public_bytes(Encoding.DER)


def test_b_lt_dss_is_found_by_pyhanko_and_changes_nothing_signed() -> None:
    who = pdfdocs.identity("rsa")
    crl, response = _crl_and_ocsp()
    sealed = _seal_at(_seal_at(pdfdocs.one_page()))
    cms_values = [s.contents for s in signatures(PdfDocument(sealed))]
    with_dss = add_dss(sealed, [who.certificate, who.root], [response], [crl], vri_for=cms_values[-1:])
    again = add_dss(with_dss, [who.root], [response], [crl], vri_for=cms_values[:1])  # extends, no duplicates
    pdfdocs.qpdf_check(again)
    reader = PdfFileReader(io.BytesIO(again))
    store = DocumentSecurityStore.read_dss(reader)
    assert {c.dump() for c in store.load_certs()} == {who.certificate, who.root}
    assert [o.get_object().data for o in store.ocsps] == [response]
    assert [c.get_object().data for c in store.crls] == [crl]
    context = store.as_validation_context({"trust_roots": [asn1_x509.Certificate.load(who.root)]})
    assert len(context.ocsps) == 1 and len(context.crls) == 1  # parsed by asn1crypto inside pyHanko
    identifiers = {DocumentSecurityStore.sig_content_identifier(e.pkcs7_content) for e in reader.embedded_signatures}
    assert set(store.vri_entries) == identifiers
    for status in _statuses(again):
        assert status.intact and status.valid and status.trusted
        assert status.modification_level in PERMITTED, status.modification_level
    last = _statuses(again)[-1]
    assert last.modification_level == ModificationLevel.LTA_UPDATES


def _pyhanko_signed(pdf: bytes) -> bytes:
    """`pdf` signed by pyHanko itself (PAdES, visible field on page 1)."""
    from asn1crypto import keys as asn1_keys
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    who = pdfdocs.identity("rsa")
    key = asn1_keys.PrivateKeyInfo.load(who.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()))
    signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(who.certificate),
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs([asn1_x509.Certificate.load(who.root)]),
    )
    metadata = signers.PdfSignatureMetadata(field_name="ByPyHanko", subfilter=fields.SigSeedSubFilter.PADES)
    spec = fields.SigFieldSpec("ByPyHanko", box=(50, 50, 150, 100))
    out = io.BytesIO()
    signers.PdfSigner(metadata, signer=signer, new_field_spec=spec).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out
    )
    return out.getvalue()


def test_pyhanko_signature_is_read_and_stays_valid_under_our_seal() -> None:
    theirs = _pyhanko_signed(pdfdocs.object_streams())
    (found,) = signatures(PdfDocument(theirs))
    embedded = PdfFileReader(io.BytesIO(theirs)).embedded_signatures[0]
    assert found.field_name == "ByPyHanko"
    assert found.byte_range == tuple(embedded.sig_object["/ByteRange"])
    assert found.contents_raw == embedded.pkcs7_content
    padding = found.contents_raw[len(found.contents) :]
    assert found.contents_raw.startswith(found.contents) and padding == bytes(len(padding))
    assert asn1_cms.ContentInfo.load(found.contents, strict=True)["content"].dump() == embedded.signed_data.dump()
    assert found.covers_revision and found.covers_document
    assert found.widgets[0].page == 0 and found.widgets[0].rect == (50.0, 50.0, 150.0, 100.0)
    ours = _seal_at(theirs)
    pyhanko_status, our_status = _statuses(ours)
    assert pyhanko_status.intact and pyhanko_status.valid
    assert pyhanko_status.modification_level in PERMITTED
    assert our_status.intact and our_status.valid and our_status.coverage.name == "ENTIRE_FILE"
    assert [s.covers_document for s in signatures(PdfDocument(ours))] == [False, True]
