"""The key-encryption key (KEK) that seals software-token private keys at rest.

A sealed key is: version byte || AES-256-GCM(nonce || ciphertext || tag) over the PKCS#8 DER, with the key's
label and algorithm as associated data, so a sealed blob cannot be moved to another label unnoticed.
"""

from __future__ import annotations

import hashlib
import hmac

from certseal.crypto.symmetric import AeadAlgorithm, aead_decrypt, aead_encrypt
from certseal.errors import DecryptionFailed, KeyUnwrapError

_VERSION = b"\x01"


class KeyEncryptionKey:
    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise KeyUnwrapError("the key-encryption key must be 32 bytes")
        self._wrapping_key = hmac.new(secret, b"certseal software-token key wrapping v1", hashlib.sha256).digest()
        self.kek_id = hmac.new(secret, b"certseal kek id", hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"KeyEncryptionKey(kek_id={self.kek_id})"

    def wrap(self, pkcs8_der: bytes, aad: bytes) -> bytes:
        return _VERSION + aead_encrypt(AeadAlgorithm.AES256_GCM, self._wrapping_key, pkcs8_der, aad)

    def unwrap(self, sealed: bytes, aad: bytes, sealed_with: str, what: str) -> bytes:
        """Open a sealed key; `sealed_with` is the kek_id recorded when it was sealed."""
        if not hmac.compare_digest(sealed_with, self.kek_id):
            raise KeyUnwrapError(
                f"{what} was sealed with key-encryption key {sealed_with}, but the configured one is "
                f"{self.kek_id}: check CERTSEAL_KEK / the secrets file"
            )
        if not sealed.startswith(_VERSION):
            raise KeyUnwrapError(f"{what} is corrupt: unknown sealing format")
        try:
            return aead_decrypt(AeadAlgorithm.AES256_GCM, self._wrapping_key, sealed[1:], aad)
        except DecryptionFailed:
            raise KeyUnwrapError(f"{what} is corrupt: its integrity check failed") from None
