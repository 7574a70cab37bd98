"""A small cffi ABI binding to the system OpenSSL 3 libcrypto: EVP keys, digest signing, SM2 encryption.

Keys are decoded once and keep one signing/verifying context per thread, so a signature costs what libcrypto
costs (pyca/cryptography rebuilds its contexts per call; see bench/crypto.py).
"""

from __future__ import annotations

import ctypes.util
import threading
from dataclasses import dataclass
from typing import Any

from cffi import FFI

from certseal.errors import CryptoError, UnsupportedAlgorithm

_CDEF = """
typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_pkey_ctx_st EVP_PKEY_CTX;
typedef struct evp_md_st EVP_MD;
typedef struct ossl_lib_ctx_st OSSL_LIB_CTX;
typedef struct engine_st ENGINE;
typedef struct pkcs8_priv_key_info_st PKCS8_PRIV_KEY_INFO;

unsigned long OpenSSL_version_num(void);
unsigned long ERR_get_error(void);
void ERR_error_string_n(unsigned long e, char *buf, size_t len);
void ERR_clear_error(void);
void CRYPTO_free(void *ptr, const char *file, int line);

EVP_PKEY_CTX *EVP_PKEY_CTX_new_from_name(OSSL_LIB_CTX *libctx, const char *name, const char *propquery);
EVP_PKEY_CTX *EVP_PKEY_CTX_new(EVP_PKEY *pkey, ENGINE *e);
void EVP_PKEY_CTX_free(EVP_PKEY_CTX *ctx);
int EVP_PKEY_keygen_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_generate(EVP_PKEY_CTX *ctx, EVP_PKEY **ppkey);
void EVP_PKEY_free(EVP_PKEY *pkey);
int EVP_PKEY_is_a(const EVP_PKEY *pkey, const char *name);
int EVP_PKEY_get_size(const EVP_PKEY *pkey);

EVP_PKEY *d2i_AutoPrivateKey(EVP_PKEY **a, const unsigned char **pp, long length);
EVP_PKEY *d2i_PUBKEY(EVP_PKEY **a, const unsigned char **pp, long length);
int i2d_PUBKEY(const EVP_PKEY *a, unsigned char **pp);
PKCS8_PRIV_KEY_INFO *EVP_PKEY2PKCS8(const EVP_PKEY *pkey);
int i2d_PKCS8_PRIV_KEY_INFO(const PKCS8_PRIV_KEY_INFO *a, unsigned char **pp);
void PKCS8_PRIV_KEY_INFO_free(PKCS8_PRIV_KEY_INFO *a);

const EVP_MD *EVP_sha256(void);
int EVP_PKEY_sign_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_sign(EVP_PKEY_CTX *ctx, unsigned char *sig, size_t *siglen, const unsigned char *tbs, size_t tbslen);
int EVP_PKEY_verify_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_verify(EVP_PKEY_CTX *ctx, const unsigned char *sig, size_t siglen, const unsigned char *tbs,
                    size_t tbslen);
int EVP_PKEY_CTX_set_signature_md(EVP_PKEY_CTX *ctx, const EVP_MD *md);
int EVP_PKEY_CTX_set_rsa_padding(EVP_PKEY_CTX *ctx, int pad_mode);
int EVP_PKEY_CTX_set_rsa_pss_saltlen(EVP_PKEY_CTX *ctx, int saltlen);
int EVP_PKEY_CTX_set_rsa_mgf1_md(EVP_PKEY_CTX *ctx, const EVP_MD *md);
int EVP_PKEY_encrypt_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_encrypt(EVP_PKEY_CTX *ctx, unsigned char *out, size_t *outlen, const unsigned char *in, size_t inlen);
int EVP_PKEY_decrypt_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_decrypt(EVP_PKEY_CTX *ctx, unsigned char *out, size_t *outlen, const unsigned char *in, size_t inlen);
"""

RSA_PKCS1_PADDING = 1
RSA_PKCS1_PSS_PADDING = 6
RSA_PSS_SALTLEN_DIGEST = -1
RSA_PSS_SALTLEN_AUTO = -2

ffi = FFI()
ffi.cdef(_CDEF)
_lock = threading.Lock()
_lib: Any = None


