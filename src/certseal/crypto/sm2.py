"""SM2 (GB/T 32918) through the system OpenSSL 3 libcrypto, via a small cffi ABI binding.

Sign/verify use SM3 and a distinguishing ID (default 1234567812345678, GM/T 0009); encryption produces DER C1C3C2
and decryption checks C3.  pyca/cryptography has no SM2, and the `gmssl` package uses predictable nonces, so
signing goes through libcrypto only.
"""

from __future__ import annotations

import ctypes.util
import threading
from functools import cached_property
from typing import Any

from cffi import FFI

from certseal.crypto.algorithms import SM2_DEFAULT_ID
from certseal.crypto.hashes import sm3
from certseal.errors import CryptoError, DecryptionFailed, InvalidSignature, UnsupportedAlgorithm

_CDEF = """
typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_pkey_ctx_st EVP_PKEY_CTX;
typedef struct evp_md_ctx_st EVP_MD_CTX;
typedef struct evp_md_st EVP_MD;
typedef struct ossl_lib_ctx_st OSSL_LIB_CTX;
typedef struct engine_st ENGINE;
typedef struct pkcs8_priv_key_info_st PKCS8_PRIV_KEY_INFO;

unsigned long OpenSSL_version_num(void);
unsigned long ERR_get_error(void);
void ERR_error_string_n(unsigned long e, char *buf, size_t len);
void ERR_clear_error(void);

EVP_PKEY_CTX *EVP_PKEY_CTX_new_from_name(OSSL_LIB_CTX *libctx, const char *name, const char *propquery);
EVP_PKEY_CTX *EVP_PKEY_CTX_new(EVP_PKEY *pkey, ENGINE *e);
void EVP_PKEY_CTX_free(EVP_PKEY_CTX *ctx);
int EVP_PKEY_keygen_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_generate(EVP_PKEY_CTX *ctx, EVP_PKEY **ppkey);
void EVP_PKEY_free(EVP_PKEY *pkey);
int EVP_PKEY_is_a(const EVP_PKEY *pkey, const char *name);
int EVP_PKEY_CTX_set1_id(EVP_PKEY_CTX *ctx, const void *id, int len);

EVP_PKEY *d2i_AutoPrivateKey(EVP_PKEY **a, const unsigned char **pp, long length);
EVP_PKEY *d2i_PUBKEY(EVP_PKEY **a, const unsigned char **pp, long length);
int i2d_PUBKEY(const EVP_PKEY *a, unsigned char **pp);
PKCS8_PRIV_KEY_INFO *EVP_PKEY2PKCS8(const EVP_PKEY *pkey);
int i2d_PKCS8_PRIV_KEY_INFO(const PKCS8_PRIV_KEY_INFO *a, unsigned char **pp);
void PKCS8_PRIV_KEY_INFO_free(PKCS8_PRIV_KEY_INFO *a);
void CRYPTO_free(void *ptr, const char *file, int line);

EVP_MD_CTX *EVP_MD_CTX_new(void);
void EVP_MD_CTX_free(EVP_MD_CTX *ctx);
void EVP_MD_CTX_set_pkey_ctx(EVP_MD_CTX *ctx, EVP_PKEY_CTX *pctx);
const EVP_MD *EVP_sm3(void);
int EVP_DigestSignInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type, ENGINE *e, EVP_PKEY *pkey);
int EVP_DigestSign(EVP_MD_CTX *ctx, unsigned char *sigret, size_t *siglen, const unsigned char *tbs, size_t tbslen);
int EVP_DigestVerifyInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type, ENGINE *e, EVP_PKEY *pkey);
int EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sig, size_t siglen, const unsigned char *tbs,
                     size_t tbslen);

int EVP_PKEY_sign_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_sign(EVP_PKEY_CTX *ctx, unsigned char *sig, size_t *siglen, const unsigned char *tbs, size_t tbslen);
int EVP_PKEY_verify_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_verify(EVP_PKEY_CTX *ctx, const unsigned char *sig, size_t siglen, const unsigned char *tbs,
                    size_t tbslen);
int EVP_PKEY_encrypt_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_encrypt(EVP_PKEY_CTX *ctx, unsigned char *out, size_t *outlen, const unsigned char *in, size_t inlen);
int EVP_PKEY_decrypt_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_decrypt(EVP_PKEY_CTX *ctx, unsigned char *out, size_t *outlen, const unsigned char *in, size_t inlen);
"""

