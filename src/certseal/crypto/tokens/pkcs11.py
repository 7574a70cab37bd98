"""A crypto token backed by a PKCS#11 module (an HSM, or SoftHSM2 in tests).

python-pkcs11 loads a module once per process and PKCS#11 keeps one login state per application and token, so
every Pkcs11Token of the same token in this process shares one logged-in read-write session, guarded by a lock
(python-pkcs11 sessions are not thread-safe). The PIN never appears in a message or a log record.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import pkcs11
from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass, TokenFlag
from pkcs11 import exceptions as p11_errors
from pkcs11.mechanisms import MGF
from pkcs11.types import SignMixin

from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.hashes import digest as hash_digest
from certseal.crypto.keys import PublicKey
from certseal.crypto.tokens.base import HEALTH_PROBE, TokenHealth, TokenKey

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Pkcs11Library

from certseal.errors import (
    AlreadyExists,
    CertsealError,
    NotFound,
    TokenError,
    UnsupportedAlgorithm,
    ValidationError,
)

__all__ = ["Pkcs11Signer", "Pkcs11Token"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

P256_OID = "1.2.840.10045.3.1.7"
_P256_PARAMS_DER = asn1_keys.ECDomainParameters(name="named", value=P256_OID).dump()
# DER DigestInfo header for SHA-256 (RFC 8017 section 9.2, note 1): prefix + 32-byte digest.
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
_PSS_SHA256_PARAMS = (Mechanism.SHA256, MGF.SHA256, 32)
_SIGN_ONLY = MechanismFlag.SIGN | MechanismFlag.VERIFY
_PRIVATE_TEMPLATE: dict[Attribute, Any] = {
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
}
_SM2_UNSUPPORTED = "SoftHSM2/PKCS#11 tokens here have no SM2; keep SM2 keys in the software token"
# Errors after which the session is reopened once: it was closed, logged out or its token went away.
_STALE_SESSION_ERRORS = (
    p11_errors.SessionHandleInvalid,
    p11_errors.SessionClosed,
    p11_errors.UserNotLoggedIn,
    p11_errors.DeviceRemoved,
    p11_errors.TokenNotPresent,
)
_PIN_ERRORS: dict[type[p11_errors.PKCS11Error], str] = {
    p11_errors.PinIncorrect: "PIN incorrect",
    p11_errors.PinLocked: "the user PIN is locked; the security officer must unlock or reset it",
    p11_errors.PinExpired: "the user PIN has expired; set a new one",
    p11_errors.PinInvalid: "the PIN has characters the token does not accept",
    p11_errors.PinLenRange: "the PIN is too long or too short for this token",
    p11_errors.UserPinNotInitialized: "the token has no user PIN yet; initialise it first",
    p11_errors.UserAlreadyLoggedIn: "other code in this process is logged in; the PIN cannot be checked",
}
# Login failures that may pass without a new PIN; the others are remembered so the PIN is not tried again.
_TRANSIENT_LOGIN_ERRORS = (p11_errors.UserPinNotInitialized, p11_errors.UserAlreadyLoggedIn)

_LIBS: dict[str, Pkcs11Library] = {}
_LIBS_LOCK = threading.Lock()
_CONNECTIONS: dict[tuple[str, bytes], _Connection] = {}
_CONNECTIONS_LOCK = threading.Lock()
# Sessions remember which PIN logged them in as an HMAC under a per-process key, never the PIN itself.
_PIN_MAC_KEY = secrets.token_bytes(32)


def _pin_mac(pin: str) -> bytes:
    return hmac.new(_PIN_MAC_KEY, pin.encode("utf-8"), hashlib.sha256).digest()


def _load_library(module_path: str) -> Pkcs11Library:
    """Load and initialise a PKCS#11 module once per process."""
    with _LIBS_LOCK:
        if module_path in _LIBS:
            return _LIBS[module_path]
        if not os.path.isfile(module_path):
            raise TokenError(f"PKCS#11 module not found: {module_path}")
        try:
            lib = pkcs11.lib(module_path)
        except p11_errors.PKCS11Error as exc:
            raise TokenError(f"cannot load PKCS#11 module {module_path}: {_describe(exc)}") from None
        _LIBS[module_path] = lib
        _log.info("loaded PKCS#11 module %s", module_path)
        return lib


