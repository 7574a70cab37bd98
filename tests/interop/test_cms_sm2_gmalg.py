"""SM2 CMS (GB/T 35275) checked without certseal: asn1crypto for the structure and OIDs, pyca/cryptography's SM3
for the digests, gmalg (tests/sm2check.py) for the SM2 signature over the DER signed attributes.  The OpenSSL 3.0
CLI cannot sign or verify SM2 CMS.  The other way round, our parse()/check_signer() read SM2 SignedData that
asn1crypto and gmalg built (both signature OIDs, GB/T 35275 and RFC 5652 content types)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asn1crypto import algos, cms, core, x509
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import hashes
from gmalg import SM2 as GmalgSM2

from certseal.crypto.keys import PublicKey
from certseal.pki import certificates as certs
from certseal.pki.profiles import profile
from certseal.signing.cms import check_signer, parse, sign
from tests.sm2check import STANDARD_ID, sm2_signature_valid
from tests.unit.test_cms import CONTENT, NOW, YEAR, Pki, flip, make_pki, pki_of

SM2_SIGNED_DATA, SM2_DATA = "1.2.156.10197.6.1.4.2.2", "1.2.156.10197.6.1.4.2.1"
SIGNED_DATA, DATA = "1.2.840.113549.1.7.2", "1.2.840.113549.1.7.1"
SM3, SM2_WITH_SM3, SM2_GBT35275 = "1.2.156.10197.1.401", "1.2.156.10197.1.501", "1.2.156.10197.1.301.1"


def _sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def _signed_attributes_der(signer_info: cms.SignerInfo) -> bytes:
    """The DER SET OF the signature covers: the [0] IMPLICIT field with the SET tag back."""
    return b"\x31" + signer_info["signed_attrs"].dump()[1:]


@pytest.fixture(scope="module")
def sm2() -> Pki:
    return pki_of("sm2")


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "attached"])
@pytest.mark.parametrize("cades", [True, False], ids=["cades", "plain"])
def test_structure_and_signature_checked_by_gmalg(sm2: Pki, detached: bool, cades: bool) -> None:
    der = sign(sm2.signer, CONTENT, detached=detached, chain=sm2.chain, cades=cades, signing_time=NOW)
    info = cms.ContentInfo.load(der)
    assert info["content_type"].dotted == SM2_SIGNED_DATA
    signed = info["content"]
    encapsulated = signed["encap_content_info"]
    assert encapsulated["content_type"].dotted == SM2_DATA
    assert (encapsulated["content"].native is None) is detached
    assert [a["algorithm"].dotted for a in signed["digest_algorithms"]] == [SM3]
    leaf = x509.Certificate.load(sm2.leaf)
    assert sorted(c.chosen.dump() for c in signed["certificates"]) == sorted([sm2.leaf, sm2.intermediate])

    [signer_info] = signed["signer_infos"]
    assert signer_info["digest_algorithm"]["algorithm"].dotted == SM3
    assert signer_info["signature_algorithm"]["algorithm"].dotted == SM2_WITH_SM3
    sid = signer_info["sid"].chosen
    assert sid["issuer"] == leaf.issuer and sid["serial_number"].native == leaf.serial_number
    attributes = {a["type"].dotted: a["values"] for a in signer_info["signed_attrs"]}
    assert all(len(values) == 1 for values in attributes.values())
    assert attributes["1.2.840.113549.1.9.3"][0].dotted == SM2_DATA
    assert attributes["1.2.840.113549.1.9.4"][0].native == _sm3(CONTENT)
    assert attributes["1.2.840.113549.1.9.5"][0].native == NOW
    signing_certificate = attributes.get("1.2.840.113549.1.9.16.2.47")
    assert (signing_certificate is not None) is cades
    if signing_certificate is not None:
        [cert_id] = signing_certificate[0]["certs"]
        assert cert_id["hash_algorithm"]["algorithm"].dotted == SM3
        assert cert_id["cert_hash"].native == _sm3(sm2.leaf)
        assert cert_id["issuer_serial"]["serial_number"].native == leaf.serial_number
        assert cert_id["issuer_serial"]["issuer"][0].chosen == leaf.issuer

    signed_attributes = _signed_attributes_der(signer_info)
    signature = signer_info["signature"].native
    assert sm2_signature_valid(leaf, signed_attributes, signature)
    assert not sm2_signature_valid(leaf, flip(signed_attributes, len(signed_attributes) - 1), signature)
    assert not sm2_signature_valid(x509.Certificate.load(sm2.intermediate), signed_attributes, signature)
    assert not sm2_signature_valid(leaf, signed_attributes, signature, distid=b"ALICE123@YAHOO.COM")  # ID matters


def test_tampered_attribute_and_wrong_certificate_are_refused_by_both(sm2: Pki) -> None:
    der = sign(sm2.signer, CONTENT, signing_time=NOW)
    later = der.replace(
        NOW.strftime("%y%m%d%H%M%SZ").encode(), (NOW + timedelta(hours=1)).strftime("%y%m%d%H%M%SZ").encode()
    )
    signer_info = cms.ContentInfo.load(later)["content"]["signer_infos"][0]
    leaf = x509.Certificate.load(sm2.leaf)
    assert not sm2_signature_valid(leaf, _signed_attributes_der(signer_info), signer_info["signature"].native)
    assert not check_signer(parse(later).signers[0], content=CONTENT).signature_valid

    view = parse(der).signers[0]
    assert check_signer(view, content=CONTENT).valid
    other = make_pki(sm2.signer.key_algorithm, name="other")
    assert not sm2_signature_valid(x509.Certificate.load(other.leaf), view.signed_attributes_der or b"", view.signature)
    assert not check_signer(view, content=CONTENT, certificate=other.leaf).signature_valid


# --- SM2 SignedData built by asn1crypto and gmalg, read by certseal ---------------------------------------------


def _gmalg_certificate(sm2: Pki, point: bytes) -> bytes:
    """A seal certificate from the test CA for a key gmalg generated."""
    spki = asn1_keys.PublicKeyInfo(
        {
            "algorithm": {
                "algorithm": "ec",
                "parameters": asn1_keys.ECDomainParameters(name="named", value="1.2.156.10197.1.301"),
            },
            "public_key": point,
        }
    ).dump()
    issuer = certs.Issuer(
        x509.Certificate.load(sm2.intermediate).subject,
        x509.Certificate.load(sm2.intermediate).key_identifier,
        sm2.intermediate_signer,
    )
    subject = certs.Subject(x509.Certificate.load(sm2.leaf).subject, PublicKey(spki))
    return certs.issue(issuer, subject, profile("seal"), YEAR, certs.new_serial())


def _gmalg_signed_data(
    sm2: Pki, signature_oid: str, gm_types: bool, detached: bool, key: tuple[bytes, bytes]
) -> tuple[bytes, bytes]:
    """(ContentInfo DER, signer certificate DER), built without certseal's cms module."""
    secret, point = key
    certificate_der = _gmalg_certificate(sm2, point)
    certificate = x509.Certificate.load(certificate_der)
    data_type = SM2_DATA if gm_types else DATA
    attributes = cms.CMSAttributes(
        [
            {"type": "content_type", "values": [data_type]},
            {"type": "message_digest", "values": [_sm3(CONTENT)]},
        ]
    )
    r, s = GmalgSM2(sk=secret, pk=point, uid=STANDARD_ID).sign(attributes.dump())
    signature = algos.DSASignature({"r": int.from_bytes(r, "big"), "s": int.from_bytes(s, "big")}).dump()
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value={"issuer": certificate.issuer, "serial_number": certificate.serial_number},
            ),
            "digest_algorithm": {"algorithm": SM3},
            "signed_attrs": attributes,
            "signature_algorithm": {"algorithm": signature_oid},
            "signature": signature,
        }
    )
    encapsulated: dict[str, object] = {"content_type": data_type}
    if not detached:
        # asn1crypto leaves out the [0] tag of an Any field whose content type it does not know: give it here
        encapsulated["content"] = core.OctetString(CONTENT, explicit=0 if gm_types else None)
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": SM3}],
            "encap_content_info": encapsulated,
            "certificates": [certificate, x509.Certificate.load(sm2.intermediate)],
            "signer_infos": [signer_info],
        }
    )
    outer = SM2_SIGNED_DATA if gm_types else SIGNED_DATA
    content = _tlv(0xA0, signed_data.dump())  # [0] EXPLICIT, by hand: asn1crypto knows no SM2 content type
    return _tlv(0x30, core.ObjectIdentifier(outer).dump() + content), certificate_der