# Curve parameters of sm2p256v1 (GB/T 32918.5), needed to compute Z.
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

_MAX_SIGNATURE = 80  # DER SEQUENCE of two 32-byte INTEGERs is at most 72 bytes

_lock = threading.Lock()
_lib: Any = None
_ffi = FFI()
_ffi.cdef(_CDEF)


def _load() -> Any:
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            _lib = _open_libcrypto()
    return _lib


def _open_libcrypto() -> Any:
    candidates = ["libcrypto.so.3", ctypes.util.find_library("crypto") or ""]
    errors = []
    for name in filter(None, candidates):
        try:
            lib = _ffi.dlopen(name)
        except OSError as exc:
            errors.append(f"{name}: {exc}")
            continue
        if lib.OpenSSL_version_num() < 0x30000000:
            errors.append(f"{name}: OpenSSL older than 3.0")
            continue
        ctx = lib.EVP_PKEY_CTX_new_from_name(_ffi.NULL, b"SM2", _ffi.NULL)
        if ctx == _ffi.NULL:
            lib.ERR_clear_error()
            errors.append(f"{name}: built without SM2")
            continue
        lib.EVP_PKEY_CTX_free(ctx)
        return lib
    raise UnsupportedAlgorithm(
        "SM2 needs the system OpenSSL 3 libcrypto with SM2 enabled (Debian/Ubuntu package libssl3); "
        + "; ".join(errors or ["libcrypto not found"])
    )


def available() -> bool:
    try:
        _load()
    except UnsupportedAlgorithm:
        return False
    return True


def _openssl_error(what: str) -> CryptoError:
    lib = _load()
    code = lib.ERR_get_error()
    lib.ERR_clear_error()
    if not code:
        return CryptoError(f"SM2 {what} failed")
    buf = _ffi.new("char[256]")
    lib.ERR_error_string_n(code, buf, 256)
    return CryptoError(f"SM2 {what} failed: {_ffi.string(buf).decode(errors='replace')}")


def _check_id(distid: bytes) -> None:
    if len(distid) >= 8192:  # ENTL is a 16-bit count of bits
        raise CryptoError("SM2 distinguishing ID must be shorter than 8192 bytes")


class _Key:
    """An EVP_PKEY of type SM2, freed with the Python object."""

    def __init__(self, pkey: Any) -> None:
        lib = _load()
        if pkey == _ffi.NULL:
            raise _openssl_error("key decoding")
        if not lib.EVP_PKEY_is_a(pkey, b"SM2"):
            lib.EVP_PKEY_free(pkey)
            raise CryptoError("key is not on the SM2 curve (sm2p256v1)")
        self._pkey = _ffi.gc(pkey, lib.EVP_PKEY_free)

    def _spki_der(self) -> bytes:
        lib = _load()
        out = _ffi.new("unsigned char **")
        n = lib.i2d_PUBKEY(self._pkey, out)
        if n <= 0:
            raise _openssl_error("public key encoding")
        try:
            return bytes(_ffi.buffer(out[0], n))
        finally:
            lib.CRYPTO_free(out[0], b"sm2.py", 0)

    def _verify(self, signature: bytes, data: bytes, distid: bytes) -> None:
        _check_id(distid)
        lib = _load()
        mctx = lib.EVP_MD_CTX_new()
        pctx = lib.EVP_PKEY_CTX_new(self._pkey, _ffi.NULL)
        try:
            if lib.EVP_PKEY_CTX_set1_id(pctx, distid, len(distid)) <= 0:
                raise _openssl_error("ID setting")
            lib.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
            if lib.EVP_DigestVerifyInit(mctx, _ffi.NULL, lib.EVP_sm3(), _ffi.NULL, self._pkey) <= 0:
                raise _openssl_error("verify init")
            ok = lib.EVP_DigestVerify(mctx, signature, len(signature), data, len(data))
        finally:
            lib.EVP_MD_CTX_free(mctx)
            lib.EVP_PKEY_CTX_free(pctx)
        if ok != 1:
            lib.ERR_clear_error()
            raise InvalidSignature("SM2 signature does not verify")


