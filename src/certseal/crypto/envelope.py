"""Envelope encryption of a record's sensitive fields, and blind indexes for exact search over them.

Layers: the KEK (configuration) wraps versioned master keys (random, 32 bytes; certseal.services.access keeps
them in the database); a master key wraps a fresh data key per record; the data key encrypts the record's fields
(SM4-GCM by default, AES-256-GCM by choice).  Rotating the master key rewraps the data keys only.

A sealed value (bytes) is::

    "CSE" 0x01 | algorithm (1 = sm4-gcm, 2 = aes256-gcm) | master version (uint32 BE)
    | wrapped data key length (1 byte) | wrapped data key (nonce 12 | key | tag 16) | nonce (12) | ciphertext | tag (16)

The fields are canonical JSON ({"name": "value"}, sorted keys, UTF-8).  The associated data binds the ciphertext to
its place (table, record id, column) and algorithm, and the wrapped key additionally to the master version, so a
sealed value copied to another row, column or table fails to open:

    data:        JSON ["certseal-envelope/1", algorithm, table, record_id, column]
    data key:    JSON ["certseal-envelope-key/1", algorithm, master_version, table, record_id, column]

The data key is wrapped under HMAC-SM3(master key, "certseal envelope data-key wrapping|" + algorithm), truncated to
the algorithm's key size, with the same AEAD as the data.

A blind index is HMAC-SM3 over the normalised value, under a key derived per kind of value ("id-number", "phone",
…) from a blind-index key that is separate from the master keys (it must not change when they rotate).  HMAC-SM3
rather than HMAC-SHA256: it is the national-standard MAC (GB/T 15852.2 with SM3), which a commercial-cryptography
assessment (GM/T 0054) expects for protecting important data; both give 256-bit tags of equal strength.  The same
kind shares one key, so an ID number is found whether it was a legal representative's or a pharmacist's.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import struct
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from certseal.crypto.symmetric import GCM_NONCE_BYTES, GCM_TAG_BYTES, AeadAlgorithm, aead_decrypt, aead_encrypt
from certseal.errors import CryptoError, DecryptionFailed, KeyUnwrapError, ValidationError

MASTER_KEY_BYTES = 32
BLIND_INDEX_KEY_BYTES = 32
_MAGIC = b"CSE\x01"
_HEADER = struct.Struct(">4sBIB")
_ALGORITHM_CODES: dict[AeadAlgorithm, int] = {AeadAlgorithm.SM4_GCM: 1, AeadAlgorithm.AES256_GCM: 2}
_CODE_ALGORITHMS = {code: alg for alg, code in _ALGORITHM_CODES.items()}
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_WRAP_LABEL = b"certseal envelope data-key wrapping|"


def hmac_sm3(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, "sm3").digest()


def new_master_key() -> bytes:
    return os.urandom(MASTER_KEY_BYTES)


@dataclass(frozen=True)
class SealContext:
    """Where a sealed value lives: it opens only there."""

    table: str
    record_id: str
    column: str

    def __post_init__(self) -> None:
        for name in ("table", "column"):
            if not _IDENTIFIER.match(getattr(self, name)):
                raise ValidationError(name, "must be a lower-case SQL identifier")
        if not self.record_id or len(self.record_id) > 128:
            raise ValidationError("record_id", "must be 1-128 characters")

    def data_aad(self, algorithm: AeadAlgorithm) -> bytes:
        return _json(["certseal-envelope/1", algorithm.value, self.table, self.record_id, self.column])

    def key_aad(self, algorithm: AeadAlgorithm, master_version: int) -> bytes:
        return _json(
            ["certseal-envelope-key/1", algorithm.value, master_version, self.table, self.record_id, self.column]
        )

    def __str__(self) -> str:
        return f"{self.table}.{self.column} of record {self.record_id}"


@dataclass(frozen=True)
class SealedBlob:
    """The parts of a sealed value."""

    master_version: int
    algorithm: AeadAlgorithm
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes  # with the 16-byte GCM tag at the end

    def to_bytes(self) -> bytes:
        header = _HEADER.pack(_MAGIC, _ALGORITHM_CODES[self.algorithm], self.master_version, len(self.wrapped_key))
        return header + self.wrapped_key + self.nonce + self.ciphertext

    @classmethod
    def from_bytes(cls, data: bytes) -> SealedBlob:
        if len(data) < _HEADER.size or not data.startswith(_MAGIC):
            raise DecryptionFailed("the sealed value is corrupt: it does not start with the envelope header")
        _magic, code, version, key_length = _HEADER.unpack_from(data)
        if code not in _CODE_ALGORITHMS:
            raise DecryptionFailed(f"the sealed value is corrupt: unknown algorithm code {code}")
        key_end = _HEADER.size + key_length
        if len(data) < key_end + GCM_NONCE_BYTES + GCM_TAG_BYTES:
            raise DecryptionFailed("the sealed value is corrupt: it is truncated")
        nonce_end = key_end + GCM_NONCE_BYTES
        return cls(
            version, _CODE_ALGORITHMS[code], data[_HEADER.size : key_end], data[key_end:nonce_end], data[nonce_end:]
        )


class MasterKeyRing:
    """The master keys a deployment holds, by version, and which one seals new values."""

    def __init__(self, keys: Mapping[int, bytes], current: int, retired: Mapping[int, str] | None = None) -> None:
        if current not in keys:
            raise KeyUnwrapError(f"the current master key version {current} is not in the key ring")
        for version, key in keys.items():
            if len(key) != MASTER_KEY_BYTES:
                raise KeyUnwrapError(f"master key version {version} must be {MASTER_KEY_BYTES} bytes")
        self._keys = dict(keys)
        self._retired = dict(retired or {})
        self.current = current

    def __repr__(self) -> str:
        return f"MasterKeyRing(versions={sorted(self._keys)}, current={self.current})"

    @property
    def versions(self) -> list[int]:
        return sorted(self._keys)

    def key(self, version: int, what: str) -> bytes:
        if version in self._keys:
            return self._keys[version]
        if version in self._retired:
            raise KeyUnwrapError(
                f"{what} is sealed under master key version {version}, retired {self._retired[version]}"
            )
        raise KeyUnwrapError(
            f"{what} is sealed under master key version {version}, which this deployment does not hold "
            f"(it has versions {', '.join(map(str, self.versions))}): check the KEK and the database"
        )


class EnvelopeCipher:
    """Seal and open a record's sensitive fields; rewrap them under another master key version."""

    def __init__(self, ring: MasterKeyRing, algorithm: AeadAlgorithm = AeadAlgorithm.SM4_GCM) -> None:
        self.ring = ring
        self.algorithm = algorithm

    def encrypt(self, context: SealContext, fields: Mapping[str, str]) -> bytes:
        plaintext = _json(_checked_fields(fields))
        data_key = os.urandom(self.algorithm.key_bytes)
        version = self.ring.current
        sealed = aead_encrypt(self.algorithm, data_key, plaintext, context.data_aad(self.algorithm))
        wrapped = self._wrap(data_key, context, self.algorithm, version)
        return SealedBlob(
            version, self.algorithm, wrapped, sealed[:GCM_NONCE_BYTES], sealed[GCM_NONCE_BYTES:]
        ).to_bytes()

    def decrypt(self, context: SealContext, sealed: bytes) -> dict[str, str]:
        blob = SealedBlob.from_bytes(sealed)
        data_key = self._unwrap(blob, context)
        try:
            plaintext = aead_decrypt(
                blob.algorithm, data_key, blob.nonce + blob.ciphertext, context.data_aad(blob.algorithm)
            )
        except DecryptionFailed:
            raise DecryptionFailed(f"{context}: the sealed value was altered or belongs elsewhere") from None
        return _parse_fields(plaintext, context)

    def rewrap(self, context: SealContext, sealed: bytes, version: int | None = None) -> bytes:
        """The same ciphertext, its data key wrapped under master `version` (default: the current one)."""
        blob = SealedBlob.from_bytes(sealed)
        target = self.ring.current if version is None else version
        if blob.master_version == target:
            return sealed
        self.ring.key(target, f"rewrapping {context}")
        data_key = self._unwrap(blob, context)
        wrapped = self._wrap(data_key, context, blob.algorithm, target)
        return SealedBlob(target, blob.algorithm, wrapped, blob.nonce, blob.ciphertext).to_bytes()

    def unwrap_data_key(self, context: SealContext, sealed: bytes) -> bytes:
        """The record's data key: for key-management checks and tests, never for display."""
        return self._unwrap(SealedBlob.from_bytes(sealed), context)

    def _wrap(self, data_key: bytes, context: SealContext, algorithm: AeadAlgorithm, version: int) -> bytes:
        wrapping_key = _wrapping_key(self.ring.key(version, str(context)), algorithm)
        return aead_encrypt(algorithm, wrapping_key, data_key, context.key_aad(algorithm, version))

    def _unwrap(self, blob: SealedBlob, context: SealContext) -> bytes:
        wrapping_key = _wrapping_key(self.ring.key(blob.master_version, str(context)), blob.algorithm)
        try:
            return aead_decrypt(
                blob.algorithm, wrapping_key, blob.wrapped_key, context.key_aad(blob.algorithm, blob.master_version)
            )
        except DecryptionFailed:
            raise KeyUnwrapError(
                f"{context}: its data key does not unwrap under master key version {blob.master_version}: "
                "the value was altered, moved from another record, or the master key is not the one it was sealed with"
            ) from None


