"""A signature by a certificate that had expired at the validation time, without a timestamp, has no proof of
existence while the certificate was valid: the verification service says INDETERMINATE OUT_OF_BOUNDS_NO_POE, for
CMS and for PDF seals, and `openssl cms -verify -attime` (the outside checker) refuses it at that time with
"certificate has expired" while accepting it now.  With a signature timestamp the same signature PASSES later.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import pem

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.keys import PrivateKey
from certseal.crypto.tokens.software import SoftwareSigner
from certseal.services.ca import CaService
from certseal.services.pdf_sealing import AtPosition, PadesLevel, PdfSealingService
from certseal.services.platform import Platform
from certseal.services.seals import SealService
from certseal.services.tsa import TsaService
from certseal.services.verification import VerificationService
from certseal.signing import cms
from certseal.signing.verify.report import Indication, SignatureReport, SubIndication
from tests import pdfdocs
from tests.conftest import ACTOR
from tests.integration.test_cms_signing import openssl_cms_accepts
from tests.integration.test_pdf_sealing import SEAL_MM, SEAL_SUBJECT, ensure_cas

CONTENT = b"pharmacist registration 2025-0007: renewal\n"
LATER = datetime.now(UTC) + timedelta(days=3)  # a one-day certificate has expired by then


@pytest.fixture
def platform_with_tsa(make_settings: Callable[..., Settings]) -> Iterator[Platform]:
    platform = Platform(make_settings())
    platform.db.migrate()
    ensure_cas(platform, KeyAlgorithm.P256)
    TsaService(platform).setup("root-p256", KeyAlgorithm.P256, ACTOR)
    yield platform
    platform.close()


def root_pem(platform: Platform, directory: Path) -> Path:
    path = directory / "root.pem"
    path.write_bytes(pem.armor("CERTIFICATE", CaService(platform).get_ca("root-p256").certificate_der))
    return path


def only(signatures: tuple[SignatureReport, ...]) -> SignatureReport:
    assert len(signatures) == 1
    return signatures[0]


def attime(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def short_lived_signer(platform: Platform) -> tuple[SoftwareSigner, list[bytes]]:
    """A one-day 'person' certificate with its key exported into a software key (not the deployment's token)."""
    issued = CaService(platform).issue(
        "sub-p256", "person", ACTOR, subject="CN=Short-lived,C=CN", generate=KeyAlgorithm.P256, days=1, export_key=True
    )
    assert issued.private_key_pkcs8 is not None
    key = PrivateKey.from_pkcs8_der(issued.private_key_pkcs8)
    signer = SoftwareSigner("short-lived", key, KeyAlgorithm.P256.default_scheme, issued.certificate_der)
    return signer, CaService(platform).ca_chain("sub-p256")


def test_expired_cms_signer_is_out_of_bounds_no_poe(platform_with_tsa: Platform, tmp_path: Path) -> None:
    signer, chain = short_lived_signer(platform_with_tsa)
    signature = cms.sign(signer, CONTENT, detached=True, chain=chain)
    root = root_pem(platform_with_tsa, tmp_path)
    service = VerificationService(platform_with_tsa)

    now = only(service.verify(signature, "signed.p7s", CONTENT).signatures)
    assert now.indication is Indication.PASSED, now.reason
    accepted = openssl_cms_accepts(signature, root, tmp_path, CONTENT)
    assert accepted.returncode == 0, accepted.stderr

    later = only(service.verify(signature, "signed.p7s", CONTENT, at=LATER).signatures)
    assert later.indication is Indication.INDETERMINATE
    assert later.sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE and "expired" in later.reason
    refused = openssl_cms_accepts(signature, root, tmp_path, CONTENT, "-attime", attime(LATER))
    assert refused.returncode != 0 and "certificate has expired" in refused.stderr, refused.stderr


def test_a_timestamp_is_the_proof_of_existence(platform_with_tsa: Platform, tmp_path: Path) -> None:
    signer, chain = short_lived_signer(platform_with_tsa)
    timestamper = cms.rfc3161_timestamper(TsaService(platform_with_tsa).stamp)
    signature = cms.sign(signer, CONTENT, detached=True, chain=chain, timestamper=timestamper)
    later = only(VerificationService(platform_with_tsa).verify(signature, "signed.p7s", CONTENT, at=LATER).signatures)
    assert later.indication is Indication.PASSED, later.reason
    assert later.timestamp.present and later.timestamp.valid


def _signed_ranges(pdf: bytes) -> tuple[bytes, bytes]:
    """(the bytes the last signature covers, its CMS) from /ByteRange and /Contents, read without certseal."""
    start, first, second, length = map(int, re.findall(rb"/ByteRange\s*\[\s*(\d+) (\d+) (\d+) (\d+)\s*\]", pdf)[-1])
    covered = pdf[start : start + first] + pdf[second : second + length]
    contents = pdf[start + first + 1 : second - 1]
    return covered, bytes.fromhex(contents.decode()).rstrip(b"\0")


def _short_lived_seal(platform: Platform) -> None:
    issued = CaService(platform).issue(
        "sub-p256", "seal", ACTOR, subject=SEAL_SUBJECT, generate=KeyAlgorithm.P256, days=1
    )
    SealService(platform).create(
        "short", issued.certificate_der, ACTOR, image_png=pdfdocs.seal_png(), size_mm=(SEAL_MM, SEAL_MM)
    )


@pytest.mark.parametrize("level", [PadesLevel.B_B, PadesLevel.B_T])
def test_expired_pdf_seal_needs_a_timestamp(platform_with_tsa: Platform, tmp_path: Path, level: PadesLevel) -> None:
    _short_lived_seal(platform_with_tsa)
    sealed = (
        PdfSealingService(platform_with_tsa)
        .seal(pdfdocs.one_page(), "short", ACTOR, AtPosition(1, 300, 300), level)
        .pdf
    )
    service = VerificationService(platform_with_tsa)
    assert only(service.verify(sealed, "sealed.pdf").signatures).indication is Indication.PASSED

    later = only(service.verify(sealed, "sealed.pdf", at=LATER).signatures)
    if level is PadesLevel.B_T:
        assert later.indication is Indication.PASSED, later.reason
        return
    assert later.indication is Indication.INDETERMINATE
    assert later.sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE and "expired" in later.reason
    covered, signature = _signed_ranges(sealed)
    root = root_pem(platform_with_tsa, tmp_path)
    accepted = openssl_cms_accepts(signature, root, tmp_path, covered)
    assert accepted.returncode == 0, accepted.stderr
    refused = openssl_cms_accepts(signature, root, tmp_path, covered, "-attime", attime(LATER))
    assert refused.returncode != 0 and "certificate has expired" in refused.stderr, refused.stderr