class SM2PublicKey(_Key):
    @classmethod
    def from_spki_der(cls, der: bytes) -> SM2PublicKey:
        buf = _ffi.new("unsigned char[]", der)
        pp = _ffi.new("unsigned char **", buf)
        return cls(_load().d2i_PUBKEY(_ffi.NULL, pp, len(der)))

    @cached_property
    def spki_der(self) -> bytes:
        return self._spki_der()

    @cached_property
    def point(self) -> tuple[int, int]:
        """Affine coordinates (x, y); the SPKI ends with the uncompressed point 04 || x || y."""
        raw = self.spki_der[-65:]
        if raw[0] != 4:
            raise CryptoError("SM2 public key is not an uncompressed point")
        return int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:], "big")

    def verify(self, signature: bytes, data: bytes, distid: bytes = SM2_DEFAULT_ID) -> None:
        """Raise InvalidSignature unless `signature` (DER r,s) is valid over SM3(Z || data)."""
        self._verify(signature, data, distid)

    def verify_digest(self, signature: bytes, digest: bytes) -> None:
        lib = _load()
        pctx = lib.EVP_PKEY_CTX_new(self._pkey, _ffi.NULL)
        try:
            if lib.EVP_PKEY_verify_init(pctx) <= 0:
                raise _openssl_error("verify init")
            ok = lib.EVP_PKEY_verify(pctx, signature, len(signature), digest, len(digest))
        finally:
            lib.EVP_PKEY_CTX_free(pctx)
        if ok != 1:
            lib.ERR_clear_error()
            raise InvalidSignature("SM2 signature does not verify")

    def encrypt(self, plaintext: bytes) -> bytes:
        """SM2 public-key encryption; returns DER C1C3C2 (GM/T 0009), as OpenSSL writes it."""
        lib = _load()
        pctx = lib.EVP_PKEY_CTX_new(self._pkey, _ffi.NULL)
        try:
            if lib.EVP_PKEY_encrypt_init(pctx) <= 0:
                raise _openssl_error("encrypt init")
            outlen = _ffi.new("size_t *")
            if lib.EVP_PKEY_encrypt(pctx, _ffi.NULL, outlen, plaintext, len(plaintext)) <= 0:
                raise _openssl_error("encryption")
            out = _ffi.new("unsigned char[]", outlen[0])
            if lib.EVP_PKEY_encrypt(pctx, out, outlen, plaintext, len(plaintext)) <= 0:
                raise _openssl_error("encryption")
            return bytes(_ffi.buffer(out, outlen[0]))
        finally:
            lib.EVP_PKEY_CTX_free(pctx)

    def z_digest(self, distid: bytes = SM2_DEFAULT_ID) -> bytes:
        return z_digest(self.point, distid)


