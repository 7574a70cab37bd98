"""Certificate authority use cases: create CAs, issue, renew and revoke certificates.

Every certificate is signed and recorded in one transaction, so no certificate exists that the database does not
hold; the serial's unique constraint means no serial is ever used twice.  A batch is one transaction too: all of
its certificates are recorded, each with its own audit event, or none is.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from asn1crypto import x509
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.keys import PublicKey
from certseal.crypto.signer import CertifiedSigner, Signer
from certseal.errors import AlreadyExists, CertsealError, NotFound, ValidationError
from certseal.logs import get_logger
from certseal.pki import certificates as certs
from certseal.pki.asn1 import key_identifier
from certseal.pki.names import name_to_text, parse_dn
from certseal.pki.profiles import CertificateProfile, profile
from certseal.services.audit import Actor, AuditEntry
from certseal.services.keys import KeyService
from certseal.services.platform import Platform, UnitOfWork
from certseal.store.cas import ca_named, find_ca
from certseal.store.models import CertificateAuthority, IssuedCertificate, utcnow

log = get_logger("ca")
_CA_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class RevocationReason(StrEnum):
    """RFC 5280 5.3.1 CRLReason (value 7 is unused)."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "key_compromise"
    CA_COMPROMISE = "ca_compromise"
    AFFILIATION_CHANGED = "affiliation_changed"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"
    CERTIFICATE_HOLD = "certificate_hold"
    REMOVE_FROM_CRL = "remove_from_crl"
    PRIVILEGE_WITHDRAWN = "privilege_withdrawn"
    AA_COMPROMISE = "aa_compromise"

    @classmethod
    def parse(cls, value: str) -> RevocationReason:
        try:
            return cls(value.lower().replace("-", "_"))
        except ValueError:
            allowed = ", ".join(r.value for r in cls if r is not cls.REMOVE_FROM_CRL)
            raise ValidationError("reason", f"must be one of {allowed}, not {value!r}") from None


