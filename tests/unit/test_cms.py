"""certseal.signing.cms on in-memory PKIs: structure, attributes, checks, timestamps and refused input.

The outside checkers (OpenSSL, gmalg) are in tests/interop/test_cms_*.py and tests/integration/test_cms_tsa.py;
they import the small PKI below.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from asn1crypto import cms, core, x509

from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.keys import PrivateKey
from certseal.crypto.tokens.software import SoftwareSigner
from certseal.errors import CryptoError, ValidationError
from certseal.pki import certificates as certs
from certseal.pki import tsa as pki_tsa
from certseal.pki.names import build_name, parse_dn
from certseal.pki.profiles import profile
from certseal.signing import cms as signing_cms
from certseal.signing.cms import (
    DigestName,
    add_signature_timestamp,
    check_signer,
    default_digest,
    parse,
    rfc3161_timestamper,
    sign,
    sign_digest,
    timestamp_imprint_matches,
)

NOW = datetime.now(UTC).replace(microsecond=0)
YEAR = certs.Validity(NOW - timedelta(days=1), NOW + timedelta(days=365))
CONTENT = "处方 2024-001: amoxicillin 500 mg\n".encode()
SIGNED_DATA, SM2_SIGNED_DATA = "1.2.840.113549.1.7.2", "1.2.156.10197.6.1.4.2.2"
DATA, SM2_DATA = "1.2.840.113549.1.7.1", "1.2.156.10197.6.1.4.2.1"


@dataclass(frozen=True)
class Pki:
    """Root -> intermediate -> seal certificate, with the seal's signer; DER certificates."""

    root: bytes
    intermediate: bytes
    leaf: bytes
    signer: SoftwareSigner
    intermediate_signer: SoftwareSigner

    @property
    def chain(self) -> list[bytes]:
        return [self.intermediate]

    @property
    def digest(self) -> DigestName:
        return default_digest(self.signer)


def _signer(key: PrivateKey, certificate: bytes | None = None, scheme: SignatureScheme | None = None) -> SoftwareSigner:
    return SoftwareSigner("test", key, scheme or key.algorithm.default_scheme, certificate)


def _dn(text: str) -> x509.Name:
    return build_name(parse_dn(text))


def issue_leaf(issuer: certs.Issuer, subject: str, key: PrivateKey, kind: str = "seal") -> bytes:
    return certs.issue(issuer, certs.Subject(_dn(subject), key.public_key), profile(kind), YEAR, certs.new_serial())


def make_pki(algorithm: KeyAlgorithm, scheme: SignatureScheme | None = None, name: str = "certseal") -> Pki:
    root_key, sub_key, leaf_key = (PrivateKey.generate(algorithm) for _ in range(3))
    root_subject = certs.Subject(_dn(f"CN={name} test root,O=certseal,C=CN"), root_key.public_key)
    root_issuer = certs.self_signed_issuer(root_subject, _signer(root_key))
    root = certs.issue(root_issuer, root_subject, profile("root-ca"), YEAR, certs.new_serial())
    sub_name = _dn(f"CN={name} test issuing CA,O=certseal,C=CN")
    intermediate = certs.issue(
        root_issuer, certs.Subject(sub_name, sub_key.public_key), profile("intermediate-ca"), YEAR, certs.new_serial()
    )
    sub_issuer = certs.Issuer(sub_name, x509.Certificate.load(intermediate).key_identifier, _signer(sub_key))
    leaf = issue_leaf(sub_issuer, "CN=Contract seal,O=Example Hospital,C=CN", leaf_key)
    return Pki(root, intermediate, leaf, _signer(leaf_key, leaf, scheme), _signer(sub_key, intermediate))


@cache
def pki(algorithm: KeyAlgorithm, scheme: SignatureScheme | None = None) -> Pki:
    """One PKI per algorithm for the whole run (RSA key generation is the slow part of these tests)."""
    return make_pki(algorithm, scheme)


KINDS = {
    "rsa2048": (KeyAlgorithm.RSA2048, None),
    "rsa-pss": (KeyAlgorithm.RSA2048, SignatureScheme.RSA_PSS_SHA256),
    "p256": (KeyAlgorithm.P256, None),
    "sm2": (KeyAlgorithm.SM2, None),
}


