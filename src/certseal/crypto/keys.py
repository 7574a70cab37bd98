"""Public and private keys of every supported algorithm behind one small API.

Keys are decoded once into libcrypto (_libcrypto.py) and sign/verify digests there; pyca/cryptography generates
and parses RSA/ECDSA keys.  Private keys are exchanged as PKCS#8 DER; public keys as SubjectPublicKeyInfo DER.
"""

from __future__ import annotations

import base64
import hashlib
import re
import textwrap
from dataclasses import dataclass, field
from functools import cached_property

from asn1crypto import keys as asn1_keys
from cryptography.exceptions import UnsupportedAlgorithm as _CryptographyUnsupported
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certseal.crypto import sm2
from certseal.crypto._libcrypto import (
    RSA_PKCS1_PADDING,
    RSA_PKCS1_PSS_PADDING,
    RSA_PSS_SALTLEN_AUTO,
    RSA_PSS_SALTLEN_DIGEST,
    DigestParams,
    EvpKey,
)
from certseal.crypto.algorithms import SM2_CURVE_OID, SM2_DEFAULT_ID, KeyAlgorithm, SignatureScheme
from certseal.errors import CryptoError, InvalidSignature, ValidationError

asn1_keys.NamedCurve.register("sm2p256v1", SM2_CURVE_OID, 32)

_RsaOrEcPrivate = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_SCHEME_PARAMS: dict[SignatureScheme, tuple[DigestParams, DigestParams]] = {
    # (signing, verifying); PSS verification accepts any salt length, as OpenSSL signs with the maximum
    SignatureScheme.RSA_PKCS1_SHA256: (DigestParams(rsa_padding=RSA_PKCS1_PADDING),) * 2,
    SignatureScheme.RSA_PSS_SHA256: (
        DigestParams(rsa_padding=RSA_PKCS1_PSS_PADDING, pss_saltlen=RSA_PSS_SALTLEN_DIGEST),
        DigestParams(rsa_padding=RSA_PKCS1_PSS_PADDING, pss_saltlen=RSA_PSS_SALTLEN_AUTO),
    ),
    SignatureScheme.ECDSA_SHA256: (DigestParams(),) * 2,
}


def algorithm_of_spki(spki_der: bytes) -> KeyAlgorithm:
    """Which KeyAlgorithm a SubjectPublicKeyInfo holds."""
    try:
        info = asn1_keys.PublicKeyInfo.load(spki_der, strict=True)
        name = info["algorithm"]["algorithm"].native
        if name == "rsa":
            return _rsa_algorithm(info["public_key"].parsed["modulus"].native.bit_length())
        if name == "ec":
            params = info["algorithm"]["parameters"]
            if params.name != "named":
                raise CryptoError("EC public keys must name their curve (explicit curve parameters are refused)")
            return _ec_algorithm(params.chosen.dotted)
    except (ValueError, TypeError, KeyError) as exc:
        raise CryptoError(f"public key is not a valid SubjectPublicKeyInfo: {exc}") from None
    raise CryptoError(f"unsupported public key algorithm {name!r}")


def _rsa_algorithm(bits: int) -> KeyAlgorithm:
    if bits == 2048:
        return KeyAlgorithm.RSA2048
    if bits == 3072:
        return KeyAlgorithm.RSA3072
    raise CryptoError(f"RSA keys must be 2048 or 3072 bits, this one has {bits}")


def _ec_algorithm(curve_oid: str) -> KeyAlgorithm:
    if curve_oid == "1.2.840.10045.3.1.7":
        return KeyAlgorithm.P256
    if curve_oid == SM2_CURVE_OID:
        return KeyAlgorithm.SM2
    raise CryptoError(f"unsupported elliptic curve {curve_oid}")


def _check_scheme(algorithm: KeyAlgorithm, scheme: SignatureScheme) -> None:
    if not algorithm.allows(scheme):
        raise ValidationError("scheme", f"{scheme.value} cannot be used with a {algorithm.value} key")


def _params_by_scheme(algorithm: KeyAlgorithm, which: int) -> dict[SignatureScheme | None, DigestParams]:
    """The schemes a key allows, None meaning its default, mapped to their digest parameters."""
    table: dict[SignatureScheme | None, DigestParams] = {
        s: _SCHEME_PARAMS[s][which] for s in _SCHEME_PARAMS if algorithm.allows(s)
    }
    if algorithm.default_scheme in table:
        table[None] = table[algorithm.default_scheme]
    return table


