"""SM2 PDF seals (adbe.pkcs7.detached carrying GB/T 35275 CMS), checked without certseal's own verifier.

pdfsig and pyHanko cannot verify SM2, so: the signature dictionary is read with a regular expression, the CMS with
asn1crypto, SM3 of the byte range is computed with pyca/cryptography and the SM2 signature over the DER signed
attributes is checked with gmalg (tests/sm2check.py).  qpdf checks the file structure.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import core, tsp, x509
from cryptography.hazmat.primitives import hashes

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.services.pdf_sealing import AtKeyword, AtPosition, PadesLevel, PdfSealingService
from certseal.services.platform import Platform
from tests import pdfdocs
from tests.conftest import ACTOR
from tests.integration.test_pdf_sealing import SealSetup, keyword_pdf, make_seal, setup_tsa
from tests.sm2check import sm2_signature_valid

GM_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
GM_DATA = "1.2.156.10197.6.1.4.2.1"
SM3 = "1.2.156.10197.1.401"
SM2_SIGNATURES = {"1.2.156.10197.1.501", "1.2.156.10197.1.301.1"}


@dataclass(frozen=True)
class SignatureDictionary:
    byte_range: tuple[int, int, int, int]
    contents: bytes  # the DER CMS
    subfilter: str


def read_signature(pdf: bytes) -> SignatureDictionary:
    """The newest signature dictionary, found with regular expressions only."""
    ranges = re.findall(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert ranges, "no /ByteRange"
    a, b, c, d = (int(v) for v in ranges[-1])
    hex_string = pdf[b:c]
    assert hex_string.startswith(b"<") and hex_string.endswith(b">")
    subfilters = re.findall(rb"/SubFilter\s*/([A-Za-z0-9.]+)", pdf)
    return SignatureDictionary((a, b, c, d), bytes.fromhex(hex_string[1:-1].decode()), subfilters[-1].decode())


def signed_bytes(pdf: bytes, byte_range: tuple[int, int, int, int]) -> bytes:
    a, b, c, d = byte_range
    return pdf[a : a + b] + pdf[c : c + d]


def sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


class _ContentInfo(core.Sequence):
    """ContentInfo with the SignedData spelled out, whatever the content type OID (GB/T 35275's is not RFC 5652's)."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("content_type", core.ObjectIdentifier),
        ("content", asn1_cms.SignedData, {"explicit": 0}),
    ]


def signed_data(contents: bytes) -> asn1_cms.SignedData:
    info = _ContentInfo.load(contents)  # not strict: /Contents is zero-padded after the DER
    assert info["content_type"].dotted == GM_SIGNED_DATA
    signed: asn1_cms.SignedData = info["content"]
    return signed


def attributes(signer_info: asn1_cms.SignerInfo) -> dict[str, core.Asn1Value]:
    return {a["type"].dotted: a["values"][0] for a in signer_info["signed_attrs"]}


def check_sm2_seal(pdf: bytes, certificate: bytes) -> bool:
    """True if the newest signature is a GB/T 35275 SM2 signature by `certificate` over the byte range."""
    sig = read_signature(pdf)
    signed = signed_data(sig.contents)
    signer = signed["signer_infos"][0]
    digest = attributes(signer)["1.2.840.113549.1.9.4"].native
    if digest != sm3(signed_bytes(pdf, sig.byte_range)):
        return False
    return sm2_signature_valid(
        x509.Certificate.load(certificate), signed_attributes_der(signer), signer["signature"].native
    )


def signed_attributes_der(signer_info: asn1_cms.SignerInfo) -> bytes:
    """What the signature covers: the signed attributes as found, re-tagged from [0] IMPLICIT to SET OF."""
    der = signer_info["signed_attrs"].dump()
    assert der[0] == 0xA0
    return b"\x31" + der[1:]


@pytest.fixture
def deployment(make_settings: Callable[..., Settings]) -> Iterator[Platform]:
    p = Platform(make_settings())
    p.db.migrate()
    yield p
    p.close()


@pytest.fixture
def sm2_seal(deployment: Platform) -> SealSetup:
    return make_seal(deployment, KeyAlgorithm.SM2, name="sm2-seal")


def test_sm2_seal_is_gbt_35275_cms_over_the_byte_range(deployment: Platform, sm2_seal: SealSetup) -> None:
    pdf = pdfdocs.one_page()
    result = PdfSealingService(deployment).seal(pdf, "sm2-seal", ACTOR, AtPosition(1, 300, 300))
    pdfdocs.qpdf_check(result.pdf)
    sig = read_signature(result.pdf)
    assert sig.subfilter == "adbe.pkcs7.detached"
    a, _, c, d = sig.byte_range
    assert a == 0 and c + d == len(result.pdf), "the byte range covers the whole file but /Contents"

    signed = signed_data(sig.contents)
    assert signed["encap_content_info"]["content_type"].dotted == GM_DATA
    assert signed["encap_content_info"]["content"].native is None, "detached"
    assert [alg["algorithm"].dotted for alg in signed["digest_algorithms"]] == [SM3]
    certificates = [c.chosen.dump() for c in signed["certificates"]]
    assert sm2_seal.certificate in certificates and sm2_seal.chain[0] in certificates
    signer = signed["signer_infos"][0]
    assert signer["digest_algorithm"]["algorithm"].dotted == SM3
    assert signer["signature_algorithm"]["algorithm"].dotted in SM2_SIGNATURES
    attrs = attributes(signer)
    assert attrs["1.2.840.113549.1.9.3"].dotted == GM_DATA  # content-type attribute
    assert attrs["1.2.840.113549.1.9.4"].native == sm3(signed_bytes(result.pdf, sig.byte_range))
    assert "1.2.840.113549.1.9.5" in attrs  # signing-time: adbe.pkcs7.detached allows it
    assert check_sm2_seal(result.pdf, sm2_seal.certificate)


