"""Seal registry use cases: create a seal, list and show seals, change who may use one, disable it, and hand a
sealing format (PDF, OFD) everything it needs to apply a seal: `SealService.signer_for`; `record_sealing` audits
and logs each act of sealing the same way for every format.

A seal's certificate must chain to a trust anchor of this deployment, be valid and not revoked, allow
digitalSignature or nonRepudiation, and its key must be in one of the deployment's tokens: the key is found from
the certificate, by comparing its SubjectPublicKeyInfo with the keys the deployment holds.  signer_for checks the
seal, its users and the certificate's revocation status on every call; the certificate's validated path to a trust
anchor is reused (Platform.memo) for PATH_MEMO_SECONDS while every certificate of it is valid at the moment asked.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from asn1crypto import keys as asn1_keys
from asn1crypto import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from certseal.crypto.signer import CertifiedSigner
from certseal.errors import AlreadyExists, Forbidden, NotFound, ValidationError
from certseal.logs import get_logger
from certseal.pki.names import name_to_text
from certseal.seals.image import RoundSealDesign, check_seal_png, draw_round_seal
from certseal.seals.model import (
    ROUND_SEAL_MM,
    SealInfo,
    SealStatus,
    SealType,
    check_seal_name,
    check_size_mm,
    check_title,
    check_users,
    new_seal_code,
    normalise_seal_code,
)
from certseal.services.audit import Actor
from certseal.services.ca import CertificateStatus, serial_hex
from certseal.services.keys import KeyService
from certseal.services.platform import Platform
from certseal.services.trust import TrustService, parse_certificate, read_certificates
from certseal.store.models import CryptoKey, IssuedCertificate, Seal, utcnow

log = get_logger("seals")
_SIGNING_USAGES = frozenset({"digital_signature", "non_repudiation"})
# A license issue asks for the same seal six times in a second: a seal certificate's validated path is reused for
# this long (trust anchor and cross-certificate changes show within it; revocation and validity are checked anew).
PATH_MEMO_SECONDS = 5.0


@dataclass(frozen=True)
class SealSigner:
    """What applying a seal needs: the seal, a Signer whose .certificate is the seal certificate, the chain from
    the certificate's issuer up to the root (DER, leaf excluded), the image and its printed size."""

    info: SealInfo
    signer: CertifiedSigner
    chain: list[bytes]
    image: bytes  # PNG
    width_mm: float
    height_mm: float

    @property
    def image_size_mm(self) -> tuple[float, float]:
        return self.width_mm, self.height_mm


class SealedDocument(Protocol):
    """What every sealing result tells: the seal used and the document's SHA-256 before and after."""

    @property
    def seal(self) -> str: ...
    @property
    def sha256_before(self) -> str: ...
    @property
    def sha256_after(self) -> str: ...


@dataclass(frozen=True)
class SealingRecord:
    """How record_sealing shows one act of sealing in the audit trail and the log."""

    document: str  # the format as the log names it: "PDF", "OFD"
    audited_as: tuple[str, str, str]  # the audit event's entity, entity id and action
    summary: str  # the log line's words in brackets, e.g. "B-T, 1 widget(s)"
    details: Mapping[str, object]  # the audit event's `after`, following the seal and the new document digest


@dataclass(frozen=True)
class _CheckedPath:
    """A seal certificate's validated certification path, reused for PATH_MEMO_SECONDS (see signer_for)."""

    checked: float  # time.monotonic() of the validation
    chain: tuple[bytes, ...]  # DER, the leaf's issuer up to the anchor
    validity: tuple[tuple[datetime, datetime], ...]  # notBefore, notAfter of every certificate of the path

    def usable_at(self, moment: datetime) -> bool:
        fresh = time.monotonic() - self.checked < PATH_MEMO_SECONDS
        return fresh and all(start <= moment <= end for start, end in self.validity)


@dataclass(frozen=True)
class _Image:
    png: bytes
    size_mm: tuple[float, float]


