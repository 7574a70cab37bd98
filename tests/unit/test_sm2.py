"""SM2 through the libcrypto binding: the GM/T 0003.5 (GB/T 32918.5) example, signatures, encryption."""

from __future__ import annotations

import pytest
from asn1crypto import algos
from asn1crypto import keys as asn1_keys

from certseal.crypto import sm2
from certseal.crypto.algorithms import SM2_CURVE_OID, SM2_DEFAULT_ID, KeyAlgorithm
from certseal.crypto.keys import PrivateKey, PublicKey
from certseal.crypto.sm2 import SM2Cipher
from certseal.errors import CryptoError, DecryptionFailed, InvalidSignature, ValidationError
from tests.vectors import STD_E, STD_MSG, STD_R, STD_S, STD_X, STD_Y, STD_Z

# GM/T 0003.5-2012 / GB/T 32918.5-2017, signature example on sm2p256v1 with ID "1234567812345678".
STD_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8


def _sm2_curve() -> asn1_keys.ECDomainParameters:
    return asn1_keys.ECDomainParameters(name="named", value=SM2_CURVE_OID)


def pkcs8_for(d: int) -> bytes:
    """A PKCS#8 PrivateKeyInfo for scalar d on sm2p256v1, built independently of the code under test."""
    ec_key = asn1_keys.ECPrivateKey({"version": "ecPrivkeyVer1", "private_key": d})
    return asn1_keys.PrivateKeyInfo(
        {
            "version": 0,
            "private_key_algorithm": asn1_keys.PrivateKeyAlgorithm({"algorithm": "ec", "parameters": _sm2_curve()}),
            "private_key": ec_key,
        }
    ).dump()


def sec1_for(d: int) -> bytes:
    return asn1_keys.ECPrivateKey({"version": "ecPrivkeyVer1", "private_key": d, "parameters": _sm2_curve()}).dump()


def signature_der(r: int, s: int) -> bytes:
    return algos.DSASignature({"r": r, "s": s}).dump()


def on_curve(x: int, y: int) -> bool:
    return (y * y - (x * x * x + sm2.A * x + sm2.B)) % sm2.P == 0


@pytest.fixture(scope="module")
def std_key() -> PrivateKey:
    return PrivateKey.from_pkcs8_der(pkcs8_for(STD_D))


@pytest.fixture(scope="module")
def std_sig() -> bytes:
    return signature_der(STD_R, STD_S)


@pytest.fixture(scope="module")
def fresh() -> sm2.SM2PrivateKey:
    return sm2.SM2PrivateKey.generate()


# --- the standard's example -----------------------------------------------------------------------


def test_curve_constants() -> None:
    assert on_curve(sm2.GX, sm2.GY)
    assert on_curve(STD_X, STD_Y)


def test_standard_key_loads_with_expected_public_point(std_key: PrivateKey) -> None:
    assert std_key.algorithm is KeyAlgorithm.SM2
    assert std_key.public_key.algorithm is KeyAlgorithm.SM2
    assert sm2.SM2PublicKey.from_spki_der(std_key.public_key.spki_der).point == (STD_X, STD_Y)
    # the SPKI ends with the uncompressed point
    assert std_key.public_key.spki_der[-65:] == b"\x04" + STD_X.to_bytes(32, "big") + STD_Y.to_bytes(32, "big")
    info = asn1_keys.PublicKeyInfo.load(std_key.public_key.spki_der)
    assert info["algorithm"]["algorithm"].dotted == "1.2.840.10045.2.1"
    assert info["algorithm"]["parameters"].chosen.dotted == SM2_CURVE_OID


def test_standard_key_from_sec1(std_key: PrivateKey) -> None:
    key = sm2.SM2PrivateKey.from_der(sec1_for(STD_D))
    assert key.public_key.point == (STD_X, STD_Y)
    assert PrivateKey.from_pem_or_der(sec1_for(STD_D)).public_key == std_key.public_key


def test_standard_z_and_e(std_key: PrivateKey) -> None:
    assert sm2.z_digest((STD_X, STD_Y)) == STD_Z
    assert sm2.z_digest((STD_X, STD_Y), SM2_DEFAULT_ID) == STD_Z
    assert sm2.message_digest((STD_X, STD_Y), STD_MSG) == STD_E
    pub = sm2.SM2PublicKey.from_spki_der(std_key.public_key.spki_der)
    assert pub.z_digest() == STD_Z
    assert std_key.public_key.sm2_message_digest(STD_MSG) == STD_E
    assert std_key.public_key.sm2_message_digest(STD_MSG, b"ALICE123@YAHOO.COM") != STD_E


