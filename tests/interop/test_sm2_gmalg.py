"""certseal SM2 against gmalg, an independent pure-Python implementation of GB/T 32918.

gmalg takes the public key as 04 || x || y, the signature as raw (r, s) byte strings and ciphertext as raw
C1 || C3 || C2; certseal uses SubjectPublicKeyInfo, DER SEQUENCE {r, s} and DER SM2Cipher (GM/T 0009).
"""

from __future__ import annotations

import pytest
from asn1crypto import algos
from asn1crypto import keys as asn1_keys
from gmalg import SM2 as GmalgSM2

from certseal.crypto import sm2
from certseal.crypto.algorithms import SM2_CURVE_OID, SM2_DEFAULT_ID, KeyAlgorithm
from certseal.crypto.keys import PrivateKey, PublicKey
from certseal.crypto.sm2 import SM2Cipher
from certseal.errors import DecryptionFailed, InvalidSignature
from tests.vectors import STD_D, STD_K, STD_R, STD_S, STD_Z

ALICE_ID = b"ALICE123@YAHOO.COM"
IDS = [SM2_DEFAULT_ID, ALICE_ID]
MESSAGE = b"checked by gmalg"


def _b32(value: int) -> bytes:
    return value.to_bytes(32, "big")


def raw_point(pub: PublicKey) -> bytes:
    """04 || x || y, read from the SPKI with asn1crypto (not through certseal)."""
    point = asn1_keys.PublicKeyInfo.load(pub.spki_der)["public_key"].native
    assert len(point) == 65 and point[0] == 4
    return bytes(point)


def spki_of(raw: bytes) -> bytes:
    return asn1_keys.PublicKeyInfo(
        {
            "algorithm": {
                "algorithm": "ec",
                "parameters": asn1_keys.ECDomainParameters(name="named", value=SM2_CURVE_OID),
            },
            "public_key": raw,
        }
    ).dump()


def der_to_rs(sig: bytes) -> tuple[bytes, bytes]:
    parsed = algos.DSASignature.load(sig)
    return _b32(parsed["r"].native), _b32(parsed["s"].native)


def rs_to_der(r: bytes, s: bytes) -> bytes:
    return algos.DSASignature({"r": int.from_bytes(r, "big"), "s": int.from_bytes(s, "big")}).dump()


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return PrivateKey.generate(KeyAlgorithm.SM2)


@pytest.fixture(scope="module")
def gmalg_keypair() -> tuple[bytes, bytes]:
    return GmalgSM2().generate_keypair()


# --- certseal signs, gmalg verifies ---------------------------------------------------------------


@pytest.mark.parametrize("distid", IDS)
def test_gmalg_verifies_certseal_signature(key: PrivateKey, distid: bytes) -> None:
    verifier = GmalgSM2(pk=raw_point(key.public_key), uid=distid)
    r, s = der_to_rs(key.sign(MESSAGE, sm2_id=distid))
    assert verifier.verify(MESSAGE, r, s)
    assert not verifier.verify(MESSAGE, _flip(r, 31), s)
    assert not verifier.verify(MESSAGE, r, _flip(s, 0))
    assert not verifier.verify(_flip(MESSAGE, 0), r, s)
    other_id = ALICE_ID if distid == SM2_DEFAULT_ID else SM2_DEFAULT_ID
    assert not GmalgSM2(pk=raw_point(key.public_key), uid=other_id).verify(MESSAGE, r, s)


def test_gmalg_verifies_certseal_digest_signature(key: PrivateKey) -> None:
    r, s = der_to_rs(key.sign_digest(key.public_key.sm2_message_digest(MESSAGE)))
    assert GmalgSM2(pk=raw_point(key.public_key), uid=SM2_DEFAULT_ID).verify(MESSAGE, r, s)


# --- gmalg signs, certseal verifies ---------------------------------------------------------------