def lib() -> Any:
    global _lib
    if _lib is None:
        with _lock:
            if _lib is None:
                _lib = _open()
    return _lib


def _open() -> Any:
    errors = []
    for name in filter(None, ["libcrypto.so.3", ctypes.util.find_library("crypto")]):
        try:
            candidate = ffi.dlopen(name)
        except OSError as exc:
            errors.append(f"{name}: {exc}")
            continue
        if candidate.OpenSSL_version_num() < 0x30000000:
            errors.append(f"{name}: OpenSSL older than 3.0")
            continue
        return candidate
    raise UnsupportedAlgorithm(
        "the system OpenSSL 3 libcrypto (Debian/Ubuntu package libssl3) is needed; "
        + "; ".join(errors or ["libcrypto not found"])
    )


def has_sm2() -> bool:
    ctx = lib().EVP_PKEY_CTX_new_from_name(ffi.NULL, b"SM2", ffi.NULL)
    if ctx == ffi.NULL:
        lib().ERR_clear_error()
        return False
    lib().EVP_PKEY_CTX_free(ctx)
    return True


def openssl_error(what: str) -> CryptoError:
    code = lib().ERR_get_error()
    lib().ERR_clear_error()
    if not code:
        return CryptoError(f"{what} failed")
    buf = ffi.new("char[256]")
    lib().ERR_error_string_n(code, buf, 256)
    return CryptoError(f"{what} failed: {ffi.string(buf).decode(errors='replace')}")


@dataclass(frozen=True, eq=False)  # identity hash: instances are module constants and dict keys on the hot path
class DigestParams:
    """How a digest is signed: the digest algorithm OpenSSL is told about and the RSA padding, if any."""

    sha256: bool = True
    rsa_padding: int | None = None
    pss_saltlen: int = RSA_PSS_SALTLEN_DIGEST


