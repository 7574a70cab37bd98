"""The regulator's license-QR signing keys: P-256 keys labelled ``license-qr-<n>`` in the deployment token, each
certified by a deployment CA under the document-signer profile.

Which key signs is derived, not configured: the highest-numbered QR key that has a certificate valid now.  Every key
with a certificate that was not revoked stays published (`public_keys`, `jwks`) with its certificate's validity, so
QR codes printed under an older key keep verifying after a rotation; revoking a key's certificate withdraws it.
A certificate is linked to its key by the SHA-256 of the public key (the certificates row of a key generated first
and certified afterwards carries no key label).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.signer import CertifiedSigner, Signer
from certseal.errors import NotFound
from certseal.licenses.qr import QrPublicKey
from certseal.logs import get_logger
from certseal.services.audit import Actor
from certseal.services.ca import CaService, CertificateStatus
from certseal.services.keys import KeyInfo, KeyService
from certseal.services.platform import Platform
from certseal.store.models import CertificateAuthority, IssuedCertificate, utcnow

log = get_logger("qr_keys")
LABEL_PREFIX = "license-qr-"
PROFILE = "document-signer"
_LABEL = re.compile(rf"^{LABEL_PREFIX}(\d+)$")


@dataclass(frozen=True)
class QrKeyInfo:
    kid: str
    ca: str
    serial: str
    not_before: datetime
    not_after: datetime
    certificate_der: bytes
    key: KeyInfo

    @property
    def public(self) -> QrPublicKey:
        return QrPublicKey(self.kid, self.key.public_key, self.not_before, self.not_after)


def _number(label: str) -> int | None:
    match = _LABEL.match(label)
    return int(match.group(1)) if match else None


class QrKeyService:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._keys = KeyService(platform)

    def ensure(self, ca_name: str, actor: Actor, token: str | None = None) -> QrKeyInfo:
        """The current QR key; creates and certifies one if there is none (idempotent).  A key left without a
        certificate (an interrupted run) is certified rather than replaced."""
        current = self._current()
        if current is not None:
            return current
        orphan = next((k for k in self._qr_keys() if not self._certificates(k)), None)
        if orphan is not None:
            return self._certify(orphan, ca_name, actor)
        return self.rotate(ca_name, actor, token)

    def rotate(self, ca_name: str, actor: Actor, token: str | None = None) -> QrKeyInfo:
        """A new key ``license-qr-<n+1>`` certified by `ca_name`; it signs from now on, older keys stay published."""
        numbers = [n for n in (_number(k.label) for k in self._keys.list_keys()) if n is not None]
        label = f"{LABEL_PREFIX}{max(numbers, default=0) + 1}"
        key = self._keys.generate(label, KeyAlgorithm.P256, token or self._platform.settings.default_token, actor)
        return self._certify(key, ca_name, actor)

    def current(self) -> QrKeyInfo:
        found = self._current()
        if found is None:
            raise NotFound("no license QR key with a valid certificate: run `certseal license qr-key ensure --ca NAME`")
        return found

    def signer(self) -> Signer:
        """The Signer of the current QR key (ES256), with its certificate."""
        info = self.current()
        inner = self._keys.signer(info.kid, SignatureScheme.ECDSA_SHA256)
        return CertifiedSigner(inner, info.certificate_der)

    def public_keys(self) -> dict[str, QrPublicKey]:
        """Every published QR key by kid (current and rotated out, not revoked), with its validity."""
        return {info.kid: info.public for info in self._all()}

    def jwks(self) -> dict[str, object]:
        """RFC 7517 JWK Set of `public_keys`, for the public page's offline check."""
        return {"keys": [key.jwk() for key in self.public_keys().values()]}

    # --- lookups ------------------------------------------------------------------------------------------------

    def _qr_keys(self) -> list[KeyInfo]:
        keys = [k for k in self._keys.list_keys() if _number(k.label) is not None]
        return sorted(keys, key=lambda k: _number(k.label) or 0, reverse=True)

    def _all(self) -> list[QrKeyInfo]:
        found = []
        for key in self._qr_keys():
            rows = [r for r in self._certificates(key) if r[0].status != CertificateStatus.REVOKED.value]
            if rows:
                found.append(_info(key, rows))
        return found

    def _current(self) -> QrKeyInfo | None:
        now = utcnow()
        for key in self._qr_keys():
            rows = [
                r
                for r in self._certificates(key)
                if r[0].status == CertificateStatus.VALID.value and r[0].not_before <= now < r[0].not_after
            ]
            if rows:
                return _info(key, rows)
        return None

    def _certificates(self, key: KeyInfo) -> list[tuple[IssuedCertificate, str]]:
        """The key's document-signer certificates with their CA names, newest first."""
        with self._platform.db.reading() as session:
            result = session.execute(
                select(IssuedCertificate, CertificateAuthority.name)
                .join(CertificateAuthority, CertificateAuthority.id == IssuedCertificate.ca_id)
                .where(IssuedCertificate.public_key_sha256 == key.fingerprint, IssuedCertificate.profile == PROFILE)
                .order_by(IssuedCertificate.id.desc())
            )
            return [(row, name) for row, name in result]

    def _certify(self, key: KeyInfo, ca_name: str, actor: Actor) -> QrKeyInfo:
        number = _number(key.label)
        issued = CaService(self._platform).issue(
            ca_name,
            PROFILE,
            actor,
            subject=f"CN=certseal license QR key {number},O=certseal,C=CN",
            public_key=key.public_key,
        )
        log.info(
            "license QR key %s certified by CA %s (certificate %s) for %s",
            key.label,
            ca_name,
            issued.serial,
            actor.name,
        )
        found = next(i for i in self._all() if i.kid == key.label)
        return found


def _info(key: KeyInfo, rows: Iterable[tuple[IssuedCertificate, str]]) -> QrKeyInfo:
    listed = list(rows)
    newest, ca = listed[0]
    return QrKeyInfo(
        key.label,
        ca,
        newest.serial,
        min(r.not_before for r, _ in listed),
        max(r.not_after for r, _ in listed),
        newest.certificate_der,
        key,
    )
