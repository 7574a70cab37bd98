"""Pkcs11Token against a real SoftHSM2 token; every signature is also checked by the OpenSSL CLI."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pkcs11
import pytest
from pkcs11 import Attribute, ObjectClass

from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.keys import PublicKey
from certseal.crypto.signer import Signer
from certseal.crypto.tokens.base import TokenKey
from certseal.crypto.tokens.pkcs11 import Pkcs11Token
from certseal.errors import (
    AlreadyExists,
    InvalidSignature,
    NotFound,
    TokenError,
    UnsupportedAlgorithm,
    ValidationError,
)
from tests.fixtures.softhsm import SoftHsm

pytestmark = pytest.mark.softhsm

Keys = dict[KeyAlgorithm, TokenKey]
MESSAGE = b"certseal pkcs11 test message \xe2\x9c\x93" * 50
WRONG_PIN = "987654"
KEY_LABELS = {
    KeyAlgorithm.RSA2048: "pkcs11-test-rsa2048",
    KeyAlgorithm.RSA3072: "pkcs11-test-rsa3072",
    KeyAlgorithm.P256: "pkcs11-test-p256",
}
SIGNING_CASES = [
    (KeyAlgorithm.RSA2048, SignatureScheme.RSA_PKCS1_SHA256),
    (KeyAlgorithm.RSA2048, SignatureScheme.RSA_PSS_SHA256),
    (KeyAlgorithm.RSA3072, SignatureScheme.RSA_PKCS1_SHA256),
    (KeyAlgorithm.RSA3072, SignatureScheme.RSA_PSS_SHA256),
    (KeyAlgorithm.P256, SignatureScheme.ECDSA_SHA256),
]
CASE_IDS = [f"{algorithm.value}-{scheme.value}" for algorithm, scheme in SIGNING_CASES]


@pytest.fixture(scope="module")
def token(softhsm: SoftHsm) -> Iterator[Pkcs11Token]:
    hsm_token = Pkcs11Token(softhsm.module_path, softhsm.token_label, softhsm.pin)
    yield hsm_token
    hsm_token.close()


@pytest.fixture(scope="module")
def keys(token: Pkcs11Token) -> Keys:
    """One key per algorithm, generated once (RSA-3072 generation is the slow part of this module)."""
    return {algorithm: token.generate_key(label, algorithm) for algorithm, label in KEY_LABELS.items()}


def openssl_verifies(public_key: PublicKey, signature: bytes, data: bytes, scheme: SignatureScheme, tmp: Path) -> bool:
    """Whether `openssl dgst -sha256 -verify` accepts the signature over `data`."""
    (tmp / "pub.pem").write_bytes(public_key.pem())
    (tmp / "sig.bin").write_bytes(signature)
    (tmp / "msg.bin").write_bytes(data)
    command = [
        "openssl",
        "dgst",
        "-sha256",
        "-verify",
        str(tmp / "pub.pem"),
        "-signature",
        str(tmp / "sig.bin"),
    ]
    if scheme is SignatureScheme.RSA_PSS_SHA256:
        command += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]
    result = subprocess.run([*command, str(tmp / "msg.bin")], capture_output=True, text=True, timeout=30)
    return result.returncode == 0 and "Verified OK" in result.stdout


def flip_bit(signature: bytes) -> bytes:
    middle = len(signature) // 2
    return signature[:middle] + bytes([signature[middle] ^ 0x01]) + signature[middle + 1 :]


def assert_rejected(public_key: PublicKey, signature: bytes, scheme: SignatureScheme, tmp: Path) -> None:
    with pytest.raises(InvalidSignature):
        public_key.verify(signature, MESSAGE, scheme)
    assert not openssl_verifies(public_key, signature, MESSAGE, scheme, tmp)


@pytest.mark.parametrize("algorithm", list(KEY_LABELS))
def test_generated_key_has_its_algorithm_and_can_be_read_back(
    token: Pkcs11Token, keys: Keys, algorithm: KeyAlgorithm
) -> None:
    key = keys[algorithm]
    assert key.label == KEY_LABELS[algorithm]
    assert key.algorithm is algorithm
    assert key.public_key.algorithm is algorithm
    assert token.get_key(key.label) == key


@pytest.mark.parametrize(("algorithm", "scheme"), SIGNING_CASES, ids=CASE_IDS)
def test_signature_verifies_with_certseal_and_openssl(
    token: Pkcs11Token,
    keys: Keys,
    algorithm: KeyAlgorithm,
    scheme: SignatureScheme,
    tmp_path: Path,
) -> None:
    signer = token.signer(keys[algorithm].label, scheme)
    signature = signer.sign(MESSAGE)

    signer.public_key.verify(signature, MESSAGE, scheme)
    assert openssl_verifies(signer.public_key, signature, MESSAGE, scheme, tmp_path)
    assert_rejected(signer.public_key, flip_bit(signature), scheme, tmp_path)


@pytest.mark.parametrize(("algorithm", "scheme"), SIGNING_CASES, ids=CASE_IDS)
def test_sign_digest_verifies_over_the_original_data(
    token: Pkcs11Token,
    keys: Keys,
    algorithm: KeyAlgorithm,
    scheme: SignatureScheme,
    tmp_path: Path,
) -> None:
    signer = token.signer(keys[algorithm].label, scheme)
    signature = signer.sign_digest(hashlib.sha256(MESSAGE).digest())

    signer.public_key.verify(signature, MESSAGE, scheme)
    assert openssl_verifies(signer.public_key, signature, MESSAGE, scheme, tmp_path)
    assert_rejected(signer.public_key, flip_bit(signature), scheme, tmp_path)


def test_rsa_pkcs1_signatures_are_deterministic(token: Pkcs11Token, keys: Keys) -> None:
    signer = token.signer(keys[KeyAlgorithm.RSA2048].label)
    assert signer.sign(MESSAGE) == signer.sign_digest(hashlib.sha256(MESSAGE).digest())


def test_signer_satisfies_the_signer_protocol(token: Pkcs11Token, keys: Keys) -> None:
    key = keys[KeyAlgorithm.P256]
    signer = token.signer(key.label)
    assert isinstance(signer, Signer)
    assert signer.key_label == key.label
    assert signer.key_algorithm is KeyAlgorithm.P256
    assert signer.scheme is SignatureScheme.ECDSA_SHA256
    assert signer.public_key == key.public_key
    assert signer.certificate is None
    assert token.signer(keys[KeyAlgorithm.RSA2048].label).scheme is SignatureScheme.RSA_PKCS1_SHA256


def test_signer_refuses_a_scheme_the_key_cannot_use(token: Pkcs11Token, keys: Keys) -> None:
    with pytest.raises(ValidationError, match="rsa-pss-sha256"):
        token.signer(keys[KeyAlgorithm.P256].label, SignatureScheme.RSA_PSS_SHA256)


def test_sign_digest_refuses_a_digest_of_the_wrong_length(token: Pkcs11Token, keys: Keys) -> None:
    with pytest.raises(ValidationError, match="32 bytes"):
        token.signer(keys[KeyAlgorithm.P256].label).sign_digest(b"\x00" * 20)


def test_private_keys_are_sensitive_token_objects(softhsm: SoftHsm, token: Pkcs11Token, keys: Keys) -> None:
    # Opened while `token` keeps the process logged in, so this session sees private objects too.
    hsm_token = pkcs11.lib(softhsm.module_path).get_token(token_label=softhsm.token_label)
    with hsm_token.open() as session:
        for key in keys.values():
            private = session.get_key(ObjectClass.PRIVATE_KEY, label=key.label)
            assert private[Attribute.TOKEN] is True
            assert private[Attribute.SENSITIVE] is True
            assert private[Attribute.EXTRACTABLE] is False
            assert private[Attribute.NEVER_EXTRACTABLE] is True
            assert private[Attribute.ID] == hashlib.sha256(key.label.encode()).digest()[:16]


def test_rsa_keys_use_public_exponent_65537(token: Pkcs11Token, keys: Keys) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    for algorithm in (KeyAlgorithm.RSA2048, KeyAlgorithm.RSA3072):
        public = load_der_public_key(keys[algorithm].public_key.spki_der)
        assert isinstance(public, rsa.RSAPublicKey)
        assert public.public_numbers().e == 65537
        assert public.key_size == algorithm.rsa_bits


def test_sm2_is_unsupported(token: Pkcs11Token) -> None:
    with pytest.raises(UnsupportedAlgorithm, match="software token"):
        token.generate_key("pkcs11-test-sm2", KeyAlgorithm.SM2)


def test_duplicate_label_is_refused(token: Pkcs11Token, keys: Keys) -> None:
    with pytest.raises(AlreadyExists, match="pkcs11-test-p256"):
        token.generate_key(keys[KeyAlgorithm.P256].label, KeyAlgorithm.RSA2048)


def test_missing_label_is_not_found(token: Pkcs11Token, softhsm: SoftHsm) -> None:
    with pytest.raises(NotFound) as raised:
        token.get_key("no-such-key")
    assert "no-such-key" in raised.value.message
    assert softhsm.token_label in raised.value.message
    with pytest.raises(NotFound):
        token.signer("no-such-key")
    with pytest.raises(NotFound):
        token.delete_key("no-such-key")


def test_list_and_delete_keys(softhsm: SoftHsm, token: Pkcs11Token, keys: Keys) -> None:
    # The token is shared by the whole test session, so other tests' keys may be listed too.
    doomed = token.generate_key("pkcs11-test-doomed", KeyAlgorithm.P256)
    listed = {key.label: key for key in token.list_keys()}
    assert listed.items() >= {key.label: key for key in [*keys.values(), doomed]}.items()
    assert list(listed) == sorted(listed)

    token.delete_key(doomed.label)

    labels = [key.label for key in token.list_keys()]
    assert doomed.label not in labels
    assert set(labels) >= {key.label for key in keys.values()}
    with pytest.raises(NotFound):
        token.get_key(doomed.label)
    hsm_token = pkcs11.lib(softhsm.module_path).get_token(token_label=softhsm.token_label)
    with hsm_token.open() as session:
        assert list(session.get_objects({Attribute.LABEL: doomed.label})) == []


def test_keys_outlive_the_token_object(softhsm: SoftHsm, keys: Keys) -> None:
    other = Pkcs11Token(softhsm.module_path, softhsm.token_label, softhsm.pin)
    assert other.get_key(KEY_LABELS[KeyAlgorithm.P256]) == keys[KeyAlgorithm.P256]


def test_concurrent_signing_from_threads(token: Pkcs11Token, keys: Keys) -> None:
    signer = token.signer(keys[KeyAlgorithm.P256].label)
    messages = [MESSAGE + bytes([n]) for n in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        signatures = list(pool.map(signer.sign, messages))
    for message, signature in zip(messages, signatures, strict=True):
        signer.public_key.verify(signature, message)


def test_health_is_ok_on_a_good_token(token: Pkcs11Token, softhsm: SoftHsm) -> None:
    health = token.health()
    assert health.ok, health.detail
    assert health.token == f"pkcs11:{softhsm.token_label}"
    assert health.latency_ms > 0


def test_session_is_reopened_after_close(token: Pkcs11Token, keys: Keys) -> None:
    token.close()
    signer = token.signer(keys[KeyAlgorithm.P256].label)
    signer.public_key.verify(signer.sign(MESSAGE), MESSAGE)


def test_wrong_pin_while_the_process_is_logged_in(token: Pkcs11Token, softhsm: SoftHsm) -> None:
    token.list_keys()  # make sure the shared session is logged in with the right PIN
    wrong = Pkcs11Token(softhsm.module_path, softhsm.token_label, WRONG_PIN)
    with pytest.raises(TokenError) as raised:
        wrong.list_keys()
    assert raised.value.message == f"PKCS#11 login to token '{softhsm.token_label}' failed: PIN incorrect"
    assert WRONG_PIN not in str(raised.value)
    assert softhsm.pin not in str(raised.value)


def test_wrong_pin_is_rejected_by_the_token(token: Pkcs11Token, softhsm: SoftHsm) -> None:
    token.close()  # log the process out so the token itself checks the PIN
    wrong = Pkcs11Token(softhsm.module_path, softhsm.token_label, WRONG_PIN)
    with pytest.raises(TokenError) as raised:
        wrong.get_key(KEY_LABELS[KeyAlgorithm.P256])
    assert raised.value.message == f"PKCS#11 login to token '{softhsm.token_label}' failed: PIN incorrect"
    assert WRONG_PIN not in str(raised.value)
    assert WRONG_PIN not in repr(wrong)
    health = wrong.health()
    assert not health.ok
    assert "PIN incorrect" in health.detail
    assert WRONG_PIN not in health.detail
    assert token.health().ok  # the right PIN still logs in afterwards


def test_missing_module_is_reported(softhsm: SoftHsm, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-pkcs11.so")
    absent = Pkcs11Token(missing, softhsm.token_label, softhsm.pin)
    with pytest.raises(TokenError, match="PKCS#11 module not found: ") as raised:
        absent.list_keys()
    assert missing in raised.value.message
    health = absent.health()
    assert not health.ok
    assert "module not found" in health.detail


def test_unknown_token_label_lists_the_tokens_present(softhsm: SoftHsm) -> None:
    unknown = Pkcs11Token(softhsm.module_path, "no-such-token", softhsm.pin)
    with pytest.raises(TokenError) as raised:
        unknown.get_key("anything")
    assert "'no-such-token' not found" in raised.value.message
    assert repr(softhsm.token_label) in raised.value.message
    assert not unknown.health().ok
