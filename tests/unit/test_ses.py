"""certseal.seals.ses: build → parse → verify round trips, every check's negative, input validation and robustness.

Outside checkers (gmalg, the OpenSSL CLI, a test-only schema) are in tests/interop/test_ses_*.py; here the
structures are altered with a schema-free TLV helper and re-signed with the key, so each check fails on its own.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from asn1crypto import algos, core

from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.hashes import sm3
from certseal.crypto.keys import PrivateKey
from certseal.crypto.tokens.software import SoftwareSigner
from certseal.errors import ValidationError
from certseal.pki import certificates as certs
from certseal.pki.profiles import profile
from certseal.pki.tsa import TimestampAuthority, build_request, parse_request
from certseal.seals.ses import (
    ExtData,
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

NOW = datetime(2025, 3, 1, 8, 30, 15, tzinfo=UTC)
PROTECTED = b'<?xml version="1.0" encoding="UTF-8"?><ofd:Signature xmlns:ofd="http://www.ofdspec.org/2016"/>'
PROPERTY = "/Doc_0/Signs/Sign_0/Signature.xml"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


# --- schema-free DER surgery ------------------------------------------------------------------------------------


def tlv_size(data: bytes, offset: int) -> int:
    """Size of the DER TLV starting at `offset` (single-byte tags; definite lengths)."""
    first = data[offset + 1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    return 2 + count + int.from_bytes(data[offset + 2 : offset + 2 + count], "big")


def children(der: bytes) -> list[bytes]:
    """The encodings of a SEQUENCE's elements, as they are."""
    assert tlv_size(der, 0) == len(der)
    offset, out = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F), []
    while offset < len(der):
        size = tlv_size(der, offset)
        out.append(der[offset : offset + size])
        offset += size
    return out


def sequence(*parts: bytes) -> bytes:
    return core.Sequence(contents=b"".join(parts)).dump()


def bit_string(value: bytes) -> bytes:
    return core.OctetBitString(value).dump()


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def flip_in(data: bytes, marker: bytes) -> bytes:
    """Flip the lowest bit of the first byte of `marker`, found exactly once in `data`."""
    assert data.count(marker) == 1
    return flip(data, data.index(marker))


@dataclass(frozen=True)
class Party:
    key: PrivateKey
    certificate: bytes
    signer: SoftwareSigner


def _party(name: str) -> Party:
    key = PrivateKey.generate(KeyAlgorithm.SM2)
    signer = SoftwareSigner(name, key, SignatureScheme.SM2_SM3)
    subject = certs.subject_from(
        {"common_name": name, "organization_name": "certseal test", "country_name": "CN"}, key.public_key
    )
    issuer = certs.self_signed_issuer(subject, signer)
    der = certs.issue(issuer, subject, profile("seal"), certs.Validity.starting(NOW, 30), certs.new_serial())
    return Party(key, der, replace(signer, certificate=der))


@pytest.fixture(scope="module")
def maker() -> Party:
    return _party("Seal Maker")


@pytest.fixture(scope="module")
def signer() -> Party:
    return _party("Seal User")


@pytest.fixture(scope="module")
def stranger() -> Party:
    return _party("Stranger")