def _params(
    table: dict[SignatureScheme | None, DigestParams], algorithm: KeyAlgorithm, scheme: SignatureScheme | None
) -> DigestParams:
    try:
        return table[scheme]
    except KeyError:
        assert scheme is not None
        _check_scheme(algorithm, scheme)
        raise


def _check_digest(digest: bytes, scheme: SignatureScheme) -> None:
    if len(digest) != 32:
        raise ValidationError("digest", f"must be 32 bytes for {scheme.value}, got {len(digest)}")


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class PublicKey:
    """A public key of any supported algorithm, held as SubjectPublicKeyInfo DER; decoded once, on first use."""

    spki_der: bytes
    algorithm: KeyAlgorithm = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "algorithm", algorithm_of_spki(self.spki_der))

    @classmethod
    def from_pem_or_der(cls, data: bytes) -> PublicKey:
        if data.lstrip().startswith(b"-----BEGIN"):
            data = _pem_body(data, b"PUBLIC KEY")
        return cls(data)

    def pem(self) -> bytes:
        return _pem(self.spki_der, "PUBLIC KEY")

    @cached_property
    def _evp(self) -> EvpKey:
        return EvpKey.from_public_der(self.spki_der)

    @cached_property
    def _sm2(self) -> sm2.SM2PublicKey:
        return sm2.SM2PublicKey.from_spki_der(self.spki_der)

    def verify(
        self, signature: bytes, data: bytes, scheme: SignatureScheme | None = None, sm2_id: bytes = SM2_DEFAULT_ID
    ) -> None:
        """Raise InvalidSignature unless `signature` is valid over `data`."""
        if self.algorithm is KeyAlgorithm.SM2:
            if scheme is not None:
                _check_scheme(self.algorithm, scheme)
            self._sm2.verify(signature, data, sm2_id)
            return
        self._verify(signature, _sha256(data), scheme)

    def verify_digest(self, signature: bytes, digest: bytes, scheme: SignatureScheme | None = None) -> None:
        scheme = scheme or self.algorithm.default_scheme
        _check_scheme(self.algorithm, scheme)
        if self.algorithm is KeyAlgorithm.SM2:
            self._sm2.verify_digest(signature, digest)
            return
        _check_digest(digest, scheme)
        self._verify(signature, bytes(digest), scheme)

    @cached_property
    def _verify_params(self) -> dict[SignatureScheme | None, DigestParams]:
        return _params_by_scheme(self.algorithm, 1)

    def _verify(self, signature: bytes, digest: bytes, scheme: SignatureScheme | None) -> None:
        params = _params(self._verify_params, self.algorithm, scheme)
        if type(signature) is not bytes:
            signature = bytes(signature)
        if not self._evp.verify_digest(signature, digest, params):
            raise InvalidSignature(f"{(scheme or self.algorithm.default_scheme).value} signature does not verify")

    def encrypt_sm2(self, plaintext: bytes) -> bytes:
        if self.algorithm is not KeyAlgorithm.SM2:
            raise ValidationError("key", "SM2 encryption needs an SM2 key")
        return self._sm2.encrypt(plaintext)

    def sm2_message_digest(self, data: bytes, sm2_id: bytes = SM2_DEFAULT_ID) -> bytes:
        """e = SM3(Z || data): the digest an SM2 signer signs, for clients that send only a hash."""
        if self.algorithm is not KeyAlgorithm.SM2:
            raise ValidationError("key", "an SM2 message digest needs an SM2 key")
        return self._sm2.message_digest(data, sm2_id)


