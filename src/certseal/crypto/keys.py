"""Public and private keys of every supported algorithm behind one small API.

RSA and ECDSA go through pyca/cryptography, SM2 through the libcrypto binding in sm2.py.
Private keys are exchanged as PKCS#8 DER; public keys as SubjectPublicKeyInfo DER.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asn1crypto import keys as asn1_keys
from cryptography.exceptions import InvalidSignature as _CryptographyInvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm as _CryptographyUnsupported
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from certseal.crypto import sm2
from certseal.crypto.algorithms import SM2_CURVE_OID, SM2_DEFAULT_ID, KeyAlgorithm, SignatureScheme
from certseal.crypto.hashes import hash_algorithm
from certseal.errors import CryptoError, InvalidSignature, ValidationError

asn1_keys.NamedCurve.register("sm2p256v1", SM2_CURVE_OID, 32)

_RsaOrEcPrivate = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
_RsaOrEcPublic = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def algorithm_of_spki(spki_der: bytes) -> KeyAlgorithm:
    """Which KeyAlgorithm a SubjectPublicKeyInfo holds."""
    try:
        info = asn1_keys.PublicKeyInfo.load(spki_der, strict=True)
        name = info["algorithm"]["algorithm"].native
        if name == "rsa":
            return _rsa_algorithm(info["public_key"].parsed["modulus"].native.bit_length())
        if name == "ec":
            return _ec_algorithm(info["algorithm"]["parameters"].chosen.dotted)
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


@dataclass(frozen=True)
class PublicKey:
    """A public key of any supported algorithm, held as SubjectPublicKeyInfo DER."""

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

    def verify(
        self, signature: bytes, data: bytes, scheme: SignatureScheme | None = None, sm2_id: bytes = SM2_DEFAULT_ID
    ) -> None:
        """Raise InvalidSignature unless `signature` is valid over `data`."""
        scheme = scheme or self.algorithm.default_scheme
        _check_scheme(self.algorithm, scheme)
        if self.algorithm is KeyAlgorithm.SM2:
            self._sm2().verify(signature, data, sm2_id)
            return
        self._verify_pyca(signature, data, scheme, prehashed=False)

    def verify_digest(self, signature: bytes, digest: bytes, scheme: SignatureScheme | None = None) -> None:
        scheme = scheme or self.algorithm.default_scheme
        _check_scheme(self.algorithm, scheme)
        if self.algorithm is KeyAlgorithm.SM2:
            self._sm2().verify_digest(signature, digest)
            return
        self._verify_pyca(signature, digest, scheme, prehashed=True)

    def _verify_pyca(self, signature: bytes, data: bytes, scheme: SignatureScheme, prehashed: bool) -> None:
        key = self._pyca()
        algo = hash_algorithm(scheme.digest_name)
        chosen = utils.Prehashed(algo) if prehashed else algo
        try:
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, data, _rsa_padding(scheme, verifying=True), chosen)
            else:
                key.verify(signature, data, ec.ECDSA(chosen))
        except _CryptographyInvalidSignature:
            raise InvalidSignature(f"{scheme.value} signature does not verify") from None

    def _pyca(self) -> _RsaOrEcPublic:
        key = serialization.load_der_public_key(self.spki_der)
        assert isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
        return key

    def _sm2(self) -> sm2.SM2PublicKey:
        return sm2.SM2PublicKey.from_spki_der(self.spki_der)

    def encrypt_sm2(self, plaintext: bytes) -> bytes:
        if self.algorithm is not KeyAlgorithm.SM2:
            raise ValidationError("key", "SM2 encryption needs an SM2 key")
        return self._sm2().encrypt(plaintext)

    def sm2_message_digest(self, data: bytes, sm2_id: bytes = SM2_DEFAULT_ID) -> bytes:
        """e = SM3(Z || data): the digest an SM2 signer signs, for clients that send only a hash."""
        return sm2.message_digest(self._sm2().point, data, sm2_id)


class PrivateKey:
    """A private key held in memory (software token): generate, load/dump PKCS#8, sign, decrypt."""

    def __init__(self, algorithm: KeyAlgorithm, key: _RsaOrEcPrivate | sm2.SM2PrivateKey) -> None:
        self.algorithm = algorithm
        self._key = key
        self.public_key = PublicKey(self._public_spki())

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
        if isinstance(self._key, sm2.SM2PrivateKey):
            return self._key.to_pkcs8_der()
        return self._key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def _public_spki(self) -> bytes:
        if isinstance(self._key, sm2.SM2PrivateKey):
            return self._key.public_key.spki_der
        return self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, data: bytes, scheme: SignatureScheme | None = None, sm2_id: bytes = SM2_DEFAULT_ID) -> bytes:
        scheme = scheme or self.algorithm.default_scheme
        _check_scheme(self.algorithm, scheme)
        if isinstance(self._key, sm2.SM2PrivateKey):
            return self._key.sign(data, sm2_id)
        return self._sign_pyca(data, scheme, prehashed=False)

    def sign_digest(self, digest: bytes, scheme: SignatureScheme | None = None) -> bytes:
        scheme = scheme or self.algorithm.default_scheme
        _check_scheme(self.algorithm, scheme)
        if isinstance(self._key, sm2.SM2PrivateKey):
            return self._key.sign_digest(digest)
        expected = hash_algorithm(scheme.digest_name).digest_size
        if len(digest) != expected:
            raise ValidationError("digest", f"must be {expected} bytes for {scheme.value}, got {len(digest)}")
        return self._sign_pyca(digest, scheme, prehashed=True)

    def _sign_pyca(self, data: bytes, scheme: SignatureScheme, prehashed: bool) -> bytes:
        algo = hash_algorithm(scheme.digest_name)
        chosen = utils.Prehashed(algo) if prehashed else algo
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, _rsa_padding(scheme, verifying=False), chosen)
        assert isinstance(self._key, ec.EllipticCurvePrivateKey)
        return self._key.sign(data, ec.ECDSA(chosen))

    def decrypt_sm2(self, ciphertext: bytes) -> bytes:
        if not isinstance(self._key, sm2.SM2PrivateKey):
            raise ValidationError("key", "SM2 decryption needs an SM2 key")
        return self._key.decrypt(ciphertext)


