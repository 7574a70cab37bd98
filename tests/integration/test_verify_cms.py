"""VerificationService on CMS files: OpenSSL-made signatures (attached, detached, RSA and ECDSA) and our CAdES-T.

The OpenSSL CLI decides integrity (`openssl cms -verify`); our verdict must agree with it, and chains, revocation
and timestamps are judged against the deployment's CAs, its OCSP responder and its TSA.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem, x509

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.signer import CertifiedSigner
from certseal.errors import ValidationError
from certseal.pki import ocsp
from certseal.pki.der import tlv
from certseal.services.ca import CaService, RevocationReason
from certseal.services.crl import CrlService
from certseal.services.keys import KeyService
from certseal.services.ocsp import OcspService
from certseal.services.platform import Platform
from certseal.services.tsa import TsaService
from certseal.services.verification import VerificationService
from certseal.signing import cms
from certseal.signing.verify.report import (
    FileKind,
    Indication,
    RevocationSource,
    RevocationStatus,
    SigningTimeSource,
    SubIndication,
    VerificationReport,
)
from tests.conftest import ACTOR
from tests.sm2check import sm2_signature_valid

CONTENT = b"prescription 2025-0001: amoxicillin 500 mg, 3x daily\n"


def openssl(*args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, timeout=60)
    if ok and result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(map(str, args))}: {result.stderr.decode()}")
    return result


def write_pem(path: Path, der: bytes, label: str = "CERTIFICATE") -> Path:
    path.write_bytes(pem.armor(label, der))
    return path


@dataclass
class Deployment:
    """One root CA with a TSA, and helpers to issue signer certificates OpenSSL can sign with."""

    platform: Platform
    directory: Path
    root_pem: Path

    @property
    def service(self) -> VerificationService:
        return VerificationService(self.platform)

    def signer_files(self, alg: KeyAlgorithm = KeyAlgorithm.RSA2048, name: str = "Dr Li") -> tuple[Path, Path, str]:
        """(certificate PEM, private key PEM, serial) of a 'person' certificate from our root with an exported key."""
        issued = CaService(self.platform).issue(
            "root", "person", ACTOR, subject=f"CN={name},O=People's Hospital,C=CN", generate=alg, export_key=True
        )
        assert issued.private_key_pkcs8 is not None
        certificate = write_pem(self.directory / f"{issued.serial}.pem", issued.certificate_der)
        key = write_pem(self.directory / f"{issued.serial}.key", issued.private_key_pkcs8, "PRIVATE KEY")
        return certificate, key, issued.serial

    def signer(self, alg: KeyAlgorithm = KeyAlgorithm.SM2, name: str = "Dr Wang") -> tuple[CertifiedSigner, str]:
        """A Signer (key in the deployment's token) with a fresh 'person' certificate from our root, and its serial."""
        issued = CaService(self.platform).issue("root", "person", ACTOR, subject=f"CN={name},C=CN", generate=alg)
        assert issued.key_label is not None
        signer = CertifiedSigner(KeyService(self.platform).signer(issued.key_label), issued.certificate_der)
        return signer, issued.serial

    def timestamper(self) -> cms.Timestamper:
        return cms.rfc3161_timestamper(TsaService(self.platform).stamp)

    def verify(self, data: bytes, content: bytes | None = None) -> VerificationReport:
        return self.service.verify(data, "signed.p7s", content)


def _deployment(platform: Platform, directory: Path, alg: KeyAlgorithm = KeyAlgorithm.RSA2048) -> Deployment:
    CaService(platform).create_ca("root", alg, ACTOR)
    TsaService(platform).setup("root", KeyAlgorithm.P256, ACTOR)
    root = write_pem(directory / "root.pem", CaService(platform).get_ca("root").certificate_der)
    return Deployment(platform, directory, root)


@pytest.fixture
def sqlite_platform(make_settings: Callable[..., Settings]) -> Iterator[Platform]:
    """Most tests judge signatures, not the database: SQLite only, to stay fast."""
    platform = Platform(make_settings())
    platform.db.migrate()
    yield platform
    platform.close()


@pytest.fixture
def deployment(sqlite_platform: Platform, tmp_path: Path) -> Deployment:
    return _deployment(sqlite_platform, tmp_path)


def openssl_sign(certificate: Path, key: Path, content: Path, *, detached: bool, extra: tuple[str, ...] = ()) -> bytes:
    args = ["cms", "-sign", "-binary", "-outform", "DER", "-md", "sha256", "-nosmimecap"]
    args += ["-signer", str(certificate), "-inkey", str(key), "-in", str(content), *extra]
    if not detached:
        args.append("-nodetach")
    return openssl(*args).stdout


def openssl_accepts(signature: bytes, root: Path, directory: Path, content: bytes | None = None) -> bool:
    signed = directory / "check.p7s"
    signed.write_bytes(signature)
    args: list[str | Path] = ["cms", "-verify", "-binary", "-inform", "DER", "-in", signed, "-CAfile", root]
    args += ["-purpose", "any", "-out", directory / "out.bin"]
    if content is not None:
        (directory / "content.bin").write_bytes(content)
        args += ["-content", directory / "content.bin"]
    return openssl(*args, ok=False).returncode == 0


def only(report: VerificationReport) -> object:
    assert len(report.signatures) == 1, report.to_json()
    return report.signatures[0]


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA2048, KeyAlgorithm.P256])
@pytest.mark.parametrize("detached", [True, False])
def test_openssl_signature_passes_when_openssl_accepts_it(
    deployment: Deployment, tmp_path: Path, alg: KeyAlgorithm, detached: bool
) -> None:
    certificate, key, serial = deployment.signer_files(alg)
    (tmp_path / "content.txt").write_bytes(CONTENT)
    signature = openssl_sign(certificate, key, tmp_path / "content.txt", detached=detached)
    assert openssl_accepts(signature, deployment.root_pem, tmp_path, CONTENT if detached else None)

    report = deployment.verify(signature, CONTENT if detached else None)
    assert report.kind is FileKind.CMS and report.indication is Indication.PASSED, report.to_json()
    result = report.signatures[0]
    assert result.sub_indication is None and result.format == "CMS"
    assert result.integrity.digest_matches and result.integrity.signature_valid
    assert result.signer is not None and result.signer.serial == serial and "Dr Li" in result.signer.subject
    assert result.signer.algorithm == ("rsa-pkcs1-sha256" if alg is KeyAlgorithm.RSA2048 else "ecdsa-sha256")
    assert result.chain is not None and result.chain.anchor is not None and len(result.chain.subjects) == 2
    assert result.revocation.status_at_signing is RevocationStatus.GOOD
    assert result.revocation.status_now is RevocationStatus.GOOD
    assert result.revocation.source is RevocationSource.OUR_RESPONDER
    assert result.signing_time is not None and result.signing_time.source is SigningTimeSource.CLAIMED
    assert not result.timestamp.present