def test_standard_signature_verifies(std_key: PrivateKey, std_sig: bytes) -> None:
    std_key.public_key.verify(std_sig, STD_MSG)
    std_key.public_key.verify(std_sig, STD_MSG, sm2_id=SM2_DEFAULT_ID)
    sm2.SM2PublicKey.from_spki_der(std_key.public_key.spki_der).verify(std_sig, STD_MSG)
    std_key.public_key.verify_digest(std_sig, STD_E)


def test_standard_signature_rejects_alterations(std_key: PrivateKey, std_sig: bytes) -> None:
    pub = std_key.public_key
    bad = {
        "message": (std_sig, b"message digesT"),
        "empty message": (std_sig, b""),
        "r + 1": (signature_der(STD_R + 1, STD_S), STD_MSG),
        "s + 1": (signature_der(STD_R, STD_S + 1), STD_MSG),
        "r, s swapped": (signature_der(STD_S, STD_R), STD_MSG),
        "r = 0": (signature_der(0, STD_S), STD_MSG),
        "s = n": (signature_der(STD_R, sm2.N), STD_MSG),
        "truncated": (std_sig[:-1], STD_MSG),
        "empty signature": (b"", STD_MSG),
    }
    for name, (sig, msg) in bad.items():
        with pytest.raises(InvalidSignature):
            pub.verify(sig, msg)
            pytest.fail(f"{name} accepted")
    with pytest.raises(InvalidSignature):
        pub.verify(std_sig, STD_MSG, sm2_id=b"1234567812345679")
    with pytest.raises(InvalidSignature):
        pub.verify(std_sig, STD_MSG, sm2_id=b"")
    with pytest.raises(InvalidSignature):
        pub.verify_digest(std_sig, bytes([STD_E[0] ^ 1]) + STD_E[1:])


def test_standard_signature_rejects_trailing_garbage(std_key: PrivateKey, std_sig: bytes) -> None:
    with pytest.raises(InvalidSignature):
        std_key.public_key.verify(std_sig + b"\x00", STD_MSG)


def test_fresh_signature_by_standard_key(std_key: PrivateKey) -> None:
    sig = std_key.sign(STD_MSG)
    std_key.public_key.verify(sig, STD_MSG)
    r_s = algos.DSASignature.load(sig)
    assert 0 < r_s["r"].native < sm2.N and 0 < r_s["s"].native < sm2.N
    assert std_key.sign(STD_MSG) != sig  # random k


def test_sign_digest_of_e_verifies_over_message(std_key: PrivateKey) -> None:
    sig = std_key.sign_digest(STD_E)
    std_key.public_key.verify(sig, STD_MSG)
    std_key.public_key.verify_digest(sig, STD_E)
    e = std_key.public_key.sm2_message_digest(STD_MSG)
    std_key.public_key.verify(std_key.sign_digest(e), STD_MSG)


def test_sign_digest_requires_32_bytes(fresh: sm2.SM2PrivateKey) -> None:
    with pytest.raises(ValidationError, match="digest"):
        fresh.sign_digest(bytes(31))
    with pytest.raises(ValidationError, match="digest"):
        PrivateKey(KeyAlgorithm.SM2, fresh).sign_digest(bytes(33))


# --- keys and IDs ---------------------------------------------------------------------------------


def test_pkcs8_export_holds_same_scalar(std_key: PrivateKey) -> None:
    info = asn1_keys.PrivateKeyInfo.load(std_key.pkcs8_der())
    assert info["private_key_algorithm"]["parameters"].chosen.dotted == SM2_CURVE_OID
    assert info["private_key"].parsed["private_key"].native == STD_D


def test_generated_key_round_trips(fresh: sm2.SM2PrivateKey) -> None:
    again = sm2.SM2PrivateKey.from_der(fresh.to_pkcs8_der())
    assert again.public_key.spki_der == fresh.public_key.spki_der
    assert on_curve(*fresh.public_key.point)
    fresh.public_key.verify(again.sign(b"x"), b"x")


@pytest.mark.parametrize("distid", [SM2_DEFAULT_ID, b"ALICE123@YAHOO.COM", b"", b"\x00\xff" * 100, b"i" * 8190])
def test_sign_verify_with_ids(fresh: sm2.SM2PrivateKey, distid: bytes) -> None:
    sig = fresh.sign(b"payload", distid)
    fresh.public_key.verify(sig, b"payload", distid)
    e = sm2.message_digest(fresh.public_key.point, b"payload", distid)
    fresh.public_key.verify_digest(sig, e)
    other = distid[:-1] + bytes([distid[-1] ^ 1]) if distid else b"x"
    with pytest.raises(InvalidSignature):
        fresh.public_key.verify(sig, b"payload", other)


