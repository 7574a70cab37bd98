"""Other producers' sealed OFDs (ofdrw test resources, in shared/reference/ofd-samples) through our verifier, with
pyca/cryptography's SM3, gmalg's SM2 and the OpenSSL CLI as the independent judges of what is intact.

The samples' signers' certificates were issued by the tax bureau's test CAs (税务测试CA2(SM2), 税务电子证书管理中心
(SM2)), and the files carry only the two leaf certificates (signer and seal maker), no CA certificate. Untrusted,
the verdict is INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND with every chain-independent part intact (every Reference
digest, dataHash over Signature.xml, the signer's and the seal maker's SM2 signatures, the signer in the seal's
list, the seal valid at the signing time). With the signer's certificate — taken from the file by asn1crypto's
generic DER parser here — imported as a directly trusted certificate (`trust import --leaf`), they verify PASSED;
`openssl verify -partial_chain` with that certificate as the only trusted one judges the chain the same way, at the
same time. Neither sample has a timestamp, so a certificate's validity is checked at the validation time: 2021-01-01
for both (signedFile.ofd's signer certificate expired on 2024-10-11), and today for v4signed.ofd (valid until 2030).
The independent checkers confirm which parts are intact, and that each tampered copy is not, trusted or not.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import core, pem, x509
from lxml import etree

from certseal.config import Settings
from certseal.errors import ValidationError
from certseal.ofd.package import OfdPackage
from certseal.seals.ses import parse_signature
from certseal.services.ofd_sealing import verify_ofd_request
from certseal.services.platform import Platform
from certseal.services.trust import AnchorKind, TrustService
from certseal.services.verification import VerificationService
from certseal.signing.verify.report import Indication, RevocationStatus, SignatureReport, SubIndication
from tests.conftest import ACTOR
from tests.interop.test_ofd_seal_gmalg import cryptography_sm3
from tests.interop.test_ses_gmalg import OpenSSL
from tests.sm2check import sm2_signature_valid

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "ofd-samples"
OFD_NS = "http://www.ofdspec.org/2016"
VALID = ["v4signed.ofd", "signedFile.ofd"]
SIGN_DIR = "Doc_0/Signs/Sign_0"
VALIDATION_TIME = datetime(2021, 1, 1, tzinfo=UTC)  # both signers' certificates were valid then
assert verify_ofd_request  # importing the OFD sealing service registers the OFD verifier


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def only_signature(platform: Platform, data: bytes, at: datetime | None = None) -> SignatureReport:
    (signature,) = VerificationService(platform).verify(data, "sample.ofd", at=at).signatures
    return signature


def ses_certificates(data: bytes) -> tuple[bytes, bytes]:
    """(signer, seal maker) certificate of the file's SES_Signature, by asn1crypto's generic DER parser:
    SES_Signature{TBS_Sign{version, SESeal{SES_SealInfo, cert, ...}, ...}, cert, ...} (GB/T 38540 v4)."""
    signature = core.load(OfdPackage.from_bytes(data)[f"{SIGN_DIR}/SignedValue.dat"])
    return signature[1].native, signature[0][1][1].native


def trust_signer(platform: Platform, data: bytes) -> bytes:
    signer, _ = ses_certificates(data)
    info = TrustService(platform).import_anchor("sample-signer", signer, ACTOR, leaf=True)
    assert info.kind is AnchorKind.LEAF
    return signer


def openssl_trusts(workdir: Path, trusted: bytes, target: bytes, at: datetime | None) -> bool:
    """`openssl verify -partial_chain` with `trusted` as the only trusted certificate."""
    (workdir / "trusted.pem").write_bytes(pem.armor("CERTIFICATE", trusted))
    (workdir / "target.pem").write_bytes(pem.armor("CERTIFICATE", target))
    when = ["-attime", str(int(at.timestamp()))] if at is not None else []
    args = ["openssl", "verify", "-partial_chain", *when, "-CAfile", "trusted.pem", "target.pem"]
    return subprocess.run(args, cwd=workdir, capture_output=True, timeout=60).returncode == 0


def tampered(data: bytes, name: str, at: int) -> bytes:
    package = OfdPackage.from_bytes(data)
    content = bytearray(package[name])
    content[at] ^= 0x01
    package.put(name, bytes(content))
    return package.to_bytes()


def independently_intact(data: bytes, openssl: OpenSSL) -> tuple[bool, bool]:
    """(every Reference matches by pyca/cryptography's SM3, the SES signature verifies by gmalg and OpenSSL)."""
    package = OfdPackage.from_bytes(data)
    signature_xml = package[f"{SIGN_DIR}/Signature.xml"]
    root = etree.fromstring(signature_xml)
    digests_ok = True
    for reference in root.iter(f"{{{OFD_NS}}}Reference"):
        name = (reference.get("FileRef") or "").lstrip("/")
        expected = base64.b64decode(reference.findtext(f"{{{OFD_NS}}}CheckValue") or "")
        digests_ok &= cryptography_sm3(package[name]) == expected
    view = parse_signature(package[f"{SIGN_DIR}/SignedValue.dat"])
    by_gmalg = sm2_signature_valid(x509.Certificate.load(view.signer_certificate), view.signed_bytes, view.signature)
    by_openssl = openssl.verifies(view.signer_certificate, view.signed_bytes, view.signature)
    assert by_gmalg == by_openssl
    return digests_ok and view.data_hash == cryptography_sm3(signature_xml), by_gmalg


@pytest.fixture
def platform(make_settings: Callable[..., Settings]) -> Iterator[Platform]:
    """An embedded (SQLite) deployment: what is checked here does not depend on the database."""
    deployment = Platform(make_settings())
    deployment.db.migrate()
    yield deployment
    deployment.close()


@pytest.fixture(scope="module")
def openssl(tmp_path_factory: pytest.TempPathFactory) -> OpenSSL:
    return OpenSSL(tmp_path_factory.mktemp("ofd-samples-openssl"))


@pytest.mark.parametrize("name", VALID)
def test_untrusted_samples_stay_indeterminate_and_pass_every_chain_independent_check(
    platform: Platform, openssl: OpenSSL, name: str
) -> None:
    data = sample(name)
    assert independently_intact(data, openssl) == (True, True)
    signature = only_signature(platform, data)
    assert signature.format == "OFD-SES-v4"
    assert (signature.indication, signature.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
    )
    assert signature.integrity.digest_matches is True and signature.integrity.signature_valid is True
    assert signature.integrity.problems == ()
    chain_independent = [w for w in signature.warnings if w.split(":")[0] in {s.value for s in SubIndication}]
    assert chain_independent == [], "only the chain may keep the sample from PASSED"
    seal = signature.location["seal"]
    assert isinstance(seal, dict) and seal["signature_valid"] is True and seal["picture_type"] == "ofd"
    assert signature.signer is not None and "税务局" in signature.signer.subject
    assert len(signature.location["protected_files"]) == 13  # type: ignore[arg-type]


@pytest.mark.parametrize("name", VALID)
def test_the_samples_carry_no_ca_certificate_only_leaves_to_trust_directly(platform: Platform, name: str) -> None:
    signer, maker = ses_certificates(sample(name))
    view = parse_signature(OfdPackage.from_bytes(sample(name))[f"{SIGN_DIR}/SignedValue.dat"])
    assert (signer, maker) == (view.signer_certificate, view.seal.maker_certificate)
    for der in (signer, maker):
        assert not x509.Certificate.load(der).ca
        with pytest.raises(ValidationError, match="not a CA certificate"):
            TrustService(platform).import_anchor("sample", der, ACTOR)
    assert trust_signer(platform, sample(name)) == signer


@pytest.mark.parametrize("name", VALID)
def test_with_the_signer_trusted_the_samples_verify_passed(
    platform: Platform, openssl: OpenSSL, tmp_path: Path, name: str
) -> None:
    data = sample(name)
    signer = trust_signer(platform, data)
    assert openssl_trusts(tmp_path, signer, signer, VALIDATION_TIME)
    assert independently_intact(data, openssl) == (True, True)
    signature = only_signature(platform, data, VALIDATION_TIME)
    assert (signature.indication, signature.sub_indication) == (Indication.PASSED, None), signature.reason
    assert signature.format == "OFD-SES-v4" and signature.integrity.problems == ()
    assert signature.integrity.digest_matches is True and signature.integrity.signature_valid is True
    assert signature.chain is not None and signature.chain.indication is Indication.PASSED
    assert signature.signer is not None and signature.chain.subjects == (signature.signer.subject,)
    assert "directly trusted" in signature.chain.message
    assert signature.revocation.status_at_signing is RevocationStatus.UNKNOWN
    assert "not revocation-checked" in signature.revocation.problems[0]
    seal = signature.location["seal"]
    assert isinstance(seal, dict) and seal["signature_valid"] is True
    assert f"seal {seal['name']!r}" in signature.reason and "was valid at the signing time" in signature.reason
    assert not [w for w in signature.warnings if w.split(":")[0] in {s.value for s in SubIndication}]


@pytest.mark.parametrize("name", VALID)
def test_today_only_the_sample_whose_signer_certificate_has_not_expired_passes(
    platform: Platform, tmp_path: Path, name: str
) -> None:
    data = sample(name)
    signer = trust_signer(platform, data)
    not_after = x509.Certificate.load(signer)["tbs_certificate"]["validity"]["not_after"].native
    still_valid = datetime.now(UTC) < not_after
    assert openssl_trusts(tmp_path, signer, signer, None) is still_valid
    signature = only_signature(platform, data)
    if still_valid:
        assert signature.indication is Indication.PASSED, signature.reason
    else:  # no timestamp proves the signature existed while the certificate was valid
        assert (signature.indication, signature.sub_indication) == (
            Indication.INDETERMINATE,
            SubIndication.OUT_OF_BOUNDS_NO_POE,
        )
        assert f"expired on {not_after:%Y-%m-%d}" in signature.reason
    assert still_valid is (name == "v4signed.ofd")


@pytest.mark.parametrize("name", VALID)
def test_a_trusted_seal_maker_does_not_let_the_signer_chain_through_it(
    platform: Platform, tmp_path: Path, name: str
) -> None:
    data = sample(name)
    signer, maker = ses_certificates(data)
    TrustService(platform).import_anchor("sample-maker", maker, ACTOR, leaf=True)
    assert not openssl_trusts(tmp_path, maker, signer, VALIDATION_TIME)
    signature = only_signature(platform, data, VALIDATION_TIME)
    assert (signature.indication, signature.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
    )
    seal = signature.location["seal"]
    assert isinstance(seal, dict) and seal["maker_chain"] == "PASSED"  # the maker's own certificate is trusted


def test_removing_the_trusted_signer_restores_the_untrusted_verdict(platform: Platform) -> None:
    data = sample("v4signed.ofd")
    trust_signer(platform, data)
    assert only_signature(platform, data).indication is Indication.PASSED
    TrustService(platform).remove_anchor("sample-signer", ACTOR)
    assert only_signature(platform, data).sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND


@pytest.mark.parametrize("trusted", [False, True], ids=["untrusted", "trusted"])
@pytest.mark.parametrize("name", VALID)
@pytest.mark.parametrize("part", ["Doc_0/Pages/Page_0/Content.xml", "Doc_0/Document.xml"])
def test_a_changed_byte_in_a_protected_file_is_a_hash_failure(
    platform: Platform, openssl: OpenSSL, name: str, part: str, trusted: bool
) -> None:
    if trusted:
        trust_signer(platform, sample(name))
    data = tampered(sample(name), part, 200)
    assert independently_intact(data, openssl) == (False, True)
    signature = only_signature(platform, data, VALIDATION_TIME)
    assert (signature.indication, signature.sub_indication) == (Indication.FAILED, SubIndication.HASH_FAILURE)
    assert f"/{part}" in signature.reason and signature.integrity.digest_matches is False


@pytest.mark.parametrize("trusted", [False, True], ids=["untrusted", "trusted"])
@pytest.mark.parametrize("name", VALID)
def test_a_changed_byte_in_the_signed_value_is_a_crypto_failure(
    platform: Platform, openssl: OpenSSL, name: str, trusted: bool
) -> None:
    if trusted:
        trust_signer(platform, sample(name))
    data = tampered(sample(name), f"{SIGN_DIR}/SignedValue.dat", -3)  # inside the signature's s
    assert independently_intact(data, openssl) == (True, False)
    signature = only_signature(platform, data, VALIDATION_TIME)
    assert (signature.indication, signature.sub_indication) == (Indication.FAILED, SubIndication.SIG_CRYPTO_FAILURE)
    assert signature.integrity.signature_valid is False and "signature" in signature.reason


@pytest.mark.parametrize("trusted", [False, True], ids=["untrusted", "trusted"])
def test_a_changed_byte_in_signature_xml_is_a_hash_failure(platform: Platform, trusted: bool) -> None:
    if trusted:
        trust_signer(platform, sample("v4signed.ofd"))
    package = OfdPackage.from_bytes(sample("v4signed.ofd"))
    xml = package[f"{SIGN_DIR}/Signature.xml"]
    package.put(f"{SIGN_DIR}/Signature.xml", xml.replace(b'Boundary="90.00', b'Boundary="91.00'))
    signature = only_signature(platform, package.to_bytes())
    assert signature.indication is Indication.FAILED
    assert signature.sub_indication is SubIndication.HASH_FAILURE and "Signature.xml" in signature.reason


def test_nonstandard_v1_fails_naming_the_deviations(platform: Platform) -> None:
    signature = only_signature(platform, sample("nonstandard-v1.ofd"))
    assert signature.format == "OFD-SES-v1"
    assert (signature.indication, signature.sub_indication) == (Indication.FAILED, SubIndication.FORMAT_FAILURE)
    assert "CheckMethod '1.2.156.10197.1.401.2'" in signature.reason and "non-standard" in signature.reason
    warnings = "\n".join(signature.warnings)
    assert "NONSTANDARD_CERT_LIST" in warnings and "IA5String" in warnings
    assert "NONSTANDARD_TIME_INFO" in warnings


def test_broken_signature_lists_are_failures_not_crashes(platform: Platform) -> None:
    package = OfdPackage.from_bytes(sample("v4signed.ofd"))
    package.remove(f"{SIGN_DIR}/Signature.xml")
    signature = only_signature(platform, package.to_bytes())
    assert (signature.indication, signature.sub_indication) == (Indication.FAILED, SubIndication.FORMAT_FAILURE)
    assert "names no file" in signature.reason
    package = OfdPackage.from_bytes(sample("v4signed.ofd"))
    package.put(f"{SIGN_DIR}/SignedValue.dat", b"\x30\x03\x02\x01\x01")
    signature = only_signature(platform, package.to_bytes())
    assert signature.sub_indication is SubIndication.FORMAT_FAILURE and "SES_Signature" in signature.reason
    package = OfdPackage.from_bytes(sample("v4signed.ofd"))
    package.put("OFD.xml", b"<not xml")
    signature = only_signature(platform, package.to_bytes())  # found by name; OFD.xml's own digest fails
    assert signature.sub_indication is SubIndication.HASH_FAILURE and "/OFD.xml" in signature.reason


def test_an_unsigned_ofd_has_no_signature(platform: Platform) -> None:
    report = VerificationService(platform).verify(sample("helloworld.ofd"), "helloworld.ofd")
    assert report.signatures == () and report.indication is Indication.FAILED
    with pytest.raises(ValidationError, match="content"):
        VerificationService(platform).verify(sample("v4signed.ofd"), "x.ofd", detached_content=b"x")