def test_a_changed_byte_breaks_the_digest(deployment: Platform, sm2_seal: SealSetup) -> None:
    result = PdfSealingService(deployment).seal(pdfdocs.one_page(), "sm2-seal", ACTOR, AtPosition(1, 300, 300))
    tampered = result.pdf.replace(b"ReportLab Generated", b"ReportLab Generatex", 1)
    assert tampered != result.pdf and not check_sm2_seal(tampered, sm2_seal.certificate)


def test_another_certificate_does_not_verify(deployment: Platform, sm2_seal: SealSetup) -> None:
    other = make_seal(deployment, KeyAlgorithm.SM2, name="other-sm2")
    result = PdfSealingService(deployment).seal(pdfdocs.one_page(), "sm2-seal", ACTOR, AtPosition(1, 300, 300))
    assert check_sm2_seal(result.pdf, sm2_seal.certificate)
    assert not check_sm2_seal(result.pdf, other.certificate)


def test_a_changed_signed_attribute_breaks_the_signature(deployment: Platform, sm2_seal: SealSetup) -> None:
    result = PdfSealingService(deployment).seal(pdfdocs.one_page(), "sm2-seal", ACTOR, AtPosition(1, 300, 300))
    signer = signed_data(read_signature(result.pdf).contents)["signer_infos"][0]
    attrs = bytearray(signed_attributes_der(signer))
    attrs[-1] ^= 0x01
    assert not sm2_signature_valid(
        x509.Certificate.load(sm2_seal.certificate), bytes(attrs), signer["signature"].native
    )


def test_sm2_keyword_seal_after_an_rsa_seal(deployment: Platform, sm2_seal: SealSetup) -> None:
    rsa = make_seal(deployment, name="rsa-seal")
    service = PdfSealingService(deployment)
    first = service.seal(keyword_pdf("SEALHERE", [(0, 200, 300)]), "rsa-seal", ACTOR, AtPosition(1, 100, 100))
    second = service.seal(first.pdf, "sm2-seal", ACTOR, AtKeyword("SEALHERE"))
    pdfdocs.qpdf_check(second.pdf)
    assert check_sm2_seal(second.pdf, sm2_seal.certificate)
    blocks = pdfdocs.pdfsig(second.pdf)
    rsa_block = next(b for b in blocks if "ETSI.CAdES.detached" in b)
    assert "Signature is Valid" in rsa_block and "Total document signed" not in rsa_block
    assert rsa.certificate != sm2_seal.certificate


def test_sm2_b_t_token_is_over_the_signature_value(deployment: Platform, sm2_seal: SealSetup, tmp_path: Path) -> None:
    """The signature timestamp's imprint is SM3 of the SM2 signature value; `openssl ts -verify` accepts the token
    (an RSA TSA: the OpenSSL 3.0 CLI cannot verify SM2 tokens) against that digest."""
    tsa_root = setup_tsa(deployment, KeyAlgorithm.RSA2048)
    result = PdfSealingService(deployment).seal(
        pdfdocs.one_page(), "sm2-seal", ACTOR, AtPosition(1, 300, 300), PadesLevel.B_T
    )
    assert check_sm2_seal(result.pdf, sm2_seal.certificate)
    signer = signed_data(read_signature(result.pdf).contents)["signer_infos"][0]
    (attribute,) = [a for a in signer["unsigned_attrs"] if a["type"].dotted == "1.2.840.113549.1.9.16.2.14"]
    token = attribute["values"][0].dump()
    tst = tsp.TSTInfo.load(asn1_cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].contents)
    imprint = tst["message_imprint"]
    assert imprint["hash_algorithm"]["algorithm"].dotted == SM3
    assert imprint["hashed_message"].native == sm3(signer["signature"].native)

    (tmp_path / "token.der").write_bytes(token)
    (tmp_path / "root.pem").write_bytes(_pem(tsa_root))
    verify = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-token_in",
            "-in",
            str(tmp_path / "token.der"),
            "-digest",
            imprint["hashed_message"].native.hex(),
            "-CAfile",
            str(tmp_path / "root.pem"),
        ],
        capture_output=True,
        text=True,
    )
    assert "Verification: OK" in verify.stdout, verify.stdout + verify.stderr
    wrong = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-token_in",
            "-in",
            str(tmp_path / "token.der"),
            "-digest",
            "00" * 32,
            "-CAfile",
            str(tmp_path / "root.pem"),
        ],
        capture_output=True,
        text=True,
    )
    assert "Verification: OK" not in wrong.stdout


def _pem(der: bytes) -> bytes:
    from asn1crypto import pem

    return bytes(pem.armor("CERTIFICATE", der))