class EvpKey:
    """An EVP_PKEY, decoded once, with per-thread sign/verify contexts."""

    def __init__(self, pkey: Any, what: str) -> None:
        lib()
        if pkey == ffi.NULL:
            raise openssl_error(f"{what} decoding")
        self._pkey = ffi.gc(pkey, lib().EVP_PKEY_free)
        self._local = threading.local()
        self.max_signature = lib().EVP_PKEY_get_size(self._pkey)

    @classmethod
    def from_private_der(cls, der: bytes) -> EvpKey:
        buf = ffi.from_buffer(der)
        return cls(lib().d2i_AutoPrivateKey(ffi.NULL, ffi.new("unsigned char **", buf), len(der)), "private key")

    @classmethod
    def from_public_der(cls, der: bytes) -> EvpKey:
        buf = ffi.from_buffer(der)
        return cls(lib().d2i_PUBKEY(ffi.NULL, ffi.new("unsigned char **", buf), len(der)), "public key")

    @classmethod
    def generate(cls, name: bytes) -> EvpKey:
        ctx = lib().EVP_PKEY_CTX_new_from_name(ffi.NULL, name, ffi.NULL)
        if ctx == ffi.NULL:
            raise openssl_error(f"{name.decode()} key generation")
        try:
            out = ffi.new("EVP_PKEY **")
            if lib().EVP_PKEY_keygen_init(ctx) <= 0 or lib().EVP_PKEY_generate(ctx, out) <= 0:
                raise openssl_error(f"{name.decode()} key generation")
            return cls(out[0], "generated key")
        finally:
            lib().EVP_PKEY_CTX_free(ctx)

    def is_a(self, name: bytes) -> bool:
        return bool(lib().EVP_PKEY_is_a(self._pkey, name))

    def spki_der(self) -> bytes:
        out = ffi.new("unsigned char **")
        n = lib().i2d_PUBKEY(self._pkey, out)
        if n <= 0:
            raise openssl_error("public key encoding")
        return _take(out[0], n)

    def pkcs8_der(self) -> bytes:
        p8 = lib().EVP_PKEY2PKCS8(self._pkey)
        if p8 == ffi.NULL:
            raise openssl_error("private key encoding")
        try:
            out = ffi.new("unsigned char **")
            n = lib().i2d_PKCS8_PRIV_KEY_INFO(p8, out)
            if n <= 0:
                raise openssl_error("private key encoding")
            return _take(out[0], n)
        finally:
            lib().PKCS8_PRIV_KEY_INFO_free(p8)

    def sign_digest(self, digest: bytes, params: DigestParams) -> bytes:
        state = self._state()
        ctx = state.signing.get(params) or state.add(state.signing, params, self._new_context("sign", params))
        siglen = state.siglen
        siglen[0] = self.max_signature
        if _lib.EVP_PKEY_sign(ctx, state.sig, siglen, digest, len(digest)) <= 0:
            raise openssl_error("signing")
        return bytes(ffi.buffer(state.sig, siglen[0]))

    def verify_digest(self, signature: bytes, digest: bytes, params: DigestParams) -> bool:
        state = self._state()
        ctx = state.verifying.get(params) or state.add(state.verifying, params, self._new_context("verify", params))
        if _lib.EVP_PKEY_verify(ctx, signature, len(signature), digest, len(digest)) == 1:
            return True
        _lib.ERR_clear_error()
        return False

    def _state(self) -> _ThreadState:
        try:
            state: _ThreadState = self._local.state
        except AttributeError:
            state = self._local.state = _ThreadState(self.max_signature)
        return state

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._crypt(plaintext, encrypt=True)

    def decrypt(self, ciphertext: bytes) -> bytes | None:
        """None when the ciphertext is malformed or fails its integrity check."""
        try:
            return self._crypt(ciphertext, encrypt=False)
        except CryptoError:
            return None

    def _crypt(self, data: bytes, encrypt: bool) -> bytes:
        what = "encryption" if encrypt else "decryption"
        init, run = (
            (lib().EVP_PKEY_encrypt_init, lib().EVP_PKEY_encrypt)
            if encrypt
            else (lib().EVP_PKEY_decrypt_init, lib().EVP_PKEY_decrypt)
        )
        ctx = lib().EVP_PKEY_CTX_new(self._pkey, ffi.NULL)
        try:
            outlen = ffi.new("size_t *")
            if init(ctx) <= 0 or run(ctx, ffi.NULL, outlen, data, len(data)) <= 0:
                raise openssl_error(what)
            out = ffi.new("unsigned char[]", max(outlen[0], 1))
            if run(ctx, out, outlen, data, len(data)) <= 0:
                raise openssl_error(what)
            return bytes(ffi.buffer(out, outlen[0]))
        finally:
            lib().EVP_PKEY_CTX_free(ctx)

    def _new_context(self, op: str, params: DigestParams) -> Any:
        raw = lib().EVP_PKEY_CTX_new(self._pkey, ffi.NULL)
        if raw == ffi.NULL:
            raise openssl_error(f"{op} context")
        ctx = ffi.gc(raw, lib().EVP_PKEY_CTX_free)
        init = lib().EVP_PKEY_sign_init if op == "sign" else lib().EVP_PKEY_verify_init
        ok = init(ctx) > 0
        if ok and params.rsa_padding is not None:
            ok = lib().EVP_PKEY_CTX_set_rsa_padding(ctx, params.rsa_padding) > 0
            if ok and params.rsa_padding == RSA_PKCS1_PSS_PADDING:
                ok = (
                    lib().EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, params.pss_saltlen) > 0
                    and lib().EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, lib().EVP_sha256()) > 0
                )
        if ok and params.sha256:
            ok = lib().EVP_PKEY_CTX_set_signature_md(ctx, lib().EVP_sha256()) > 0
        if not ok:
            raise openssl_error(f"{op} context set-up")
        return ctx


class _ThreadState:
    """One thread's contexts and output buffer for one key (EVP_PKEY_CTX is not thread-safe)."""

    def __init__(self, max_signature: int) -> None:
        self.signing: dict[DigestParams, Any] = {}
        self.verifying: dict[DigestParams, Any] = {}
        self.sig = ffi.new("unsigned char[]", max_signature)
        self.siglen = ffi.new("size_t *")

    @staticmethod
    def add(contexts: dict[DigestParams, Any], params: DigestParams, ctx: Any) -> Any:
        contexts[params] = ctx
        return ctx


def _take(pointer: Any, n: int) -> bytes:
    try:
        return bytes(ffi.buffer(pointer, n))
    finally:
        lib().CRYPTO_free(pointer, b"certseal", 0)
