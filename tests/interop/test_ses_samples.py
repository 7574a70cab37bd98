"""certseal.seals.ses on seals and sealed OFDs made by others (ofdrw test resources, tax e-invoices, iOFD).

Each sample's signatures are checked by certseal and, independently, by gmalg (tests/sm2check.py) and by
`openssl dgst -sm3 -verify` with the public key that `openssl x509 -pubkey` extracts; the signed bytes for those
checkers come from the test-only schema in test_ses_gmalg.py, not from certseal.  The data hash is recomputed with
gmalg's SM3 over the Signature.xml read from the OFD zip.
"""

from __future__ import annotations

import random
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import core

from certseal.errors import ValidationError
from certseal.seals.ses import ProblemCode, SignatureView, parse_seal, parse_signature, verify_seal, verify_signature
from tests.interop.test_ses_gmalg import (
    OpenSSL,
    OSESealV1,
    OSESealV4,
    OSESSignatureV4,
    both_verify,
    flip,
    sm3,
)

SAMPLES = Path("/work/shared/reference/ofd-samples")
SIGN_0 = "Doc_0/Signs/Sign_0/"


def sample(name: str) -> bytes:
    path = SAMPLES / name
    if not path.exists():
        pytest.fail(f"sample {path} is missing (see /work/shared/reference/ofd.md)")
    return path.read_bytes()


def from_ofd(name: str, member: str) -> bytes:
    with zipfile.ZipFile(SAMPLES / name) as package:
        return package.read(member)


@pytest.fixture(scope="module")
def openssl(tmp_path_factory: pytest.TempPathFactory) -> OpenSSL:
    return OpenSSL(tmp_path_factory.mktemp("ses-samples"))


# --- ofdrw seals (UserV1.esl, UserV4.esl) -----------------------------------------------------------------------


def test_user_v4_seal(openssl: OpenSSL) -> None:
    der = sample("UserV4.esl")
    view = parse_seal(der)
    assert view.raw == der and view.version == 4 and view.deviations == ()
    assert (view.header.id, view.header.version, view.header.vid) == ("ES", 4, "OFDR&WTest")
    assert view.es_id == "51f044b76510434e9bc67a1185c2fba5" and view.name == "OFD R&W 测试用印章"
    assert view.seal_type == 3 and view.cert_list_type == 1 and len(view.certificates) == 1
    assert view.created == datetime(2020, 4, 22, 2, 9, tzinfo=UTC)
    assert view.valid_end == datetime(2022, 4, 22, 2, 9, tzinfo=UTC)
    assert (view.picture.type, view.picture.width_mm, view.picture.height_mm) == ("PNG", 40, 40)
    assert view.picture.data.startswith(b"\x89PNG")
    check = verify_seal(view)
    assert check.ok and check.maker_subject is not None and "Test Certificate" in check.maker_subject

    outside = OSESealV4.load(der, strict=True)
    assert outside.dump(force=True) == der
    signed, signature = outside["eSealInfo"].dump(), outside["signedValue"].native
    assert view.signed_bytes == signed and view.signature == signature
    assert both_verify(openssl, outside["cert"].native, signed, signature)
    assert not both_verify(openssl, outside["cert"].native, flip(signed, 100), signature)


def test_user_v1_seal(openssl: OpenSSL) -> None:
    der = sample("UserV1.esl")
    view = parse_seal(der)
    assert view.raw == der and view.version == 1 and view.deviations == ()
    assert (view.header.version, view.name, view.cert_list_type) == (1, "OFDRW测试用印章", 1)
    assert view.valid_start == datetime(2020, 4, 22, 2, 18, 7, tzinfo=UTC)
    assert verify_seal(view).ok

    outside = OSESealV1.load(der, strict=True)
    assert outside.dump(force=True) == der
    sign_info = outside["signInfo"]
    signed = core.Sequence(
        contents=outside["esealInfo"].dump() + sign_info["cert"].dump() + sign_info["signatureAlgorithm"].dump()
    ).dump()
    assert view.signed_bytes == signed
    maker = sign_info["cert"].native
    assert both_verify(openssl, maker, signed, sign_info["signData"].native)
    assert not both_verify(openssl, maker, outside["esealInfo"].dump(), sign_info["signData"].native)