def test_longest_id_is_handled_consistently(fresh: sm2.SM2PrivateKey) -> None:
    """GB/T 32918.2 allows an ID of up to 8191 bytes (ENTL = 65528 bits); libcrypto accepts at most 8190.

    Whatever the limit, z_digest and sign must agree: both accept the ID or both refuse it with a clear error.
    """
    distid = b"i" * 8191
    try:
        sm2.z_digest(fresh.public_key.point, distid)
    except CryptoError:
        with pytest.raises(CryptoError, match="ID"):
            fresh.sign(b"x", distid)
    else:
        fresh.public_key.verify(fresh.sign(b"x", distid), b"x", distid)


def test_id_too_long(fresh: sm2.SM2PrivateKey) -> None:
    with pytest.raises(CryptoError):
        fresh.sign(b"x", b"i" * 8192)
    with pytest.raises(CryptoError):
        fresh.public_key.verify(b"\x30\x00", b"x", b"i" * 8192)
    with pytest.raises(CryptoError):
        sm2.z_digest(fresh.public_key.point, b"i" * 8192)


def test_wrong_key_rejects(fresh: sm2.SM2PrivateKey) -> None:
    other = sm2.SM2PrivateKey.generate()
    with pytest.raises(InvalidSignature):
        other.public_key.verify(fresh.sign(b"m"), b"m")


def test_non_sm2_keys_are_refused() -> None:
    p256 = PrivateKey.generate(KeyAlgorithm.P256)
    with pytest.raises(CryptoError):
        sm2.SM2PublicKey.from_spki_der(p256.public_key.spki_der)
    with pytest.raises(CryptoError):
        sm2.SM2PrivateKey.from_der(p256.pkcs8_der())
    with pytest.raises(CryptoError):
        sm2.SM2PrivateKey.from_der(b"\x30\x03\x02\x01\x00")


# --- encryption -----------------------------------------------------------------------------------


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


@pytest.mark.parametrize("size", [1, 31, 32, 33, 1000])
def test_encrypt_decrypt_round_trip(fresh: sm2.SM2PrivateKey, size: int) -> None:
    pt = bytes((i * 13 + 1) & 0xFF for i in range(size))
    ct = fresh.public_key.encrypt(pt)
    parsed = SM2Cipher.load(ct)
    assert on_curve(parsed["x"].native, parsed["y"].native)  # C1 is a curve point
    assert len(parsed["hash"].native) == 32  # C3 = SM3
    assert len(parsed["ciphertext"].native) == size  # C2
    assert parsed.dump(force=True) == ct  # strict DER
    assert fresh.decrypt(ct) == pt
    assert fresh.public_key.encrypt(pt) != ct  # fresh k


def test_encrypt_through_public_key_api(fresh: sm2.SM2PrivateKey) -> None:
    key = PrivateKey(KeyAlgorithm.SM2, fresh)
    ct = PublicKey(key.public_key.spki_der).encrypt_sm2(b"secret")
    assert key.decrypt_sm2(ct) == b"secret"


def test_decrypt_detects_tampering(fresh: sm2.SM2PrivateKey) -> None:
    pt = b"sixteen byte msg and more"
    ct = fresh.public_key.encrypt(pt)
    parsed = SM2Cipher.load(ct)
    x, y = parsed["x"].native, parsed["y"].native
    c3, c2 = parsed["hash"].native, parsed["ciphertext"].native

    def build(x: int, y: int, c3: bytes, c2: bytes) -> bytes:
        return SM2Cipher({"x": x, "y": y, "hash": c3, "ciphertext": c2}).dump()

    assert build(x, y, c3, c2) == ct
    for bad in (
        build(x, y, _flip(c3, 0), c2),
        build(x, y, _flip(c3, 31), c2),
        build(x, y, c3, _flip(c2, 0)),
        build(x, y, c3, _flip(c2, len(c2) - 1)),
        build(x, y, c3, c2[:-1]),
        build(x, y ^ 1, c3, c2),  # C1 off the curve
        _flip(ct, len(ct) - 1),
        ct[:-1],
        b"",
        b"\x30\x00",
    ):
        with pytest.raises(DecryptionFailed):
            fresh.decrypt(bad)
    with pytest.raises(DecryptionFailed):
        sm2.SM2PrivateKey.generate().decrypt(ct)


def test_encrypt_sm2_needs_sm2_key() -> None:
    p256 = PrivateKey.generate(KeyAlgorithm.P256)
    with pytest.raises(ValidationError):
        p256.public_key.encrypt_sm2(b"x")
    with pytest.raises(ValidationError):
        p256.decrypt_sm2(b"x")


def test_encrypt_empty_plaintext_is_refused(fresh: sm2.SM2PrivateKey) -> None:
    # libcrypto 3.0 refuses an empty message (klen = 0); we say so in terms of the input
    with pytest.raises(ValidationError, match="plaintext"):
        fresh.public_key.encrypt(b"")
