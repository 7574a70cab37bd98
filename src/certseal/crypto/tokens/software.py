"""The software token: private keys kept as PKCS#8 sealed under the key-encryption key (crypto/kek.py).

Where the sealed keys are stored is the caller's choice (a SealedKeyStore); the KEK comes from configuration
and is never stored beside them.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.kek import KeyEncryptionKey
from certseal.crypto.keys import PrivateKey, PublicKey
from certseal.crypto.signer import Signer
from certseal.crypto.tokens.base import HEALTH_PROBE, TokenHealth, TokenKey
from certseal.errors import AlreadyExists, CertsealError, NotFound, ValidationError

KIND = "software"


@dataclass(frozen=True)
class SealedKey:
    label: str
    algorithm: KeyAlgorithm
    public_key_der: bytes
    sealed_private_key: bytes
    kek_id: str


class SealedKeyStore(Protocol):
    def find_sealed(self, label: str) -> SealedKey | None: ...

    def add_sealed(self, key: SealedKey) -> None: ...

    def list_sealed(self) -> list[SealedKey]: ...

    def remove_sealed(self, label: str) -> None: ...


class OpenedKeyCache:
    """Unsealed keys kept in memory by (label, digest of the sealed blob), so signing does not re-parse PKCS#8."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, bytes], PrivateKey] = {}
        self._lock = threading.Lock()

    def get(self, sealed: SealedKey) -> PrivateKey | None:
        return self._keys.get(_cache_key(sealed))

    def put(self, sealed: SealedKey, key: PrivateKey) -> None:
        with self._lock:
            self._keys[_cache_key(sealed)] = key

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


def _cache_key(sealed: SealedKey) -> tuple[str, bytes]:
    return sealed.label, hashlib.sha256(sealed.sealed_private_key).digest()


def _aad(label: str, algorithm: KeyAlgorithm) -> bytes:
    return f"certseal software key|{label}|{algorithm.value}".encode()


class SoftwareToken:
    kind = KIND

    def __init__(self, kek: KeyEncryptionKey, store: SealedKeyStore, cache: OpenedKeyCache | None = None) -> None:
        self._kek = kek
        self._store = store
        self._cache = cache or OpenedKeyCache()

    def generate_key(self, label: str, algorithm: KeyAlgorithm) -> TokenKey:
        return self.import_key(label, PrivateKey.generate(algorithm))

    def import_key(self, label: str, key: PrivateKey) -> TokenKey:
        check_label(label)
        if self._store.find_sealed(label) is not None:
            raise AlreadyExists(f"a key labelled {label!r} exists already")
        sealed = self._kek.wrap(key.pkcs8_der(), _aad(label, key.algorithm))
        record = SealedKey(label, key.algorithm, key.public_key.spki_der, sealed, self._kek.kek_id)
        self._store.add_sealed(record)
        self._cache.put(record, key)
        return TokenKey(label, key.algorithm, key.public_key)

    def get_key(self, label: str) -> TokenKey:
        sealed = self._sealed(label)
        return TokenKey(label, sealed.algorithm, PublicKey(sealed.public_key_der))

    def list_keys(self) -> list[TokenKey]:
        return [TokenKey(s.label, s.algorithm, PublicKey(s.public_key_der)) for s in self._store.list_sealed()]

    def delete_key(self, label: str) -> None:
        self._sealed(label)
        self._store.remove_sealed(label)

    def signer(self, label: str, scheme: SignatureScheme | None = None) -> Signer:
        key = self.private_key(label)
        chosen = scheme or key.algorithm.default_scheme
        if not key.algorithm.allows(chosen):
            raise ValidationError("scheme", f"{chosen.value} cannot be used with a {key.algorithm.value} key")
        return SoftwareSigner(label, key, chosen)

    def private_key(self, label: str) -> PrivateKey:
        sealed = self._sealed(label)
        cached = self._cache.get(sealed)
        if cached is not None:
            return cached
        what = f"key {label!r}"
        pkcs8 = self._kek.unwrap(sealed.sealed_private_key, _aad(label, sealed.algorithm), sealed.kek_id, what)
        key = PrivateKey.from_pkcs8_der(pkcs8)
        if key.public_key.spki_der != sealed.public_key_der:
            raise CertsealError(f"{what} is corrupt: its private key does not match its public key")
        self._cache.put(sealed, key)
        return key

    def _sealed(self, label: str) -> SealedKey:
        sealed = self._store.find_sealed(label)
        if sealed is None:
            raise NotFound(f"no key labelled {label!r} in the software token")
        return sealed

    def health(self) -> TokenHealth:
        """Sign and verify a probe with a fresh key, then open one stored key (proves the KEK is right)."""
        started = time.perf_counter()
        try:
            probe = PrivateKey.generate(KeyAlgorithm.P256)
            probe.public_key.verify(probe.sign(HEALTH_PROBE), HEALTH_PROBE)
            stored = self._store.list_sealed()
            detail = "test signature verified"
            if stored:
                self.private_key(stored[0].label)
                detail += f"; {len(stored)} stored key(s), KEK {self._kek.kek_id} opens them"
            return TokenHealth(KIND, True, detail, _ms_since(started))
        except CertsealError as exc:
            return TokenHealth(KIND, False, exc.message, _ms_since(started))


@dataclass(frozen=True)
class SoftwareSigner:
    key_label: str
    key: PrivateKey
    scheme: SignatureScheme
    certificate: bytes | None = None

    @property
    def key_algorithm(self) -> KeyAlgorithm:
        return self.key.algorithm

    @property
    def public_key(self) -> PublicKey:
        return self.key.public_key

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, self.scheme)

    def sign_digest(self, digest: bytes) -> bytes:
        return self.key.sign_digest(digest, self.scheme)


def check_label(label: str) -> None:
    if not label or len(label) > 128:
        raise ValidationError("label", "must be 1 to 128 characters")
    if not all(c.isalnum() or c in "-_.:@" for c in label):
        raise ValidationError("label", "may contain only letters, digits and - _ . : @")


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