def _describe(exc: BaseException) -> str:
    """A one-line description of an exception; python-pkcs11 errors carry no message, only a class."""
    text = str(exc).strip()
    if text:
        return text
    doc = (type(exc).__doc__ or "").strip().splitlines()
    return f"{type(exc).__name__}: {doc[0]}" if doc else type(exc).__name__


def _login_error(token_label: str, reason: str) -> TokenError:
    return TokenError(f"PKCS#11 login to token {token_label!r} failed: {reason}")


def _operation_error(token_label: str, action: str, exc: p11_errors.PKCS11Error) -> TokenError:
    return TokenError(f"PKCS#11 token {token_label!r}: {action} failed ({_describe(exc)})")


@dataclass(eq=False)
class _Connection:
    """The one session this process keeps on a token, and the PIN (as an HMAC) that logged it in."""

    token: pkcs11.Token
    lock: threading.RLock = field(default_factory=threading.RLock)
    session: pkcs11.Session | None = None
    pin_mac: bytes = b""

    def reset(self) -> None:
        """Close the session (which logs the process out of the token); the next use logs in again."""
        session, self.session, self.pin_mac = self.session, None, b""
        if session is None:
            return
        try:
            session.close()
        except p11_errors.PKCS11Error as exc:
            _log.debug("closing PKCS#11 session on %r: %s", self.token.label, _describe(exc))


def _shared_connection(module_path: str, token: pkcs11.Token) -> _Connection:
    key = (os.path.realpath(module_path), bytes(token.serial))
    with _CONNECTIONS_LOCK:
        if key not in _CONNECTIONS:
            _CONNECTIONS[key] = _Connection(token)
        return _CONNECTIONS[key]