def content_for(*signers: Party, **changes: object) -> SealContent:
    content = SealContent(
        es_id="11010800000001",
        vid="CERTSEAL",
        seal_type=1,
        name="certseal 测试专用章 Test",
        signer_certificates=[p.certificate for p in signers],
        created=NOW - timedelta(days=1),
        valid_start=NOW - timedelta(days=1),
        valid_end=NOW + timedelta(days=365),
        picture=SealPicture("PNG", PNG, 40, 40),
    )
    return replace(content, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def seal(maker: Party, signer: Party) -> bytes:
    return build_seal_v4(maker.signer, content_for(signer))


@pytest.fixture(scope="module")
def signature(signer: Party, seal: bytes) -> bytes:
    return build_signature_v4(signer.signer, seal, PROTECTED, PROPERTY, time=NOW)


def resign(signature_der: bytes, signer: Party, change_tbs: Callable[[list[bytes]], None]) -> bytes:
    """Apply `change_tbs` to the TBS_Sign elements and sign the result again with `signer`'s key."""
    tbs, cert, alg, _ = children(signature_der)
    parts = children(tbs)
    change_tbs(parts)
    new_tbs = sequence(*parts)
    return sequence(new_tbs, cert, alg, bit_string(signer.key.sign(new_tbs)))


# --- round trips ------------------------------------------------------------------------------------------------


def test_seal_round_trip(seal: bytes, maker: Party, signer: Party) -> None:
    view = parse_seal(seal)
    content = content_for(signer)
    assert view.raw == seal and view.version == 4 and view.deviations == ()
    assert (view.header.id, view.header.version, view.header.vid) == ("ES", 4, "CERTSEAL")
    assert (view.es_id, view.seal_type, view.name) == (content.es_id, 1, content.name)
    assert view.cert_list_type == 1 and view.certificates == (signer.certificate,) and view.cert_digests == ()
    assert (view.created, view.valid_start, view.valid_end) == (content.created, content.valid_start, content.valid_end)
    assert view.picture == SealPicture("PNG", PNG, 40, 40)
    assert view.maker_certificate == maker.certificate and view.signature_algorithm == "1.2.156.10197.1.501"
    assert view.timestamp is None and view.ext_datas == ()
    assert view.signed_bytes == children(seal)[0]
    check = verify_seal(view)
    assert (
        check.ok and check.signature_valid and check.maker_subject is not None and "Seal Maker" in check.maker_subject
    )


def test_seal_is_der_and_dates_are_generalized_time(seal: bytes) -> None:
    info = children(seal)[0]
    times = [core.load(part) for part in children(children(info)[2])[4:]]
    assert [type(t) for t in times] == [core.GeneralizedTime] * 3
    assert [t.contents for t in times] == [b"20250228083015Z", b"20250228083015Z", b"20260301083015Z"]


def test_ext_datas_round_trip_and_critical_default_omitted(maker: Party, signer: Party) -> None:
    ext = (ExtData("1.2.156.10197.6.7.2.2.1", b"2.1"), ExtData("1.3.6.1.4.1.99999.1", b"x", critical=True))
    der = build_seal_v4(maker.signer, content_for(signer, ext_datas=ext))
    view = parse_seal(der)
    assert view.ext_datas == ext and view.deviations == ()
    assert b"\x01\x01\x00" not in children(children(der)[0])[4]  # DEFAULT FALSE is not written (DER)
    signed = build_signature_v4(signer.signer, der, PROTECTED, PROPERTY, time=NOW, ext_datas=ext[:1])
    signature_view = parse_signature(signed)
    assert signature_view.ext_datas == ext[:1] and signature_view.deviations == ()
    assert children(children(signed)[0])[5][:1] == b"\xa0"  # extDatas [0] EXPLICIT
    assert verify_signature(signature_view, PROTECTED).ok


def test_signature_round_trip(signature: bytes, seal: bytes, signer: Party) -> None:
    view = parse_signature(signature)
    assert view.raw == signature and view.version == 4 and view.deviations == ()
    assert view.seal.raw == seal and view.time == NOW and view.property_info == PROPERTY
    assert view.data_hash == sm3(PROTECTED) and view.signer_certificate == signer.certificate
    assert view.signed_bytes == children(signature)[0] and view.timestamp is None
    check = verify_signature(view, PROTECTED)
    assert check.ok and check.signature_valid and check.data_hash_valid and check.signer_in_seal
    assert check.seal.ok and check.problems == ()
    assert verify_signature(view).data_hash_valid is None


def test_signature_time_defaults_to_now_in_whole_seconds(signer: Party, maker: Party) -> None:
    now = datetime.now(UTC)
    valid = {"valid_start": now - timedelta(days=1), "valid_end": now + timedelta(days=1)}
    seal = build_seal_v4(maker.signer, content_for(signer, **valid))
    view = parse_signature(build_signature_v4(signer.signer, seal, PROTECTED, PROPERTY))
    assert view.time is not None and view.time.microsecond == 0
    assert abs((view.time - now).total_seconds()) < 120


def test_timestamper_gets_signature_value_and_token_is_carried(signer: Party, seal: bytes) -> None:
    tsa_key = PrivateKey.generate(KeyAlgorithm.P256)
    tsa_signer = SoftwareSigner("tsa", tsa_key, SignatureScheme.ECDSA_SHA256)
    subject = certs.subject_from({"common_name": "TSA"}, tsa_key.public_key)
    tsa_cert = certs.issue(
        certs.self_signed_issuer(subject, tsa_signer), subject, profile("tsa"), certs.Validity.starting(NOW, 9), 7
    )
    tsa = TimestampAuthority(tsa_signer, tsa_cert)
    seen: list[bytes] = []
    tokens: list[bytes] = []

    def timestamper(value: bytes) -> bytes:
        seen.append(value)
        tokens.append(children(tsa.issue(parse_request(build_request(value)), 1, NOW).response_der)[1])
        return tokens[-1]

    view = parse_signature(build_signature_v4(signer.signer, seal, PROTECTED, PROPERTY, NOW, timestamper))
    assert seen == [view.signature] and view.timestamp is not None
    assert tokens == [view.timestamp]
    assert verify_signature(view, PROTECTED).ok
    with pytest.raises(ValidationError, match="timestamp"):
        build_signature_v4(signer.signer, seal, PROTECTED, PROPERTY, NOW, lambda _: b"not a token")


# --- every check fails on its own -------------------------------------------------------------------------------


def codes(signature_der: bytes, protected: bytes = PROTECTED) -> set[str]:
    return {p.code.value for p in verify_signature(parse_signature(signature_der), protected).problems}


def test_flipped_signature_byte(signature: bytes) -> None:
    tbs, cert, alg, value = children(signature)
    assert codes(sequence(tbs, cert, alg, flip(value, len(value) - 1))) == {"SIGNATURE_INVALID"}


def test_flipped_seal_name_byte(signature: bytes, signer: Party) -> None:
    def tamper(parts: list[bytes]) -> None:
        parts[1] = flip_in(parts[1], b"Test")

    tampered = resign(signature, signer, tamper)
    assert codes(tampered) == {"SEAL_SIGNATURE_INVALID"}
    assert parse_signature(tampered).seal.name.endswith("Uest")
    seal_check = verify_seal(parse_signature(tampered).seal)
    assert not seal_check.signature_valid and seal_check.codes == {ProblemCode.SEAL_SIGNATURE_INVALID}
    tbs = children(tampered)[0]
    assert codes(sequence(tbs, *children(signature)[1:])) == {"SIGNATURE_INVALID", "SEAL_SIGNATURE_INVALID"}


def test_changed_protected_data_and_flipped_data_hash(signature: bytes, signer: Party) -> None:
    assert codes(signature, PROTECTED + b" ") == {"DATA_HASH_MISMATCH"}

    def tamper(parts: list[bytes]) -> None:
        parts[3] = flip(parts[3], 5)

    assert codes(resign(signature, signer, tamper)) == {"DATA_HASH_MISMATCH"}
    check = verify_signature(parse_signature(resign(signature, signer, tamper)), PROTECTED)
    assert check.data_hash_valid is False and check.signature_valid


def test_signer_not_in_seal_certificate_list(signature: bytes, signer: Party, stranger: Party, maker: Party) -> None:
    other_seal = build_seal_v4(maker.signer, content_for(stranger))
    with pytest.raises(ValidationError, match=r"signer: .*not in the seal's certificate list"):
        build_signature_v4(signer.signer, other_seal, PROTECTED, PROPERTY, time=NOW)

    def swap(parts: list[bytes]) -> None:
        parts[1] = other_seal

    check = verify_signature(parse_signature(resign(signature, signer, swap)), PROTECTED)
    assert check.codes == {ProblemCode.SIGNER_NOT_IN_SEAL_CERT_LIST} and not check.signer_in_seal


def test_signer_certificate_of_another_key(signature: bytes, stranger: Party) -> None:
    tbs, _, alg, value = children(signature)
    assert codes(sequence(tbs, core.OctetString(stranger.certificate).dump(), alg, value)) == {
        "SIGNATURE_INVALID",
        "SIGNER_NOT_IN_SEAL_CERT_LIST",
    }


@pytest.mark.parametrize(
    ("moment", "code"),
    [
        (NOW - timedelta(days=2), "SEAL_NOT_YET_VALID_AT_SIGNING"),
        (NOW + timedelta(days=366), "SEAL_EXPIRED_AT_SIGNING"),
    ],
)
def test_signing_time_outside_seal_validity(
    signature: bytes, signer: Party, seal: bytes, moment: datetime, code: str
) -> None:
    with pytest.raises(ValidationError, match=r"time: .*outside the seal's validity"):
        build_signature_v4(signer.signer, seal, PROTECTED, PROPERTY, time=moment)

    def retime(parts: list[bytes]) -> None:
        parts[2] = core.GeneralizedTime(moment).dump()

    assert codes(resign(signature, signer, retime)) == {code}


def test_unsupported_algorithm_and_unreadable_certificates(signature: bytes, seal: bytes) -> None:
    tbs, cert, _, value = children(signature)
    ecdsa = core.ObjectIdentifier("1.2.840.10045.4.3.2").dump()
    assert codes(sequence(tbs, cert, ecdsa, value)) == {"SIGNATURE_ALGORITHM_UNSUPPORTED"}
    assert codes(sequence(tbs, core.OctetString(b"\x30\x00").dump(), children(signature)[2], value)) == {
        "SIGNER_CERTIFICATE_UNREADABLE",
        "SIGNER_NOT_IN_SEAL_CERT_LIST",
    }
    info, _, alg, signed_value = children(seal)
    broken = sequence(info, core.OctetString(b"junk").dump(), alg, signed_value)
    check = verify_seal(parse_seal(broken))
    assert check.codes == {ProblemCode.SEAL_MAKER_CERTIFICATE_UNREADABLE} and check.maker_subject is None


def test_raw_r_s_signature_is_a_named_deviation_and_verifies(seal: bytes) -> None:
    info, cert, alg, signed_value = children(seal)
    parsed = algos.DSASignature.load(core.OctetBitString.load(signed_value).native)
    raw = parsed["r"].native.to_bytes(32, "big") + parsed["s"].native.to_bytes(32, "big")
    view = parse_seal(sequence(info, cert, alg, bit_string(raw)))
    assert [d.code for d in view.deviations] == [ProblemCode.NONSTANDARD_RAW_SIGNATURE]
    assert verify_seal(view).ok


def test_v5_seal_with_timestamp_is_read(seal: bytes) -> None:
    token = b"\x30\x03\x02\x01\x05"
    v5 = sequence(*children(seal), b"\xa0" + bytes([len(bit_string(token))]) + bit_string(token))
    view = parse_seal(v5)
    assert view.version == 5 and view.timestamp == token and verify_seal(view).ok


# --- bad input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\x00", b"garbage", b"\x30\x00", b"\x04\x02ab", b"\x30\x03\x02\x01\x01"])
def test_garbage_is_a_validation_error(data: bytes) -> None:
    with pytest.raises(ValidationError, match=r"^seal: "):
        parse_seal(data)
    with pytest.raises(ValidationError, match=r"^signature: "):
        parse_signature(data)


def test_trailing_bytes_are_refused(seal: bytes, signature: bytes) -> None:
    with pytest.raises(ValidationError):
        parse_seal(seal + b"\x00")
    with pytest.raises(ValidationError):
        parse_signature(signature + b"\x00")


def test_every_truncation_is_a_validation_error(signature: bytes) -> None:
    for length in range(0, len(signature), 7):
        with pytest.raises(ValidationError):
            parse_signature(signature[:length])


def test_random_corruption_never_raises_anything_else(signature: bytes) -> None:
    rng = random.Random(38540)
    for _ in range(300):
        data = bytearray(signature)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            view = parse_signature(bytes(data))
        except ValidationError:
            continue
        if bytes(data) != signature:  # everything but the outer signature is signed, and that is checked
            assert not verify_signature(view, PROTECTED).ok


# --- building refuses bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"es_id": "印章"}, "es_id"),
        ({"es_id": ""}, "es_id"),
        ({"vid": "a\nb"}, "vid"),
        ({"seal_type": -1}, "seal_type"),
        ({"name": " "}, "name"),
        ({"signer_certificates": []}, "signer_certificates"),
        ({"signer_certificates": [b"\x30\x00"]}, "signer_certificates[0]"),
        ({"created": datetime(2025, 1, 1)}, "created"),
        ({"valid_end": NOW - timedelta(days=1)}, "valid_end"),
        ({"picture": SealPicture("png", PNG, 40, 40)}, "picture.type"),
        ({"picture": SealPicture("PNG", b"", 40, 40)}, "picture.data"),
        ({"picture": SealPicture("PNG", PNG, 0, 40)}, "picture.width_mm"),
        ({"ext_datas": [ExtData("not-an-oid", b"")]}, "ext_datas"),
    ],
)
def test_seal_content_is_validated(maker: Party, signer: Party, changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        build_seal_v4(maker.signer, content_for(signer, **changes))
    assert caught.value.field == field


def test_signers_are_validated(maker: Party, signer: Party, stranger: Party, seal: bytes) -> None:
    content = content_for(signer)
    with pytest.raises(ValidationError, match="maker: needs a certificate"):
        build_seal_v4(replace(maker.signer, certificate=None), content)
    with pytest.raises(ValidationError, match="maker: certificate does not hold the signer's public key"):
        build_seal_v4(replace(maker.signer, certificate=stranger.certificate), content)
    with pytest.raises(ValidationError, match=r"maker: .*not a DER X.509"):
        build_seal_v4(replace(maker.signer, certificate=b"junk"), content)
    p256 = PrivateKey.generate(KeyAlgorithm.P256)
    with pytest.raises(ValidationError, match="maker: GB/T 38540 signatures are SM2"):
        build_seal_v4(SoftwareSigner("p", p256, SignatureScheme.ECDSA_SHA256, maker.certificate), content)
    with pytest.raises(ValidationError, match="property_info"):
        build_signature_v4(signer.signer, seal, PROTECTED, "签章.xml", time=NOW)
    with pytest.raises(ValidationError, match="time: must carry a time zone"):
        build_signature_v4(signer.signer, seal, PROTECTED, PROPERTY, time=datetime(2025, 3, 1))
    with pytest.raises(ValidationError, match=r"^seal: "):
        build_signature_v4(signer.signer, b"junk", PROTECTED, PROPERTY, time=NOW)


def test_signature_needs_a_sound_v4_seal(signer: Party, seal: bytes) -> None:
    info, cert, alg, value = children(seal)
    with pytest.raises(ValidationError, match="seal: the seal maker's signature"):
        build_signature_v4(
            signer.signer, sequence(info, cert, alg, flip(value, len(value) - 1)), PROTECTED, PROPERTY, time=NOW
        )
    v1_like = sequence(info, sequence(cert, alg, value))
    with pytest.raises(ValidationError, match="seal: "):
        build_signature_v4(signer.signer, v1_like, PROTECTED, PROPERTY, time=NOW)


def test_times_in_other_zones_are_normalised(maker: Party, signer: Party) -> None:
    beijing = timezone(timedelta(hours=8))
    start = datetime(2025, 3, 1, 8, 0, 0, 999, tzinfo=beijing)
    view = parse_seal(build_seal_v4(maker.signer, content_for(signer, valid_start=start)))
    assert view.valid_start == start.replace(microsecond=0) and view.valid_start.utcoffset() == timedelta(0)
