"""PrivateKey / PublicKey: every algorithm and scheme, PKCS#8 and PEM round trips, clear refusals."""

from __future__ import annotations

import base64
import textwrap
from functools import cache

import pytest
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certseal.crypto.algorithms import SM2_CURVE_OID, KeyAlgorithm, SignatureScheme
from certseal.crypto.hashes import digest
from certseal.crypto.keys import PrivateKey, PublicKey, algorithm_of_spki
from certseal.errors import CryptoError, InvalidSignature, ValidationError

ALL_SCHEMES = [
    (KeyAlgorithm.RSA2048, SignatureScheme.RSA_PKCS1_SHA256),
    (KeyAlgorithm.RSA2048, SignatureScheme.RSA_PSS_SHA256),
    (KeyAlgorithm.RSA3072, SignatureScheme.RSA_PKCS1_SHA256),
    (KeyAlgorithm.RSA3072, SignatureScheme.RSA_PSS_SHA256),
    (KeyAlgorithm.P256, SignatureScheme.ECDSA_SHA256),
    (KeyAlgorithm.SM2, SignatureScheme.SM2_SM3),
]
FAST_ALGORITHMS = [KeyAlgorithm.RSA2048, KeyAlgorithm.P256, KeyAlgorithm.SM2]


@cache
def key_for(alg: KeyAlgorithm, n: int = 0) -> PrivateKey:
    """Generated once per (algorithm, n): RSA-3072 generation alone can take a second."""
    return PrivateKey.generate(alg)


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[(bit // 8) % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


def _pem(der: bytes, label: str) -> bytes:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


def _prehash(key: PrivateKey, data: bytes, scheme: SignatureScheme) -> bytes:
    if key.algorithm is KeyAlgorithm.SM2:
        return key.public_key.sm2_message_digest(data)
    return digest(scheme.digest_name, data)


# --- generate / sign / verify ---------------------------------------------------------------------


@pytest.mark.parametrize("alg", list(KeyAlgorithm))
def test_generate_reports_algorithm(alg: KeyAlgorithm) -> None:
    key = key_for(alg)
    assert key.algorithm is alg
    assert key.public_key.algorithm is alg
    assert algorithm_of_spki(key.public_key.spki_der) is alg
    if alg.is_rsa:
        info = asn1_keys.PublicKeyInfo.load(key.public_key.spki_der)
        assert info["public_key"].parsed["modulus"].native.bit_length() == alg.rsa_bits


@pytest.mark.parametrize(("alg", "scheme"), ALL_SCHEMES)
def test_sign_verify(alg: KeyAlgorithm, scheme: SignatureScheme) -> None:
    key, data = key_for(alg), b"certseal test message"
    sig = key.sign(data, scheme)
    key.public_key.verify(sig, data, scheme)
    PublicKey(key.public_key.spki_der).verify(sig, data, scheme)
    if alg.is_rsa:
        assert len(sig) == alg.rsa_bits // 8
    with pytest.raises(InvalidSignature):
        key.public_key.verify(sig, data + b".", scheme)
    with pytest.raises(InvalidSignature):
        key.public_key.verify(_flip(sig, 8 * len(sig) - 1), data, scheme)
    with pytest.raises(InvalidSignature):
        key_for(alg, 1).public_key.verify(sig, data, scheme)


@pytest.mark.parametrize("alg", list(KeyAlgorithm))
def test_default_scheme(alg: KeyAlgorithm) -> None:
    key = key_for(alg)
    sig = key.sign(b"m")
    key.public_key.verify(sig, b"m", alg.default_scheme)
    key.public_key.verify(key.sign(b"m", alg.default_scheme), b"m")


def test_pss_and_pkcs1_are_not_interchangeable() -> None:
    key = key_for(KeyAlgorithm.RSA2048)
    pss = key.sign(b"m", SignatureScheme.RSA_PSS_SHA256)
    with pytest.raises(InvalidSignature):
        key.public_key.verify(pss, b"m", SignatureScheme.RSA_PKCS1_SHA256)
    pkcs1 = key.sign(b"m", SignatureScheme.RSA_PKCS1_SHA256)
    with pytest.raises(InvalidSignature):
        key.public_key.verify(pkcs1, b"m", SignatureScheme.RSA_PSS_SHA256)
    assert key.sign(b"m", SignatureScheme.RSA_PKCS1_SHA256) == pkcs1  # deterministic
    assert key.sign(b"m", SignatureScheme.RSA_PSS_SHA256) != pss  # random salt


@pytest.mark.parametrize(("alg", "scheme"), ALL_SCHEMES)
def test_sign_digest_verify(alg: KeyAlgorithm, scheme: SignatureScheme) -> None:
    key, data = key_for(alg), b"hash me elsewhere"
    dgst = _prehash(key, data, scheme)
    sig = key.sign_digest(dgst, scheme)
    key.public_key.verify(sig, data, scheme)  # a digest signature is a signature over the data
    key.public_key.verify_digest(sig, dgst, scheme)
    key.public_key.verify_digest(key.sign(data, scheme), dgst, scheme)
    with pytest.raises(InvalidSignature):
        key.public_key.verify_digest(sig, _flip(dgst, 0), scheme)


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA2048, KeyAlgorithm.P256])
def test_sign_digest_wrong_length(alg: KeyAlgorithm) -> None:
    with pytest.raises(ValidationError):
        key_for(alg).sign_digest(bytes(20))