# --- sealed tax e-invoices (v4signed.ofd, signedFile.ofd) -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "seal_name"),
    [
        ("v4signed.ofd", "测试全国统一发票监制章国家税务总局重庆市税务局"),
        ("signedFile.ofd", "国家税务总局江苏省税务局"),
    ],
)
def test_sealed_tax_invoice(openssl: OpenSSL, name: str, seal_name: str) -> None:
    der = from_ofd(name, SIGN_0 + "SignedValue.dat")
    signature_xml = from_ofd(name, SIGN_0 + "Signature.xml")
    view = parse_signature(der)
    assert view.raw == der and view.version == 4 and view.seal.version == 4
    assert view.seal.name == seal_name and view.seal.header.vid == "GOMAIN" and view.seal.picture.type == "ofd"
    assert view.property_info == "/Doc_0/Signs/Sign_0/Signature.xml" and view.timestamp is None
    assert view.data_hash == sm3(signature_xml)
    # their ExtData writes critical FALSE although DER leaves a DEFAULT value out
    assert {d.code for d in view.deviations} == {ProblemCode.NONSTANDARD_NOT_DER}
    check = verify_signature(view, signature_xml)
    assert check.ok, check.problems
    assert check.signature_valid and check.data_hash_valid and check.signer_in_seal and check.seal.signature_valid

    outside = OSESSignatureV4.load(der, strict=True)
    tbs = outside["toSign"]
    assert view.signed_bytes == tbs.dump() and view.signature == outside["signature"].native
    assert tbs["dataHash"].native == sm3(signature_xml)
    assert both_verify(openssl, outside["cert"].native, tbs.dump(), outside["signature"].native)
    seal = tbs["eseal"]
    assert both_verify(openssl, seal["cert"].native, seal["eSealInfo"].dump(), seal["signedValue"].native)
    assert view.seal.signed_bytes == seal["eSealInfo"].dump()

    tampered = signature_xml.replace(b"</ofd:Signature>", b"</ofd:Signature> ")
    assert verify_signature(view, tampered).codes == {ProblemCode.DATA_HASH_MISMATCH}


# --- the non-standard iOFD v1 sample ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nonstandard() -> SignatureView:
    return parse_signature(from_ofd("nonstandard-v1.ofd", SIGN_0 + "SignedValue.dat"))


def test_nonstandard_v1_deviations_are_named(nonstandard: SignatureView, openssl: OpenSSL) -> None:
    view = nonstandard
    assert view.version == 1 and view.seal.version == 1 and view.seal.header.vid == "dms360.cn"
    assert view.seal.raw == from_ofd("nonstandard-v1.ofd", SIGN_0 + "Seal.esl")
    assert {d.code for d in view.seal.deviations} == {ProblemCode.NONSTANDARD_CERT_LIST}
    assert {d.code for d in view.deviations} == {ProblemCode.NONSTANDARD_TIME_INFO}
    assert view.time == datetime(2020, 1, 25, 7, 31, 56, 377000, tzinfo=UTC)
    assert view.seal.certificates == () and view.seal.name == "某某省人力资源和社会测试章"

    check = verify_signature(view, from_ofd("nonstandard-v1.ofd", SIGN_0 + "Signature.xml"))
    assert {d.code for d in check.deviations} == {ProblemCode.NONSTANDARD_CERT_LIST, ProblemCode.NONSTANDARD_TIME_INFO}
    assert check.codes == {
        ProblemCode.SIGNATURE_INVALID,
        ProblemCode.DATA_HASH_MISMATCH,
        ProblemCode.SIGNER_NOT_IN_SEAL_CERT_LIST,
    }
    assert check.seal.ok  # its maker signature (GM/T 0031 style) is sound
    seal = view.seal
    assert both_verify(openssl, seal.maker_certificate, seal.signed_bytes, seal.signature)
    # and the signer's signature fails for the outside checkers too, over DER(TBS_Sign) as GM/T 0031 specifies
    assert not both_verify(openssl, view.signer_certificate, view.signed_bytes, view.signature)


def test_corrupted_samples_never_raise_anything_but_validation_error(nonstandard: SignatureView) -> None:
    rng = random.Random(31)
    for der in (nonstandard.raw, from_ofd("signedFile.ofd", SIGN_0 + "SignedValue.dat")):
        for length in range(0, len(der), max(1, len(der) // 40)):
            with pytest.raises(ValidationError):
                parse_signature(der[:length])
        for _ in range(150):
            data = bytearray(der)
            data[rng.randrange(len(data))] = rng.randrange(256)
            try:
                view = parse_signature(bytes(data))
            except ValidationError:
                continue
            verify_signature(view, b"")