def _wrapping_key(master_key: bytes, algorithm: AeadAlgorithm) -> bytes:
    return hmac_sm3(master_key, _WRAP_LABEL + algorithm.value.encode())[: algorithm.key_bytes]


def _checked_fields(fields: Mapping[str, str]) -> dict[str, str]:
    if not fields:
        raise ValidationError("fields", "give at least one field to seal")
    for name, value in fields.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValidationError("fields", "names and values must be text")
    return dict(fields)


def _parse_fields(plaintext: bytes, context: SealContext) -> dict[str, str]:
    try:
        fields = json.loads(plaintext.decode())
    except (UnicodeDecodeError, ValueError):
        raise CryptoError(f"{context}: the opened value is not the JSON certseal seals") from None
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
        raise CryptoError(f"{context}: the opened value is not a mapping of text fields")
    return {str(k): str(v) for k, v in fields.items()}


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


# --- blind index ---------------------------------------------------------------------------------------------

_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_PHONE = re.compile(r"^\+?[0-9]{3,20}$")
_ID_NUMBER = re.compile(r"^[0-9A-Z]{6,32}$")
BLIND_INDEX_KINDS = ("id-number", "phone", "text")


def normalise(kind: str, value: str) -> str:
    """The canonical form of a value for exact search: full-width forms folded, separators and case ignored."""
    text = unicodedata.normalize("NFKC", value).strip()
    if kind == "id-number":
        text = re.sub(r"\s", "", text).upper()
        if not _ID_NUMBER.match(text):
            raise ValidationError("id_number", "must be 6-32 letters and digits")
        return text
    if kind == "phone":
        text = _PHONE_SEPARATORS.sub("", text)
        if not _PHONE.match(text):
            raise ValidationError("phone", "must be digits, optionally after +")
        for prefix in ("+86", "0086"):
            if text.startswith(prefix) and len(text) > len(prefix) + 6:
                return text[len(prefix) :]
        return text
    if kind == "text":
        text = " ".join(text.split()).casefold()
        if not text:
            raise ValidationError("value", "must not be empty")
        return text
    raise ValidationError("kind", f"must be one of {', '.join(BLIND_INDEX_KINDS)}, not {kind!r}")


class BlindIndex:
    """Keyed, deterministic tags of normalised values: equal values give equal tags, nothing else is revealed."""

    def __init__(self, key: bytes) -> None:
        if len(key) != BLIND_INDEX_KEY_BYTES:
            raise KeyUnwrapError(f"the blind-index key must be {BLIND_INDEX_KEY_BYTES} bytes")
        self._kind_keys = {kind: hmac_sm3(key, b"certseal blind index|" + kind.encode()) for kind in BLIND_INDEX_KINDS}

    def __repr__(self) -> str:
        return "BlindIndex(<key>)"

    def compute(self, kind: str, value: str) -> str:
        """64 hex characters: HMAC-SM3(kind key, normalise(kind, value))."""
        normalised = normalise(kind, value)
        return hmac_sm3(self._kind_keys[kind], normalised.encode()).hex()
