"""Envelope encryption and blind indexes: round trips, the documented layout opened by independent code (the
`cryptography` GCM primitives, gmalg's pure-Python SM4 and SM3), moved or altered values refused, rewrapping."""

from __future__ import annotations

import json
import struct

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmalg import SM3 as GmalgSM3
from gmalg import SM4 as GmalgSM4

from certseal.crypto.envelope import (
    BlindIndex,
    EnvelopeCipher,
    MasterKeyRing,
    SealContext,
    SealedBlob,
    normalise,
)
from certseal.crypto.symmetric import AeadAlgorithm
from certseal.errors import DecryptionFailed, KeyUnwrapError, ValidationError

MASTER_1 = bytes(range(32))
MASTER_2 = bytes(range(100, 132))
ID_NUMBER = "11010519491231002X"
PHONE = "13812345678"
FIELDS = {"legal_rep_id_number": ID_NUMBER, "contact_phone": PHONE}
HERE = SealContext("licenses", "42", "sealed")


def ring() -> MasterKeyRing:
    return MasterKeyRing({1: MASTER_1}, 1)


def _gmalg_hmac_sm3(key: bytes, message: bytes) -> bytes:
    """RFC 2104 HMAC over gmalg's SM3 (block size 64)."""

    def sm3(data: bytes) -> bytes:
        h = GmalgSM3()
        h.update(data)
        return bytes(h.value())

    key = key.ljust(64, b"\x00")
    inner = sm3(bytes(b ^ 0x36 for b in key) + message)
    return sm3(bytes(b ^ 0x5C for b in key) + inner)


def _parse(sealed: bytes) -> tuple[int, int, bytes, bytes, bytes]:
    """The documented layout, parsed without certseal: algorithm code, master version, wrapped key, nonce, ct."""
    magic, code, version, key_length = struct.unpack(">4sBIB", sealed[:10])
    assert magic == b"CSE\x01"
    wrapped = sealed[10 : 10 + key_length]
    nonce = sealed[10 + key_length : 22 + key_length]
    return code, version, wrapped, nonce, sealed[22 + key_length :]


def _gcm_open(alg: AeadAlgorithm, key: bytes, nonce: bytes, body_and_tag: bytes, aad: bytes) -> bytes:
    block = algorithms.SM4(key) if alg is AeadAlgorithm.SM4_GCM else algorithms.AES(key)
    dec = Cipher(block, modes.GCM(nonce, body_and_tag[-16:])).decryptor()
    dec.authenticate_additional_data(aad)
    return dec.update(body_and_tag[:-16]) + dec.finalize()


@pytest.mark.parametrize("alg", list(AeadAlgorithm))
def test_round_trip(alg: AeadAlgorithm) -> None:
    cipher = EnvelopeCipher(ring(), alg)
    sealed = cipher.encrypt(HERE, FIELDS)
    assert ID_NUMBER.encode() not in sealed and PHONE.encode() not in sealed
    assert cipher.decrypt(HERE, sealed) == FIELDS
    blob = SealedBlob.from_bytes(sealed)
    assert (blob.algorithm, blob.master_version) == (alg, 1)
    assert cipher.encrypt(HERE, FIELDS) != sealed  # a fresh data key and nonce each time


def test_default_algorithm_is_sm4_gcm() -> None:
    assert SealedBlob.from_bytes(EnvelopeCipher(ring()).encrypt(HERE, FIELDS)).algorithm is AeadAlgorithm.SM4_GCM


@pytest.mark.parametrize(("alg", "code"), [(AeadAlgorithm.SM4_GCM, 1), (AeadAlgorithm.AES256_GCM, 2)])
def test_layout_opens_with_independent_primitives(alg: AeadAlgorithm, code: int) -> None:
    """From the master key alone: derive the wrapping key with gmalg's SM3, unwrap the data key and open the
    fields with the `cryptography` GCM primitives, following only the format in the module docstring."""
    cipher = EnvelopeCipher(ring(), alg)
    sealed = cipher.encrypt(HERE, FIELDS)
    got_code, version, wrapped, nonce, body = _parse(sealed)
    assert (got_code, version) == (code, 1)
    wrapping_key = _gmalg_hmac_sm3(MASTER_1, b"certseal envelope data-key wrapping|" + alg.value.encode())
    key_aad = json.dumps(["certseal-envelope-key/1", alg.value, 1, "licenses", "42", "sealed"], separators=(",", ":"))
    data_key = _gcm_open(alg, wrapping_key[: alg.key_bytes], wrapped[:12], wrapped[12:], key_aad.encode())
    assert data_key == cipher.unwrap_data_key(HERE, sealed)
    assert len(data_key) == alg.key_bytes
    data_aad = json.dumps(["certseal-envelope/1", alg.value, "licenses", "42", "sealed"], separators=(",", ":"))
    plaintext = _gcm_open(alg, data_key, nonce, body, data_aad.encode())
    assert json.loads(plaintext) == FIELDS
    with pytest.raises(InvalidTag):  # the same bytes opened as the other algorithm fail
        other = AeadAlgorithm.AES256_GCM if alg is AeadAlgorithm.SM4_GCM else AeadAlgorithm.SM4_GCM
        _gcm_open(other, data_key.ljust(other.key_bytes, b"\x00")[: other.key_bytes], nonce, body, data_aad.encode())