def _info(row: Seal) -> SealInfo:
    certificate = x509.Certificate.load(row.certificate_der)
    return SealInfo(
        name=row.name,
        title=row.title,
        type=SealType(row.seal_type),
        code=row.code,
        status=SealStatus(row.status),
        certificate_der=row.certificate_der,
        certificate_subject=name_to_text(certificate.subject),
        key_label=row.key_label,
        not_before=row.not_before,
        not_after=row.not_after,
        users=tuple(json.loads(row.users)),
        width_mm=row.width_mm,
        height_mm=row.height_mm,
        image_sha256=row.image_sha256,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def _audit_view(info: SealInfo) -> dict[str, object]:
    return {
        "title": info.title,
        "type": info.type.value,
        "code": info.code,
        "status": info.status.value,
        "certificate_sha256": hashlib.sha256(info.certificate_der).hexdigest(),
        "key_label": info.key_label,
        "not_before": info.not_before,
        "not_after": info.not_after,
        "users": list(info.users),
        "size_mm": [info.width_mm, info.height_mm],
        "image_sha256": info.image_sha256,
    }


class SealService:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    # --- registry -----------------------------------------------------------------------------------------

    def create(
        self,
        name: str,
        certificate: bytes,
        actor: Actor,
        *,
        seal_type: SealType = SealType.OFFICIAL,
        code: str | None = None,
        title: str | None = None,
        image_png: bytes | None = None,
        design: RoundSealDesign | None = None,
        size_mm: tuple[float, float] | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        users: Sequence[str] | None = None,
    ) -> SealInfo:
        """Register a seal over `certificate` (PEM or DER) with an uploaded PNG or one drawn from `design`.

        Validity defaults to the certificate's, users to the creator, size to 42 mm wide."""
        check_seal_name(name)
        seal_code = normalise_seal_code(code) if code else new_seal_code()
        allowed = check_users(users if users is not None else [actor.name])
        image = _seal_image(image_png, design, seal_code, size_mm)
        der, leaf = self._checked_certificate(certificate)
        window = _validity(leaf, not_before, not_after)
        seal_title = check_title(title) if title else _default_title(leaf, seal_type, design)
        with self._platform.unit_of_work(actor) as uow:
            self._ensure_unique(uow.session, name, seal_code)
            row = Seal(
                name=name,
                title=seal_title,
                seal_type=seal_type.value,
                code=seal_code,
                status=SealStatus.ACTIVE.value,
                certificate_der=der,
                certificate_sha256=hashlib.sha256(der).hexdigest(),
                key_label=_key_label(uow.session, leaf),
                image_png=image.png,
                image_sha256=hashlib.sha256(image.png).hexdigest(),
                width_mm=image.size_mm[0],
                height_mm=image.size_mm[1],
                not_before=window[0],
                not_after=window[1],
                users=json.dumps(list(allowed), ensure_ascii=False),
                created_by=actor.name,
                updated_by=actor.name,
            )
            uow.session.add(row)
            uow.session.flush()
            info = _info(row)
            uow.record("seal", name, "create", after=_audit_view(info))
        log.info(
            "seal created: %s (%s, code %s, key %s) by %s", name, seal_type.value, seal_code, row.key_label, actor.name
        )
        return info

    def list(self) -> builtins.list[SealInfo]:
        with self._platform.db.reading() as session:
            return [_info(row) for row in session.scalars(select(Seal).order_by(Seal.name))]

    def get(self, name: str) -> SealInfo:
        with self._platform.db.reading() as session:
            return _info(_seal_named(session, name))

    def image(self, name: str) -> bytes:
        """The seal's PNG image."""
        with self._platform.db.reading() as session:
            return _seal_named(session, name).image_png

    def set_users(
        self,
        name: str,
        actor: Actor,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        users: Sequence[str] | None = None,
    ) -> SealInfo:
        """Replace the users (`users`), or add and remove some; a seal keeps at least one user."""
        if users is not None and (add or remove):
            raise ValidationError("users", "give the new list of users, or users to add and remove, not both")
        with self._platform.unit_of_work(actor) as uow:
            row = _seal_named(uow.session, name, for_update=True)
            before = tuple(json.loads(row.users))
            if users is not None:
                after = check_users(users)
            else:
                added = check_users(add) if add else ()
                removed = set(check_users(remove)) if remove else set()
                missing = sorted(removed - set(before))
                if missing:
                    raise ValidationError(
                        "remove", f"{', '.join(missing)} cannot be removed: not a user of seal {name!r}"
                    )
                after = check_users([u for u in (*before, *added) if u not in removed])
            if after != before:
                row.users, row.updated_by = json.dumps(list(after), ensure_ascii=False), actor.name
                uow.session.flush()
                uow.record("seal", name, "update", before={"users": list(before)}, after={"users": list(after)})
                log.info("seal %s users changed by %s: %s", name, actor.name, ", ".join(after))
            return _info(row)

    def disable(self, name: str, actor: Actor) -> SealInfo:
        """Take a seal out of use for good (no signer is handed out for it); disabling twice changes nothing."""
        with self._platform.unit_of_work(actor) as uow:
            row = _seal_named(uow.session, name, for_update=True)
            if row.status != SealStatus.DISABLED.value:
                before = row.status
                row.status, row.updated_by = SealStatus.DISABLED.value, actor.name
                uow.session.flush()
                uow.record("seal", name, "disable", before={"status": before}, after={"status": row.status})
                log.info("seal %s disabled by %s", name, actor.name)
            return _info(row)

    # --- use ----------------------------------------------------------------------------------------------

    def signer_for(self, name: str, actor: Actor | str, at: datetime | None = None) -> SealSigner:
        """Everything needed to apply seal `name` for `actor` at `at` (now by default).

        Forbidden (naming the seal and the actor) unless the actor is one of the seal's users, the seal is active
        and valid at `at`, and its certificate is not revoked and still validates to a trust anchor."""
        who = actor.name if isinstance(actor, Actor) else actor
        moment = at or utcnow()
        with self._platform.db.reading() as session:
            row = _seal_named(session, name)
            info, image_png = _info(row), row.image_png
            revoked = _certificate_status(session, x509.Certificate.load(info.certificate_der))
        if who not in info.users:
            raise Forbidden(f"{who!r} may not use seal {name!r}: not one of its users (certseal seal users --add)")
        if info.status is not SealStatus.ACTIVE:
            raise Forbidden(f"seal {name!r} is {info.status.value}: {who!r} may not use it")
        if not info.valid_at(moment):
            raise Forbidden(
                f"seal {name!r} is valid from {info.not_before:%Y-%m-%d %H:%M} to {info.not_after:%Y-%m-%d %H:%M} "
                f"UTC, not at {moment:%Y-%m-%d %H:%M}: {who!r} may not use it"
            )
        if revoked not in (None, CertificateStatus.VALID.value):
            raise Forbidden(f"seal {name!r}: its certificate is {revoked}; {who!r} may not use it")
        chain = self._chain(name, who, info.certificate_der, moment)
        signer = CertifiedSigner(KeyService(self._platform).signer(info.key_label), info.certificate_der)
        return SealSigner(info, signer, chain, image_png, info.width_mm, info.height_mm)

    def _chain(self, name: str, who: str, certificate_der: bytes, moment: datetime) -> builtins.list[bytes]:
        """The seal certificate's path to a trust anchor at `moment` (issuer first, DER), or Forbidden.

        A validated path is kept in Platform.memo and reused while fresh and every certificate of it is valid at
        `moment`; a path that does not validate is never kept."""
        key = ("seal-certificate-path", hashlib.sha256(certificate_der).hexdigest())
        found = self._platform.memo.get(key)
        if isinstance(found, _CheckedPath) and found.usable_at(moment.astimezone(UTC)):
            return list(found.chain)
        result = TrustService(self._platform).validate(certificate_der, at=moment)
        if not result.passed:
            self._platform.memo.pop(key, None)
            raise Forbidden(
                f"seal {name!r}: its certificate does not validate ({result.message}); {who!r} may not use it"
            )
        validity = tuple((c.not_valid_before, c.not_valid_after) for c in result.path)
        chain = tuple(c.dump() for c in result.path[1:])
        self._platform.memo[key] = _CheckedPath(time.monotonic(), chain, validity)
        return list(chain)

    # --- internals ----------------------------------------------------------------------------------------

    def _checked_certificate(self, data: bytes) -> tuple[bytes, x509.Certificate]:
        ders = read_certificates(data)
        if len(ders) != 1:
            raise ValidationError("certificate", f"give exactly one certificate, this input holds {len(ders)}")
        certificate = parse_certificate(ders[0])
        _check_usable(certificate)
        result = TrustService(self._platform).validate(ders[0])
        if not result.passed:
            raise ValidationError(
                "certificate", f"does not chain to a CA or trust anchor of this deployment: {result.message}"
            )
        with self._platform.db.reading() as session:
            status = _certificate_status(session, certificate)
        if status not in (None, CertificateStatus.VALID.value):
            raise ValidationError("certificate", f"is {status.replace('_', ' ')}: a seal needs a valid certificate")
        return ders[0], certificate

    @staticmethod
    def _ensure_unique(session: Session, name: str, code: str) -> None:
        if session.scalars(select(Seal.id).where(Seal.name == name)).first() is not None:
            raise AlreadyExists(f"a seal named {name!r} exists already")
        same = session.scalars(select(Seal.name).where(Seal.code == code)).first()
        if same is not None:
            raise AlreadyExists(f"seal code {code} is already used by seal {same!r}")


def record_sealing(
    platform: Platform, actor: Actor, sealed: SealedDocument, record: SealingRecord, logger: logging.Logger
) -> None:
    """Audit an act of sealing (document SHA-256 before and after, the seal, the format's details) and log it."""
    entity, entity_id, action = record.audited_as
    with platform.unit_of_work(actor) as uow:
        uow.record(
            entity,
            entity_id,
            action,
            before={"document_sha256": sealed.sha256_before},
            after={"seal": sealed.seal, "document_sha256": sealed.sha256_after, **record.details},
        )
    logger.info(
        "%s sealed with seal %s (%s) by %s: %s -> %s",
        record.document,
        sealed.seal,
        record.summary,
        actor.name,
        sealed.sha256_before[:16],
        sealed.sha256_after[:16],
    )


def _seal_named(session: Session, name: str, for_update: bool = False) -> Seal:
    query = select(Seal).where(Seal.name == name)
    row = session.scalars(query.with_for_update() if for_update else query).one_or_none()
    if row is None:
        raise NotFound(f"no seal named {name!r}: see `certseal seal list`")
    return row


def _seal_image(
    image_png: bytes | None, design: RoundSealDesign | None, code: str, size_mm: tuple[float, float] | None
) -> _Image:
    if (image_png is None) == (design is None):
        raise ValidationError("image", "give either a PNG image or the unit name to draw a round seal, not both")
    if design is not None:
        width, height = check_size_mm(*(size_mm or (ROUND_SEAL_MM, ROUND_SEAL_MM)))
        if width != height:
            raise ValidationError("height_mm", "a drawn round seal is as high as it is wide")
        png = draw_round_seal(design, code, diameter_mm=width)
        check_seal_png(png)
        return _Image(png, (width, height))
    assert image_png is not None
    facts = check_seal_png(image_png)
    if size_mm is None:  # as wide as a round seal, height in proportion
        size_mm = (ROUND_SEAL_MM, round(ROUND_SEAL_MM * facts.height_px / facts.width_px, 2))
    return _Image(image_png, check_size_mm(*size_mm))


def _check_usable(certificate: x509.Certificate) -> None:
    """An end-entity certificate, valid now, allowed to sign (digitalSignature or nonRepudiation)."""
    constraints = certificate.basic_constraints_value
    if constraints is not None and constraints["ca"].native:
        raise ValidationError("certificate", "is a CA certificate: a seal needs an end-entity certificate")
    usage = certificate.key_usage_value
    if usage is None or not _SIGNING_USAGES & set(usage.native):
        raise ValidationError("certificate", "must have the digitalSignature or nonRepudiation key usage")
    validity = certificate["tbs_certificate"]["validity"]
    now = utcnow()
    if now > validity["not_after"].native:
        raise ValidationError("certificate", f"expired on {validity['not_after'].native:%Y-%m-%d %H:%M} UTC")
    if now < validity["not_before"].native:
        raise ValidationError("certificate", f"is not valid before {validity['not_before'].native:%Y-%m-%d %H:%M} UTC")


def _validity(
    certificate: x509.Certificate, not_before: datetime | None, not_after: datetime | None
) -> tuple[datetime, datetime]:
    """The seal's validity: the certificate's by default, never outside it, ending in the future."""
    validity = certificate["tbs_certificate"]["validity"]
    cert_start, cert_end = validity["not_before"].native, validity["not_after"].native
    start, end = not_before or cert_start, not_after or cert_end
    for field, moment in (("not_before", start), ("not_after", end)):
        if moment.tzinfo is None:
            raise ValidationError(field, "must carry a time zone (e.g. 2026-01-01T00:00:00+08:00)")
    if start < cert_start:
        raise ValidationError(
            "not_before", f"must not be before the certificate's notBefore {cert_start:%Y-%m-%d %H:%M}"
        )
    if end > cert_end:
        raise ValidationError("not_after", f"must not be after the certificate's notAfter {cert_end:%Y-%m-%d %H:%M}")
    if start >= end:
        raise ValidationError("not_after", "must be after not_before")
    if end <= utcnow():
        raise ValidationError("not_after", "is in the past: the seal would never be usable")
    return start, end


def _default_title(certificate: x509.Certificate, seal_type: SealType, design: RoundSealDesign | None) -> str:
    """The unit's name (drawn on the seal, or the certificate's O, else CN) followed by the type, e.g. …合同专用章."""
    subject = certificate.subject.native
    holder = subject.get("common_name") if seal_type is SealType.PERSONAL else None
    unit = holder or (design.unit_name if design else None) or subject.get("organization_name")
    unit = unit or subject.get("common_name") or "seal"
    if isinstance(unit, list):
        unit = unit[0]
    suffix = (
        "" if seal_type in (SealType.OFFICIAL, SealType.PERSONAL) or unit.endswith(seal_type.label) else seal_type.label
    )
    return check_title(f"{unit}{suffix}")


def _key_label(session: Session, certificate: x509.Certificate) -> str:
    """The label of the deployment's key whose public key is the certificate's."""
    spki = certificate.public_key.dump()
    encodings = {spki, asn1_keys.PublicKeyInfo.load(spki).dump(force=True)}
    label = session.scalars(
        select(CryptoKey.label).where(CryptoKey.public_key_der.in_(encodings)).order_by(CryptoKey.id)
    ).first()
    if label is None:
        raise ValidationError(
            "certificate",
            "its public key matches no key in this deployment's tokens: the seal's key must be held here "
            "(issue the certificate with a generated key, or import the key with `certseal keys import`)",
        )
    return label


def _certificate_status(session: Session, certificate: x509.Certificate) -> str | None:
    """The status this deployment recorded for the certificate (valid, revoked, on_hold), None if not ours."""
    serial = serial_hex(certificate.serial_number)
    rows = session.execute(
        select(IssuedCertificate.status, IssuedCertificate.certificate_der).where(IssuedCertificate.serial == serial)
    )
    for status, der in rows:
        if der == certificate.dump():
            return str(status)
    return None