def pki_of(kind: str) -> Pki:
    return pki(*KINDS[kind])


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def local_timestamper(tsa_pki: Pki) -> Callable[[bytes], bytes]:
    """An in-process RFC 3161 TSA (pki.tsa, no database) answering TimeStampReq DER."""
    tsa_key = PrivateKey.generate(tsa_pki.signer.key_algorithm)
    issuer = certs.Issuer(
        _dn("CN=certseal test issuing CA,O=certseal,C=CN"),
        x509.Certificate.load(tsa_pki.intermediate).key_identifier,
        tsa_pki.intermediate_signer,
    )
    certificate = issue_leaf(issuer, "CN=certseal TSA test,C=CN", tsa_key, "tsa")
    authority = pki_tsa.TimestampAuthority(_signer(tsa_key, certificate), certificate)
    serials = iter(range(1000, 2000))

    def send(request: bytes) -> bytes:
        try:
            checked = pki_tsa.parse_request(request)
        except pki_tsa.RequestRejected as exc:
            return pki_tsa.rejection(exc.failure, exc.message)
        return authority.issue(checked, next(serials), datetime.now(UTC)).response_der

    return send


# --- structure ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("detached", [True, False], ids=["detached", "attached"])
@pytest.mark.parametrize("cades", [True, False], ids=["cades", "plain"])
def test_round_trip(kind: str, detached: bool, cades: bool) -> None:
    p = pki_of(kind)
    der = sign(p.signer, CONTENT, detached=detached, chain=p.chain, cades=cades, signing_time=NOW)
    assert cms.ContentInfo.load(der).dump(force=True) == der, "not canonical DER"
    signed = parse(der)
    gm = kind == "sm2"
    assert signed.content_info_type == (SM2_SIGNED_DATA if gm else SIGNED_DATA)
    assert signed.content_type == (SM2_DATA if gm else DATA)
    assert signed.content == (None if detached else CONTENT)
    assert sorted(signed.certificates) == sorted([p.leaf, p.intermediate]) and signed.crls == []
    [view] = signed.signers
    assert view.signer_certificate == p.leaf and view.scheme is p.signer.scheme
    assert view.digest_algorithm == p.digest == ("sm3" if gm else "sha256")
    assert view.message_digest == signing_cms.digest(p.digest, CONTENT)
    assert view.content_type_attribute == signed.content_type and view.signing_time == NOW
    assert view.timestamp_tokens == [] and view.problems == ()
    if cades:
        assert view.signing_certificate_v2_hash == signing_cms.digest(p.digest, p.leaf)
        assert view.signing_certificate_v2_hash_algorithm == p.digest
        leaf = x509.Certificate.load(p.leaf)
        assert view.signing_certificate_v2_issuer_serial is not None
        assert view.signing_certificate_v2_issuer_serial[1] == leaf.serial_number
    else:
        assert view.signing_certificate_v2_hash is None
    check = check_signer(view, content=CONTENT if detached else None)
    assert check.valid, check
    assert check.signing_certificate_matches is (True if cades else None)