# --- scheme checks --------------------------------------------------------------------------------

MISMATCHES = [
    (KeyAlgorithm.RSA2048, SignatureScheme.ECDSA_SHA256),
    (KeyAlgorithm.RSA2048, SignatureScheme.SM2_SM3),
    (KeyAlgorithm.P256, SignatureScheme.RSA_PKCS1_SHA256),
    (KeyAlgorithm.P256, SignatureScheme.SM2_SM3),
    (KeyAlgorithm.SM2, SignatureScheme.ECDSA_SHA256),
    (KeyAlgorithm.SM2, SignatureScheme.RSA_PSS_SHA256),
]


@pytest.mark.parametrize(("alg", "scheme"), MISMATCHES)
def test_scheme_mismatch(alg: KeyAlgorithm, scheme: SignatureScheme) -> None:
    key = key_for(alg)
    good = key.sign(b"m")
    with pytest.raises(ValidationError) as info:
        key.sign(b"m", scheme)
    assert info.value.field == "scheme"
    with pytest.raises(ValidationError):
        key.sign_digest(bytes(32), scheme)
    with pytest.raises(ValidationError):
        key.public_key.verify(good, b"m", scheme)
    with pytest.raises(ValidationError):
        key.public_key.verify_digest(good, bytes(32), scheme)


def test_parse_names() -> None:
    assert KeyAlgorithm.parse("SM2") is KeyAlgorithm.SM2
    assert SignatureScheme.parse("rsa-pss-sha256") is SignatureScheme.RSA_PSS_SHA256
    with pytest.raises(ValidationError):
        KeyAlgorithm.parse("rsa1024")
    with pytest.raises(ValidationError):
        SignatureScheme.parse("md5")


# --- serialisation --------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", list(KeyAlgorithm))
def test_pkcs8_round_trip(alg: KeyAlgorithm) -> None:
    key = key_for(alg)
    der = key.pkcs8_der()
    info = asn1_keys.PrivateKeyInfo.load(der)
    assert info["private_key_algorithm"]["algorithm"].native == ("rsa" if alg.is_rsa else "ec")
    again = PrivateKey.from_pkcs8_der(der)
    assert again.algorithm is alg
    assert again.public_key == key.public_key
    assert again.pkcs8_der() == der
    key.public_key.verify(again.sign(b"round trip"), b"round trip")


