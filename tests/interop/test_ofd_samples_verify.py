"""Other producers' sealed OFDs (ofdrw test resources, in shared/reference/ofd-samples) through our verifier, with
pyca/cryptography's SM3, gmalg's SM2 and the OpenSSL CLI as the independent judges of what is intact.

What "verify PASSED" means for the samples: their signers' certificates were issued by the tax bureau's test CAs
(税务测试CA2(SM2), 税务电子证书管理中心(SM2)), and the files carry only the two leaf certificates (signer and seal
maker), no CA certificate. So there is nothing to import as a trust anchor (TrustService.import_anchor takes only a
CA certificate, and refuses these leaves), and the overall verdict is INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND.
"PASSED" is required of the chain-independent parts: every Reference digest, dataHash over Signature.xml, the
signer's SM2 signature, the seal maker's SM2 signature, the signer in the seal's list and the seal valid at the
signing time — no finding other than the chain. The independent checkers confirm the same parts are intact, and
that each tampered copy is not.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from asn1crypto import x509
from lxml import etree

from certseal.config import Settings
from certseal.errors import ValidationError
from certseal.ofd.package import OfdPackage
from certseal.seals.ses import parse_signature
from certseal.services.ofd_sealing import verify_ofd_request
from certseal.services.platform import Platform
from certseal.services.trust import TrustService
from certseal.services.verification import VerificationService
from certseal.signing.verify.report import Indication, SignatureReport, SubIndication
from tests.conftest import ACTOR
from tests.interop.test_ofd_seal_gmalg import cryptography_sm3
from tests.interop.test_ses_gmalg import OpenSSL
from tests.sm2check import sm2_signature_valid

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "ofd-samples"
OFD_NS = "http://www.ofdspec.org/2016"
VALID = ["v4signed.ofd", "signedFile.ofd"]
SIGN_DIR = "Doc_0/Signs/Sign_0"
assert verify_ofd_request  # importing the OFD sealing service registers the OFD verifier


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def only_signature(platform: Platform, data: bytes) -> SignatureReport:
    (signature,) = VerificationService(platform).verify(data, "sample.ofd").signatures
    return signature


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
def test_valid_samples_pass_every_chain_independent_check(platform: Platform, openssl: OpenSSL, name: str) -> None:
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
def test_the_samples_carry_no_ca_certificate_to_trust(platform: Platform, name: str) -> None:
    view = parse_signature(OfdPackage.from_bytes(sample(name))[f"{SIGN_DIR}/SignedValue.dat"])
    for der in (view.signer_certificate, view.seal.maker_certificate):
        assert not x509.Certificate.load(der).ca
        with pytest.raises(ValidationError, match="not a CA certificate"):
            TrustService(platform).import_anchor("sample", der, ACTOR)


@pytest.mark.parametrize("name", VALID)
@pytest.mark.parametrize("part", ["Doc_0/Pages/Page_0/Content.xml", "Doc_0/Document.xml"])
def test_a_changed_byte_in_a_protected_file_is_a_hash_failure(
    platform: Platform, openssl: OpenSSL, name: str, part: str
) -> None:
    data = tampered(sample(name), part, 200)
    assert independently_intact(data, openssl) == (False, True)
    signature = only_signature(platform, data)
    assert (signature.indication, signature.sub_indication) == (Indication.FAILED, SubIndication.HASH_FAILURE)
    assert f"/{part}" in signature.reason and signature.integrity.digest_matches is False


@pytest.mark.parametrize("name", VALID)
def test_a_changed_byte_in_the_signed_value_is_a_crypto_failure(
    platform: Platform, openssl: OpenSSL, name: str
) -> None:
    data = tampered(sample(name), f"{SIGN_DIR}/SignedValue.dat", -3)  # inside the signature's s
    assert independently_intact(data, openssl) == (True, False)
    signature = only_signature(platform, data)
    assert (signature.indication, signature.sub_indication) == (Indication.FAILED, SubIndication.SIG_CRYPTO_FAILURE)
    assert signature.integrity.signature_valid is False and "signature" in signature.reason


def test_a_changed_byte_in_signature_xml_is_a_hash_failure(platform: Platform) -> None:
    package = OfdPackage.from_bytes(sample("v4signed.ofd"))
    xml = package[f"{SIGN_DIR}/Signature.xml"]
    package.put(f"{SIGN_DIR}/Signature.xml", xml.replace(b'Boundary="90.00', b'Boundary="91.00'))
    signature = only_signature(platform, package.to_bytes())
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