def _rsa_padding(scheme: SignatureScheme, verifying: bool) -> padding.AsymmetricPadding:
    if scheme is SignatureScheme.RSA_PSS_SHA256:
        hash_alg = hash_algorithm("sha256")
        salt = padding.PSS.AUTO if verifying else padding.PSS.DIGEST_LENGTH
        return padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=salt)
    return padding.PKCS1v15()


def _is_sm2_private(der: bytes) -> bool:
    """True for PKCS#8 or SEC1 keys whose curve is sm2p256v1."""
    try:
        info = asn1_keys.PrivateKeyInfo.load(der)
        algo = info["private_key_algorithm"]
        if algo["algorithm"].native == "ec":
            return bool(algo["parameters"].chosen.dotted == SM2_CURVE_OID)
        return False
    except (ValueError, TypeError, KeyError):
        pass
    try:
        sec1 = asn1_keys.ECPrivateKey.load(der)
        return bool(sec1["parameters"].chosen.dotted == SM2_CURVE_OID)
    except (ValueError, TypeError, KeyError, AttributeError):
        return False


def _pem(der: bytes, label: str) -> bytes:
    import base64
    import textwrap

    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


def _pem_body(data: bytes, label: bytes | None) -> bytes:
    import base64
    import re

    match = re.search(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", data, re.S)
    if not match or (label is not None and match.group(1) != label):
        raise CryptoError(f"not a PEM {(label or b'key').decode()} block")
    if b"ENCRYPTED" in match.group(1):
        raise CryptoError("encrypted PEM keys are not accepted; decrypt it first (openssl pkey -in K -out K2)")
    try:
        return base64.b64decode(b"".join(match.group(2).split()), validate=True)
    except ValueError:
        raise CryptoError("PEM body is not valid base64") from None