def _tlv(tag: int, value: bytes) -> bytes:
    size = len(value)
    length = (
        bytes([size])
        if size < 0x80
        else bytes([0x80 | ((size.bit_length() + 7) // 8)]) + size.to_bytes((size.bit_length() + 7) // 8, "big")
    )
    return bytes([tag]) + length + value


@pytest.fixture(scope="module")
def gmalg_key() -> tuple[bytes, bytes]:
    secret, point = GmalgSM2().generate_keypair()
    return secret, point


@pytest.mark.parametrize("signature_oid", [SM2_WITH_SM3, SM2_GBT35275])
@pytest.mark.parametrize("gm_types", [True, False], ids=["gbt35275-types", "rfc5652-types"])
@pytest.mark.parametrize("detached", [True, False], ids=["detached", "attached"])
def test_certseal_reads_sm2_cms_built_by_gmalg(
    sm2: Pki, gmalg_key: tuple[bytes, bytes], signature_oid: str, gm_types: bool, detached: bool
) -> None:
    der, certificate = _gmalg_signed_data(sm2, signature_oid, gm_types, detached, gmalg_key)
    signed = parse(der)
    assert signed.content_info_type == (SM2_SIGNED_DATA if gm_types else SIGNED_DATA)
    assert signed.content == (None if detached else CONTENT)
    view = signed.signers[0]
    assert view.signer_certificate == certificate and view.signature_algorithm == signature_oid
    assert view.digest_algorithm == "sm3"
    check = check_signer(view, content=CONTENT if detached else None)
    assert check.valid and check.signing_certificate_matches is None, check

    assert not check_signer(view, content=flip(CONTENT, 1)).digest_matches
    tampered = parse(flip(der, der.index(view.signature) + 12)).signers[0]
    assert not check_signer(tampered, content=CONTENT).signature_valid
    assert not check_signer(view, content=CONTENT, certificate=sm2.leaf).signature_valid