@pytest.mark.parametrize("alg", list(KeyAlgorithm))
def test_pem_round_trip(alg: KeyAlgorithm) -> None:
    key = key_for(alg)
    pem = key.public_key.pem()
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert pem.endswith(b"-----END PUBLIC KEY-----\n")
    assert all(len(line) <= 64 for line in pem.splitlines())
    assert PublicKey.from_pem_or_der(pem) == key.public_key
    assert PublicKey.from_pem_or_der(b"\n  " + pem) == key.public_key
    assert PublicKey.from_pem_or_der(key.public_key.spki_der) == key.public_key

    private_pem = _pem(key.pkcs8_der(), "PRIVATE KEY")
    assert PrivateKey.from_pem_or_der(private_pem).public_key == key.public_key
    assert PrivateKey.from_pem_or_der(key.pkcs8_der()).public_key == key.public_key


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA2048, KeyAlgorithm.P256])
def test_traditional_pem_and_der(alg: KeyAlgorithm) -> None:
    key = key_for(alg)
    pyca = serialization.load_der_private_key(key.pkcs8_der(), password=None)
    for encoding in (serialization.Encoding.PEM, serialization.Encoding.DER):
        data = pyca.private_bytes(
            encoding, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        loaded = PrivateKey.from_pem_or_der(data)
        assert loaded.algorithm is alg
        assert loaded.public_key == key.public_key


def test_public_pem_wrong_label() -> None:
    with pytest.raises(CryptoError):
        PublicKey.from_pem_or_der(_pem(key_for(KeyAlgorithm.P256).public_key.spki_der, "CERTIFICATE"))


# --- refusals -------------------------------------------------------------------------------------


@cache
def _rsa1024() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def _pkcs8(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _spki(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_rsa1024_refused() -> None:
    with pytest.raises(CryptoError, match="2048 or 3072"):
        PrivateKey.from_pkcs8_der(_pkcs8(_rsa1024()))
    with pytest.raises(CryptoError, match="2048 or 3072"):
        PublicKey(_spki(_rsa1024()))


def test_p384_refused() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(CryptoError):
        PrivateKey.from_pkcs8_der(_pkcs8(p384))
    with pytest.raises(CryptoError, match="curve"):
        PublicKey(_spki(p384))


def test_ed25519_refused() -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(CryptoError):
        PrivateKey.from_pkcs8_der(_pkcs8(ed))
    with pytest.raises(CryptoError):
        PublicKey(_spki(ed))


def _explicit_p256_parameters() -> asn1_keys.ECDomainParameters:
    """P-256 spelled out as SpecifiedECDomain instead of its OID (RFC 3279 ecParameters)."""
    p = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
    a = p - 3
    b = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
    gx = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
    gy = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    domain = asn1_keys.SpecifiedECDomain(
        {
            "version": "ecdpVer1",
            "field_id": {"field_type": "prime_field", "parameters": p},
            "curve": {"a": a.to_bytes(32, "big"), "b": b.to_bytes(32, "big")},
            "base": b"\x04" + gx.to_bytes(32, "big") + gy.to_bytes(32, "big"),
            "order": n,
            "cofactor": 1,
        }
    )
    return asn1_keys.ECDomainParameters(name="specified", value=domain)


def test_explicit_curve_parameters_private_key() -> None:
    """Explicit (unnamed) EC parameters, as `openssl ... -pkeyopt ec_param_enc:explicit` writes them.

    Reading them as the P-256 key they are, or refusing them with a CryptoError, are both fine; any other
    exception is not.
    """
    p256 = ec.generate_private_key(ec.SECP256R1())
    info = asn1_keys.PrivateKeyInfo.load(_pkcs8(p256))
    explicit = asn1_keys.PrivateKeyInfo(
        {
            "version": 0,
            "private_key_algorithm": {"algorithm": "ec", "parameters": _explicit_p256_parameters()},
            "private_key": info["private_key"].parsed,
        }
    ).dump()
    try:
        key = PrivateKey.from_pkcs8_der(explicit)
    except CryptoError:
        return
    assert key.algorithm is KeyAlgorithm.P256
    assert key.public_key.spki_der == _spki(p256)


def test_explicit_curve_parameters_public_key() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    spki = asn1_keys.PublicKeyInfo.load(_spki(p256))
    explicit_spki = asn1_keys.PublicKeyInfo(
        {
            "algorithm": {"algorithm": "ec", "parameters": _explicit_p256_parameters()},
            "public_key": spki["public_key"].native,
        }
    ).dump()
    try:
        key = PublicKey(explicit_spki)
    except CryptoError:
        return
    assert key.algorithm is KeyAlgorithm.P256
    sig = ec.generate_private_key(ec.SECP256R1())  # a different key's signature must not verify
    with pytest.raises(InvalidSignature):
        key.verify(PrivateKey.from_pkcs8_der(_pkcs8(sig)).sign(b"m"), b"m")


def test_encrypted_pkcs8_pem_refused_clearly() -> None:
    pyca = serialization.load_der_private_key(key_for(KeyAlgorithm.P256).pkcs8_der(), password=None)
    pem = pyca.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(CryptoError, match=r"(?i)encrypted"):
        PrivateKey.from_pem_or_der(pem)


def test_encrypted_traditional_pem_refused_clearly() -> None:
    """OpenSSL's legacy encryption keeps the label and adds Proc-Type/DEK-Info headers (RFC 1421)."""
    pyca = serialization.load_der_private_key(key_for(KeyAlgorithm.RSA2048).pkcs8_der(), password=None)
    pem = pyca.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED")
    with pytest.raises(CryptoError, match=r"(?i)encrypted"):
        PrivateKey.from_pem_or_der(pem)


GARBAGE = [
    b"",
    b"\x00",
    b"not a key at all" * 4,
    b"\x30\x03\x02\x01\x00",
    b"\x30\x82\xff\xff",
    b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    b"-----BEGIN PRIVATE KEY-----\n!!!not base64!!!\n-----END PRIVATE KEY-----\n",
    b"-----BEGIN PRIVATE KEY-----\nMIIB\n",
    b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
]


@pytest.mark.parametrize("data", GARBAGE)
def test_garbage_refused(data: bytes) -> None:
    with pytest.raises(CryptoError):
        PrivateKey.from_pem_or_der(data)
    with pytest.raises(CryptoError):
        PublicKey.from_pem_or_der(data)


def test_truncated_keys_refused() -> None:
    for alg in FAST_ALGORITHMS:
        key = key_for(alg)
        with pytest.raises(CryptoError):
            PrivateKey.from_pkcs8_der(key.pkcs8_der()[:-5])
        with pytest.raises(CryptoError):
            PublicKey(key.public_key.spki_der[:-5])


def test_sm2_curve_label_in_pkcs8() -> None:
    info = asn1_keys.PrivateKeyInfo.load(key_for(KeyAlgorithm.SM2).pkcs8_der())
    assert info["private_key_algorithm"]["algorithm"].dotted == "1.2.840.10045.2.1"
    assert info["private_key_algorithm"]["parameters"].chosen.dotted == SM2_CURVE_OID


# --- property: any message signs and verifies; any flipped bit fails ------------------------------


@pytest.mark.parametrize("alg", FAST_ALGORITHMS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), bit=st.integers(min_value=0, max_value=10_000))
def test_property_sign_verify_and_bit_flip(alg: KeyAlgorithm, data: bytes, bit: int) -> None:
    key = key_for(alg)
    sig = key.sign(data)
    key.public_key.verify(sig, data)
    with pytest.raises(InvalidSignature):
        key.public_key.verify(_flip(sig, bit), data)
    if data:
        with pytest.raises(InvalidSignature):
            key.public_key.verify(sig, _flip(data, bit))
    with pytest.raises(InvalidSignature):
        key.public_key.verify(sig, data + b"\x00")
