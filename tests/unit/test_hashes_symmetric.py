"""Known-answer tests for SM3, SM4 (block, GCM, CBC) and AES-256-GCM, plus tamper detection."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmalg import SM3 as GmalgSM3
from gmalg import SM4 as GmalgSM4
from hypothesis import given, settings
from hypothesis import strategies as st

from certseal.crypto import hashes
from certseal.crypto.hashes import digest, prefixed, pyca_digest, sm3
from certseal.crypto.symmetric import (
    GCM_NONCE_BYTES,
    GCM_TAG_BYTES,
    AeadAlgorithm,
    aead_decrypt,
    aead_encrypt,
    sm4_cbc_decrypt,
    sm4_cbc_encrypt,
    sm4_encrypt_block,
)
from certseal.errors import DecryptionFailed, ValidationError

# --- SM3 (GB/T 32905, appendix A) -----------------------------------------------------------------


def test_sm3_abc() -> None:
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_sm3_abcd_times_16() -> None:
    expected = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    assert sm3(b"abcd" * 16).hex() == expected


def test_digest_by_name_matches_sm3_and_sha256() -> None:
    assert digest("sm3", b"abc") == sm3(b"abc")
    # FIPS 180-2 "abc"
    assert digest("sha256", b"abc").hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def _gmalg_sm3(data: bytes) -> bytes:
    h = GmalgSM3()
    h.update(data)
    return bytes(h.value())


def test_sm3_and_sha2_come_from_hashlib_here() -> None:
    """The OpenSSL 3 Python links against has SM3: the fast path is the one measured and tested below."""
    assert {"sm3", "sha256", "sha384", "sha512"} <= hashes._HASHLIB


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_digests_agree_with_pyca_and_gmalg(prefix: bytes, data: bytes) -> None:
    """hashlib (the system OpenSSL) against pyca/cryptography (its own OpenSSL) and gmalg (pure Python SM3)."""
    for name in ("sm3", "sha256", "sha384", "sha512"):
        assert digest(name, prefix + data) == pyca_digest(name, prefix + data)
        assert prefixed(name, prefix)(data) == pyca_digest(name, prefix + data)
    assert sm3(prefix + data) == _gmalg_sm3(prefix + data)


def test_without_hashlib_the_same_digests(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = prefixed("sm3", b"Z" * 32)
    monkeypatch.setattr(hashes, "_HASHLIB", frozenset())
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert prefixed("sm3", b"Z" * 32)(b"abc") == hasher(b"abc") == _gmalg_sm3(b"Z" * 32 + b"abc")
    assert prefixed("sm3", b"Z" * 32)(b"abd") != hasher(b"abc")


def test_a_prefixed_hasher_is_not_changed_by_use() -> None:
    hasher = prefixed("sm3", b"prefix")
    first = hasher(b"one")
    hasher(b"two" * 100)
    assert hasher(b"one") == first == _gmalg_sm3(b"prefixone")


# --- SM4 block cipher (GB/T 32907, appendix A) ----------------------------------------------------

SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")


def test_sm4_single_block() -> None:
    assert sm4_encrypt_block(SM4_KEY, SM4_KEY).hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm4_million_iterations() -> None:
    # sm4_encrypt_block builds a Cipher per call (~4 us): reuse one ECB encryptor so the loop stays near 1 s.
    enc = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    block = SM4_KEY
    for _ in range(1_000_000):
        block = enc.update(block)
    assert block.hex() == "595298c7c6fd271f0402f804c33d3f66"


def test_sm4_block_rejects_wrong_sizes() -> None:
    with pytest.raises(ValidationError):
        sm4_encrypt_block(SM4_KEY[:15], SM4_KEY)
    with pytest.raises(ValidationError):
        sm4_encrypt_block(SM4_KEY, SM4_KEY + b"\x00")


# --- AES-256-GCM (McGrew & Viega, "The GCM mode of operation", test cases 14 and 16) --------------

GCM_K15 = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
GCM_IV15 = bytes.fromhex("cafebabefacedbaddecaf888")
GCM_P16 = bytes.fromhex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
)
GCM_A16 = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
GCM_C16 = bytes.fromhex(
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
)
GCM_T16 = bytes.fromhex("76fc6ece0f4e1768cddf8853bb2d551b")


def test_aes256_gcm_test_case_14() -> None:
    key, iv, pt = bytes(32), bytes(12), bytes(16)
    sealed = aead_encrypt(AeadAlgorithm.AES256_GCM, key, pt, nonce=iv)
    assert sealed[:12] == iv
    assert sealed[12:].hex() == "cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919"
    assert aead_decrypt(AeadAlgorithm.AES256_GCM, key, sealed) == pt


def test_aes256_gcm_test_case_16_with_aad() -> None:
    sealed = aead_encrypt(AeadAlgorithm.AES256_GCM, GCM_K15, GCM_P16, aad=GCM_A16, nonce=GCM_IV15)
    assert sealed == GCM_IV15 + GCM_C16 + GCM_T16
    assert aead_decrypt(AeadAlgorithm.AES256_GCM, GCM_K15, sealed, aad=GCM_A16) == GCM_P16


# --- SM4-GCM (RFC 8998, appendix A.1) -------------------------------------------------------------

RFC8998_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
RFC8998_IV = bytes.fromhex("00001234567800000000ABCD")
RFC8998_AAD = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
RFC8998_PT = bytes.fromhex(
    "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
    "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
)
RFC8998_CT = bytes.fromhex(
    "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
    "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
)
RFC8998_TAG = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")


def test_sm4_gcm_rfc8998_vector() -> None:
    sealed = aead_encrypt(AeadAlgorithm.SM4_GCM, RFC8998_KEY, RFC8998_PT, aad=RFC8998_AAD, nonce=RFC8998_IV)
    assert sealed == RFC8998_IV + RFC8998_CT + RFC8998_TAG
    assert aead_decrypt(AeadAlgorithm.SM4_GCM, RFC8998_KEY, sealed, aad=RFC8998_AAD) == RFC8998_PT


# --- AEAD behaviour for both algorithms -----------------------------------------------------------

AEADS = [AeadAlgorithm.SM4_GCM, AeadAlgorithm.AES256_GCM]


def _key(alg: AeadAlgorithm, fill: int = 7) -> bytes:
    return bytes([fill]) * alg.key_bytes


def _flip(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


@pytest.mark.parametrize("alg", AEADS)
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1000])
def test_aead_round_trip(alg: AeadAlgorithm, size: int) -> None:
    pt = bytes(range(256)) * 4
    pt = pt[:size]
    sealed = aead_encrypt(alg, _key(alg), pt, aad=b"context")
    assert len(sealed) == GCM_NONCE_BYTES + size + GCM_TAG_BYTES
    assert aead_decrypt(alg, _key(alg), sealed, aad=b"context") == pt


@pytest.mark.parametrize("alg", AEADS)
def test_aead_fresh_nonce_each_time(alg: AeadAlgorithm) -> None:
    a = aead_encrypt(alg, _key(alg), b"same")
    b = aead_encrypt(alg, _key(alg), b"same")
    assert a[:GCM_NONCE_BYTES] != b[:GCM_NONCE_BYTES]
    assert a != b


@pytest.mark.parametrize("alg", AEADS)
def test_aead_tamper_is_detected(alg: AeadAlgorithm) -> None:
    key, aad = _key(alg), b"header"
    sealed = aead_encrypt(alg, key, b"the quick brown fox jumps", aad=aad)
    cases = {
        "nonce": _flip(sealed, 0),
        "ciphertext": _flip(sealed, GCM_NONCE_BYTES + 3, 5),
        "tag": _flip(sealed, len(sealed) - 1, 7),
    }
    for name, bad in cases.items():
        with pytest.raises(DecryptionFailed):
            aead_decrypt(alg, key, bad, aad=aad)
            pytest.fail(f"tampered {name} accepted")
    with pytest.raises(DecryptionFailed):
        aead_decrypt(alg, key, sealed, aad=_flip(aad, 0))
    with pytest.raises(DecryptionFailed):
        aead_decrypt(alg, key, sealed, aad=b"")
    with pytest.raises(DecryptionFailed):
        aead_decrypt(alg, _key(alg, fill=8), sealed, aad=aad)
    with pytest.raises(DecryptionFailed):
        aead_decrypt(alg, key, sealed[: GCM_NONCE_BYTES + GCM_TAG_BYTES - 1], aad=aad)


@pytest.mark.parametrize("alg", AEADS)
def test_aead_rejects_bad_key_and_nonce_length(alg: AeadAlgorithm) -> None:
    with pytest.raises(ValidationError):
        aead_encrypt(alg, bytes(alg.key_bytes - 1), b"x")
    with pytest.raises(ValidationError):
        aead_encrypt(alg, bytes(alg.key_bytes), b"x", nonce=bytes(8))
    sealed = aead_encrypt(alg, bytes(alg.key_bytes), b"x")
    with pytest.raises(ValidationError):
        aead_decrypt(alg, bytes(alg.key_bytes + 1), sealed)


# --- SM4-CBC --------------------------------------------------------------------------------------

IV = bytes(range(16))


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 100])
def test_sm4_cbc_round_trip(size: int) -> None:
    pt = bytes((i * 7) & 0xFF for i in range(size))
    ct = sm4_cbc_encrypt(SM4_KEY, IV, pt)
    assert len(ct) == (size // 16 + 1) * 16  # PKCS#7 always adds 1..16 bytes
    assert sm4_cbc_decrypt(SM4_KEY, IV, ct) == pt


def test_sm4_cbc_matches_independent_sm4() -> None:
    """CBC + PKCS#7 recomputed by hand over gmalg's pure-Python SM4 block cipher."""
    pt = b"certseal SM4-CBC interoperability check, 45 b"
    pad = 16 - len(pt) % 16
    padded = pt + bytes([pad]) * pad
    block_cipher = GmalgSM4(SM4_KEY)
    prev, expected = IV, b""
    for i in range(0, len(padded), 16):
        prev = block_cipher.encrypt(bytes(a ^ b for a, b in zip(padded[i : i + 16], prev, strict=True)))
        expected += prev
    assert sm4_cbc_encrypt(SM4_KEY, IV, pt) == expected