def test_changed_detached_content_is_hash_failure_as_openssl_says(deployment: Deployment, tmp_path: Path) -> None:
    certificate, key, _ = deployment.signer_files()
    (tmp_path / "content.txt").write_bytes(CONTENT)
    signature = openssl_sign(certificate, key, tmp_path / "content.txt", detached=True)
    changed = CONTENT.replace(b"500", b"900")
    assert not openssl_accepts(signature, deployment.root_pem, tmp_path, changed)

    result = only(deployment.verify(signature, changed))
    assert result.indication is Indication.FAILED and result.sub_indication is SubIndication.HASH_FAILURE  # type: ignore[attr-defined]
    assert result.integrity.digest_matches is False and result.integrity.signature_valid is True  # type: ignore[attr-defined]


def test_changed_attached_content_is_hash_failure(deployment: Deployment, tmp_path: Path) -> None:
    certificate, key, _ = deployment.signer_files(KeyAlgorithm.P256)
    (tmp_path / "content.txt").write_bytes(CONTENT)
    signature = openssl_sign(certificate, key, tmp_path / "content.txt", detached=False)
    at = signature.index(b"amoxicillin")
    tampered = signature[:at] + b"X" + signature[at + 1 :]
    assert not openssl_accepts(tampered, deployment.root_pem, tmp_path)

    report = deployment.verify(tampered)
    assert report.indication is Indication.FAILED
    assert report.signatures[0].sub_indication is SubIndication.HASH_FAILURE


