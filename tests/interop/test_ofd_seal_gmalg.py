"""OFD seals made by certseal (OfdSealingService), checked by code we did not write.

- the GB/T 33190 XSDs (lxml/libxml2) validate OFD.xml, Signatures.xml and every Signature.xml we write. The one
  deviation allowed is the SM3 CheckMethod: Signature.xsd enumerates only MD5 and SHA1, so the test loads the
  schema and adds `1.2.156.10197.1.401` to that enumeration before compiling it (nothing else is relaxed);
- a test-only asn1crypto schema written from ofdrw's ses/v4 classes (tests/interop/test_ses_gmalg.py) re-reads
  SignedValue.dat and Seal.esl byte for byte;
- gmalg (pure-Python SM2, tests/sm2check.py) and `openssl dgst -sm3 -verify -sigopt distid:1234567812345678`
  verify the signer's signature over TBS_Sign and the seal maker's over SES_SealInfo;
- gmalg's SM3 recomputes dataHash over Signature.xml; pyca/cryptography's SM3 recomputes every Reference;
- `openssl ts -verify` checks the RFC 3161 timestamp of the signature value.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import pytest
from asn1crypto import pem, x509
from cryptography.hazmat.primitives import hashes
from lxml import etree

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.ofd.package import OfdPackage
from certseal.services.ofd_sealing import AtKeyword, AtPosition, OfdSealingService, Riding
from certseal.services.platform import Platform
from certseal.services.tsa import TsaService
from tests import ofddocs
from tests.conftest import ACTOR
from tests.integration.test_pdf_sealing import ensure_cas, make_seal
from tests.interop.test_ofd_xsd import XSD_DIR, ofd_parts, schema_errors
from tests.interop.test_ses_gmalg import OpenSSL, OSESealV4, OSESSignatureV4, flip, sm3
from tests.sm2check import sm2_signature_valid

OFD_NS = "http://www.ofdspec.org/2016"
XS = "http://www.w3.org/2001/XMLSchema"
SM3_OID = "1.2.156.10197.1.401"
SM2_SM3 = "1.2.156.10197.1.501"


@cache
def signature_schema_with_sm3() -> etree.XMLSchema:
    """Signature.xsd with the SM3 OID added to CheckMethod's enumeration {MD5, SHA1}: the only deviation allowed."""
    tree = etree.parse(str(XSD_DIR / "Signature.xsd"))
    (restriction,) = tree.xpath(
        "//xs:attribute[@name='CheckMethod']/xs:simpleType/xs:restriction", namespaces={"xs": XS}
    )
    etree.SubElement(restriction, f"{{{XS}}}enumeration", value=SM3_OID)
    return etree.XMLSchema(tree)


def ofd_xsd_errors(xml: bytes) -> list[str]:
    """XSD errors of one OFD part; Signature parts against Signature.xsd + the SM3 CheckMethod."""
    root = etree.fromstring(xml)
    if etree.QName(root).localname != "Signature":
        return schema_errors(xml)
    checker = signature_schema_with_sm3()
    return [] if checker.validate(root) else [str(e) for e in checker.error_log]


def signature_parts(package: OfdPackage) -> dict[str, bytes]:
    return {n: package[n] for n in package if n.endswith(("Signatures.xml", "/Signature.xml"))}


def all_xsd_errors(ofd: bytes) -> dict[str, list[str]]:
    package = OfdPackage.from_bytes(ofd)
    parts = {**ofd_parts(package), **signature_parts(package)}
    assert {"OFD.xml", "Doc_0/Signs/Signatures.xml", "Doc_0/Signs/Sign_0/Signature.xml"} <= parts.keys()
    return {name: errors for name, xml in parts.items() if (errors := ofd_xsd_errors(xml))}


def cryptography_sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


@pytest.fixture
def platform(make_settings: Callable[..., Settings]) -> Iterator[Platform]:
    """An embedded (SQLite) deployment: what is checked here does not depend on the database."""
    deployment = Platform(make_settings())
    deployment.db.migrate()
    yield deployment
    deployment.close()


@pytest.fixture(scope="module")
def openssl(tmp_path_factory: pytest.TempPathFactory) -> OpenSSL:
    return OpenSSL(tmp_path_factory.mktemp("ofd-openssl"))


# --- the XSDs -----------------------------------------------------------------------------------------------------


def test_the_sm3_allowance_is_the_only_one() -> None:
    sealed_like = (
        f'<ofd:Signature xmlns:ofd="{OFD_NS}"><ofd:SignedInfo><ofd:Provider ProviderName="p"/>'
        '<ofd:References CheckMethod="{}"><ofd:Reference FileRef="/OFD.xml"><ofd:CheckValue>AA==</ofd:CheckValue>'
        "</ofd:Reference></ofd:References></ofd:SignedInfo><ofd:SignedValue>/v.dat</ofd:SignedValue></ofd:Signature>"
    )
    assert ofd_xsd_errors(sealed_like.replace("{}", SM3_OID).encode()) == []
    assert ofd_xsd_errors(sealed_like.replace("{}", "SHA1").encode()) == []
    assert ofd_xsd_errors(sealed_like.replace("{}", "SM3").encode())  # ofdrw's spelling is not allowed for us
    assert ofd_xsd_errors(sealed_like.replace("{}", SM3_OID).replace("SignedInfo><", "SignedInfo><x/><").encode())


