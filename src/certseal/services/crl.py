"""CRL use cases: generate full and delta CRLs on demand, and serve the current one, renewing it when it is due.

Full and delta CRLs of a CA share one CRL number sequence (RFC 5280 5.2.3), kept on the CA row; the row is locked
while a CRL is numbered, signed and stored, so two nodes never issue the same number.  A delta CRL is computed
against the stored base CRL itself, so a change that raced the base's generation is never lost between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import crl as asn1_crl
from sqlalchemy import select
from sqlalchemy.orm import Session

from certseal.config import Settings
from certseal.errors import ConfigError, ValidationError
from certseal.logs import get_logger
from certseal.pki import certificates as certs
from certseal.pki import crl
from certseal.services.audit import Actor
from certseal.services.ca import CaService, CertificateStatus
from certseal.services.platform import Platform, UnitOfWork
from certseal.store.cas import ca_named
from certseal.store.models import CertificateAuthority, IssuedCertificate, IssuedCrl, utcnow

log = get_logger("crl")
SCHEDULER = Actor("crl-scheduler", "certseal")
_LISTED = (CertificateStatus.REVOKED.value, CertificateStatus.ON_HOLD.value)


@dataclass(frozen=True)
class CrlPolicy:
    """How long CRLs are valid, and how long before nextUpdate the served CRL is replaced by a fresh one."""

    full_validity: timedelta = timedelta(days=7)
    delta_validity: timedelta = timedelta(days=1)
    renew_margin_full: timedelta = timedelta(days=2)
    renew_margin_delta: timedelta = timedelta(hours=6)

    def __post_init__(self) -> None:
        for kind, validity, margin in (
            ("full", self.full_validity, self.renew_margin_full),
            ("delta", self.delta_validity, self.renew_margin_delta),
        ):
            if not timedelta(0) <= margin < validity:
                raise ConfigError(f"{kind} CRLs: the renewal margin must be shorter than the validity period")

    @classmethod
    def from_settings(cls, settings: Settings) -> CrlPolicy:
        return cls(
            full_validity=timedelta(hours=settings.crl_full_validity_hours),
            delta_validity=timedelta(hours=settings.crl_delta_validity_hours),
            renew_margin_full=timedelta(hours=settings.crl_full_renew_margin_hours),
            renew_margin_delta=timedelta(hours=settings.crl_delta_renew_margin_hours),
        )

    def validity(self, delta: bool) -> timedelta:
        return self.delta_validity if delta else self.full_validity

    def margin(self, delta: bool) -> timedelta:
        return self.renew_margin_delta if delta else self.renew_margin_full


@dataclass(frozen=True)
class CrlInfo:
    ca: str
    number: int
    delta_base: int | None
    this_update: datetime
    next_update: datetime
    entries: int
    der: bytes

    @property
    def is_delta(self) -> bool:
        return self.delta_base is not None


def _info(ca_name: str, row: IssuedCrl) -> CrlInfo:
    count = len(asn1_crl.CertificateList.load(row.crl_der)["tbs_cert_list"]["revoked_certificates"])
    return CrlInfo(ca_name, row.number, row.delta_base, row.this_update, row.next_update, count, row.crl_der)


class CrlService:
    def __init__(self, platform: Platform, policy: CrlPolicy | None = None) -> None:
        self._platform = platform
        self._policy = policy or CrlPolicy.from_settings(platform.settings)
        self._cas = CaService(platform)

    def generate(self, ca_name: str, actor: Actor, delta: bool = False) -> CrlInfo:
        """Issue a new full (or delta) CRL now, with the CA's next CRL number."""
        issuer = self._cas.issuer(ca_name)
        with self._platform.unit_of_work(actor) as uow:
            return self._generate(uow, self._locked_ca(uow.session, ca_name), issuer, delta)

    def current(self, ca_name: str, delta: bool = False) -> CrlInfo:
        """The CRL to serve: the newest one, or a fresh one when none exists or it is due for renewal."""
        with self._platform.db.reading() as session:
            ca = self._ca(session, ca_name)
            newest = self._newest(session, ca, delta)
            if newest is not None and not self._due(ca, newest, delta):
                return _info(ca_name, newest)
        if delta:
            self.current(ca_name)  # a delta is only as good as its base: renew the full CRL first when it is due
        return self._renew_if_due(ca_name, delta)

    def latest(self, ca_name: str, delta: bool = False) -> bytes:
        """DER of the current CRL (see `current`)."""
        return self.current(ca_name, delta).der

    def history(self, ca_name: str, limit: int = 10) -> list[CrlInfo]:
        """The CA's newest CRLs, newest first."""
        with self._platform.db.reading() as session:
            ca = self._ca(session, ca_name)
            rows = session.scalars(
                select(IssuedCrl).where(IssuedCrl.ca_id == ca.id).order_by(IssuedCrl.number.desc()).limit(limit)
            )
            return [_info(ca_name, row) for row in rows]

    # --- internals -----------------------------------------------------------------------------------------

    def _renew_if_due(self, ca_name: str, delta: bool) -> CrlInfo:
        """With the CA row locked, check again: another request or node may have renewed it meanwhile."""
        issuer = self._cas.issuer(ca_name)
        with self._platform.unit_of_work(SCHEDULER) as uow:
            ca = self._locked_ca(uow.session, ca_name)
            newest = self._newest(uow.session, ca, delta)
            if newest is not None and not self._due(ca, newest, delta):
                return _info(ca_name, newest)
            return self._generate(uow, ca, issuer, delta)

    def _generate(self, uow: UnitOfWork, ca: CertificateAuthority, issuer: certs.Issuer, delta: bool) -> CrlInfo:
        base = self._base(uow.session, ca) if delta else None
        this_update = utcnow().replace(microsecond=0)
        current = self._listed(uow.session, ca, this_update)
        entries = _delta_entries(crl.entries_of(base.crl_der), current, this_update) if base else current
        ca.crl_number += 1
        content = crl.CrlContent(
            number=ca.crl_number,
            this_update=this_update,
            next_update=this_update + self._policy.validity(delta),
            entries=tuple(entries),
            delta_base=base.number if base else None,
            freshest_url=_delta_url(issuer.urls.crl),
        )
        if not delta:
            ca.last_full_crl_number = content.number
        ca.updated_by = uow.actor.name
        row = IssuedCrl(
            ca_id=ca.id,
            number=content.number,
            delta_base=content.delta_base,
            this_update=content.this_update,
            next_update=content.next_update,
            crl_der=crl.build(issuer, content),
            created_by=uow.actor.name,
            updated_by=uow.actor.name,
        )
        uow.session.add(row)
        uow.session.flush()
        uow.record(
            "crl",
            f"{ca.name}/{content.number}",
            "generate",
            after={
                "ca": ca.name,
                "number": content.number,
                "delta_base": content.delta_base,
                "this_update": content.this_update,
                "next_update": content.next_update,
                "entries": len(entries),
            },
        )
        kind = f"delta CRL (base {content.delta_base})" if delta else "full CRL"
        log.info("%s %s of CA %s: %d entries, by %s", kind, content.number, ca.name, len(entries), uow.actor.name)
        return _info(ca.name, row)

    def _due(self, ca: CertificateAuthority, row: IssuedCrl, delta: bool) -> bool:
        if delta and row.delta_base != ca.last_full_crl_number:
            return True  # a newer full CRL exists: the delta must build on it
        return row.next_update - self._policy.margin(delta) <= utcnow()

    @staticmethod
    def _listed(session: Session, ca: CertificateAuthority, now: datetime) -> list[crl.RevokedEntry]:
        """Every revoked or held certificate of the CA that has not expired (RFC 5280 lets expired ones go)."""
        rows = session.execute(
            select(IssuedCertificate.serial, IssuedCertificate.revoked_at, IssuedCertificate.revocation_reason).where(
                IssuedCertificate.ca_id == ca.id,
                IssuedCertificate.status.in_(_LISTED),
                IssuedCertificate.not_after > now,
            )
        )
        return [
            crl.RevokedEntry(int(serial, 16), revoked_at or now, reason or crl.UNSPECIFIED)
            for serial, revoked_at, reason in rows
        ]

    @staticmethod
    def _base(session: Session, ca: CertificateAuthority) -> IssuedCrl:
        if ca.last_full_crl_number == 0:
            raise ValidationError("delta", f"CA {ca.name!r} has no full CRL yet to be the base of a delta CRL")
        base = session.scalars(
            select(IssuedCrl).where(IssuedCrl.ca_id == ca.id, IssuedCrl.number == ca.last_full_crl_number)
        ).one_or_none()
        if base is None:
            raise ValidationError("delta", f"the base CRL {ca.last_full_crl_number} of CA {ca.name!r} is missing")
        return base

    @staticmethod
    def _newest(session: Session, ca: CertificateAuthority, delta: bool) -> IssuedCrl | None:
        kind = IssuedCrl.delta_base.is_not(None) if delta else IssuedCrl.delta_base.is_(None)
        return session.scalars(
            select(IssuedCrl).where(IssuedCrl.ca_id == ca.id, kind).order_by(IssuedCrl.number.desc()).limit(1)
        ).one_or_none()

    @staticmethod
    def _ca(session: Session, name: str) -> CertificateAuthority:
        return ca_named(session, name)

    @staticmethod
    def _locked_ca(session: Session, name: str) -> CertificateAuthority:
        return ca_named(session, name, for_update=True)


def _delta_entries(base: dict[int, str], current: list[crl.RevokedEntry], now: datetime) -> list[crl.RevokedEntry]:
    """What changed since the base: new or changed entries, and removeFromCRL for those that left it."""
    listed = {entry.serial for entry in current}
    changed = [entry for entry in current if base.get(entry.serial) != entry.reason]
    removed = [crl.RevokedEntry(serial, now, crl.REMOVE_FROM_CRL) for serial in base if serial not in listed]
    return changed + removed


def _delta_url(full_url: str | None) -> str | None:
    """The delta CRL's URL beside the full CRL's: …/crl/NAME.crl → …/crl/NAME-delta.crl."""
    if not full_url or not full_url.endswith(".crl"):
        return None
    return full_url[: -len(".crl")] + "-delta.crl"