def test_sm4_cbc_bad_padding() -> None:
    # A block whose last plaintext byte is 0x00 can never carry valid PKCS#7 padding.
    raw = Cipher(algorithms.SM4(SM4_KEY), modes.CBC(IV)).encryptor()
    ct = raw.update(b"A" * 15 + b"\x00") + raw.finalize()
    with pytest.raises(DecryptionFailed):
        sm4_cbc_decrypt(SM4_KEY, IV, ct)
    raw = Cipher(algorithms.SM4(SM4_KEY), modes.CBC(IV)).encryptor()
    ct = raw.update(b"A" * 14 + b"\x03\x02") + raw.finalize()  # claims 2 bytes of padding, which differ
    with pytest.raises(DecryptionFailed):
        sm4_cbc_decrypt(SM4_KEY, IV, ct)


def test_sm4_cbc_bad_lengths() -> None:
    ct = sm4_cbc_encrypt(SM4_KEY, IV, b"hello")
    with pytest.raises(DecryptionFailed):
        sm4_cbc_decrypt(SM4_KEY, IV, ct[:-1])
    with pytest.raises(DecryptionFailed):
        sm4_cbc_decrypt(SM4_KEY, IV, b"")
    with pytest.raises(ValidationError):
        sm4_cbc_encrypt(SM4_KEY + b"\x00", IV, b"x")
    with pytest.raises(ValidationError):
        sm4_cbc_encrypt(bytes(32), IV, b"x")
    with pytest.raises(ValidationError):
        sm4_cbc_decrypt(SM4_KEY[:8], IV, ct)
    with pytest.raises(ValidationError):
        sm4_cbc_encrypt(SM4_KEY, IV[:12], b"x")
    with pytest.raises(ValidationError):
        sm4_cbc_decrypt(SM4_KEY, IV + b"\x00", ct)
