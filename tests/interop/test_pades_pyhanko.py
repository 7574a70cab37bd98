"""PAdES seals made by PdfSealingService, judged by pyHanko's validator (pyhanko.sign.validation).

- B-B: intact, valid, trusted to the test root, covering the whole file, no timestamp.
- B-T: as B-B plus a signature timestamp pyHanko finds valid and trusted (our TSA's root as trust root).
- B-LT: validates with fetching off, hard-fail revocation checking and only what the document's DSS holds (read by
  pyHanko itself); the DSS revision counts as signature maintenance.  The same check without the DSS fails, so it
  is the DSS that makes it pass.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pytest
from asn1crypto import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.services.ocsp import OcspService
from certseal.services.pdf_sealing import AtKeyword, AtPosition, PadesLevel, PdfSealingService, Riding
from certseal.services.platform import Platform
from tests import pdfdocs
from tests.conftest import ACTOR
from tests.integration.test_pdf_sealing import SealSetup, assert_valid_seals, keyword_pdf, make_seal, setup_tsa


@pytest.fixture
def deployment(make_settings: Callable[..., Settings]) -> Iterator[Platform]:
    p = Platform(make_settings())
    p.db.migrate()
    yield p
    p.close()


def _validate(pdf: bytes, root: bytes, index: int = 0, **context: object) -> PdfSignatureStatus:
    reader = PdfFileReader(io.BytesIO(pdf))
    signature = reader.embedded_signatures[index]
    vc = ValidationContext(trust_roots=[x509.Certificate.load(root)], allow_fetching=False, **context)
    return validate_pdf_signature(signature, vc)


def _validate_with_dss_only(pdf: bytes, root: bytes) -> PdfSignatureStatus:
    reader = PdfFileReader(io.BytesIO(pdf))
    store = DocumentSecurityStore.read_dss(reader)
    vc = store.as_validation_context(
        {"trust_roots": [x509.Certificate.load(root)], "allow_fetching": False, "revocation_mode": "hard-fail"}
    )
    return validate_pdf_signature(reader.embedded_signatures[0], vc)


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA2048, KeyAlgorithm.P256])
def test_b_b(deployment: Platform, alg: KeyAlgorithm) -> None:
    seal = make_seal(deployment, alg)
    result = PdfSealingService(deployment).seal(pdfdocs.one_page(), "official", ACTOR, AtPosition(1, 300, 400))
    status = _validate(result.pdf, seal.root)
    assert status.intact and status.valid and status.trusted and status.bottom_line, status.pretty_print_details()
    assert status.coverage is SignatureCoverageLevel.ENTIRE_FILE
    assert status.timestamp_validity is None
    assert status.signing_cert.dump() == seal.certificate


def test_b_b_tampered_is_not_intact(deployment: Platform) -> None:
    seal = make_seal(deployment)
    result = PdfSealingService(deployment).seal(pdfdocs.one_page(), "official", ACTOR, AtPosition(1, 300, 400))
    tampered = result.pdf.replace(b"ReportLab Generated", b"ReportLab Generatex", 1)  # inside the signed range
    assert tampered != result.pdf
    status = _validate(tampered, seal.root)
    assert not status.intact and not status.bottom_line
    assert any("Digest Mismatch" in block for block in pdfdocs.pdfsig(tampered))


def test_b_b_with_another_root_is_not_trusted(deployment: Platform) -> None:
    make_seal(deployment)
    other = make_seal(deployment, KeyAlgorithm.P256, name="other")
    result = PdfSealingService(deployment).seal(pdfdocs.one_page(), "official", ACTOR, AtPosition(1, 300, 400))
    status = _validate(result.pdf, other.root)
    assert status.intact and status.valid and not status.trusted and not status.bottom_line


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA2048, KeyAlgorithm.P256])
def test_b_t(deployment: Platform, alg: KeyAlgorithm) -> None:
    seal = make_seal(deployment, alg)
    root = setup_tsa(deployment, alg)
    assert root == seal.root
    result = PdfSealingService(deployment).seal(
        pdfdocs.one_page(), "official", ACTOR, AtPosition(1, 300, 400), PadesLevel.B_T
    )
    status = _validate(result.pdf, root)
    assert status.bottom_line, status.pretty_print_details()
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.intact and status.timestamp_validity.valid and status.timestamp_validity.trusted
    assert status.coverage is SignatureCoverageLevel.ENTIRE_FILE


def test_b_t_needs_revocation_data_under_hard_fail(deployment: Platform) -> None:
    seal = make_seal(deployment)
    setup_tsa(deployment)
    result = PdfSealingService(deployment).seal(
        pdfdocs.one_page(), "official", ACTOR, AtPosition(1, 300, 400), PadesLevel.B_T
    )
    status = _validate(result.pdf, seal.root, revocation_mode="hard-fail", crls=[], ocsps=[])
    assert status.intact and status.valid and not status.trusted, "without a DSS hard-fail must not pass"


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA2048, KeyAlgorithm.P256])
def test_b_lt_validates_from_the_dss_alone(deployment: Platform, alg: KeyAlgorithm) -> None:
    seal = make_seal(deployment, alg)
    root = setup_tsa(deployment, alg)
    result = PdfSealingService(deployment).seal(
        pdfdocs.one_page(), "official", ACTOR, AtPosition(1, 300, 400), PadesLevel.B_LT
    )
    reader = PdfFileReader(io.BytesIO(result.pdf))
    store = DocumentSecurityStore.read_dss(reader)
    assert len(list(store.load_certs())) >= 4 and store.ocsps and store.crls
    status = _validate_with_dss_only(result.pdf, root)
    assert status.bottom_line, status.pretty_print_details()
    assert status.trusted and status.timestamp_validity is not None and status.timestamp_validity.trusted
    assert status.coverage is SignatureCoverageLevel.ENTIRE_REVISION
    assert status.modification_level is ModificationLevel.LTA_UPDATES and status.docmdp_ok
    assert status.signing_cert.dump() == seal.certificate


def test_b_lt_on_a_file_with_an_xref_stream_then_another_seal(deployment: Platform) -> None:
    seal = make_seal(deployment)
    make_seal(deployment, name="second")
    root = setup_tsa(deployment)
    service = PdfSealingService(deployment)
    first = service.seal(pdfdocs.object_streams(), "official", ACTOR, AtPosition(2, 300, 400), PadesLevel.B_LT)
    pdfdocs.qpdf_check(first.pdf)
    assert _validate_with_dss_only(first.pdf, root).bottom_line
    second = service.seal(first.pdf, "second", ACTOR, AtPosition(1, 100, 100), PadesLevel.B_LT)
    assert_valid_seals(second.pdf, 2, last_covers_document=False)
    for index in (0, 1):
        reader = PdfFileReader(io.BytesIO(second.pdf))
        vc = DocumentSecurityStore.read_dss(reader).as_validation_context(
            {"trust_roots": [x509.Certificate.load(seal.root)], "allow_fetching": False, "revocation_mode": "hard-fail"}
        )
        status = validate_pdf_signature(reader.embedded_signatures[index], vc)
        assert status.bottom_line, (index, status.pretty_print_details())


def test_b_lt_with_a_delegated_ocsp_responder(deployment: Platform) -> None:
    seal = make_seal(deployment)
    root = setup_tsa(deployment)
    responder = OcspService(deployment).delegate("sub-rsa2048", ACTOR)
    assert responder.delegated and responder.certificate_der is not None
    result = PdfSealingService(deployment).seal(
        pdfdocs.one_page(), "official", ACTOR, AtPosition(1, 300, 400), PadesLevel.B_LT
    )
    reader = PdfFileReader(io.BytesIO(result.pdf))
    certificates = [c.dump() for c in DocumentSecurityStore.read_dss(reader).load_certs()]
    assert responder.certificate_der in certificates
    status = _validate_with_dss_only(result.pdf, root)
    assert status.bottom_line, status.pretty_print_details()
    assert status.signing_cert.dump() == seal.certificate


def test_b_lt_fails_when_its_dss_is_taken_away(deployment: Platform) -> None:
    seal = make_seal(deployment)
    setup_tsa(deployment)
    result = PdfSealingService(deployment).seal(
        pdfdocs.one_page(), "official", ACTOR, AtPosition(1, 300, 400), PadesLevel.B_LT
    )
    _, _, start, length = PdfFileReader(io.BytesIO(result.pdf)).embedded_signatures[0].byte_range
    without_dss = result.pdf[: start + length]  # the signed revision, as pyHanko's ByteRange reading ends it
    assert b"/DSS" not in without_dss
    status = _validate(without_dss, seal.root, revocation_mode="hard-fail", crls=[], ocsps=[])
    assert status.intact and status.valid and not status.trusted


def test_two_successive_seals_first_has_only_signing_modifications(deployment: Platform) -> None:
    seal = make_seal(deployment)
    make_seal(deployment, name="second")
    service = PdfSealingService(deployment)
    first = service.seal(pdfdocs.one_page(), "official", ACTOR, AtPosition(1, 150, 300))
    second = service.seal(first.pdf, "second", ACTOR, Riding())
    assert_valid_seals(second.pdf, 2)
    earlier = _validate(second.pdf, seal.root, 0)
    assert earlier.bottom_line, earlier.pretty_print_details()
    assert earlier.coverage is SignatureCoverageLevel.ENTIRE_REVISION
    assert earlier.modification_level is ModificationLevel.FORM_FILLING and earlier.docmdp_ok
    later = _validate(second.pdf, seal.root, 1)
    assert later.bottom_line and later.coverage is SignatureCoverageLevel.ENTIRE_FILE


def test_keyword_seal_is_one_embedded_signature(deployment: Platform) -> None:
    seal: SealSetup = make_seal(deployment)
    pdf = keyword_pdf("SEALHERE", [(0, 100, 500), (1, 300, 300)])
    result = PdfSealingService(deployment).seal(pdf, "official", ACTOR, AtKeyword("SEALHERE"))
    signatures = PdfFileReader(io.BytesIO(result.pdf)).embedded_signatures
    assert len(signatures) == 1
    assert _validate(result.pdf, seal.root).bottom_line