class Pkcs11Token:
    """Keys on one PKCS#11 token, found by its label and used after logging in with the user PIN."""

    kind = "pkcs11"

    def __init__(self, module_path: str, token_label: str, pin: str) -> None:
        self.module_path = module_path
        self.token_label = token_label
        self._pin = pin
        self._pin_digest = _pin_mac(pin)
        self._connection: _Connection | None = None
        # A rejected PIN is not tried again by this object: HSMs lock the PIN after a few failures.
        self._login_failure: str | None = None

    def __repr__(self) -> str:
        return f"Pkcs11Token(module_path={self.module_path!r}, token_label={self.token_label!r})"

    @property
    def name(self) -> str:
        return f"pkcs11:{self.token_label}"

    def generate_key(self, label: str, algorithm: KeyAlgorithm) -> TokenKey:
        """Generate a non-extractable key pair stored on the token under `label`."""
        _check_label(label)
        if algorithm is KeyAlgorithm.SM2:
            raise UnsupportedAlgorithm(_SM2_UNSUPPORTED)

        def generate(session: pkcs11.Session) -> TokenKey:
            if _find_keys(session, label):
                raise AlreadyExists(f"PKCS#11 token {self.token_label!r} already has a key labelled {label!r}")
            public, _ = _generate_pair(session, algorithm, label, _key_id(label), store=True)
            return TokenKey(label, algorithm, PublicKey(_spki(public)))

        key = self._run(f"generating key {label!r}", generate)
        _log.info("generated %s key %r on PKCS#11 token %r", algorithm.value, label, self.token_label)
        return key

    def get_key(self, label: str) -> TokenKey:
        return self._run(f"reading key {label!r}", lambda session: self._token_key(session, label))

    def list_keys(self) -> list[TokenKey]:
        """Every key pair on the token whose algorithm certseal supports, by label."""
        return self._run("listing keys", self._all_token_keys)

    def delete_key(self, label: str) -> None:
        """Destroy the private and the public key labelled `label`."""

        def delete(session: pkcs11.Session) -> None:
            objects = _find_keys(session, label)
            if not any(obj.object_class == ObjectClass.PRIVATE_KEY for obj in objects):
                raise self._not_found(label)
            for obj in objects:
                obj.destroy()

        self._run(f"deleting key {label!r}", delete)
        _log.info("deleted key %r from PKCS#11 token %r", label, self.token_label)

    def signer(self, label: str, scheme: SignatureScheme | None = None) -> Pkcs11Signer:
        key = self.get_key(label)
        chosen = scheme or key.algorithm.default_scheme
        if not key.algorithm.allows(chosen):
            raise ValidationError("scheme", f"{chosen.value} cannot be used with a {key.algorithm.value} key")
        return Pkcs11Signer(self, label, key.algorithm, chosen, key.public_key)

    def health(self) -> TokenHealth:
        """Log in, sign HEALTH_PROBE with a throw-away session P-256 key and verify it; never raises."""
        start = time.perf_counter()
        try:
            self._run("health check", _health_probe)
        except Exception as exc:  # a health check reports every failure instead of raising it
            detail = exc.message if isinstance(exc, CertsealError) else _describe(exc)
            return TokenHealth(self.name, False, self._without_pin(detail), _elapsed_ms(start))
        detail = "signed and verified a test signature with a session P-256 key"
        return TokenHealth(self.name, True, detail, _elapsed_ms(start))

    def close(self) -> None:
        """Close the session this process shares on the token; the next use opens a new one."""
        connection = self._connection
        if connection is not None:
            with connection.lock:
                connection.reset()

    def _sign(self, label: str, scheme: SignatureScheme, payload: bytes, prehashed: bool) -> bytes:
        """Sign `payload` (data, or its SHA-256 digest when `prehashed`) with the private key `label`."""
        mechanism, param, message = _sign_request(scheme, payload, prehashed)

        def sign(session: pkcs11.Session) -> bytes:
            key = self._private_key(session, label)
            return bytes(key.sign(message, mechanism=mechanism, mechanism_param=param))

        signature = self._run(f"signing with key {label!r}", sign)
        return _ecdsa_der(signature) if scheme is SignatureScheme.ECDSA_SHA256 else signature

    def _run(self, action: str, operation: Callable[[pkcs11.Session], _T]) -> _T:
        """Run `operation` in the shared session, reopening the session once if it has gone stale."""
        connection = self._connect()
        with connection.lock:
            try:
                return self._attempt(connection, action, operation)
            except _STALE_SESSION_ERRORS as exc:
                _log.info("PKCS#11 session on %r is stale (%s); reopening", self.token_label, _describe(exc))
                connection.reset()
            try:
                return self._attempt(connection, action, operation)
            except _STALE_SESSION_ERRORS as exc:
                connection.reset()
                raise _operation_error(self.token_label, action, exc) from None

    def _attempt(self, connection: _Connection, action: str, operation: Callable[[pkcs11.Session], _T]) -> _T:
        session = self._session(connection)
        try:
            return operation(session)
        except _STALE_SESSION_ERRORS:
            raise
        except p11_errors.PKCS11Error as exc:
            raise _operation_error(self.token_label, action, exc) from None

    def _connect(self) -> _Connection:
        if self._connection is None:
            token = self._find_token(_load_library(self.module_path))
            self._connection = _shared_connection(self.module_path, token)
        return self._connection

    def _find_token(self, lib: Pkcs11Library) -> pkcs11.Token:
        try:
            tokens = [token for token in lib.get_tokens() if token.flags & TokenFlag.TOKEN_INITIALIZED]
        except p11_errors.PKCS11Error as exc:
            raise TokenError(f"cannot list the tokens of PKCS#11 module {self.module_path}: {_describe(exc)}") from None
        matching = [token for token in tokens if token.label == self.token_label]
        if len(matching) == 1:
            return matching[0]
        if matching:
            raise TokenError(f"PKCS#11 module {self.module_path} has several tokens labelled {self.token_label!r}")
        present = ", ".join(repr(token.label) for token in tokens) or "none"
        raise TokenError(
            f"PKCS#11 token {self.token_label!r} not found in {self.module_path}; tokens present: {present}"
        )

    def _session(self, connection: _Connection) -> pkcs11.Session:
        """The shared session, logging in first; a PIN other than the one that logged in is refused."""
        if self._login_failure is not None:
            raise _login_error(self.token_label, self._login_failure)
        if connection.session is not None:
            if not hmac.compare_digest(connection.pin_mac, self._pin_digest):
                self._login_failure = _PIN_ERRORS[p11_errors.PinIncorrect]
                raise _login_error(self.token_label, self._login_failure)
            return connection.session
        try:
            connection.session = connection.token.open(rw=True, user_pin=self._pin)
        except tuple(_PIN_ERRORS) as exc:
            reason = _PIN_ERRORS[type(exc)]
            if not isinstance(exc, _TRANSIENT_LOGIN_ERRORS):
                self._login_failure = reason
            raise _login_error(self.token_label, reason) from None
        except p11_errors.PKCS11Error as exc:
            raise _login_error(self.token_label, _describe(exc)) from None
        connection.pin_mac = self._pin_digest
        _log.info("logged in to PKCS#11 token %r", self.token_label)
        return connection.session

    def _token_key(self, session: pkcs11.Session, label: str) -> TokenKey:
        public_key = PublicKey(_spki(self._public_key(session, label)))
        return TokenKey(label, public_key.algorithm, public_key)

    def _all_token_keys(self, session: pkcs11.Session) -> list[TokenKey]:
        labels = {str(key[Attribute.LABEL]) for key in _token_objects(session, ObjectClass.PRIVATE_KEY)}
        keys: list[TokenKey] = []
        for label in sorted(label for label in labels if label):
            try:
                keys.append(self._token_key(session, label))
            except CertsealError as exc:
                _log.info("skipping key %r on PKCS#11 token %r: %s", label, self.token_label, exc.message)
        return keys

    def _private_key(self, session: pkcs11.Session, label: str) -> SignMixin:
        key = self._one_key(session, ObjectClass.PRIVATE_KEY, label)
        if not isinstance(key, SignMixin):
            raise TokenError(f"key {label!r} on PKCS#11 token {self.token_label!r} cannot sign")
        return key

    def _public_key(self, session: pkcs11.Session, label: str) -> pkcs11.PublicKey:
        self._one_key(session, ObjectClass.PRIVATE_KEY, label)
        key = self._one_key(session, ObjectClass.PUBLIC_KEY, label)
        assert isinstance(key, pkcs11.PublicKey)
        return key

    def _one_key(self, session: pkcs11.Session, object_class: ObjectClass, label: str) -> pkcs11.Object:
        found = _token_objects(session, object_class, label)
        if len(found) == 1:
            return found[0]
        if not found and object_class == ObjectClass.PRIVATE_KEY:
            raise self._not_found(label)
        what = "private" if object_class == ObjectClass.PRIVATE_KEY else "public"
        problem = f"{len(found)} {what} keys" if found else f"no {what} key"
        raise TokenError(f"PKCS#11 token {self.token_label!r} has {problem} labelled {label!r}")

    def _not_found(self, label: str) -> NotFound:
        return NotFound(f"no key labelled {label!r} on PKCS#11 token {self.token_label!r}")

    def _without_pin(self, text: str) -> str:
        return text.replace(self._pin, "***") if self._pin else text