def test_changed_signature_value_is_sig_crypto_failure(deployment: Deployment, tmp_path: Path) -> None:
    certificate, key, _ = deployment.signer_files()
    (tmp_path / "content.txt").write_bytes(CONTENT)
    signature = openssl_sign(certificate, key, tmp_path / "content.txt", detached=True)
    tampered = signature[:-1] + bytes([signature[-1] ^ 0x01])  # RSA signature value: the last bytes of the DER
    assert not openssl_accepts(tampered, deployment.root_pem, tmp_path, CONTENT)

    result = deployment.verify(tampered, CONTENT).signatures[0]
    assert result.indication is Indication.FAILED and result.sub_indication is SubIndication.SIG_CRYPTO_FAILURE
    assert result.integrity.digest_matches is True and result.integrity.signature_valid is False


def test_detached_signature_without_content_is_indeterminate(deployment: Deployment, tmp_path: Path) -> None:
    certificate, key, _ = deployment.signer_files()
    (tmp_path / "content.txt").write_bytes(CONTENT)
    signature = openssl_sign(certificate, key, tmp_path / "content.txt", detached=True)
    result = deployment.verify(signature).signatures[0]
    assert result.indication is Indication.INDETERMINATE
    assert result.sub_indication is SubIndication.SIGNED_DATA_NOT_FOUND
    assert result.integrity.digest_matches is None and result.integrity.signature_valid is True


def test_signer_from_an_unknown_ca_has_no_chain(deployment: Deployment, tmp_path: Path) -> None:
    """An OpenSSL self-made CA, not trusted by the deployment: OpenSSL accepts it with that CA, we cannot."""
    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    ca_extensions = ("-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", "-x509", *key, "-days", "30", "-subj", "/CN=Elsewhere CA", "-keyout", tmp_path / "ca.key",
            "-out", tmp_path / "ca.pem", *ca_extensions)  # fmt: skip
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=Stranger",
            "-keyout", tmp_path / "leaf.key", "-out", tmp_path / "leaf.csr")  # fmt: skip
    openssl("x509", "-req", "-in", tmp_path / "leaf.csr", "-CA", tmp_path / "ca.pem", "-CAkey", tmp_path / "ca.key",
            "-days", "10", "-out", tmp_path / "leaf.pem")  # fmt: skip
    (tmp_path / "content.txt").write_bytes(CONTENT)
    signature = openssl_sign(tmp_path / "leaf.pem", tmp_path / "leaf.key", tmp_path / "content.txt", detached=False)
    assert openssl_accepts(signature, tmp_path / "ca.pem", tmp_path)
    assert not openssl_accepts(signature, deployment.root_pem, tmp_path)

    result = deployment.verify(signature).signatures[0]
    assert result.indication is Indication.INDETERMINATE
    assert result.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert result.integrity.digest_matches and result.integrity.signature_valid
    assert result.chain is not None and result.chain.anchor is None


def test_revoked_before_signing_is_failed_revoked(deployment: Deployment, tmp_path: Path) -> None:
    """The signer's own signingTime and a timestamp are both after the revocation: FAILED / REVOKED."""
    certificate, key, serial = deployment.signer_files()
    CaService(deployment.platform).revoke(
        serial, RevocationReason.KEY_COMPROMISE, ACTOR, revoked_at=datetime.now(UTC) - timedelta(hours=1)
    )
    (tmp_path / "content.txt").write_bytes(CONTENT)
    signature = openssl_sign(certificate, key, tmp_path / "content.txt", detached=True)
    stamped = cms.add_signature_timestamp(signature, deployment.timestamper())

    result = deployment.verify(stamped, CONTENT).signatures[0]
    assert result.indication is Indication.FAILED and result.sub_indication is SubIndication.REVOKED, result.reason
    assert result.timestamp.present and result.timestamp.valid and result.timestamp.imprint_matches
    assert result.revocation.status_at_signing is RevocationStatus.REVOKED
    assert result.revocation.reason == "key_compromise"