def test_sm2_object_identifiers() -> None:
    p = pki_of("sm2")
    info = cms.ContentInfo.load(sign(p.signer, CONTENT, detached=False))
    assert info["content_type"].dotted == SM2_SIGNED_DATA
    signed = info["content"]
    assert signed["version"].native == "v1"
    assert signed["encap_content_info"]["content_type"].dotted == SM2_DATA
    assert [a["algorithm"].dotted for a in signed["digest_algorithms"]] == ["1.2.156.10197.1.401"]
    signer_info = signed["signer_infos"][0]
    assert signer_info["digest_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"
    assert signer_info["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    attributes = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    assert attributes["content_type"].dotted == SM2_DATA
    cert_id = attributes["signing_certificate_v2"]["certs"][0]
    assert cert_id["hash_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"


def test_cades_without_signing_time_and_plain_attributes() -> None:
    p = pki_of("p256")
    names = {
        mode: [a["type"].native for a in cms.ContentInfo.load(der)["content"]["signer_infos"][0]["signed_attrs"]]
        for mode, der in {
            "b-b": sign(p.signer, CONTENT, signing_time=None),
            "plain": sign(p.signer, CONTENT, cades=False),
            "plain-no-time": sign(p.signer, CONTENT, cades=False, signing_time=None),
        }.items()
    }
    assert sorted(names["b-b"]) == ["content_type", "message_digest", "signing_certificate_v2"]
    assert sorted(names["plain"]) == ["content_type", "message_digest", "signing_time"]
    assert sorted(names["plain-no-time"]) == ["content_type", "message_digest"]
    # sign's default signing time is now, sign_digest's is none
    assert parse(sign(p.signer, CONTENT)).signers[0].signing_time is not None
    digest = hashlib.sha256(CONTENT).digest()
    assert parse(sign_digest(p.signer, digest, digest_algorithm="sha256")).signers[0].signing_time is None


def test_signing_time_encodings() -> None:
    p = pki_of("p256")
    late = datetime(2051, 3, 4, 5, 6, 7, 890, tzinfo=UTC)
    info = cms.ContentInfo.load(sign(p.signer, CONTENT, signing_time=late))
    attributes = {a["type"].native: a["values"][0] for a in info["content"]["signer_infos"][0]["signed_attrs"]}
    assert attributes["signing_time"].name == "generalized_time"
    assert attributes["signing_time"].native == late.replace(microsecond=0)
    with pytest.raises(ValidationError, match="signing_time"):
        sign(p.signer, CONTENT, signing_time=datetime(2024, 1, 1))  # naive on purpose


def test_sign_digest_is_sign_for_a_hash_only_client() -> None:
    p = pki_of("rsa2048")  # PKCS#1 v1.5 is deterministic: the two must be identical
    by_content = sign(p.signer, CONTENT, chain=p.chain, signing_time=NOW)
    by_digest = sign_digest(p.signer, hashlib.sha256(CONTENT).digest(), digest_algorithm="sha256", chain=p.chain,
                            signing_time=NOW)  # fmt: skip
    assert by_content == by_digest
    other_type = parse(sign_digest(p.signer, b"\1" * 32, digest_algorithm="sha256", content_type="tst_info"))
    assert other_type.content_type == "1.2.840.113549.1.9.16.1.4"
    assert other_type.signers[0].content_type_attribute == other_type.content_type
    assert (
        cms.ContentInfo.load(sign_digest(p.signer, b"\1" * 32, digest_algorithm="sha256", content_type="1.2.3.4"))[
            "content"
        ]["version"].native
        == "v3"
    )


def test_the_certificate_set_has_no_duplicates() -> None:
    p = pki_of("p256")
    signed = parse(sign(p.signer, CONTENT, chain=[p.intermediate, p.leaf, p.intermediate, p.root]))
    assert sorted(signed.certificates) == sorted([p.leaf, p.intermediate, p.root])


def test_templates_are_reused() -> None:
    p = pki_of("p256")
    sign(p.signer, CONTENT)
    before = dict(signing_cms._TEMPLATES)
    sign(p.signer, b"other content")
    assert signing_cms._TEMPLATES == before


# --- checks and their negatives -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa2048", "p256", "sm2"])
def test_a_changed_content_byte_is_found(kind: str) -> None:
    p = pki_of(kind)
    view = parse(sign(p.signer, CONTENT, chain=p.chain)).signers[0]
    check = check_signer(view, content=flip(CONTENT, 3))
    assert not check.digest_matches and check.signature_valid and not check.valid
    assert not check_signer(view, content_digest=signing_cms.digest(p.digest, flip(CONTENT, 3))).digest_matches
    assert check_signer(view, content_digest=signing_cms.digest(p.digest, CONTENT)).valid
    attached = parse(sign(p.signer, CONTENT, detached=False))
    encapsulated = bytes(attached.content or b"")
    der = sign(p.signer, CONTENT, detached=False)
    tampered = parse(der.replace(encapsulated, flip(encapsulated, 0)))
    assert not check_signer(tampered.signers[0]).digest_matches


@pytest.mark.parametrize("kind", ["rsa2048", "rsa-pss", "p256", "sm2"])
def test_a_changed_signed_attribute_breaks_the_signature(kind: str) -> None:
    p = pki_of(kind)
    der = sign(p.signer, CONTENT, signing_time=NOW)
    encoded_time = NOW.strftime("%y%m%d%H%M%SZ").encode()
    later = (NOW + timedelta(seconds=1)).strftime("%y%m%d%H%M%SZ").encode()
    view = parse(der.replace(encoded_time, later)).signers[0]
    check = check_signer(view, content=CONTENT)
    assert check.digest_matches and not check.signature_valid and not check.valid


@pytest.mark.parametrize("kind", ["rsa2048", "sm2"])
def test_the_wrong_certificate_is_refused(kind: str) -> None:
    p = pki_of(kind)
    view = parse(sign(p.signer, CONTENT)).signers[0]
    check = check_signer(view, content=CONTENT, certificate=p.intermediate)
    assert not check.signature_valid and check.signing_certificate_matches is False
    assert "the certificate is not the one the signer identifier (sid) names" in check.problems
    other = make_pki(p.signer.key_algorithm, name="other")  # the same names and key type, another key
    check = check_signer(view, content=CONTENT, certificate=other.leaf)
    assert not check.signature_valid and not check.valid


def test_a_signature_without_certificate_or_content_is_not_valid() -> None:
    p = pki_of("p256")
    der = sign(p.signer, CONTENT)
    stripped = parse(_modified(der, _drop_certificates)).signers[0]
    assert stripped.signer_certificate is None
    check = check_signer(stripped, content=CONTENT)
    assert not check.signature_valid and not check.valid
    assert check_signer(stripped, content=CONTENT, certificate=p.leaf).valid
    detached = check_signer(parse(der).signers[0])
    assert not detached.digest_matches
    assert any("detached signature" in problem for problem in detached.problems)


def _modified(der: bytes, edit: Callable[[cms.ContentInfo], None]) -> bytes:
    """The CMS after `edit` changed its parsed copy, re-encoded by asn1crypto."""
    info = cms.ContentInfo.load(der).copy()
    edit(info)
    encoded: bytes = info.dump(force=True)
    return encoded


def _drop_certificates(info: cms.ContentInfo) -> None:
    info["content"]["certificates"] = None


def test_a_content_type_attribute_other_than_the_econtent_type_is_a_problem() -> None:
    p = pki_of("rsa2048")
    der = sign(p.signer, CONTENT, detached=False)
    view = parse(
        _modified(der, lambda info: info["content"]["encap_content_info"].__setitem__("content_type", "1.2.3.4"))
    ).signers[0]
    check = check_signer(view)
    assert check.signature_valid and check.digest_matches and not check.valid
    assert any("content-type attribute" in problem for problem in check.problems)


# --- timestamps -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["p256", "sm2"])
def test_cades_t_from_an_rfc3161_tsa(kind: str) -> None:
    p = pki_of(kind)
    timestamper = rfc3161_timestamper(local_timestamper(p))
    view = parse(sign(p.signer, CONTENT, timestamper=timestamper)).signers[0]
    [token] = view.timestamp_tokens
    assert timestamp_imprint_matches(view, token)
    assert check_signer(view, content=CONTENT).valid
    other = parse(sign(p.signer, CONTENT)).signers[0]
    assert not timestamp_imprint_matches(other, token)
    tst = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed
    assert tst["message_imprint"]["hash_algorithm"]["algorithm"].native == p.digest


def test_add_signature_timestamp_keeps_what_was_signed() -> None:
    p = pki_of("rsa2048")
    timestamper = rfc3161_timestamper(local_timestamper(p))
    base = sign(p.signer, CONTENT, detached=False, chain=p.chain)
    once = add_signature_timestamp(base, timestamper)
    twice = add_signature_timestamp(once, timestamper)
    signed_before, signed_after = cms.ContentInfo.load(base)["content"], cms.ContentInfo.load(twice)["content"]
    for name in ("version", "digest_algorithms", "encap_content_info", "certificates"):
        assert signed_after[name].dump() == signed_before[name].dump()
    before, after = parse(base), parse(twice)
    assert after.certificates == before.certificates and after.content == before.content
    old, new = before.signers[0], after.signers[0]
    assert new.signed_attributes_der == old.signed_attributes_der and new.signature == old.signature
    assert len(new.timestamp_tokens) == 2
    assert all(timestamp_imprint_matches(new, token) for token in new.timestamp_tokens)
    assert check_signer(new).valid


def test_a_refusing_or_confused_tsa_is_an_error() -> None:
    p = pki_of("p256")
    send = local_timestamper(p)
    with pytest.raises(CryptoError, match="refused: rejection"):
        rfc3161_timestamper(send, policy="1.2.3.4")(b"\1" * 32, "sha256")
    replay = send(pki_tsa.build_request(b"something else"))
    with pytest.raises(CryptoError, match="answered another request"):
        rfc3161_timestamper(lambda _request: replay)(b"\1" * 32, "sha256")
    with pytest.raises(CryptoError, match="not a TimeStampResp"):
        rfc3161_timestamper(lambda _request: b"garbage")(b"\1" * 32, "sha256")
    with pytest.raises(ValidationError, match="timeStampToken"):
        sign(p.signer, CONTENT, timestamper=lambda message_imprint, digest_algorithm: b"\x30\x00")
    view = parse(sign(p.signer, CONTENT)).signers[0]
    with pytest.raises(ValidationError, match="timeStampToken"):
        timestamp_imprint_matches(view, sign(p.signer, CONTENT))  # a CMS, but no TSTInfo inside


# --- refused input ---------------------------------------------------------------------------------------------


def _oid(dotted: str) -> bytes:
    encoded: bytes = core.ObjectIdentifier(dotted).dump()
    return encoded


def _signer_info(info: cms.ContentInfo) -> cms.SignerInfo:
    return info["content"]["signer_infos"][0]


def test_parse_refuses_what_is_not_a_signed_data() -> None:
    p = pki_of("rsa2048")
    der = sign(p.signer, CONTENT)
    cases: dict[str, bytes] = {
        "cms": b"not DER at all",
        "contentType": der.replace(_oid(SIGNED_DATA), _oid("1.2.840.113549.1.7.3"), 1),  # envelopedData
        "signedData.signerInfos": _modified(der, lambda info: info["content"].__setitem__("signer_infos", [])),
        "signerInfos[0].digestAlgorithm": _modified(
            der, lambda info: _signer_info(info).__setitem__("digest_algorithm", {"algorithm": "sha1"})
        ),
        "signerInfos[0].signatureAlgorithm": _modified(
            der, lambda info: _signer_info(info).__setitem__("signature_algorithm", {"algorithm": "sha1_rsa"})
        ),
    }
    for field_name, bad in cases.items():
        with pytest.raises(ValidationError) as raised:
            parse(bad)
        assert raised.value.field == field_name, (field_name, raised.value.message)
    with pytest.raises(ValidationError, match="cms"):
        parse(der + b"\0")


def test_sign_refuses_bad_input() -> None:
    p, other = pki_of("rsa2048"), pki_of("p256")
    without_certificate = _signer(p.signer.key)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("signer", lambda: sign(without_certificate, CONTENT)),
        ("signer.certificate", lambda: sign(_signer(p.signer.key, other.leaf), CONTENT)),
        ("signer.certificate", lambda: sign(_signer(p.signer.key, b"\x30\x03\x02\x01\x01"), CONTENT)),
        ("digest_algorithm", lambda: sign(p.signer, CONTENT, digest_algorithm="sha384")),
        ("digest_algorithm", lambda: sign(pki_of("sm2").signer, CONTENT, digest_algorithm="sha256")),
        ("message_digest", lambda: sign_digest(p.signer, b"\1" * 20, digest_algorithm="sha256")),
        ("chain[1]", lambda: sign(p.signer, CONTENT, chain=[p.intermediate, b"junk"])),
        ("content_type", lambda: sign_digest(p.signer, b"\1" * 32, digest_algorithm="sha256", content_type="?")),
    ]
    for field_name, call in cases:
        with pytest.raises(ValidationError) as raised:
            call()
        assert raised.value.field == field_name, (field_name, raised.value.message)


def test_sm2_signed_data_with_rfc5652_types_and_the_gbt35275_signature_oid_is_read() -> None:
    """The SM2 variants other products write; tests/interop/test_cms_sm2_gmalg.py builds them independently."""
    p = pki_of("sm2")

    def rfc5652_types(info: cms.ContentInfo) -> None:
        info["content_type"] = SIGNED_DATA
        _signer_info(info)["signature_algorithm"] = {"algorithm": "1.2.156.10197.1.301.1"}

    signed = parse(_modified(sign(p.signer, CONTENT, detached=False), rfc5652_types))
    assert signed.content_info_type == SIGNED_DATA
    view = signed.signers[0]
    assert view.scheme is SignatureScheme.SM2_SM3 and view.signature_algorithm == "1.2.156.10197.1.301.1"
    assert check_signer(view).valid