class PrivateKey:
    """A private key held in memory (software token): generate, load/dump PKCS#8, sign, decrypt."""

    def __init__(self, algorithm: KeyAlgorithm, key: _RsaOrEcPrivate | sm2.SM2PrivateKey) -> None:
        self.algorithm = algorithm
        self._sm2: sm2.SM2PrivateKey | None = None
        self._evp: EvpKey | None = None
        if isinstance(key, sm2.SM2PrivateKey):
            self._sm2 = key
            spki = key.public_key.spki_der
        else:
            pkcs8 = key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            self._evp = EvpKey.from_private_der(pkcs8)
            spki = key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        self.public_key = PublicKey(spki)
        self._sign_params = _params_by_scheme(algorithm, 0)

    @classmethod
    def generate(cls, algorithm: KeyAlgorithm) -> PrivateKey:
        if algorithm.is_rsa:
            return cls(algorithm, rsa.generate_private_key(public_exponent=65537, key_size=algorithm.rsa_bits))
        if algorithm is KeyAlgorithm.P256:
            return cls(algorithm, ec.generate_private_key(ec.SECP256R1()))
        return cls(algorithm, sm2.SM2PrivateKey.generate())

    @classmethod
    def from_pkcs8_der(cls, der: bytes) -> PrivateKey:
        return cls._load_der(der)

    @classmethod
    def from_pem_or_der(cls, data: bytes) -> PrivateKey:
        """Load an unencrypted PKCS#8 or traditional (RSA/SEC1) private key, PEM or DER."""
        der = data
        if data.lstrip().startswith(b"-----BEGIN"):
            der = _pem_body(data, None)
        return cls._load_der(der)

    @classmethod
    def _load_der(cls, der: bytes) -> PrivateKey:
        if _is_sm2_private(der):
            return cls(KeyAlgorithm.SM2, sm2.SM2PrivateKey.from_der(der))
        try:
            key = serialization.load_der_private_key(der, password=None)
        except (ValueError, TypeError, _CryptographyUnsupported) as exc:
            raise CryptoError(f"private key cannot be read: {exc}") from None
        if isinstance(key, rsa.RSAPrivateKey):
            return cls(_rsa_algorithm(key.key_size), key)
        if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
            return cls(KeyAlgorithm.P256, key)
        raise CryptoError("private key algorithm is not supported (RSA-2048/3072, ECDSA P-256 or SM2)")

    def pkcs8_der(self) -> bytes:
        if self._sm2 is not None:
            return self._sm2.to_pkcs8_der()
        assert self._evp is not None
        return self._evp.pkcs8_der()

    def sign(self, data: bytes, scheme: SignatureScheme | None = None, sm2_id: bytes = SM2_DEFAULT_ID) -> bytes:
        if self._sm2 is not None:
            if scheme is not None:
                _check_scheme(self.algorithm, scheme)
            return self._sm2.sign(data, sm2_id)
        return self._sign(_sha256(data), scheme)

    def sign_digest(self, digest: bytes, scheme: SignatureScheme | None = None) -> bytes:
        scheme = scheme or self.algorithm.default_scheme
        _check_scheme(self.algorithm, scheme)
        if self._sm2 is not None:
            return self._sm2.sign_digest(digest)
        _check_digest(digest, scheme)
        return self._sign(bytes(digest), scheme)

    def _sign(self, digest: bytes, scheme: SignatureScheme | None) -> bytes:
        params = _params(self._sign_params, self.algorithm, scheme)
        assert self._evp is not None
        return self._evp.sign_digest(digest, params)

    def decrypt_sm2(self, ciphertext: bytes) -> bytes:
        if self._sm2 is None:
            raise ValidationError("key", "SM2 decryption needs an SM2 key")
        return self._sm2.decrypt(ciphertext)


def _is_sm2_private(der: bytes) -> bool:
    """True for PKCS#8 or SEC1 keys whose curve is named sm2p256v1."""
    try:
        algo = asn1_keys.PrivateKeyInfo.load(der)["private_key_algorithm"]
        if algo["algorithm"].native == "ec":
            params = algo["parameters"]
            return bool(params.name == "named" and params.chosen.dotted == SM2_CURVE_OID)
        return False
    except (ValueError, TypeError, KeyError):
        pass
    try:
        params = asn1_keys.ECPrivateKey.load(der)["parameters"]
        return bool(params.name == "named" and params.chosen.dotted == SM2_CURVE_OID)
    except (ValueError, TypeError, KeyError, AttributeError):
        return False


def _pem(der: bytes, label: str) -> bytes:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


def _pem_body(data: bytes, label: bytes | None) -> bytes:
    match = re.search(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", data, re.S)
    if not match or (label is not None and match.group(1) != label):
        raise CryptoError(f"not a PEM {(label or b'key').decode()} block")
    if b"ENCRYPTED" in match.group(1) or b"Proc-Type: 4,ENCRYPTED" in match.group(2):
        raise CryptoError("encrypted PEM keys are not accepted; decrypt it first (openssl pkey -in K -out K2)")
    try:
        return base64.b64decode(b"".join(match.group(2).split()), validate=True)
    except ValueError:
        raise CryptoError("PEM body is not valid base64") from None