@dataclass(frozen=True)
class Pkcs11Signer:
    """Signs with a private key that never leaves its PKCS#11 token."""

    token: Pkcs11Token = field(repr=False)
    key_label: str
    key_algorithm: KeyAlgorithm
    scheme: SignatureScheme
    public_key: PublicKey = field(repr=False)
    certificate: bytes | None = field(default=None, repr=False)

    def sign(self, data: bytes) -> bytes:
        return self.token._sign(self.key_label, self.scheme, data, prehashed=False)

    def sign_digest(self, digest: bytes) -> bytes:
        if len(digest) != 32:
            raise ValidationError("digest", f"must be 32 bytes for {self.scheme.value}, got {len(digest)}")
        return self.token._sign(self.key_label, self.scheme, digest, prehashed=True)


def _check_label(label: str) -> None:
    if not label or not label.strip():
        raise ValidationError("label", "must not be empty")


def _key_id(label: str) -> bytes:
    """CKA_ID for a key: the first 16 bytes of SHA-256 over its label."""
    return hashlib.sha256(label.encode("utf-8")).digest()[:16]


def _token_objects(session: pkcs11.Session, object_class: ObjectClass, label: str | None = None) -> list[pkcs11.Object]:
    """Token (not session) objects of a class, optionally with a label; read fully so no search stays open."""
    attrs: dict[Attribute, Any] = {Attribute.CLASS: object_class, Attribute.TOKEN: True}
    if label is not None:
        attrs[Attribute.LABEL] = label
    return list(session.get_objects(attrs))


def _find_keys(session: pkcs11.Session, label: str) -> list[pkcs11.Object]:
    """Both halves of the key pair labelled `label`, whichever exist."""
    return [
        *_token_objects(session, ObjectClass.PRIVATE_KEY, label),
        *_token_objects(session, ObjectClass.PUBLIC_KEY, label),
    ]