@pytest.mark.parametrize("kind", ["crl", "ocsp"])
def test_revocation_data_inside_the_cms_is_used_first(deployment: Deployment, tmp_path: Path, kind: str) -> None:
    """A CRL or OCSP response in the SignedData's RevocationInfoChoices (unsigned: the signature stays valid)."""
    certificate, key, serial = deployment.signer_files(KeyAlgorithm.P256)
    (tmp_path / "content.txt").write_bytes(CONTENT)
    signature = openssl_sign(certificate, key, tmp_path / "content.txt", detached=True)
    CaService(deployment.platform).revoke(
        serial, RevocationReason.AFFILIATION_CHANGED, ACTOR, revoked_at=datetime.now(UTC) - timedelta(days=1)
    )
    if kind == "crl":
        evidence = CrlService(deployment.platform).generate("root", ACTOR).der
        (tmp_path / "root.crl").write_bytes(evidence)
        openssl("crl", "-inform", "DER", "-in", tmp_path / "root.crl", "-CAfile", deployment.root_pem, "-noout")
        choice = asn1_cms.RevocationInfoChoice(name="crl", value=asn1_crl.CertificateList.load(evidence))
    else:
        leaf = x509.Certificate.load(pem.unarmor(certificate.read_bytes())[2])
        cert_id = ocsp.IssuerHashes.of(CaService(deployment.platform).get_ca("root").certificate_der).cert_id(
            leaf.serial_number
        )
        request = tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, cert_id))))
        evidence = OcspService(deployment.platform).respond("root", request)
        (tmp_path / "response.der").write_bytes(evidence)
        checked = openssl("ocsp", "-respin", tmp_path / "response.der", "-CAfile", deployment.root_pem,
                          "-issuer", deployment.root_pem, "-cert", certificate)  # fmt: skip
        assert b": revoked" in checked.stdout
        other = {"other_rev_info_format": "ocsp_response", "other_rev_info": asn1_ocsp.OCSPResponse.load(evidence)}
        choice = asn1_cms.RevocationInfoChoice(name="other", value=other)
    info = asn1_cms.ContentInfo.load(signature)
    info["content"]["crls"] = asn1_cms.RevocationInfoChoices([choice])
    carrying = info.dump(force=True)
    assert openssl_accepts(carrying, deployment.root_pem, tmp_path, CONTENT)

    result = deployment.verify(carrying, CONTENT).signatures[0]
    expected = RevocationSource.EMBEDDED_CRL if kind == "crl" else RevocationSource.EMBEDDED_OCSP
    assert result.revocation.source is expected and result.revocation.reason == "affiliation_changed"
    assert result.indication is Indication.FAILED and result.sub_indication is SubIndication.REVOKED
    assert expected.value in result.revocation.sources_consulted


def test_revoked_without_proof_of_existence_is_revoked_no_poe(deployment: Deployment) -> None:
    """No signingTime (PAdES-style CAdES-B) and no timestamp: EU DSS says INDETERMINATE / REVOKED_NO_POE."""
    signer, serial = deployment.signer(KeyAlgorithm.P256)
    signature = cms.sign(signer, CONTENT, detached=True, signing_time=None)
    CaService(deployment.platform).revoke(serial, RevocationReason.SUPERSEDED, ACTOR)

    result = deployment.verify(signature, CONTENT).signatures[0]
    assert result.indication is Indication.INDETERMINATE
    assert result.sub_indication is SubIndication.REVOKED_NO_POE
    assert result.format == "CAdES-B-B" and result.level == "B-B"
    assert result.revocation.status_now is RevocationStatus.REVOKED


def test_revoked_after_a_timestamped_signing_still_passes(platform: Platform, tmp_path: Path) -> None:
    """On SQLite and PostgreSQL: the timestamp proves the signature existed before the revocation."""
    deployment = _deployment(platform, tmp_path)
    certificate, key, serial = deployment.signer_files(KeyAlgorithm.P256)
    (tmp_path / "content.txt").write_bytes(CONTENT)
    signature = openssl_sign(certificate, key, tmp_path / "content.txt", detached=False)
    stamped = cms.add_signature_timestamp(signature, deployment.timestamper())
    time.sleep(1.1)  # genTime has whole seconds: the revocation must fall in a later second
    CaService(platform).revoke(serial, RevocationReason.KEY_COMPROMISE, ACTOR)

    result = deployment.verify(stamped).signatures[0]
    assert result.indication is Indication.PASSED, result.reason
    assert result.signing_time is not None and result.signing_time.source is SigningTimeSource.TIMESTAMP
    assert result.timestamp.gen_time == result.signing_time.time and result.timestamp.tsa_subject
    assert result.revocation.status_at_signing is RevocationStatus.GOOD
    assert result.revocation.status_now is RevocationStatus.REVOKED
    assert result.revocation.revoked_at is not None and result.revocation.revoked_at > result.signing_time.time
    assert "revoked later" in result.reason