def test_sm4_gcm_ciphertext_is_sm4_counter_mode_by_gmalg() -> None:
    """GCM encrypts with counter blocks nonce||2, nonce||3, …: recomputed over gmalg's pure-Python SM4."""
    cipher = EnvelopeCipher(ring(), AeadAlgorithm.SM4_GCM)
    sealed = cipher.encrypt(HERE, FIELDS)
    _code, _version, _wrapped, nonce, body = _parse(sealed)
    block = GmalgSM4(cipher.unwrap_data_key(HERE, sealed))
    ciphertext = body[:-16]
    stream = b"".join(block.encrypt(nonce + (i + 2).to_bytes(4, "big")) for i in range(len(ciphertext) // 16 + 1))
    plaintext = bytes(c ^ k for c, k in zip(ciphertext, stream, strict=False))
    assert json.loads(plaintext) == FIELDS


@pytest.mark.parametrize(
    "elsewhere",
    [
        SealContext("licenses", "43", "sealed"),
        SealContext("licenses", "42", "other"),
        SealContext("pharmacists", "42", "sealed"),
    ],
)
def test_value_moved_to_another_row_column_or_table_fails(elsewhere: SealContext) -> None:
    cipher = EnvelopeCipher(ring())
    sealed = cipher.encrypt(HERE, FIELDS)
    with pytest.raises(KeyUnwrapError, match="moved from another record"):
        cipher.decrypt(elsewhere, sealed)


def test_ciphertext_swapped_under_a_valid_wrapped_key_fails() -> None:
    cipher = EnvelopeCipher(ring())
    first, second = cipher.encrypt(HERE, FIELDS), cipher.encrypt(HERE, {"contact_phone": "13900000000"})
    a, b = SealedBlob.from_bytes(first), SealedBlob.from_bytes(second)
    mixed = SealedBlob(a.master_version, a.algorithm, a.wrapped_key, b.nonce, b.ciphertext).to_bytes()
    with pytest.raises(DecryptionFailed, match="altered or belongs elsewhere"):
        cipher.decrypt(HERE, mixed)


@pytest.mark.parametrize("position", [0, 4, 9, 12, 60, -1])
def test_any_altered_byte_fails(position: int) -> None:
    cipher = EnvelopeCipher(ring())
    sealed = bytearray(cipher.encrypt(HERE, FIELDS))
    sealed[position] ^= 0x01
    with pytest.raises((DecryptionFailed, KeyUnwrapError)):
        cipher.decrypt(HERE, bytes(sealed))


def test_corrupt_values_give_clear_errors() -> None:
    cipher = EnvelopeCipher(ring())
    for junk in (b"", b"CSE\x01", b"hello world, not sealed", b"CSE\x01\x09" + b"\x00" * 40):
        with pytest.raises(DecryptionFailed, match="corrupt"):
            cipher.decrypt(HERE, junk)


def test_wrong_master_version_is_a_clear_key_unwrap_error() -> None:
    sealed = EnvelopeCipher(ring()).encrypt(HERE, FIELDS)
    only_v2 = EnvelopeCipher(MasterKeyRing({2: MASTER_2}, 2))
    with pytest.raises(KeyUnwrapError, match="master key version 1, which this deployment does not hold"):
        only_v2.decrypt(HERE, sealed)
    retired = EnvelopeCipher(MasterKeyRing({2: MASTER_2}, 2, {1: "2026-01-01"}))
    with pytest.raises(KeyUnwrapError, match="version 1, retired 2026-01-01"):
        retired.decrypt(HERE, sealed)
    # the same version number holding a different key: the data key does not unwrap
    impostor = EnvelopeCipher(MasterKeyRing({1: MASTER_2}, 1))
    with pytest.raises(KeyUnwrapError, match="does not unwrap under master key version 1"):
        impostor.decrypt(HERE, sealed)


def test_version_field_rewritten_in_header_fails() -> None:
    both = MasterKeyRing({1: MASTER_1, 2: MASTER_2}, 1)
    sealed = EnvelopeCipher(both).encrypt(HERE, FIELDS)
    blob = SealedBlob.from_bytes(sealed)
    relabelled = SealedBlob(2, blob.algorithm, blob.wrapped_key, blob.nonce, blob.ciphertext).to_bytes()
    with pytest.raises(KeyUnwrapError):
        EnvelopeCipher(both).decrypt(HERE, relabelled)


def test_rewrap_keeps_the_ciphertext_and_lets_the_old_master_retire() -> None:
    old = EnvelopeCipher(MasterKeyRing({1: MASTER_1}, 1))
    sealed = old.encrypt(HERE, FIELDS)
    both = EnvelopeCipher(MasterKeyRing({1: MASTER_1, 2: MASTER_2}, 2))
    rewrapped = both.rewrap(HERE, sealed)
    before, after = SealedBlob.from_bytes(sealed), SealedBlob.from_bytes(rewrapped)
    assert after.master_version == 2
    assert (after.nonce, after.ciphertext, after.algorithm) == (before.nonce, before.ciphertext, before.algorithm)
    assert both.unwrap_data_key(HERE, rewrapped) == old.unwrap_data_key(HERE, sealed)
    assert both.rewrap(HERE, rewrapped) == rewrapped  # already current: unchanged
    only_new = EnvelopeCipher(MasterKeyRing({2: MASTER_2}, 2, {1: "today"}))
    assert only_new.decrypt(HERE, rewrapped) == FIELDS
    with pytest.raises(KeyUnwrapError, match="retired"):
        only_new.decrypt(HERE, sealed)
    with pytest.raises(KeyUnwrapError, match="version 3"):
        both.rewrap(HERE, sealed, 3)
    with pytest.raises(KeyUnwrapError, match="moved from another record"):
        both.rewrap(SealContext("licenses", "99", "sealed"), sealed)


def test_key_ring_and_fields_are_checked() -> None:
    with pytest.raises(KeyUnwrapError, match="current master key version 3"):
        MasterKeyRing({1: MASTER_1}, 3)
    with pytest.raises(KeyUnwrapError, match="32 bytes"):
        MasterKeyRing({1: b"short"}, 1)
    with pytest.raises(ValidationError, match="fields"):
        EnvelopeCipher(ring()).encrypt(HERE, {})
    with pytest.raises(ValidationError, match="table"):
        SealContext("Licenses; drop", "1", "sealed")
    with pytest.raises(ValidationError, match="record_id"):
        SealContext("licenses", "", "sealed")
    assert "MASTER" not in repr(ring()) and MASTER_1.hex() not in repr(ring())


# --- blind index ---------------------------------------------------------------------------------------------

INDEX_KEY = bytes(range(200, 232))


def test_blind_index_is_hmac_sm3_of_the_normalised_value_by_gmalg() -> None:
    kind_key = _gmalg_hmac_sm3(INDEX_KEY, b"certseal blind index|id-number")
    expected = _gmalg_hmac_sm3(kind_key, ID_NUMBER.encode()).hex()
    assert BlindIndex(INDEX_KEY).compute("id-number", ID_NUMBER) == expected


@pytest.mark.parametrize(
    ("kind", "spellings"),
    [
        (
            "id-number",
            [
                "11010519491231002X",
                "11010519491231002x",
                " 110105 19491231 002X ",
                "１１０１０５１９４９１２３１００２Ｘ",
            ],
        ),
        ("phone", ["13812345678", "138-1234-5678", "+86 138 1234 5678", "0086 13812345678", "(138) 1234 5678"]),
        ("text", ["Zhang  San", "zhang san", "ＺＨＡＮＧ ＳＡＮ"]),
    ],
)
def test_blind_index_is_stable_for_equal_normalised_values(kind: str, spellings: list[str]) -> None:
    index = BlindIndex(INDEX_KEY)
    tags = {index.compute(kind, s) for s in spellings}
    assert len(tags) == 1
    assert len(next(iter(tags))) == 64


def test_blind_index_differs_across_keys_kinds_and_values() -> None:
    a, b = BlindIndex(INDEX_KEY), BlindIndex(bytes(32))
    assert a.compute("id-number", ID_NUMBER) != b.compute("id-number", ID_NUMBER)
    assert a.compute("id-number", "13812345678") != a.compute("phone", "13812345678")
    assert a.compute("id-number", ID_NUMBER) != a.compute("id-number", "440524188001010014")
    assert ID_NUMBER.lower() not in repr(a)


def test_blind_index_refuses_bad_input() -> None:
    index = BlindIndex(INDEX_KEY)
    with pytest.raises(ValidationError, match="kind"):
        index.compute("email", "a@b.c")
    with pytest.raises(ValidationError, match="phone"):
        index.compute("phone", "call me")
    with pytest.raises(ValidationError, match="id_number"):
        index.compute("id-number", "11010519491231002X!")
    with pytest.raises(KeyUnwrapError):
        BlindIndex(b"short")
    assert normalise("phone", "+86 138 1234 5678") == "13812345678"
