"""Key management use cases: generate, import, list, sign, verify, delete, token health."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.keys import PrivateKey, PublicKey
from certseal.crypto.signer import Signer
from certseal.crypto.tokens.base import TokenHealth
from certseal.crypto.tokens.software import KIND as SOFTWARE
from certseal.crypto.tokens.software import check_label
from certseal.errors import AlreadyExists, CertsealError, NotFound, ValidationError
from certseal.logs import get_logger
from certseal.services.audit import Actor
from certseal.services.platform import Platform, UnitOfWork
from certseal.store.keys import KeyRepository
from certseal.store.models import CryptoKey

log = get_logger("keys")
PKCS11 = "pkcs11"
TOKENS = (SOFTWARE, PKCS11)


@dataclass(frozen=True)
class KeyInfo:
    label: str
    token: str
    algorithm: KeyAlgorithm
    public_key: PublicKey
    created_by: str
    created_at: datetime

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the SubjectPublicKeyInfo, hex."""
        return hashlib.sha256(self.public_key.spki_der).hexdigest()


def _info(row: CryptoKey) -> KeyInfo:
    return KeyInfo(
        row.label, row.token, KeyAlgorithm(row.algorithm), PublicKey(row.public_key_der), row.created_by, row.created_at
    )


def _audit_view(info: KeyInfo) -> dict[str, object]:
    return {
        "label": info.label,
        "token": info.token,
        "algorithm": info.algorithm.value,
        "public_key_sha256": info.fingerprint,
    }


class KeyService:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    def generate(self, label: str, algorithm: KeyAlgorithm, token: str, actor: Actor) -> KeyInfo:
        with self._platform.unit_of_work(actor) as uow:
            self.generate_in(uow, label, algorithm, token)
            return _info(self._row(uow, label))

    def generate_in(self, uow: UnitOfWork, label: str, algorithm: KeyAlgorithm, token: str) -> Signer:
        """Generate a key inside the caller's unit of work (so a CA and its key are created together)."""
        check_label(label)
        _check_token(token)
        self._ensure_free(uow, label)
        if token == SOFTWARE:
            software = self._platform.software_token(uow.session, uow.actor.name)
            software.generate_key(label, algorithm)
            signer = software.signer(label)
        else:
            self._generate_pkcs11(uow, label, algorithm)
            signer = self._platform.pkcs11_token().signer(label)
        self._recorded(uow, label, "generate")
        return signer

    def generate_private_in(self, uow: UnitOfWork, label: str, algorithm: KeyAlgorithm, token: str) -> PrivateKey:
        """Like generate_in, and hand the private key back once (for --key-out); software token only."""
        if token != SOFTWARE:
            raise ValidationError("key-out", "a key generated in a PKCS#11 token never leaves it")
        check_label(label)
        self._ensure_free(uow, label)
        key = PrivateKey.generate(algorithm)
        self._platform.software_token(uow.session, uow.actor.name).import_key(label, key)
        self._recorded(uow, label, "generate")
        return key

    def import_private_key(self, label: str, key_data: bytes, actor: Actor) -> KeyInfo:
        """Import an unencrypted private key (PEM or DER) into the software token."""
        check_label(label)
        key = PrivateKey.from_pem_or_der(key_data)
        with self._platform.unit_of_work(actor) as uow:
            self._ensure_free(uow, label)
            self._platform.software_token(uow.session, actor.name).import_key(label, key)
            return self._recorded(uow, label, "import")

    def delete(self, label: str, actor: Actor) -> None:
        with self._platform.unit_of_work(actor) as uow:
            row = self._row(uow, label)
            info = _info(row)
            KeyRepository(uow.session, actor.name).remove(label)
            if row.token == PKCS11:
                self._platform.pkcs11_token().delete_key(label)
            uow.record("crypto_key", label, "delete", before=_audit_view(info))
            log.info("key delete: %s by %s", label, actor.name)

    def list_keys(self) -> list[KeyInfo]:
        with self._platform.db.reading() as session:
            return [_info(row) for row in KeyRepository(session, "").all()]

    def get(self, label: str) -> KeyInfo:
        with self._platform.db.reading() as session:
            row = KeyRepository(session, "").get(label)
            if row is None:
                raise NotFound(f"no key labelled {label!r}: see `certseal keys list`")
            return _info(row)

    def signer(self, label: str, scheme: SignatureScheme | None = None) -> Signer:
        info = self.get(label)
        if info.token == PKCS11:
            signer: Signer = self._platform.pkcs11_token().signer(label, scheme)
            return signer
        with self._platform.db.reading() as session:
            return self._platform.software_token(session).signer(label, scheme)

    def sign(self, label: str, data: bytes, scheme: SignatureScheme | None = None) -> bytes:
        return self.signer(label, scheme).sign(data)

    def verify(self, label: str, data: bytes, signature: bytes, scheme: SignatureScheme | None = None) -> None:
        """Raise InvalidSignature unless the signature is valid for the key's public key."""
        self.get(label).public_key.verify(signature, data, scheme)

    def health(self) -> list[TokenHealth]:
        results = []
        with self._platform.db.reading() as session:
            results.append(self._platform.software_token(session).health())
        if self._platform.settings.pkcs11_pin is not None:
            try:
                results.append(self._platform.pkcs11_token().health())
            except CertsealError as exc:
                results.append(TokenHealth(PKCS11, False, exc.message, 0.0))
        return results

    def _generate_pkcs11(self, uow: UnitOfWork, label: str, algorithm: KeyAlgorithm) -> None:
        token = self._platform.pkcs11_token()
        made = token.generate_key(label, algorithm)
        try:
            KeyRepository(uow.session, uow.actor.name).add(label, PKCS11, algorithm, made.public_key.spki_der)
        except Exception:
            token.delete_key(label)  # keep token and database in step
            raise

    def _recorded(self, uow: UnitOfWork, label: str, action: str) -> KeyInfo:
        info = _info(self._row(uow, label))
        uow.record("crypto_key", label, action, after=_audit_view(info))
        log.info("key %s: %s %s in the %s token by %s", action, label, info.algorithm.value, info.token, uow.actor.name)
        return info

    @staticmethod
    def _row(uow: UnitOfWork, label: str) -> CryptoKey:
        row = KeyRepository(uow.session, uow.actor.name).get(label)
        if row is None:
            raise NotFound(f"no key labelled {label!r}: see `certseal keys list`")
        return row

    @staticmethod
    def _ensure_free(uow: UnitOfWork, label: str) -> None:
        if KeyRepository(uow.session, uow.actor.name).get(label) is not None:
            raise AlreadyExists(f"a key labelled {label!r} exists already")


def _check_token(token: str) -> None:
    if token not in TOKENS:
        raise ValidationError("token", f"must be one of {', '.join(TOKENS)}, not {token!r}")