def test_expired_certificate_needs_a_timestamp(deployment: Deployment) -> None:
    """Validated three days later, a one-day certificate has expired: without a timestamp there is no proof the
    signature was made while it was valid (OUT_OF_BOUNDS_NO_POE); with one, the chain is validated at genTime."""
    issued = CaService(deployment.platform).issue(
        "root", "person", ACTOR, subject="CN=Short-lived", generate=KeyAlgorithm.P256, days=1
    )
    assert issued.key_label is not None
    signer = CertifiedSigner(KeyService(deployment.platform).signer(issued.key_label), issued.certificate_der)
    later = datetime.now(UTC) + timedelta(days=3)
    plain = cms.sign(signer, CONTENT, detached=False)
    stamped = cms.sign(signer, CONTENT, detached=False, timestamper=deployment.timestamper())

    expired = deployment.service.verify(plain, at=later).signatures[0]
    assert expired.indication is Indication.INDETERMINATE
    assert expired.sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE and "expired" in expired.reason
    proven = deployment.service.verify(stamped, at=later).signatures[0]
    assert proven.indication is Indication.PASSED, proven.reason
    assert proven.chain is not None and proven.chain.validated_at == proven.timestamp.gen_time


def test_tampered_timestamp_is_not_a_proof(deployment: Deployment) -> None:
    signer, _ = deployment.signer(KeyAlgorithm.P256)
    signature = cms.sign(signer, CONTENT, detached=False, timestamper=deployment.timestamper())
    token = cms.parse(signature).signers[0].timestamp_tokens[0]
    at = signature.index(token) + len(token) - 3  # inside the TSA's signature value
    tampered = signature[:at] + bytes([signature[at] ^ 0xFF]) + signature[at + 1 :]

    good = deployment.verify(signature).signatures[0]
    assert good.indication is Indication.PASSED and good.format == "CAdES-B-T" and good.timestamp.valid
    bad = deployment.verify(tampered).signatures[0]
    assert bad.indication is Indication.INDETERMINATE
    assert bad.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    assert bad.timestamp.present and bad.timestamp.valid is False and bad.level == "B-B"


def test_sm2_cms_passes_and_gmalg_agrees(deployment: Deployment) -> None:
    signer, _ = deployment.signer(KeyAlgorithm.SM2)
    signature = cms.sign(signer, CONTENT, detached=True, timestamper=deployment.timestamper())
    view = cms.parse(signature).signers[0]
    assert view.signer_certificate is not None and view.signed_attributes_der is not None
    certificate = x509.Certificate.load(view.signer_certificate)
    assert sm2_signature_valid(certificate, view.signed_attributes_der, view.signature)

    result = deployment.verify(signature, CONTENT).signatures[0]
    assert result.indication is Indication.PASSED, result.reason
    assert result.signer is not None and result.signer.algorithm == "sm2-sm3" and result.level == "B-T"

    wrong = bytearray(view.signature)
    wrong[-1] ^= 0x01
    forged = signature.replace(view.signature, bytes(wrong))
    assert not sm2_signature_valid(certificate, view.signed_attributes_der, bytes(wrong))
    assert deployment.verify(forged, CONTENT).signatures[0].sub_indication in (
        SubIndication.SIG_CRYPTO_FAILURE,
        SubIndication.FORMAT_FAILURE,  # a flipped DER byte of (r, s) may leave no readable signature at all
    )


def test_pem_input_and_report_json(deployment: Deployment, tmp_path: Path) -> None:
    certificate, key, _ = deployment.signer_files(KeyAlgorithm.P256)
    (tmp_path / "content.txt").write_bytes(CONTENT)
    signature = openssl_sign(certificate, key, tmp_path / "content.txt", detached=False)
    report = deployment.verify(pem.armor("CMS", signature))
    assert report.passed
    data = report.to_dict()
    assert data["indication"] == "PASSED" and data["kind"] == "cms" and data["signature_count"] == 1
    assert str(data["validation_time"]).endswith("Z")


def test_not_a_signature_is_a_validation_error(deployment: Deployment) -> None:
    for garbage in (b"hello", b"\x30\x03\x02\x01\x01", b"PK\x03\x04 not a zip"):
        with pytest.raises(ValidationError) as caught:
            deployment.verify(garbage)
        assert caught.value.field == "file" and "not a PDF, OFD or CMS" in caught.value.rule
    with pytest.raises(ValidationError):
        deployment.verify(b"")


def test_ofd_is_recognised_and_verified(deployment: Deployment) -> None:
    samples = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "ofd-samples"
    report = deployment.verify((samples / "v4signed.ofd").read_bytes())
    assert report.kind.value == "ofd" and report.signatures[0].format == "OFD-SES-v4"
