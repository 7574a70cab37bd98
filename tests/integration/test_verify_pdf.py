"""VerificationService on sealed PDFs, with pdfsig (poppler/NSS) and pyHanko's validator as the outside checkers.

Seals are made by certseal.signing.pdf.sealing with keys and certificates of the deployment; our verdict on
integrity and on changes after signing must agree with what pdfsig and pyHanko say.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.hashes import sm3
from certseal.crypto.signer import CertifiedSigner
from certseal.errors import ValidationError
from certseal.pki import ocsp
from certseal.pki.der import tlv
from certseal.services.ca import CaService
from certseal.services.keys import KeyService
from certseal.services.ocsp import OcspService
from certseal.services.platform import Platform
from certseal.services.tsa import TsaService
from certseal.services.verification import VerificationService
from certseal.signing import cms
from certseal.signing.pdf.dss import add_dss
from certseal.signing.pdf.pades import producer_for, timestamp_reserve
from certseal.signing.pdf.reader import PdfDocument
from certseal.signing.pdf.sealing import Placement, SealImage, seal, signatures
from certseal.signing.verify.report import (
    FileKind,
    Indication,
    ModificationKind,
    RevocationSource,
    SubIndication,
    VerificationReport,
)
from tests import pdfdocs
from tests.conftest import ACTOR
from tests.sm2check import sm2_signature_valid


@dataclass
class Sealer:
    platform: Platform
    directory: Path
    root_der: bytes

    def producer(self, alg: KeyAlgorithm = KeyAlgorithm.RSA2048, timestamped: bool = False) -> object:
        issued = CaService(self.platform).issue(
            "root", "seal", ACTOR, subject="CN=药品监督管理局 电子印章,O=Provincial Drug Administration", generate=alg
        )
        assert issued.key_label is not None
        signer = CertifiedSigner(KeyService(self.platform).signer(issued.key_label), issued.certificate_der)
        if not timestamped:
            return producer_for(signer, chain=[self.root_der])
        tsa = TsaService(self.platform)
        room = timestamp_reserve([tsa.active().certificate_der])
        return producer_for(signer, [self.root_der], cms.rfc3161_timestamper(tsa.stamp), room)

    def seal(self, pdf: bytes, producer: object, name: str, x: float = 100) -> bytes:
        image = SealImage(pdfdocs.seal_png(), 40, 40)
        return seal(pdf, [Placement(0, (x, 100, x + 110, 210))], image, producer, name)  # type: ignore[arg-type]

    def verify(self, pdf: bytes) -> VerificationReport:
        return VerificationService(self.platform).verify(pdf, "license.pdf")

    def pdfsig(self, pdf: bytes) -> str:
        path = self.directory / "checked.pdf"
        path.write_bytes(pdf)
        return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout

    def pyhanko(self, pdf: bytes) -> list[PdfSignatureStatus]:
        reader = PdfFileReader(io.BytesIO(pdf))
        context = ValidationContext(trust_roots=[x509.Certificate.load(self.root_der)], allow_fetching=False)
        return [validate_pdf_signature(embedded, context) for embedded in reader.embedded_signatures]


@pytest.fixture
def sealer(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[Sealer]:
    platform = Platform(make_settings())
    platform.db.migrate()
    CaService(platform).create_ca("root", KeyAlgorithm.RSA2048, ACTOR)
    TsaService(platform).setup("root", KeyAlgorithm.P256, ACTOR)
    yield Sealer(platform, tmp_path, CaService(platform).get_ca("root").certificate_der)
    platform.close()


def _pdfsig_blocks(output: str) -> list[str]:
    return output.split("Signature #")[1:]


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA2048, KeyAlgorithm.P256])
def test_one_seal_passes_as_pdfsig_and_pyhanko_say(sealer: Sealer, alg: KeyAlgorithm) -> None:
    pdf = sealer.seal(pdfdocs.one_page(), sealer.producer(alg), "Seal1")
    blocks = _pdfsig_blocks(sealer.pdfsig(pdf))
    assert len(blocks) == 1 and "Signature is Valid" in blocks[0] and "Total document signed" in blocks[0]
    (status,) = sealer.pyhanko(pdf)
    assert status.intact and status.valid and status.trusted and status.bottom_line

    report = sealer.verify(pdf)
    assert report.kind is FileKind.PDF and report.passed, report.to_json()
    (result,) = report.signatures
    assert result.id == "Seal1" and result.format == "PAdES-B-B" and result.level == "B-B"
    assert result.integrity.byte_range_valid and result.integrity.covers_revision
    assert result.modifications is not None and result.modifications.kind is ModificationKind.NONE
    assert result.location["page"] == 1 and result.location["covers_whole_document"] is True
    assert result.signer is not None and "电子印章" in result.signer.subject


def test_a_byte_changed_in_the_signed_range_is_hash_failure(sealer: Sealer) -> None:
    pdf = sealer.seal(pdfdocs.one_page(), sealer.producer(), "Seal1")
    at = pdf.index(b"ReportLab")  # the producer string in /Info: inside the signed range, harmless to parsers
    tampered = pdf[:at] + b"F" + pdf[at + 1 :]
    assert "Digest Mismatch" in sealer.pdfsig(tampered)
    (status,) = sealer.pyhanko(tampered)
    assert not status.intact and not status.bottom_line

    (result,) = sealer.verify(tampered).signatures
    assert result.indication is Indication.FAILED and result.sub_indication is SubIndication.HASH_FAILURE
    assert result.integrity.digest_matches is False


@pytest.mark.parametrize("source", [pdfdocs.one_page, pdfdocs.object_streams], ids=["xref-table", "object-streams"])
def test_a_content_change_after_sealing_is_reported(sealer: Sealer, source: Callable[[], bytes]) -> None:
    """pyHanko writes an update adding a content stream to the page: not a permitted change after signing."""
    pdf = sealer.seal(source(), sealer.producer(), "Seal1")
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    forged = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 30 Tf 72 600 Td (REVOKED LICENSE) Tj ET"))
    writer.add_stream_to_page(0, forged)
    out = io.BytesIO()
    writer.write(out)
    changed = out.getvalue()

    block = _pdfsig_blocks(sealer.pdfsig(changed))[0]
    assert "Signature is Valid" in block and "Not total document signed" in block
    (status,) = sealer.pyhanko(changed)
    assert status.intact and not status.bottom_line and status.modification_level == ModificationLevel.OTHER

    (result,) = sealer.verify(changed).signatures
    assert result.indication is Indication.FAILED and result.sub_indication is SubIndication.FORMAT_FAILURE
    assert result.integrity.digest_matches and result.integrity.signature_valid
    assert result.modifications is not None and result.modifications.kind is ModificationKind.CONTENT_CHANGED
    not_permitted = [c for c in result.modifications.changes if not c.permitted]
    assert any(c.type == "Page" for c in not_permitted), not_permitted
    assert any(c.number == forged.idnum and c.change == "added" for c in not_permitted), not_permitted
    assert "changed after signing" in result.reason


@pytest.mark.parametrize("source", [pdfdocs.twenty_pages, pdfdocs.object_streams], ids=["xref-table", "object-streams"])
def test_two_successive_seals_both_pass(sealer: Sealer, source: Callable[[], bytes]) -> None:
    first = sealer.seal(source(), sealer.producer(KeyAlgorithm.P256), "Seal1")
    both = sealer.seal(first, sealer.producer(KeyAlgorithm.RSA2048), "Seal2", x=300)
    blocks = _pdfsig_blocks(sealer.pdfsig(both))
    assert len(blocks) == 2 and all("Signature is Valid" in b for b in blocks)
    assert "Not total document signed" in blocks[0] and "Total document signed" in blocks[1]
    earlier, later = sealer.pyhanko(both)
    assert earlier.bottom_line and later.bottom_line
    assert earlier.modification_level is not None and earlier.modification_level <= ModificationLevel.FORM_FILLING

    report = sealer.verify(both)
    assert report.passed and [s.id for s in report.signatures] == ["Seal1", "Seal2"], report.to_json()
    seal1, seal2 = report.signatures
    assert seal1.modifications is not None and seal1.modifications.kind is ModificationKind.PERMITTED
    assert seal1.modifications.revisions_after == 1
    assert {c.type for c in seal1.modifications.changes} >= {"Sig", "Page"}
    assert all(c.permitted for c in seal1.modifications.changes)
    assert seal2.modifications is not None and seal2.modifications.kind is ModificationKind.NONE


def test_pades_b_lt_uses_the_dss(sealer: Sealer) -> None:
    producer = sealer.producer(KeyAlgorithm.P256, timestamped=True)
    pdf = sealer.seal(pdfdocs.one_page(), producer, "Seal1")
    (signature,) = signatures(PdfDocument(pdf))
    leaf = cms.parse(signature.contents).signers[0].signer_certificate
    assert leaf is not None
    response = _ocsp_response(sealer.platform, x509.Certificate.load(leaf).serial_number)
    with_dss = add_dss(pdf, [leaf, sealer.root_der], [response], [], vri_for=[signature.contents])
    reader = PdfFileReader(io.BytesIO(with_dss))
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    assert DocumentSecurityStore.read_dss(reader) is not None
    (status,) = sealer.pyhanko(with_dss)
    assert status.intact and status.valid and status.bottom_line

    b_t = sealer.verify(pdf).signatures[0]
    assert b_t.format == "PAdES-B-T" and b_t.revocation.source is RevocationSource.OUR_RESPONDER
    (result,) = sealer.verify(with_dss).signatures
    assert result.indication is Indication.PASSED, result.reason
    assert result.format == "PAdES-B-LT" and result.timestamp.valid
    assert result.revocation.source is RevocationSource.EMBEDDED_OCSP
    assert result.modifications is not None and result.modifications.kind is ModificationKind.PERMITTED


def test_sm2_seal_is_pdf_sm2_and_gmalg_agrees(sealer: Sealer) -> None:
    pdf = sealer.seal(pdfdocs.chinese(), sealer.producer(KeyAlgorithm.SM2), "SM2Seal")
    (signature,) = signatures(PdfDocument(pdf))
    view = cms.parse(signature.contents).signers[0]
    assert view.signer_certificate is not None and view.signed_attributes_der is not None
    assert view.message_digest == sm3(signature.signed_data(pdf))
    certificate = x509.Certificate.load(view.signer_certificate)
    assert sm2_signature_valid(certificate, view.signed_attributes_der, view.signature)

    (result,) = sealer.verify(pdf).signatures
    assert result.indication is Indication.PASSED and result.format == "PDF-SM2", result.reason
    assert result.signer is not None and result.signer.algorithm == "sm2-sm3"

    at = pdf.index(b"ReportLab")  # the producer string in /Info: inside the signed range, harmless to parsers
    tampered = pdf[:at] + b"X" + pdf[at + 1 :]
    assert sm3(signature.signed_data(tampered)) != view.message_digest
    assert sealer.verify(tampered).signatures[0].sub_indication is SubIndication.HASH_FAILURE


def test_unsigned_pdf_has_no_signature_and_does_not_pass(sealer: Sealer) -> None:
    report = sealer.verify(pdfdocs.one_page())
    assert report.signatures == () and report.indication is Indication.FAILED
    assert report.summary == "the file holds no signature"


def test_malformed_pdf_is_a_validation_error(sealer: Sealer) -> None:
    with pytest.raises(ValidationError) as caught:
        sealer.verify(b"%PDF-1.7\n garbage without xref")
    assert caught.value.field == "pdf"


def _ocsp_response(platform: Platform, serial: int) -> bytes:
    root = CaService(platform).get_ca("root").certificate_der
    cert_id = ocsp.IssuerHashes.of(root).cert_id(serial)
    return OcspService(platform).respond("root", tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, cert_id)))))