@pytest.mark.parametrize("distid", IDS)
def test_certseal_verifies_gmalg_signature(gmalg_keypair: tuple[bytes, bytes], distid: bytes) -> None:
    sk, pk = gmalg_keypair
    r, s = GmalgSM2(sk=sk, pk=pk, uid=distid).sign(MESSAGE)
    sig = rs_to_der(r, s)
    pub = PublicKey(spki_of(pk))
    assert pub.algorithm is KeyAlgorithm.SM2
    pub.verify(sig, MESSAGE, sm2_id=distid)
    with pytest.raises(InvalidSignature):
        pub.verify(rs_to_der(_flip(r, len(r) - 1), s), MESSAGE, sm2_id=distid)
    with pytest.raises(InvalidSignature):
        pub.verify(sig, _flip(MESSAGE, 1), sm2_id=distid)
    with pytest.raises(InvalidSignature):
        pub.verify(sig, MESSAGE, sm2_id=distid + b"x")


# --- the standard's example, recomputed by gmalg --------------------------------------------------


def test_gmalg_reproduces_standard_signature_and_certseal_agrees() -> None:
    sk = _b32(STD_D)
    signer = GmalgSM2(sk=sk, uid=SM2_DEFAULT_ID, rnd_fn=lambda _bits: STD_K)
    r, s = signer.sign(b"message digest")
    assert (int.from_bytes(r, "big"), int.from_bytes(s, "big")) == (STD_R, STD_S)
    pk = signer.generate_pk(sk)
    PublicKey(spki_of(pk)).verify(rs_to_der(r, s), b"message digest")


def test_z_value_matches_gmalg() -> None:
    signer = GmalgSM2(sk=_b32(STD_D), uid=SM2_DEFAULT_ID)
    pk_point = signer._core.generate_pk(STD_D)  # no public accessor for Z in gmalg 1.1
    assert signer._core.entity_info(SM2_DEFAULT_ID, pk_point) == STD_Z
    assert sm2.z_digest(pk_point) == STD_Z


@pytest.mark.parametrize("distid", [*IDS, b"", b"\x00" * 64])
def test_z_value_matches_gmalg_for_random_keys(key: PrivateKey, distid: bytes) -> None:
    raw = raw_point(key.public_key)
    point = (int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:], "big"))
    expected = GmalgSM2(pk=raw, uid=distid)._core.entity_info(distid, point)
    assert sm2.z_digest(point, distid) == expected
    assert sm2.SM2PublicKey.from_spki_der(key.public_key.spki_der).z_digest(distid) == expected


# --- encryption both ways -------------------------------------------------------------------------


def test_gmalg_decrypts_certseal_ciphertext() -> None:
    d = 0x1649AB77A00637BD5E2EFE283FBF353534AA7F7CB89463F208DDBC2920BB0DA0  # any scalar in [1, n-2]
    key = PrivateKey.from_pkcs8_der(
        asn1_keys.PrivateKeyInfo(
            {
                "version": 0,
                "private_key_algorithm": {
                    "algorithm": "ec",
                    "parameters": asn1_keys.ECDomainParameters(name="named", value=SM2_CURVE_OID),
                },
                "private_key": asn1_keys.ECPrivateKey({"version": "ecPrivkeyVer1", "private_key": d}),
            }
        ).dump()
    )
    pt = b"encryption standard"
    parsed = SM2Cipher.load(key.public_key.encrypt_sm2(pt))
    raw = (
        b"\x04"
        + _b32(parsed["x"].native)
        + _b32(parsed["y"].native)
        + parsed["hash"].native
        + parsed["ciphertext"].native
    )
    assert GmalgSM2(sk=_b32(d)).decrypt(raw) == pt


def test_certseal_decrypts_gmalg_ciphertext() -> None:
    key = PrivateKey.generate(KeyAlgorithm.SM2)
    d = asn1_keys.PrivateKeyInfo.load(key.pkcs8_der())["private_key"].parsed["private_key"].native
    pt = b"made by gmalg, read by certseal"
    raw = GmalgSM2(pk=raw_point(key.public_key)).encrypt(pt)  # 04 || x || y || C3 || C2
    assert GmalgSM2(sk=_b32(d)).decrypt(raw) == pt
    x, y = int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:65], "big")
    c3, c2 = raw[65:97], raw[97:]

    def der(c3: bytes, c2: bytes) -> bytes:
        return SM2Cipher({"x": x, "y": y, "hash": c3, "ciphertext": c2}).dump()

    assert key.decrypt_sm2(der(c3, c2)) == pt
    with pytest.raises(DecryptionFailed):
        key.decrypt_sm2(der(_flip(c3, 5), c2))
    with pytest.raises(DecryptionFailed):
        key.decrypt_sm2(der(c3, _flip(c2, 5)))
