"""GB/T 38540 seals and signatures built by certseal, checked by code we did not write, and the other way round.

- gmalg (pure-Python SM2, tests/sm2check.py) and `openssl dgst -sm3 -verify -sigopt distid:1234567812345678`
  verify the maker's and the signer's signatures; gmalg's SM3 recomputes the data hash;
- a test-only asn1crypto schema, written field by field from ofdrw's `ses/v1` and `ses/v4` classes, re-parses our
  DER (and re-encodes it byte for byte: DER);
- SM2 keys and certificates come from the OpenSSL CLI; seals signed by OpenSSL (v4 with a certificate-digest list,
  GM/T 0031 v1) are verified by certseal;
- in the `platform` test the keys come from CaService and the timestamp from TsaService, checked by `openssl ts`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from asn1crypto import core, pem, tsp, x509
from gmalg import SM3

from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.keys import PrivateKey
from certseal.crypto.tokens.software import SoftwareSigner
from certseal.errors import ValidationError
from certseal.pki.tsa import build_request
from certseal.seals.ses import (
    ProblemCode,
    SealContent,
    SealPicture,
    build_seal_v4,
    build_signature_v4,
    parse_seal,
    parse_signature,
    verify_seal,
    verify_signature,
)
from certseal.services.ca import CaService
from certseal.services.platform import Platform
from certseal.services.tsa import TsaService
from tests.conftest import ACTOR
from tests.sm2check import sm2_signature_valid

SM2_SM3 = "1.2.156.10197.1.501"
DISTID = "distid:1234567812345678"
PROTECTED = '<?xml version="1.0" encoding="UTF-8"?><ofd:Signature 签="章"/>'.encode()
PROPERTY = "/Doc_0/Signs/Sign_0/Signature.xml"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="40mm" height="40mm"><circle r="19" fill="red"/></svg>'


# --- a test-only schema (ofdrw-gm org.ofdrw.gm.ses.v1 / v4, toASN1Primitive field by field) ----------------------


class OHeader(core.Sequence):
    _fields: ClassVar = [("id", core.IA5String), ("version", core.Integer), ("vid", core.IA5String)]


class OPicture(core.Sequence):
    _fields: ClassVar = [
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class OExtData(core.Sequence):
    _fields: ClassVar = [
        ("extnID", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extnValue", core.OctetString),
    ]


class OExtensionDatas(core.SequenceOf):
    _child_spec = OExtData


class OCertInfoList(core.SequenceOf):
    _child_spec = core.OctetString


class OCertDigestObj(core.Sequence):
    _fields: ClassVar = [("type", core.PrintableString), ("value", core.OctetString)]


class OCertDigestList(core.SequenceOf):
    _child_spec = OCertDigestObj


class OPropertyV4Certs(core.Sequence):
    _fields: ClassVar = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("certListType", core.Integer),
        ("certList", OCertInfoList),
        ("createDate", core.GeneralizedTime),
        ("validStart", core.GeneralizedTime),
        ("validEnd", core.GeneralizedTime),
    ]


class OPropertyV4Digests(OPropertyV4Certs):
    _fields: ClassVar = [(n, OCertDigestList if n == "certList" else t) for n, t in OPropertyV4Certs._fields]


class OSealInfoV4(core.Sequence):
    _fields: ClassVar = [
        ("header", OHeader),
        ("esID", core.IA5String),
        ("property", core.Any),
        ("picture", OPicture),
        ("extDatas", OExtensionDatas, {"optional": True}),
    ]


class OSESealV4(core.Sequence):
    _fields: ClassVar = [
        ("eSealInfo", OSealInfoV4),
        ("cert", core.OctetString),
        ("signAlgID", core.ObjectIdentifier),
        ("signedValue", core.OctetBitString),
    ]


class OTBSSignV4(core.Sequence):
    _fields: ClassVar = [
        ("version", core.Integer),
        ("eseal", OSESealV4),
        ("timeInfo", core.GeneralizedTime),
        ("dataHash", core.OctetBitString),
        ("propertyInfo", core.IA5String),
        ("extDatas", OExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class OSESSignatureV4(core.Sequence):
    _fields: ClassVar = [
        ("toSign", OTBSSignV4),
        ("cert", core.OctetString),
        ("signatureAlgID", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("timeStamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


class OPropertyV1(core.Sequence):
    _fields: ClassVar = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("certList", OCertInfoList),
        ("createDate", core.UTCTime),
        ("validStart", core.UTCTime),
        ("validEnd", core.UTCTime),
    ]


class OSealInfoV1(core.Sequence):
    _fields: ClassVar = [
        ("header", OHeader),
        ("esID", core.IA5String),
        ("property", OPropertyV1),
        ("picture", OPicture),
        ("extDatas", OExtensionDatas, {"optional": True}),
    ]


class OSignInfoV1(core.Sequence):
    _fields: ClassVar = [
        ("cert", core.OctetString),
        ("signatureAlgorithm", core.ObjectIdentifier),
        ("signData", core.OctetBitString),
    ]


class OSESealV1(core.Sequence):
    _fields: ClassVar = [("esealInfo", OSealInfoV1), ("signInfo", OSignInfoV1)]


class OTBSSignV1(core.Sequence):
    _fields: ClassVar = [
        ("version", core.Integer),
        ("eseal", OSESealV1),
        ("timeInfo", core.OctetBitString),
        ("dataHash", core.OctetBitString),
        ("propertyInfo", core.IA5String),
        ("cert", core.OctetString),
        ("signatureAlgorithm", core.ObjectIdentifier),
    ]


class OSESSignatureV1(core.Sequence):
    _fields: ClassVar = [("toSign", OTBSSignV1), ("signature", core.OctetBitString)]


# --- OpenSSL and gmalg as checkers ------------------------------------------------------------------------------

Run = Callable[..., subprocess.CompletedProcess[bytes]]


@dataclass(frozen=True)
class Party:
    """An SM2 key and self-signed certificate made by the OpenSSL CLI, and a certseal Signer for them."""

    key_path: Path
    certificate: bytes
    signer: SoftwareSigner


class OpenSSL:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._count = 0

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(["openssl", *args], cwd=self.workdir, capture_output=True, timeout=60)
        if check and proc.returncode != 0:
            pytest.fail(f"openssl {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
        return proc

    def _file(self, stem: str, data: bytes) -> str:
        self._count += 1
        name = f"{stem}-{self._count}"
        (self.workdir / name).write_bytes(data)
        return name

    def party(self, name: str, days: int = 30) -> Party:
        key = f"{name}.key"
        self.run("genpkey", "-algorithm", "SM2", "-out", key)
        subject = f"/CN={name}/O=certseal interop/C=CN"
        self.run("req", "-x509", "-new", "-key", key, "-sm3", "-sigopt", DISTID, "-subj", subject,
                 "-days", str(days), "-outform", "DER", "-out", f"{name}.der")  # fmt: skip
        certificate = (self.workdir / f"{name}.der").read_bytes()
        private = PrivateKey.from_pem_or_der((self.workdir / key).read_bytes())
        signer = SoftwareSigner(name, private, SignatureScheme.SM2_SM3, certificate)
        return Party(self.workdir / key, certificate, signer)

    def sign(self, party: Party, data: bytes) -> bytes:
        message = self._file("msg", data)
        self.run("dgst", "-sm3", "-sign", str(party.key_path), "-sigopt", DISTID, "-out", f"{message}.sig", message)
        return (self.workdir / f"{message}.sig").read_bytes()

    def verifies(self, certificate: bytes, data: bytes, signature: bytes) -> bool:
        """`openssl x509 -pubkey`, then `openssl dgst -sm3 -verify` with the standard ID."""
        cert = self._file("cert", certificate)
        self.run("x509", "-inform", "DER", "-in", cert, "-pubkey", "-noout", "-out", f"{cert}.pub")
        message, sig = self._file("msg", data), self._file("sig", signature)
        proc = self.run("dgst", "-sm3", "-verify", f"{cert}.pub", "-sigopt", DISTID, "-signature", sig, message,
                        check=False)  # fmt: skip
        return proc.returncode == 0 and b"Verified OK" in proc.stdout


def sm3(data: bytes) -> bytes:
    digest = SM3()
    digest.update(data)
    return bytes(digest.value())


def both_verify(openssl: OpenSSL, certificate: bytes, data: bytes, signature: bytes) -> bool:
    by_gmalg = sm2_signature_valid(x509.Certificate.load(certificate), data, signature)
    by_openssl = openssl.verifies(certificate, data, signature)
    assert by_gmalg == by_openssl, "gmalg and OpenSSL disagree"
    return by_gmalg


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


@pytest.fixture(scope="module")
def openssl(tmp_path_factory: pytest.TempPathFactory) -> OpenSSL:
    return OpenSSL(tmp_path_factory.mktemp("ses-openssl"))


@pytest.fixture(scope="module")
def maker(openssl: OpenSSL) -> Party:
    return openssl.party("seal-maker")


@pytest.fixture(scope="module")
def signer(openssl: OpenSSL) -> Party:
    return openssl.party("seal-user")


NOW = datetime.now(UTC).replace(microsecond=0)


def content(*certificates: bytes) -> SealContent:
    return SealContent(
        es_id="31010400000042",
        vid="CERTSEAL",
        seal_type=2,
        name="某某市市场监督管理局 电子证照专用章",
        signer_certificates=list(certificates),
        created=NOW,
        valid_start=NOW - timedelta(hours=1),
        valid_end=NOW + timedelta(days=30),
        picture=SealPicture("SVG", SVG, 42, 42),
    )


@pytest.fixture(scope="module")
def seal(maker: Party, signer: Party) -> bytes:
    return build_seal_v4(maker.signer, content(signer.certificate))


# --- certseal builds, others check ------------------------------------------------------------------------------


def test_built_seal_is_read_by_the_test_schema_and_verified_by_gmalg_and_openssl(
    openssl: OpenSSL, seal: bytes, maker: Party, signer: Party
) -> None:
    parsed = OSESealV4.load(seal, strict=True)
    assert parsed.dump(force=True) == seal, "not DER"
    info = parsed["eSealInfo"]
    assert info["header"].native == {"id": "ES", "version": 4, "vid": "CERTSEAL"}
    assert info["esID"].native == "31010400000042"
    prop = OPropertyV4Certs.load(info["property"].dump(), strict=True)
    assert prop.dump(force=True) == info["property"].dump()
    expected = content(signer.certificate)
    assert prop.native == {
        "type": 2,
        "name": expected.name,
        "certListType": 1,
        "certList": [signer.certificate],
        "createDate": expected.created,
        "validStart": expected.valid_start,
        "validEnd": expected.valid_end,
    }
    assert info["picture"].native == {"type": "SVG", "data": SVG, "width": 42, "height": 42}
    assert parsed["cert"].native == maker.certificate and parsed["signAlgID"].dotted == SM2_SM3

    signed, signature = info.dump(), parsed["signedValue"].native
    assert both_verify(openssl, maker.certificate, signed, signature)
    assert not both_verify(openssl, maker.certificate, flip(signed, 40), signature)
    assert not both_verify(openssl, signer.certificate, signed, signature)


def test_built_signature_is_read_by_the_test_schema_and_verified_by_gmalg_and_openssl(
    openssl: OpenSSL, seal: bytes, signer: Party
) -> None:
    der = build_signature_v4(signer.signer, seal, PROTECTED, PROPERTY, time=NOW)
    parsed = OSESSignatureV4.load(der, strict=True)
    assert parsed.dump(force=True) == der, "not DER"
    tbs = parsed["toSign"]
    assert tbs["version"].native == 4 and tbs["eseal"].dump() == seal
    assert tbs["timeInfo"].native == NOW and tbs["timeInfo"].contents == NOW.strftime("%Y%m%d%H%M%SZ").encode()
    assert tbs["dataHash"].native == sm3(PROTECTED) and tbs["propertyInfo"].native == PROPERTY
    assert parsed["cert"].native == signer.certificate and parsed["signatureAlgID"].dotted == SM2_SM3
    assert parsed["timeStamp"].native is None

    signature = parsed["signature"].native
    assert both_verify(openssl, signer.certificate, tbs.dump(), signature)
    assert not both_verify(openssl, signer.certificate, flip(tbs.dump(), len(tbs.dump()) - 3), signature)


# --- others build, certseal checks ------------------------------------------------------------------------------


def _digest_list_seal(openssl: OpenSSL, maker: Party, digest_value: bytes) -> bytes:
    """A v4 seal with certListType 2 (digests of the signers' certificates), signed by the OpenSSL CLI."""
    prop = OPropertyV4Digests(
        {
            "type": 1,
            "name": "摘要列表印章",
            "certListType": 2,
            "certList": [{"type": "SM3", "value": digest_value}],
            "createDate": NOW,
            "validStart": NOW - timedelta(days=1),
            "validEnd": NOW + timedelta(days=1),
        }
    )
    info = OSealInfoV4(
        {
            "header": {"id": "ES", "version": 4, "vid": "OPENSSL"},
            "esID": "digest-list-1",
            "property": core.Any.load(prop.dump()),
            "picture": {"type": "PNG", "data": b"\x89PNG\r\n\x1a\n", "width": 30, "height": 30},
        }
    )
    signature = openssl.sign(maker, info.dump())
    return bytes(
        OSESealV4({"eSealInfo": info, "cert": maker.certificate, "signAlgID": SM2_SM3, "signedValue": signature}).dump()
    )


def test_openssl_signed_digest_list_seal_is_verified_by_certseal(openssl: OpenSSL, maker: Party, signer: Party) -> None:
    seal = _digest_list_seal(openssl, maker, sm3(signer.certificate))
    view = parse_seal(seal)
    assert view.cert_list_type == 2 and view.certificates == () and view.deviations == ()
    assert [(d.algorithm, d.value) for d in view.cert_digests] == [("SM3", sm3(signer.certificate))]
    assert verify_seal(view).ok

    signature = parse_signature(build_signature_v4(signer.signer, seal, PROTECTED, PROPERTY, time=NOW))
    check = verify_signature(signature, PROTECTED)
    assert check.ok and check.signer_in_seal

    wrong = _digest_list_seal(openssl, maker, sm3(maker.certificate))
    assert verify_seal(parse_seal(wrong)).ok
    with pytest.raises(ValidationError, match="signer"):
        build_signature_v4(signer.signer, wrong, PROTECTED, PROPERTY, time=NOW)


def _v1_structures(openssl: OpenSSL, maker: Party, signer: Party, time_info: bytes, inner_only: bool = False) -> bytes:
    """A GM/T 0031-2014 seal and signature, every signature made by the OpenSSL CLI."""
    info = OSealInfoV1(
        {
            "header": {"id": "ES", "version": 1, "vid": "OPENSSL"},
            "esID": "v1-seal-7",
            "property": {
                "type": 1,
                "name": "GM/T 0031 测试章",
                "certList": [signer.certificate],
                "createDate": NOW,
                "validStart": NOW - timedelta(days=1),
                "validEnd": NOW + timedelta(days=1),
            },
            "picture": {"type": "PNG", "data": b"\x89PNG\r\n\x1a\n", "width": 40, "height": 40},
        }
    )
    cert = core.OctetString(maker.certificate)
    algorithm = core.ObjectIdentifier(SM2_SM3)
    signed = info.dump() if inner_only else core.Sequence(contents=info.dump() + cert.dump() + algorithm.dump()).dump()
    seal = OSESealV1(
        {
            "esealInfo": info,
            "signInfo": {"cert": cert, "signatureAlgorithm": algorithm, "signData": openssl.sign(maker, signed)},
        }
    )
    tbs = OTBSSignV1(
        {
            "version": 1,
            "eseal": seal,
            "timeInfo": time_info,
            "dataHash": sm3(PROTECTED),
            "propertyInfo": PROPERTY,
            "cert": signer.certificate,
            "signatureAlgorithm": SM2_SM3,
        }
    )
    return bytes(OSESSignatureV1({"toSign": tbs, "signature": openssl.sign(signer, tbs.dump())}).dump())


def test_openssl_signed_v1_seal_and_signature_are_verified_by_certseal(
    openssl: OpenSSL, maker: Party, signer: Party
) -> None:
    der = _v1_structures(openssl, maker, signer, NOW.strftime("%y%m%d%H%M%SZ").encode())
    view = parse_signature(der)
    assert view.version == 1 and view.seal.version == 1 and view.time == NOW
    assert view.seal.header.vid == "OPENSSL" and view.seal.certificates == (signer.certificate,)
    assert view.seal.created == NOW and view.deviations == () and view.seal.deviations == ()
    assert view.signed_bytes == OSESSignatureV1.load(der)["toSign"].dump()
    check = verify_signature(view, PROTECTED)
    assert check.ok, check.problems

    value = OSESSignatureV1.load(der)["signature"].native
    tampered = OSESSignatureV1({"toSign": OSESSignatureV1.load(der)["toSign"], "signature": flip(value, 10)}).dump()
    assert verify_signature(parse_signature(tampered), PROTECTED).codes == {ProblemCode.SIGNATURE_INVALID}
    assert verify_signature(view, PROTECTED + b"x").codes == {ProblemCode.DATA_HASH_MISMATCH}

    # a maker signature over esealInfo alone is not what GM/T 0031 signs
    inner = parse_signature(_v1_structures(openssl, maker, signer, NOW.strftime("%y%m%d%H%M%SZ").encode(), True))
    assert verify_signature(inner, PROTECTED).codes == {ProblemCode.SEAL_SIGNATURE_INVALID}


LOCAL = NOW + timedelta(hours=8)  # China Standard Time, as ofdrw's LocalDateTime writes it


@pytest.mark.parametrize(
    ("time_info", "expected"),
    [
        (LOCAL.strftime("%Y-%m-%d %H:%M:%S").encode(), NOW),  # ofdrw SESV1Container
        (NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z").encode(), NOW),  # iOFD
        (NOW.strftime("%Y%m%d%H%M%SZ").encode(), NOW),  # GeneralizedTime text
        (core.UTCTime(NOW).dump(), NOW),  # a DER UTCTime inside the BIT STRING
        (b"yesterday", None),
    ],
)
def test_other_v1_time_info_spellings_are_named_deviations(
    openssl: OpenSSL, maker: Party, signer: Party, time_info: bytes, expected: datetime | None
) -> None:
    view = parse_signature(_v1_structures(openssl, maker, signer, time_info))
    assert [d.code for d in view.deviations] == [ProblemCode.NONSTANDARD_TIME_INFO]
    assert view.time == expected
    check = verify_signature(view, PROTECTED)
    assert check.codes == (set() if expected else {ProblemCode.SIGNING_TIME_UNREADABLE})
    assert check.signature_valid and check.seal.ok


# --- with CaService keys and a TsaService timestamp ------------------------------------------------------------


def test_platform_seal_signature_and_timestamp(platform: Platform, tmp_path: Path) -> None:
    ca = CaService(platform)
    ca.create_ca("seal-root", KeyAlgorithm.SM2, ACTOR, subject="CN=电子印章根CA,O=certseal,C=CN")
    ca.create_ca("tsa-root", KeyAlgorithm.P256, ACTOR)
    tsa = TsaService(platform)
    tsa.setup("tsa-root", KeyAlgorithm.P256, ACTOR)

    def party(profile_name: str, subject: str) -> SoftwareSigner:
        issued = ca.issue("seal-root", profile_name, ACTOR, subject=subject, generate=KeyAlgorithm.SM2, export_key=True)
        assert issued.private_key_pkcs8 is not None
        key = PrivateKey.from_pkcs8_der(issued.private_key_pkcs8)
        return SoftwareSigner(subject, key, SignatureScheme.SM2_SM3, issued.certificate_der)

    maker = party("document-signer", "CN=电子印章制作系统,O=certseal,C=CN")
    user = party("seal", "CN=某某公司合同专用章,O=某某公司,C=CN")

    def timestamper(signature_value: bytes) -> bytes:
        response = tsp.TimeStampResp.load(tsa.stamp(build_request(signature_value, "sha256", cert_req=True)))
        return bytes(response["time_stamp_token"].dump())

    assert user.certificate is not None and maker.certificate is not None
    seal = build_seal_v4(maker, content(user.certificate))
    der = build_signature_v4(user, seal, PROTECTED, PROPERTY, timestamper=timestamper)
    view = parse_signature(der)
    assert verify_signature(view, PROTECTED).ok
    assert sm2_signature_valid(x509.Certificate.load(maker.certificate), view.seal.signed_bytes, view.seal.signature)
    parsed = OSESSignatureV4.load(der, strict=True)
    assert parsed.dump(force=True) == der
    assert sm2_signature_valid(
        x509.Certificate.load(user.certificate), parsed["toSign"].dump(), parsed["signature"].native
    )

    token = parsed["timeStamp"].native
    assert token == view.timestamp
    info = tsa.active()
    (tmp_path / "token.der").write_bytes(token)
    (tmp_path / "signature.bin").write_bytes(parsed["signature"].native)
    (tmp_path / "other.bin").write_bytes(parsed["signature"].native + b"x")
    (tmp_path / "tsa.pem").write_bytes(pem.armor("CERTIFICATE", info.certificate_der))
    (tmp_path / "root.pem").write_bytes(b"".join(pem.armor("CERTIFICATE", c) for c in info.chain))

    def ts_verify(data: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["openssl", "ts", "-verify", "-data", data, "-in", "token.der", "-token_in", "-CAfile", "root.pem",
             "-untrusted", "tsa.pem"],
            cwd=tmp_path, capture_output=True, timeout=60,
        )  # fmt: skip

    ok = ts_verify("signature.bin")
    assert ok.returncode == 0 and b"Verification: OK" in ok.stdout, ok.stderr
    assert ts_verify("other.bin").returncode != 0
