"""SM2 (GB/T 32918) through the system OpenSSL 3 libcrypto (see _libcrypto.py).

Signatures are over e = SM3(Z || M), Z computed here once per key and distinguishing ID (default
1234567812345678, GM/T 0009), then signed by libcrypto with a fresh random k.  Encryption produces DER C1C3C2 and
decryption checks C3.  pyca/cryptography has no SM2, and the `gmssl` package uses predictable nonces, so SM2
private-key operations go through libcrypto only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import ClassVar

from asn1crypto import core

from certseal.crypto import _libcrypto
from certseal.crypto._libcrypto import DigestParams, EvpKey
from certseal.crypto.algorithms import SM2_DEFAULT_ID
from certseal.crypto.hashes import prefixed, sm3
from certseal.errors import CryptoError, DecryptionFailed, InvalidSignature, UnsupportedAlgorithm, ValidationError

# Curve parameters of sm2p256v1 (GB/T 32918.5), needed to compute Z.
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

MAX_ID_BYTES = 8190  # ENTL is 16 bits; libcrypto refuses 8191 and more, so we do too
_RAW = DigestParams(sha256=False)
_checked = False


def _require_sm2() -> None:
    global _checked
    if not _checked:
        if not _libcrypto.has_sm2():
            raise UnsupportedAlgorithm("the system libcrypto is built without SM2 (Debian/Ubuntu libssl3 has it)")
        _checked = True


def available() -> bool:
    try:
        _require_sm2()
    except UnsupportedAlgorithm:
        return False
    return True


def _check_id(distid: bytes) -> None:
    if len(distid) > MAX_ID_BYTES:
        raise CryptoError(f"SM2 distinguishing ID must be at most {MAX_ID_BYTES} bytes, got {len(distid)}")


def _sm2_key(key: EvpKey) -> EvpKey:
    if not key.is_a(b"SM2"):
        raise CryptoError("key is not on the SM2 curve (sm2p256v1)")
    return key


class SM2PublicKey:
    def __init__(self, key: EvpKey) -> None:
        self._key = _sm2_key(key)
        self._z: dict[bytes, bytes] = {}
        self._hashers: dict[bytes, Callable[[bytes], bytes]] = {}  # SM3 seeded with Z, per distinguishing ID
        self._z_lock = threading.Lock()

    @classmethod
    def from_spki_der(cls, der: bytes) -> SM2PublicKey:
        _require_sm2()
        return cls(EvpKey.from_public_der(bytes(der)))

    @cached_property
    def spki_der(self) -> bytes:
        return self._key.spki_der()

    @cached_property
    def point(self) -> tuple[int, int]:
        """Affine coordinates (x, y); the SPKI ends with the uncompressed point 04 || x || y."""
        raw = self.spki_der[-65:]
        if raw[0] != 4:
            raise CryptoError("SM2 public key is not an uncompressed point")
        return int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:], "big")

    def z_digest(self, distid: bytes = SM2_DEFAULT_ID) -> bytes:
        z = self._z.get(distid)
        if z is None:
            z = z_digest(self.point, distid)
            with self._z_lock:
                if len(self._z) < 16:  # a key is used with one or two IDs; bound the cache anyway
                    self._z[distid] = z
        return z

    def message_digest(self, data: bytes, distid: bytes = SM2_DEFAULT_ID) -> bytes:
        hasher = self._hashers.get(distid)
        if hasher is None:
            hasher = prefixed("sm3", self.z_digest(distid))
            with self._z_lock:
                if len(self._hashers) < 16:
                    self._hashers[distid] = hasher
        return hasher(bytes(data))

    def verify(self, signature: bytes, data: bytes, distid: bytes = SM2_DEFAULT_ID) -> None:
        """Raise InvalidSignature unless `signature` (DER r,s) is valid over SM3(Z || data)."""
        self.verify_digest(signature, self.message_digest(data, distid))

    def verify_digest(self, signature: bytes, digest: bytes) -> None:
        if not self._key.verify_digest(bytes(signature), bytes(digest), _RAW):
            raise InvalidSignature("SM2 signature does not verify")

    def encrypt(self, plaintext: bytes) -> bytes:
        """SM2 public-key encryption; returns DER C1C3C2 (GM/T 0009), as OpenSSL writes it."""
        if not plaintext:
            raise ValidationError("plaintext", "SM2 encryption needs at least one byte")
        return self._key.encrypt(bytes(plaintext))


class SM2PrivateKey:
    def __init__(self, key: EvpKey) -> None:
        self._key = _sm2_key(key)

    @classmethod
    def generate(cls) -> SM2PrivateKey:
        _require_sm2()
        return cls(EvpKey.generate(b"SM2"))

    @classmethod
    def from_der(cls, der: bytes) -> SM2PrivateKey:
        """Load a PKCS#8 or SEC1 (ECPrivateKey) DER private key on the SM2 curve."""
        _require_sm2()
        return cls(EvpKey.from_private_der(bytes(der)))

    def to_pkcs8_der(self) -> bytes:
        return self._key.pkcs8_der()

    @cached_property
    def public_key(self) -> SM2PublicKey:
        return SM2PublicKey.from_spki_der(self._key.spki_der())

    def sign(self, data: bytes, distid: bytes = SM2_DEFAULT_ID) -> bytes:
        """DER SEQUENCE {r, s} over SM3(Z || data), fresh random k from libcrypto."""
        _check_id(distid)
        return self._key.sign_digest(self.public_key.message_digest(data, distid), _RAW)

    def sign_digest(self, digest: bytes) -> bytes:
        """Sign e = SM3(Z || M) computed by the caller (for clients that send only a hash)."""
        if len(digest) != 32:
            raise ValidationError("digest", f"SM2 signs a 32-byte SM3 digest, got {len(digest)} bytes")
        return self._key.sign_digest(bytes(digest), _RAW)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Decrypt DER C1C3C2; raises DecryptionFailed if C3 (the SM3 check value) does not match."""
        plaintext = self._key.decrypt(bytes(ciphertext))
        if plaintext is None:
            raise DecryptionFailed("SM2 decryption failed: malformed ciphertext, C3 mismatch or wrong key")
        return plaintext


def z_digest(point: tuple[int, int], distid: bytes = SM2_DEFAULT_ID) -> bytes:
    """Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA) (GB/T 32918.2, 5.5)."""
    _check_id(distid)
    entl = (len(distid) * 8).to_bytes(2, "big")
    parts = [A, B, GX, GY, point[0], point[1]]
    return sm3(entl + bytes(distid) + b"".join(v.to_bytes(32, "big") for v in parts))


def message_digest(point: tuple[int, int], data: bytes, distid: bytes = SM2_DEFAULT_ID) -> bytes:
    """e = SM3(Z || M): what SM2 signs; lets a client send only a hash."""
    return sm3(z_digest(point, distid) + bytes(data))


class SM2Cipher(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """GM/T 0009 SM2Cipher: C1 as (x, y), C3 = SM3(x2 || M || y2), C2 = M xor KDF(x2 || y2)."""

    _fields: ClassVar[list[tuple[str, type[core.Asn1Value]]]] = [
        ("x", core.Integer),
        ("y", core.Integer),
        ("hash", core.OctetString),
        ("ciphertext", core.OctetString),
    ]