class SM2PrivateKey(_Key):
    @classmethod
    def generate(cls) -> SM2PrivateKey:
        lib = _load()
        ctx = lib.EVP_PKEY_CTX_new_from_name(_ffi.NULL, b"SM2", _ffi.NULL)
        try:
            out = _ffi.new("EVP_PKEY **")
            if lib.EVP_PKEY_keygen_init(ctx) <= 0 or lib.EVP_PKEY_generate(ctx, out) <= 0:
                raise _openssl_error("key generation")
            return cls(out[0])
        finally:
            lib.EVP_PKEY_CTX_free(ctx)

    @classmethod
    def from_der(cls, der: bytes) -> SM2PrivateKey:
        """Load a PKCS#8 or SEC1 (ECPrivateKey) DER private key on the SM2 curve."""
        buf = _ffi.new("unsigned char[]", der)
        pp = _ffi.new("unsigned char **", buf)
        return cls(_load().d2i_AutoPrivateKey(_ffi.NULL, pp, len(der)))

    def to_pkcs8_der(self) -> bytes:
        lib = _load()
        p8 = lib.EVP_PKEY2PKCS8(self._pkey)
        if p8 == _ffi.NULL:
            raise _openssl_error("private key encoding")
        out = _ffi.new("unsigned char **")
        try:
            n = lib.i2d_PKCS8_PRIV_KEY_INFO(p8, out)
            if n <= 0:
                raise _openssl_error("private key encoding")
            try:
                return bytes(_ffi.buffer(out[0], n))
            finally:
                lib.CRYPTO_free(out[0], b"sm2.py", 0)
        finally:
            lib.PKCS8_PRIV_KEY_INFO_free(p8)

    @cached_property
    def public_key(self) -> SM2PublicKey:
        return SM2PublicKey.from_spki_der(self._spki_der())

    def sign(self, data: bytes, distid: bytes = SM2_DEFAULT_ID) -> bytes:
        """DER SEQUENCE {r, s} over SM3(Z || data), fresh random k from libcrypto."""
        _check_id(distid)
        lib = _load()
        mctx = lib.EVP_MD_CTX_new()
        pctx = lib.EVP_PKEY_CTX_new(self._pkey, _ffi.NULL)
        try:
            if lib.EVP_PKEY_CTX_set1_id(pctx, distid, len(distid)) <= 0:
                raise _openssl_error("ID setting")
            lib.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
            if lib.EVP_DigestSignInit(mctx, _ffi.NULL, lib.EVP_sm3(), _ffi.NULL, self._pkey) <= 0:
                raise _openssl_error("sign init")
            sig = _ffi.new("unsigned char[]", _MAX_SIGNATURE)
            siglen = _ffi.new("size_t *", _MAX_SIGNATURE)
            if lib.EVP_DigestSign(mctx, sig, siglen, data, len(data)) <= 0:
                raise _openssl_error("signing")
            return bytes(_ffi.buffer(sig, siglen[0]))
        finally:
            lib.EVP_MD_CTX_free(mctx)
            lib.EVP_PKEY_CTX_free(pctx)

    def sign_digest(self, digest: bytes) -> bytes:
        """Sign e = SM3(Z || M) computed by the caller (for clients that send only a hash)."""
        if len(digest) != 32:
            raise CryptoError(f"SM2 digest must be 32 bytes (SM3), got {len(digest)}")
        lib = _load()
        pctx = lib.EVP_PKEY_CTX_new(self._pkey, _ffi.NULL)
        try:
            if lib.EVP_PKEY_sign_init(pctx) <= 0:
                raise _openssl_error("sign init")
            sig = _ffi.new("unsigned char[]", _MAX_SIGNATURE)
            siglen = _ffi.new("size_t *", _MAX_SIGNATURE)
            if lib.EVP_PKEY_sign(pctx, sig, siglen, digest, len(digest)) <= 0:
                raise _openssl_error("signing")
            return bytes(_ffi.buffer(sig, siglen[0]))
        finally:
            lib.EVP_PKEY_CTX_free(pctx)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Decrypt DER C1C3C2; raises DecryptionFailed if C3 (the SM3 check value) does not match."""
        lib = _load()
        pctx = lib.EVP_PKEY_CTX_new(self._pkey, _ffi.NULL)
        try:
            if lib.EVP_PKEY_decrypt_init(pctx) <= 0:
                raise _openssl_error("decrypt init")
            outlen = _ffi.new("size_t *")
            if lib.EVP_PKEY_decrypt(pctx, _ffi.NULL, outlen, ciphertext, len(ciphertext)) <= 0:
                lib.ERR_clear_error()
                raise DecryptionFailed("SM2 ciphertext is malformed")
            out = _ffi.new("unsigned char[]", max(outlen[0], 1))
            if lib.EVP_PKEY_decrypt(pctx, out, outlen, ciphertext, len(ciphertext)) <= 0:
                lib.ERR_clear_error()
                raise DecryptionFailed("SM2 decryption failed: C3 check value mismatch or wrong key")
            return bytes(_ffi.buffer(out, outlen[0]))
        finally:
            lib.EVP_PKEY_CTX_free(pctx)


def z_digest(point: tuple[int, int], distid: bytes = SM2_DEFAULT_ID) -> bytes:
    """Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA) (GB/T 32918.2, 5.5)."""
    _check_id(distid)
    entl = (len(distid) * 8).to_bytes(2, "big")
    parts = [A, B, GX, GY, point[0], point[1]]
    return sm3(entl + distid + b"".join(v.to_bytes(32, "big") for v in parts))


def message_digest(point: tuple[int, int], data: bytes, distid: bytes = SM2_DEFAULT_ID) -> bytes:
    """e = SM3(Z || M): what SM2 signs; lets a client send only a hash."""
    return sm3(z_digest(point, distid) + data)