def test_every_part_of_sealed_ofds_passes_the_xsds(platform: Platform) -> None:
    make_seal(platform, KeyAlgorithm.SM2, name="sm2")
    service = OfdSealingService(platform)
    once = service.seal(ofddocs.license_ofd(), "sm2", ACTOR, AtPosition(1, 150, 250)).ofd
    twice = service.seal(once, "sm2", ACTOR, AtKeyword("许可证")).ofd
    riding = service.seal(ofddocs.long_ofd(3), "sm2", ACTOR, Riding()).ofd
    rich = service.seal(ofddocs.rich_ofd(), "sm2", ACTOR, AtPosition(1, 100, 100)).ofd
    for ofd in (once, twice, riding, rich):
        assert all_xsd_errors(ofd) == {}
    package = OfdPackage.from_bytes(twice)
    assert len(signature_parts(package)) == 3
    broken = package["Doc_0/Signs/Sign_1/Signature.xml"].replace(b'PageRef="1"', b'PageRef="page-1"')
    assert ofd_xsd_errors(broken), "the schema must see a non-numeric PageRef"


# --- signatures and digests ---------------------------------------------------------------------------------------


def test_signatures_and_references_checked_by_gmalg_openssl_and_cryptography(
    platform: Platform, openssl: OpenSSL
) -> None:
    setup = make_seal(platform, KeyAlgorithm.SM2, name="sm2")
    service = OfdSealingService(platform)
    first = service.seal(ofddocs.license_ofd(), "sm2", ACTOR, AtPosition(1, 150, 250))
    second = service.seal(first.ofd, "sm2", ACTOR, AtKeyword("许可证"))
    package = OfdPackage.from_bytes(second.ofd)
    for sign_dir in ("Doc_0/Signs/Sign_0", "Doc_0/Signs/Sign_1"):
        signature_xml = package[f"{sign_dir}/Signature.xml"]
        der = package[f"{sign_dir}/SignedValue.dat"]
        parsed = OSESSignatureV4.load(der, strict=True)
        assert parsed.dump(force=True) == der, "SignedValue.dat is not DER"
        tbs = parsed["toSign"]
        assert tbs["version"].native == 4 and parsed["signatureAlgID"].dotted == SM2_SM3
        assert tbs["propertyInfo"].native == f"/{sign_dir}/Signature.xml"
        assert tbs["dataHash"].native == sm3(signature_xml)
        assert parsed["cert"].native == setup.certificate
        assert tbs["eseal"].dump() == package[f"{sign_dir}/Seal.esl"]

        signer, signature = parsed["cert"].native, parsed["signature"].native
        assert sm2_signature_valid(x509.Certificate.load(signer), tbs.dump(), signature)
        assert openssl.verifies(signer, tbs.dump(), signature)
        assert not openssl.verifies(signer, flip(tbs.dump(), 60), signature)

        seal = OSESealV4.load(tbs["eseal"].dump(), strict=True)
        maker, seal_signature = seal["cert"].native, seal["signedValue"].native
        assert seal["eSealInfo"]["picture"]["type"].native == "PNG"
        assert sm2_signature_valid(x509.Certificate.load(maker), seal["eSealInfo"].dump(), seal_signature)
        assert openssl.verifies(maker, seal["eSealInfo"].dump(), seal_signature)
        assert "电子印章制作系统" in x509.Certificate.load(maker).subject.native["common_name"]

        root = etree.fromstring(signature_xml)
        references = root.find(f"{{{OFD_NS}}}SignedInfo/{{{OFD_NS}}}References")
        assert references is not None and references.get("CheckMethod") == SM3_OID
        checked = {}
        for reference in references:
            name = reference.get("FileRef")
            assert name is not None and name.startswith("/")
            value = base64.b64decode(reference.findtext(f"{{{OFD_NS}}}CheckValue") or "")
            assert value == cryptography_sm3(package[name[1:]]), name
            checked[name[1:]] = value
        assert "Doc_0/Signs/Signatures.xml" not in checked  # later seals may extend it
        assert {"OFD.xml", "Doc_0/Document.xml", "Doc_0/Pages/Page_0/Content.xml", f"{sign_dir}/Seal.esl"} <= set(
            checked
        )
        assert f"{sign_dir}/Signature.xml" not in checked and f"{sign_dir}/SignedValue.dat" not in checked
    second_refs = etree.fromstring(package["Doc_0/Signs/Sign_1/Signature.xml"])
    assert b"/Doc_0/Signs/Sign_0/SignedValue.dat" in etree.tostring(second_refs)  # the later seal protects the earlier


def test_timestamp_of_the_signature_value_is_checked_by_openssl_ts(platform: Platform, tmp_path: Path) -> None:
    make_seal(platform, KeyAlgorithm.SM2, name="sm2")
    ensure_cas(platform, KeyAlgorithm.P256)
    tsa = TsaService(platform)
    tsa.setup("root-p256", KeyAlgorithm.P256, ACTOR)
    sealed = OfdSealingService(platform).seal(ofddocs.license_ofd(), "sm2", ACTOR, AtPosition(1, 100, 100), True)
    der = OfdPackage.from_bytes(sealed.ofd)["Doc_0/Signs/Sign_0/SignedValue.dat"]
    parsed = OSESSignatureV4.load(der, strict=True)
    token = parsed["timeStamp"].native
    assert token
    info = tsa.active()
    (tmp_path / "token.der").write_bytes(token)
    (tmp_path / "signature.bin").write_bytes(parsed["signature"].native)
    (tmp_path / "other.bin").write_bytes(flip(parsed["signature"].native, 10))
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