class CertificateStatus(StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    ON_HOLD = "on_hold"


@dataclass(frozen=True)
class CaInfo:
    name: str
    algorithm: KeyAlgorithm
    subject: str
    parent: str | None
    serial: str
    not_after: datetime
    certificate_der: bytes
    key_label: str | None


@dataclass(frozen=True)
class IssuedInfo:
    serial: str
    ca: str
    profile: str
    subject: str
    not_after: datetime
    certificate_der: bytes
    key_label: str | None = None
    private_key_pkcs8: bytes | None = None


@dataclass(frozen=True)
class IssueRequest:
    """One certificate of a batch: the subject DN, its public key (from a checked CSR), SAN entries and days."""

    subject: str
    public_key: PublicKey
    san: tuple[str, ...] = ()
    days: int | None = None


@dataclass(frozen=True)
class _Checked:
    """A request that passed the profile's rules, ready to sign."""

    attributes: dict[str, str]
    san: list[tuple[str, str]]
    public_key: PublicKey
    validity_days: int


def serial_hex(serial: int) -> str:
    text = format(serial, "X")
    return text if len(text) % 2 == 0 else "0" + text


def normalise_serial(text: str) -> str:
    cleaned = text.strip().replace(":", "").upper()
    if cleaned.startswith("0X"):
        cleaned = cleaned[2:]
    if not cleaned or not re.fullmatch(r"[0-9A-F]+", cleaned) or len(cleaned) > 40:
        raise ValidationError("serial", f"{text!r} is not a hexadecimal certificate serial number")
    return serial_hex(int(cleaned, 16))


def parse_window(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+)\s*([dhw]?)\s*", text)
    if not match:
        raise ValidationError("expiring-within", f"{text!r} must look like 30d, 12h or 2w")
    amount, unit = int(match.group(1)), match.group(2) or "d"
    return {"d": timedelta(days=amount), "h": timedelta(hours=amount), "w": timedelta(weeks=amount)}[unit]


def _renewal_extends(profile_name: str, not_after: datetime, now: datetime) -> bool:
    """A renewal that would not push expiry out by at least a day is pointless (and would never converge)."""
    return now + timedelta(days=profile(profile_name).validity_days - 1) > not_after


def _ca_info(ca: CertificateAuthority, parent: str | None) -> CaInfo:
    return CaInfo(
        ca.name,
        KeyAlgorithm(ca.algorithm),
        ca.subject,
        parent,
        ca.serial,
        ca.not_after,
        ca.certificate_der,
        ca.key_label,
    )


def _issued_info(row: IssuedCertificate, ca_name: str, pkcs8: bytes | None = None) -> IssuedInfo:
    return IssuedInfo(
        row.serial, ca_name, row.profile, row.subject, row.not_after, row.certificate_der, row.key_label, pkcs8
    )


def _end_entity_profile(profile_name: str) -> CertificateProfile:
    kind = profile(profile_name)
    if kind.ca:
        raise ValidationError("profile", f"{profile_name!r} is a CA profile: use `certseal ca create`")
    return kind


def _check_request(kind: CertificateProfile, index: int, request: IssueRequest) -> _Checked:
    """The checks `issue` makes, naming the request that broke a rule."""
    try:
        attributes = parse_dn(request.subject)
        kind.check_subject(attributes)
        return _Checked(
            attributes, kind.check_san(list(request.san)), request.public_key, kind.validity_days_checked(request.days)
        )
    except ValidationError as exc:
        raise ValidationError(f"requests[{index}].{exc.field}", exc.rule) from None


def _issue_entry(values: dict[str, object], ca_name: str) -> AuditEntry:
    return AuditEntry(
        "certificate",
        str(values["serial"]),
        "issue",
        after={
            "ca": ca_name,
            "profile": values["profile"],
            "subject": values["subject"],
            "not_after": values["not_after"],
            "public_key_sha256": values["public_key_sha256"],
            "key_label": values["key_label"],
        },
    )


def _values_info(values: dict[str, object], ca_name: str) -> IssuedInfo:
    not_after, der = values["not_after"], values["certificate_der"]
    assert isinstance(not_after, datetime) and isinstance(der, bytes)
    return IssuedInfo(
        str(values["serial"]), ca_name, str(values["profile"]), str(values["subject"]), not_after, der, None
    )


class CaService:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._keys = KeyService(platform)

    # --- CAs -----------------------------------------------------------------------------------------------

    def create_ca(
        self,
        name: str,
        algorithm: KeyAlgorithm,
        actor: Actor,
        parent: str | None = None,
        subject: str | None = None,
        days: int | None = None,
        token: str = "software",
    ) -> CaInfo:
        if not _CA_NAME.match(name):
            raise ValidationError("name", "must be 1-63 lower-case letters, digits or hyphens, starting alphanumeric")
        if name.endswith("-delta"):
            raise ValidationError("name", "must not end in -delta (reserved for delta CRL URLs)")
        attributes = parse_dn(subject or f"CN={name},C=CN")
        kind = profile("intermediate-ca" if parent else "root-ca")
        validity_days = kind.validity_days_checked(days)
        key_label = f"ca-{name}"
        with self._platform.unit_of_work(actor) as uow:
            if self._find_ca(uow.session, name) is not None:
                raise AlreadyExists(f"a CA named {name!r} exists already")
            parent_row = self._ca(uow.session, parent) if parent else None
            signer = self._keys.generate_in(uow, key_label, algorithm, token)
            subject_ = certs.subject_from(attributes, signer.public_key)
            issuer = self._issuer(parent_row) if parent_row else certs.self_signed_issuer(subject_, signer)
            validity = certs.Validity.starting(utcnow(), validity_days)
            if parent_row and validity.not_after > parent_row.not_after:
                validity = certs.Validity(validity.not_before, parent_row.not_after)
            serial = certs.new_serial()
            der = certs.issue(issuer, subject_, kind, validity, serial)
            row = CertificateAuthority(
                name=name,
                parent_id=parent_row.id if parent_row else None,
                algorithm=algorithm.value,
                key_label=key_label,
                subject=name_to_text(subject_.name),
                certificate_der=der,
                serial=serial_hex(serial),
                not_after=validity.not_after,
                status="active",
                crl_number=0,
                last_full_crl_number=0,
                created_by=actor.name,
                updated_by=actor.name,
            )
            uow.session.add(row)
            uow.session.flush()
            uow.record(
                "certificate_authority",
                name,
                "create",
                after={
                    "algorithm": algorithm.value,
                    "parent": parent,
                    "subject": row.subject,
                    "serial": row.serial,
                    "not_after": row.not_after,
                    "key_label": key_label,
                },
            )
            log.info("CA created: %s (%s) by %s", name, algorithm.value, actor.name)
            return _ca_info(row, parent)

    def list_cas(self) -> list[CaInfo]:
        with self._platform.db.reading() as session:
            rows = list(session.scalars(select(CertificateAuthority).order_by(CertificateAuthority.id)))
            names = {r.id: r.name for r in rows}
            return [_ca_info(r, names.get(r.parent_id) if r.parent_id else None) for r in rows]

    def get_ca(self, name: str) -> CaInfo:
        with self._platform.db.reading() as session:
            row = self._ca(session, name)
            parent = session.get(CertificateAuthority, row.parent_id) if row.parent_id else None
            return _ca_info(row, parent.name if parent else None)

    def ca_chain(self, name: str) -> list[bytes]:
        """The CA's certificate followed by its parents' up to the root."""
        chain = []
        with self._platform.db.reading() as session:
            row: CertificateAuthority | None = self._ca(session, name)
            while row is not None:
                chain.append(row.certificate_der)
                row = session.get(CertificateAuthority, row.parent_id) if row.parent_id else None
        return chain

    def issuer(self, name: str) -> certs.Issuer:
        """The CA as an issuer: name, key identifier, Signer (with its certificate) and its CRL/OCSP/AIA URLs."""
        with self._platform.db.reading() as session:
            return self._issuer(self._ca(session, name))

    def ca_signer(self, name: str) -> Signer:
        with self._platform.db.reading() as session:
            row = self._ca(session, name)
            return self._signer(row)

    # --- certificates --------------------------------------------------------------------------------------

    def issue(
        self,
        ca: str,
        profile_name: str,
        actor: Actor,
        subject: str | None = None,
        public_key: PublicKey | None = None,
        generate: KeyAlgorithm | None = None,
        san: list[str] | None = None,
        days: int | None = None,
        export_key: bool = False,
        token: str = "software",
    ) -> IssuedInfo:
        """Issue from a public key (a checked CSR) or with a key generated in the deployment's token."""
        if (public_key is None) == (generate is None):
            raise ValidationError("key", "give either a CSR (its public key) or --generate-key, not both")
        kind = _end_entity_profile(profile_name)
        if subject is None:
            raise ValidationError("subject", "is required, e.g. 'CN=张三,O=某医院,C=CN'")
        attributes = parse_dn(subject)
        kind.check_subject(attributes)
        san_entries = kind.check_san(san or [])
        validity_days = kind.validity_days_checked(days)
        with self._platform.unit_of_work(actor) as uow:
            ca_row = self._ca(uow.session, ca)
            serial = certs.new_serial()
            key_label, pkcs8 = None, None
            if generate is not None:
                key_label = f"cert-{serial_hex(serial)}"
                private = self._keys.generate_private_in(uow, key_label, generate, token) if export_key else None
                if private is not None:
                    public_key, pkcs8 = private.public_key, private.pkcs8_der()
                else:
                    public_key = self._keys.generate_in(uow, key_label, generate, token).public_key
            assert public_key is not None
            row = self._issue_row(
                uow, ca_row, kind, attributes, san_entries, public_key, validity_days, serial, key_label
            )
            return _issued_info(row, ca, pkcs8)

    def issue_batch(
        self, ca: str, profile_name: str, requests: Sequence[IssueRequest], actor: Actor
    ) -> list[IssuedInfo]:
        """Issue one certificate per request in one transaction: all are recorded, each with its own audit event,
        or none is.  Every request is checked before anything is signed."""
        kind = _end_entity_profile(profile_name)
        checked = [_check_request(kind, index, request) for index, request in enumerate(requests)]
        if not checked:
            return []
        # Sign before taking the write lock, so concurrent batches sign in parallel; nothing signed leaves this
        # method unless the transaction below recorded it.
        with self._platform.db.reading() as session:
            ca_row = self._ca(session, ca)
        template = self._template(ca_row, kind)
        serials: set[int] = set()
        rows: list[dict[str, object]] = []
        for request in checked:
            serial = certs.new_serial()
            while serial in serials:
                serial = certs.new_serial()
            serials.add(serial)
            rows.append(self._certificate_values(actor, ca_row, kind, template, request, serial, None))
        with self._platform.unit_of_work(actor) as uow:
            current = self._ca(uow.session, ca)
            if current.id != ca_row.id or current.certificate_der != ca_row.certificate_der:
                raise CertsealError(f"CA {ca!r} changed while the batch was being signed; nothing was issued")
            uow.session.execute(insert(IssuedCertificate), rows)
            uow.audit.record_many(uow.session, uow.actor, [_issue_entry(row, current.name) for row in rows])
        log.info("batch of %d %s certificates issued by CA %s for %s", len(rows), kind.name, ca, actor.name)
        return [_values_info(row, current.name) for row in rows]

    def renew(self, serial: str, actor: Actor) -> IssuedInfo:
        """New serial, same subject, profile and key; the old certificate records what replaced it."""
        with self._platform.unit_of_work(actor) as uow:
            old = self._certificate(uow.session, serial)
            if old.renewed_by:
                raise AlreadyExists(f"certificate {old.serial} was already renewed as {old.renewed_by}")
            return self._renew_row(uow, old)

    def renew_expiring(
        self, window: timedelta, actor: Actor, progress: Callable[[int, int], None] | None = None
    ) -> list[IssuedInfo]:
        """Renew every valid certificate expiring within `window` not renewed yet; running it again renews none."""
        now = utcnow()
        with self._platform.db.reading() as session:
            candidates = list(
                session.execute(
                    select(IssuedCertificate.serial, IssuedCertificate.profile, IssuedCertificate.not_after)
                    .where(
                        IssuedCertificate.status == CertificateStatus.VALID.value,
                        IssuedCertificate.renewed_by.is_(None),
                        IssuedCertificate.not_after <= now + window,
                        IssuedCertificate.not_after > now,
                    )
                    .order_by(IssuedCertificate.not_after)
                )
            )
        due = [serial for serial, kind, not_after in candidates if _renewal_extends(kind, not_after, now)]
        renewed = []
        for done, serial in enumerate(due, start=1):
            with self._platform.unit_of_work(actor) as uow:
                old = self._certificate(uow.session, serial)
                if old.renewed_by is None:  # another node may have renewed it since the query
                    renewed.append(self._renew_row(uow, old))
            if progress:
                progress(done, len(due))
        return renewed

    def revoke(
        self, serial: str, reason: RevocationReason, actor: Actor, revoked_at: datetime | None = None
    ) -> IssuedInfo:
        if reason is RevocationReason.REMOVE_FROM_CRL:
            raise ValidationError("reason", "use `certseal cert release` to take a certificate off hold")
        with self._platform.unit_of_work(actor) as uow:
            row = self._certificate(uow.session, serial)
            if row.status == CertificateStatus.REVOKED.value:
                raise ValidationError("serial", f"certificate {row.serial} is already revoked")
            if row.status == CertificateStatus.ON_HOLD.value and reason is RevocationReason.CERTIFICATE_HOLD:
                raise ValidationError("serial", f"certificate {row.serial} is already on hold")
            before: dict[str, object] = {"status": row.status, "reason": row.revocation_reason}
            row.status = (
                CertificateStatus.ON_HOLD if reason is RevocationReason.CERTIFICATE_HOLD else CertificateStatus.REVOKED
            ).value
            row.revoked_at = row.revoked_at if row.status == "revoked" and row.revoked_at else (revoked_at or utcnow())
            row.revocation_reason = reason.value
            row.updated_by = actor.name
            uow.record(
                "certificate",
                row.serial,
                "revoke",
                before=before,
                after={"status": row.status, "reason": reason.value, "revoked_at": row.revoked_at},
            )
            log.info("certificate %s %s (%s) by %s", row.serial, row.status, reason.value, actor.name)
            return _issued_info(row, self._ca_name(uow.session, row.ca_id))

    def release_hold(self, serial: str, actor: Actor) -> IssuedInfo:
        """Take a certificate off hold (RFC 5280 removeFromCRL in the next delta CRL)."""
        with self._platform.unit_of_work(actor) as uow:
            row = self._certificate(uow.session, serial)
            if row.status != CertificateStatus.ON_HOLD.value:
                raise ValidationError("serial", f"certificate {row.serial} is not on hold (status {row.status})")
            row.status, row.revoked_at, row.revocation_reason = CertificateStatus.VALID.value, None, None
            row.updated_by = actor.name
            uow.record(
                "certificate", row.serial, "release_hold", before={"status": "on_hold"}, after={"status": "valid"}
            )
            return _issued_info(row, self._ca_name(uow.session, row.ca_id))

    def get_certificate(self, serial: str) -> IssuedInfo:
        with self._platform.db.reading() as session:
            row = self._certificate(session, serial)
            return _issued_info(row, self._ca_name(session, row.ca_id))

    def certificates(self, ca: str | None = None) -> Iterator[IssuedCertificate]:
        with self._platform.db.reading() as session:
            query = select(IssuedCertificate).order_by(IssuedCertificate.id)
            if ca:
                query = query.where(IssuedCertificate.ca_id == self._ca(session, ca).id)
            yield from session.scalars(query)

    # --- internals -----------------------------------------------------------------------------------------

    def _issue_row(
        self,
        uow: UnitOfWork,
        ca_row: CertificateAuthority,
        kind: CertificateProfile,
        attributes: dict[str, str],
        san: list[tuple[str, str]],
        public_key: PublicKey,
        validity_days: int,
        serial: int,
        key_label: str | None,
    ) -> IssuedCertificate:
        request = _Checked(attributes, san, public_key, validity_days)
        template = self._template(ca_row, kind)
        values = self._certificate_values(uow.actor, ca_row, kind, template, request, serial, key_label)
        row = IssuedCertificate(**values)
        uow.session.add(row)
        uow.session.flush()
        entry = _issue_entry(values, ca_row.name)
        uow.record(entry.entity, entry.entity_id, entry.action, after=entry.after)
        return row

    @staticmethod
    def _certificate_values(
        actor: Actor,
        ca_row: CertificateAuthority,
        kind: CertificateProfile,
        template: certs.CertificateTemplate,
        request: _Checked,
        serial: int,
        key_label: str | None,
    ) -> dict[str, object]:
        """Sign one certificate and return the columns of its certificates row."""
        subject_ = certs.subject_from(request.attributes, request.public_key, request.san)
        now = utcnow()
        validity = certs.Validity.starting(now, request.validity_days)
        if validity.not_after > ca_row.not_after:
            validity = certs.Validity(validity.not_before, ca_row.not_after)
        der = template.issue(subject_, validity, serial)
        return {
            "serial": serial_hex(serial),
            "ca_id": ca_row.id,
            "profile": kind.name,
            "subject": name_to_text(subject_.name),
            "subject_dn": json.dumps(request.attributes, ensure_ascii=False, sort_keys=True),
            "san": json.dumps([f"{k}:{v}" for k, v in request.san]) if request.san else None,
            "algorithm": request.public_key.algorithm.value,
            "public_key_sha256": hashlib.sha256(request.public_key.spki_der).hexdigest(),
            "certificate_der": der,
            "not_before": validity.not_before,
            "not_after": validity.not_after,
            "status": CertificateStatus.VALID.value,
            "key_label": key_label,
            "created_by": actor.name,
            "created_at": now,
            "updated_by": actor.name,
            "updated_at": now,
        }

    def _renew_row(self, uow: UnitOfWork, old: IssuedCertificate) -> IssuedInfo:
        ca_row = uow.session.get(CertificateAuthority, old.ca_id)
        assert ca_row is not None
        kind = profile(old.profile)
        public_key = PublicKey(x509.Certificate.load(old.certificate_der).public_key.dump())
        san = [(k, v) for k, _, v in (s.partition(":") for s in json.loads(old.san))] if old.san else []
        row = self._issue_row(
            uow,
            ca_row,
            kind,
            json.loads(old.subject_dn),
            san,
            public_key,
            kind.validity_days,
            certs.new_serial(),
            old.key_label,
        )
        old.renewed_by, old.updated_by = row.serial, uow.actor.name
        uow.record("certificate", old.serial, "renew", after={"renewed_by": row.serial})
        return _issued_info(row, ca_row.name)

    def _issuer(self, ca_row: CertificateAuthority) -> certs.Issuer:
        memo_key = self._memo_key("issuer", ca_row)
        cached = self._platform.memo.get(memo_key)
        if isinstance(cached, certs.Issuer):
            return cached
        issuer = self._load_issuer(ca_row)
        self._platform.memo[memo_key] = issuer
        return issuer

    def _template(self, ca_row: CertificateAuthority, kind: CertificateProfile) -> certs.CertificateTemplate:
        """The CA's pre-encoded certificate for one profile, kept as long as the CA certificate and URLs hold."""
        memo_key = (*self._memo_key("certificate-template", ca_row), kind.name)
        cached = self._platform.memo.get(memo_key)
        if isinstance(cached, certs.CertificateTemplate) and cached.profile == kind:
            return cached
        template = certs.CertificateTemplate(self._issuer(ca_row), kind)
        self._platform.memo[memo_key] = template
        return template

    def _memo_key(self, what: str, ca_row: CertificateAuthority) -> tuple[str, ...]:
        return (
            what,
            ca_row.name,
            hashlib.sha256(ca_row.certificate_der).hexdigest(),
            self._platform.settings.base_url,
        )

    def _load_issuer(self, ca_row: CertificateAuthority) -> certs.Issuer:
        certificate = x509.Certificate.load(ca_row.certificate_der)
        base = self._platform.settings.base_url.rstrip("/")
        urls = certs.IssuerUrls(
            crl=f"{base}/crl/{ca_row.name}.crl",
            ocsp=f"{base}/ocsp/{ca_row.name}",
            ca_issuers=f"{base}/ca/{ca_row.name}.crt",
        )
        key_id = certificate.key_identifier or key_identifier(PublicKey(certificate.public_key.dump()))
        return certs.Issuer(certificate.subject, key_id, self._signer(ca_row), urls)

    def _signer(self, ca_row: CertificateAuthority) -> Signer:
        if not ca_row.key_label:
            raise CertsealError(f"CA {ca_row.name!r} has no key in this deployment (an external CA)")
        return CertifiedSigner(self._keys.signer(ca_row.key_label), ca_row.certificate_der)

    @staticmethod
    def _find_ca(session: Session, name: str) -> CertificateAuthority | None:
        return find_ca(session, name)

    @staticmethod
    def _ca(session: Session, name: str) -> CertificateAuthority:
        return ca_named(session, name)

    @staticmethod
    def _ca_name(session: Session, ca_id: int) -> str:
        row = session.get(CertificateAuthority, ca_id)
        assert row is not None
        return row.name

    @staticmethod
    def _certificate(session: Session, serial: str) -> IssuedCertificate:
        normalised = normalise_serial(serial)
        row = session.scalars(select(IssuedCertificate).where(IssuedCertificate.serial == normalised)).one_or_none()
        if row is None:
            raise NotFound(f"no certificate with serial {normalised}")
        return row