def _generate_pair(
    session: pkcs11.Session, algorithm: KeyAlgorithm, label: str, key_id: bytes, store: bool
) -> tuple[pkcs11.PublicKey, pkcs11.PrivateKey]:
    """A signing key pair; the private half is sensitive and never extractable."""
    options: dict[str, Any] = {
        "id": key_id,
        "label": label,
        "store": store,
        "capabilities": _SIGN_ONLY,
        "private_template": _PRIVATE_TEMPLATE,
    }
    if algorithm.is_rsa:
        public_template = {Attribute.PUBLIC_EXPONENT: (65537).to_bytes(3, "big")}
        return session.generate_keypair(KeyType.RSA, algorithm.rsa_bits, public_template=public_template, **options)
    if algorithm is KeyAlgorithm.P256:
        params = session.create_domain_parameters(KeyType.EC, {Attribute.EC_PARAMS: _P256_PARAMS_DER}, local=True)
        return params.generate_keypair(**options)
    raise UnsupportedAlgorithm(f"PKCS#11 tokens here cannot generate {algorithm.value} keys")


def _spki(key: pkcs11.PublicKey) -> bytes:
    """SubjectPublicKeyInfo DER of an RSA or P-256 public key object."""
    if key.key_type == KeyType.RSA:
        rsa_key = asn1_keys.RSAPublicKey(
            {
                "modulus": int.from_bytes(key[Attribute.MODULUS], "big"),
                "public_exponent": int.from_bytes(key[Attribute.PUBLIC_EXPONENT], "big"),
            }
        )
        return bytes(asn1_keys.PublicKeyInfo.wrap(rsa_key, "rsa").dump())
    if key.key_type == KeyType.EC:
        if bytes(key[Attribute.EC_PARAMS]) != _P256_PARAMS_DER:
            raise UnsupportedAlgorithm("only EC keys on the P-256 curve are supported")
        return _p256_spki(_ec_point(bytes(key[Attribute.EC_POINT])))
    raise UnsupportedAlgorithm(f"PKCS#11 key type {key.key_type!r} is not supported")


def _ec_point(value: bytes) -> bytes:
    """The uncompressed point from CKA_EC_POINT, which tokens give DER-wrapped (as PKCS#11 says) or raw."""
    if len(value) == 65 and value[0] == 0x04:
        return value
    return bytes(asn1_core.OctetString.load(value).native)


def _p256_spki(point: bytes) -> bytes:
    info = asn1_keys.PublicKeyInfo(
        {
            "algorithm": {
                "algorithm": "ec",
                "parameters": asn1_keys.ECDomainParameters.load(_P256_PARAMS_DER),
            },
            "public_key": point,
        }
    )
    return bytes(info.dump())


def _sign_request(
    scheme: SignatureScheme, payload: bytes, prehashed: bool
) -> tuple[Mechanism, tuple[Mechanism, MGF, int] | None, bytes]:
    """Mechanism, mechanism parameter and the bytes to hand to C_Sign for a scheme."""
    if scheme is SignatureScheme.RSA_PKCS1_SHA256:
        if prehashed:
            return Mechanism.RSA_PKCS, None, _SHA256_DIGEST_INFO + payload
        return Mechanism.SHA256_RSA_PKCS, None, payload
    if scheme is SignatureScheme.RSA_PSS_SHA256:
        mechanism = Mechanism.RSA_PKCS_PSS if prehashed else Mechanism.SHA256_RSA_PKCS_PSS
        return mechanism, _PSS_SHA256_PARAMS, payload
    if scheme is SignatureScheme.ECDSA_SHA256:
        # Hash here: CKM_ECDSA signs a digest, and not every token has CKM_ECDSA_SHA256.
        return Mechanism.ECDSA, None, payload if prehashed else hash_digest("sha256", payload)
    raise UnsupportedAlgorithm(_SM2_UNSUPPORTED)


def _ecdsa_der(raw: bytes) -> bytes:
    """PKCS#11 gives ECDSA signatures as r || s; X.509, CMS and OpenSSL want DER Ecdsa-Sig-Value."""
    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


def _health_probe(session: pkcs11.Session) -> None:
    """Sign and verify HEALTH_PROBE with a session (non-token) P-256 key, destroyed afterwards."""
    public, private = _generate_pair(
        session, KeyAlgorithm.P256, "certseal-health-probe", b"certseal-health-probe", store=False
    )
    try:
        if not isinstance(private, SignMixin):
            raise TokenError("the health probe key cannot sign")
        raw = private.sign(hash_digest("sha256", HEALTH_PROBE), mechanism=Mechanism.ECDSA)
        PublicKey(_spki(public)).verify(_ecdsa_der(bytes(raw)), HEALTH_PROBE, SignatureScheme.ECDSA_SHA256)
    finally:
        private.destroy()
        public.destroy()


def _elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
