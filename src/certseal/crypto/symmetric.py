"""Symmetric encryption: SM4-GCM, AES-256-GCM (authenticated) and SM4-CBC (for interoperability only)."""

from __future__ import annotations

import os
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from certseal.errors import DecryptionFailed, ValidationError

GCM_NONCE_BYTES = 12
GCM_TAG_BYTES = 16


class AeadAlgorithm(StrEnum):
    SM4_GCM = "sm4-gcm"
    AES256_GCM = "aes256-gcm"

    @property
    def key_bytes(self) -> int:
        return 16 if self is AeadAlgorithm.SM4_GCM else 32


def _block_cipher(alg: AeadAlgorithm, key: bytes) -> algorithms.SM4 | algorithms.AES:
    if len(key) != alg.key_bytes:
        raise ValidationError("key", f"{alg.value} needs a {alg.key_bytes}-byte key, got {len(key)}")
    return algorithms.SM4(key) if alg is AeadAlgorithm.SM4_GCM else algorithms.AES(key)


def aead_encrypt(
    alg: AeadAlgorithm, key: bytes, plaintext: bytes, aad: bytes = b"", nonce: bytes | None = None
) -> bytes:
    """Return nonce || ciphertext || tag.  A fresh random 96-bit nonce unless one is given (tests only)."""
    nonce = nonce if nonce is not None else os.urandom(GCM_NONCE_BYTES)
    if len(nonce) != GCM_NONCE_BYTES:
        raise ValidationError("nonce", f"must be {GCM_NONCE_BYTES} bytes")
    enc = Cipher(_block_cipher(alg, key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    body = enc.update(plaintext) + enc.finalize()
    return nonce + body + enc.tag


def aead_decrypt(alg: AeadAlgorithm, key: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    """Inverse of aead_encrypt; raises DecryptionFailed when the tag does not match (tamper or wrong key)."""
    if len(sealed) < GCM_NONCE_BYTES + GCM_TAG_BYTES:
        raise DecryptionFailed(f"{alg.value} ciphertext is too short")
    nonce, body, tag = sealed[:GCM_NONCE_BYTES], sealed[GCM_NONCE_BYTES:-GCM_TAG_BYTES], sealed[-GCM_TAG_BYTES:]
    dec = Cipher(_block_cipher(alg, key), modes.GCM(nonce, tag)).decryptor()
    dec.authenticate_additional_data(aad)
    try:
        return dec.update(body) + dec.finalize()
    except InvalidTag:
        raise DecryptionFailed(f"{alg.value} authentication failed: data altered or wrong key") from None


def sm4_cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """SM4-CBC with PKCS#7 padding; unauthenticated, for exchanging data with systems that need it."""
    _check_sm4_cbc(key, iv)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    return enc.update(padded) + enc.finalize()


def sm4_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    _check_sm4_cbc(key, iv)
    if not ciphertext or len(ciphertext) % 16:
        raise DecryptionFailed("SM4-CBC ciphertext length must be a non-zero multiple of 16")
    dec = Cipher(algorithms.SM4(key), modes.CBC(iv)).decryptor()
    padded = dec.update(ciphertext) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise DecryptionFailed("SM4-CBC padding is invalid: data altered or wrong key") from None


def sm4_encrypt_block(key: bytes, block: bytes) -> bytes:
    """One raw SM4 block (GB/T 32907 test vectors)."""
    if len(key) != 16 or len(block) != 16:
        raise ValidationError("block", "SM4 key and block are 16 bytes each")
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305 - one raw block, by definition
    return enc.update(block) + enc.finalize()


def _check_sm4_cbc(key: bytes, iv: bytes) -> None:
    if len(key) != 16:
        raise ValidationError("key", f"SM4 needs a 16-byte key, got {len(key)}")
    if len(iv) != 16:
        raise ValidationError("iv", f"SM4-CBC needs a 16-byte IV, got {len(iv)}")
