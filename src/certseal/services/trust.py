"""Trust use cases: cross-certify CAs, import external trust anchors, validate certification paths.

Our own root CAs are trust anchors too; path validation uses every CA certificate, valid cross-certificate and
anchor of the deployment, so a leaf of a cross-certified CA validates to whichever anchor the caller chooses.

An anchor is of one of two kinds, read from the certificate itself (basicConstraints), so no column records it:
a CA certificate, which ends the chains of the certificates it issued, or a directly trusted end-entity certificate
(EU DSS: a trusted certificate source may hold any certificate), which ends only its own chain — it is never offered
as the issuer of another certificate and can never be cross-certified.  Files that carry only the signer's
certificate (tax e-invoice OFDs) verify once that certificate is trusted this way.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from asn1crypto import pem, x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from certseal.crypto.keys import PublicKey
from certseal.errors import AlreadyExists, CryptoError, NotFound, ValidationError
from certseal.logs import get_logger
from certseal.pki import certificates as certs
from certseal.pki.asn1 import scheme_of
from certseal.pki.names import build_name, name_to_text, parse_dn
from certseal.pki.path import PathResult, find_path, load_certificate
from certseal.pki.profiles import profile
from certseal.services.audit import Actor
from certseal.services.ca import CaService, CertificateStatus, serial_hex
from certseal.services.platform import Platform
from certseal.store.cas import ca_named, find_ca
from certseal.store.models import CertificateAuthority, IssuedCertificate, TrustAnchor, utcnow

log = get_logger("trust")
CROSS_PROFILE = "cross-ca"
_ANCHOR_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class AnchorKind(StrEnum):
    CA = "ca"  # a CA certificate: ends the chains of what it issued
    LEAF = "leaf"  # a directly trusted end-entity certificate: ends only its own chain


@dataclass(frozen=True)
class AnchorInfo:
    name: str
    subject: str
    sha256: str
    not_after: datetime
    certificate_der: bytes
    source: str  # "ca" (a root CA of this deployment) or "imported"
    kind: AnchorKind = AnchorKind.CA


@dataclass(frozen=True)
class CrossCertificate:
    serial: str
    issuer: str
    subject: str
    not_after: datetime
    certificate_der: bytes


def read_certificates(data: bytes, field: str = "certificate") -> list[bytes]:
    """DER certificates from DER or from one or more PEM CERTIFICATE blocks."""
    if pem.detect(data):
        try:
            ders = [der for kind, _, der in pem.unarmor(data, multiple=True) if kind == "CERTIFICATE"]
        except ValueError as exc:
            raise ValidationError(field, f"PEM cannot be read: {exc}") from None
        if not ders:
            raise ValidationError(field, "holds no PEM CERTIFICATE block")
        return ders
    return [data]


def parse_certificate(der: bytes, field: str = "certificate") -> x509.Certificate:
    try:
        return load_certificate(der)
    except ValueError as exc:
        raise ValidationError(field, str(exc)) from None


class TrustService:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._cas = CaService(platform)

    # --- cross-certification ------------------------------------------------------------------------------

    def cross_certify(
        self,
        issuer_ca: str,
        subject_ca: str,
        actor: Actor,
        path_len: int | None = None,
        permitted: Sequence[str] = (),
        excluded: Sequence[str] = (),
        days: int | None = None,
    ) -> CrossCertificate:
        """`issuer_ca` certifies the subject name and public key of `subject_ca` (one of our CAs or an anchor)."""
        if issuer_ca == subject_ca:
            raise ValidationError("subject", "a CA cannot cross-certify itself")
        if path_len is not None and path_len < 0:
            raise ValidationError("path-len", f"must be 0 or more, not {path_len}")
        constraints = certs.NameConstraints(
            permitted=tuple(build_name(parse_dn(dn, "permit")) for dn in permitted),
            excluded=tuple(build_name(parse_dn(dn, "exclude")) for dn in excluded),
        )
        kind = profile(CROSS_PROFILE)
        validity_days = kind.validity_days_checked(days)
        issuer = self._cas.issuer(issuer_ca)
        with self._platform.unit_of_work(actor) as uow:
            issuer_row = self._ca_row(uow.session, issuer_ca)
            subject_certificate = parse_certificate(self._subject_certificate(uow.session, subject_ca))
            public_key = PublicKey(subject_certificate.public_key.dump())
            subject = certs.Subject(subject_certificate.subject, public_key)
            validity = certs.Validity.starting(utcnow(), validity_days)
            if validity.not_after > issuer_row.not_after:
                validity = certs.Validity(validity.not_before, issuer_row.not_after)
            serial = certs.new_serial()
            der = certs.issue(issuer, subject, kind, validity, serial, path_len, constraints)
            row = IssuedCertificate(
                serial=serial_hex(serial),
                ca_id=issuer_row.id,
                profile=kind.name,
                subject=name_to_text(subject.name),
                subject_dn=json.dumps(dict(subject.name.native), ensure_ascii=False, sort_keys=True),
                algorithm=public_key.algorithm.value,
                public_key_sha256=hashlib.sha256(public_key.spki_der).hexdigest(),
                certificate_der=der,
                not_before=validity.not_before,
                not_after=validity.not_after,
                status=CertificateStatus.VALID.value,
                created_by=actor.name,
                updated_by=actor.name,
            )
            uow.session.add(row)
            uow.session.flush()
            uow.record(
                "certificate",
                row.serial,
                "cross_certify",
                after={
                    "ca": issuer_ca,
                    "profile": kind.name,
                    "subject_ca": subject_ca,
                    "subject": row.subject,
                    "not_after": row.not_after,
                    "path_len": path_len,
                    "permitted": list(permitted),
                    "excluded": list(excluded),
                    "public_key_sha256": row.public_key_sha256,
                },
            )
            log.info("CA %s cross-certified %s (serial %s) by %s", issuer_ca, subject_ca, row.serial, actor.name)
            return CrossCertificate(row.serial, issuer_ca, row.subject, row.not_after, der)

    def cross_certificates(self) -> list[CrossCertificate]:
        with self._platform.db.reading() as session:
            rows = session.execute(
                select(IssuedCertificate, CertificateAuthority.name)
                .join(CertificateAuthority, CertificateAuthority.id == IssuedCertificate.ca_id)
                .where(IssuedCertificate.profile == CROSS_PROFILE)
                .order_by(IssuedCertificate.id)
            )
            return [CrossCertificate(r.serial, name, r.subject, r.not_after, r.certificate_der) for r, name in rows]

    # --- trust anchors ------------------------------------------------------------------------------------

    def import_anchor(self, name: str, data: bytes, actor: Actor, leaf: bool = False) -> AnchorInfo:
        """Trust an external CA certificate (self-signed or not) for path validation; with `leaf`, trust an
        end-entity certificate directly instead (it then validates itself, and nothing else)."""
        if not _ANCHOR_NAME.match(name):
            raise ValidationError("name", "must be 1-64 lower-case letters, digits, '.', '_' or '-'")
        ders = read_certificates(data)
        if len(ders) != 1:
            raise ValidationError("certificate", f"give exactly one certificate, this file holds {len(ders)}")
        der = ders[0]
        certificate = parse_certificate(der)
        kind = AnchorKind.LEAF if leaf else AnchorKind.CA
        if leaf:
            _check_trusted_leaf(certificate)
        else:
            _check_anchor(certificate)
        digest = hashlib.sha256(der).hexdigest()
        with self._platform.unit_of_work(actor) as uow:
            if uow.session.scalars(select(TrustAnchor).where(TrustAnchor.name == name)).one_or_none() is not None:
                raise AlreadyExists(f"a trust anchor named {name!r} exists already")
            same = uow.session.scalars(select(TrustAnchor).where(TrustAnchor.sha256 == digest)).one_or_none()
            if same is not None:
                raise AlreadyExists(f"this certificate is already trusted as anchor {same.name!r}")
            for ca in self._root_rows(uow.session):
                if ca.certificate_der == der:
                    raise AlreadyExists(f"this certificate is our root CA {ca.name!r}, an anchor already")
            row = TrustAnchor(
                name=name,
                subject=name_to_text(certificate.subject),
                certificate_der=der,
                sha256=digest,
                created_by=actor.name,
                updated_by=actor.name,
            )
            uow.session.add(row)
            uow.session.flush()
            not_after = certificate["tbs_certificate"]["validity"]["not_after"].native
            uow.record(
                "trust_anchor",
                name,
                "import",
                after={"subject": row.subject, "sha256": digest, "not_after": not_after, "kind": kind.value},
            )
            log.info("trust anchor %s (%s) imported (%s) by %s", name, kind.value, row.subject, actor.name)
            return AnchorInfo(name, row.subject, digest, not_after, der, "imported", kind)

    def remove_anchor(self, name: str, actor: Actor) -> AnchorInfo:
        """Stop trusting the imported anchor `name` (CA or directly trusted certificate); our root CAs stay."""
        with self._platform.unit_of_work(actor) as uow:
            row = uow.session.scalars(select(TrustAnchor).where(TrustAnchor.name == name)).one_or_none()
            if row is None:
                if find_ca(uow.session, name) is not None:
                    raise ValidationError("name", f"{name!r} is a CA of this deployment, not an imported anchor")
                raise NotFound(f"no imported trust anchor named {name!r}: see `certseal trust list`")
            info = _imported_info(row)
            uow.session.delete(row)
            uow.session.flush()
            uow.record(
                "trust_anchor",
                name,
                "remove",
                before={"subject": info.subject, "sha256": info.sha256, "kind": info.kind.value},
            )
            log.info("trust anchor %s (%s) removed by %s", name, info.kind.value, actor.name)
            return info

    def anchors(self) -> list[AnchorInfo]:
        """Our root CAs, then the imported anchors."""
        with self._platform.db.reading() as session:
            result = [
                AnchorInfo(
                    ca.name,
                    ca.subject,
                    hashlib.sha256(ca.certificate_der).hexdigest(),
                    ca.not_after,
                    ca.certificate_der,
                    "ca",
                )
                for ca in self._root_rows(session)
            ]
            result += [_imported_info(row) for row in session.scalars(select(TrustAnchor).order_by(TrustAnchor.id))]
            return result

    # --- validation ---------------------------------------------------------------------------------------

    def validate(
        self,
        leaf_der: bytes,
        extra_certs: Sequence[bytes] = (),
        at: datetime | None = None,
        anchors: Sequence[str] | None = None,
    ) -> PathResult:
        """Find a valid path from the leaf to a trust anchor (all of them, or only those named in `anchors`).

        A directly trusted certificate is an anchor only for itself: it ends the leaf's path when it is the leaf."""
        leaf = parse_certificate(leaf_der, "leaf")
        extra = [parse_certificate(der, "untrusted") for der in extra_certs]
        known = self.anchors()
        if anchors is not None:
            names = {a.name for a in known}
            missing = [n for n in anchors if n not in names]
            if missing:
                raise NotFound(f"no trust anchor named {', '.join(map(repr, missing))}: see `certseal trust list`")
            known = [a for a in known if a.name in set(anchors)]
        with self._platform.db.reading() as session:
            pool = [x509.Certificate.load(der) for der in session.scalars(select(CertificateAuthority.certificate_der))]
            pool += [
                x509.Certificate.load(der)
                for der in session.scalars(
                    select(IssuedCertificate.certificate_der).where(
                        IssuedCertificate.profile == CROSS_PROFILE,
                        IssuedCertificate.status == CertificateStatus.VALID.value,
                    )
                )
            ]
        trusted = [
            x509.Certificate.load(a.certificate_der)
            for a in known
            if a.kind is AnchorKind.CA or a.certificate_der == leaf_der
        ]
        return find_path(leaf, [*extra, *pool], trusted, at or datetime.now(UTC))

    # --- internals ----------------------------------------------------------------------------------------

    @staticmethod
    def _root_rows(session: Session) -> list[CertificateAuthority]:
        rows = session.scalars(
            select(CertificateAuthority)
            .where(CertificateAuthority.parent_id.is_(None))
            .order_by(CertificateAuthority.id)
        )
        return [r for r in rows if x509.Certificate.load(r.certificate_der).self_issued]

    @staticmethod
    def _ca_row(session: Session, name: str) -> CertificateAuthority:
        return ca_named(session, name)

    @staticmethod
    def _subject_certificate(session: Session, name: str) -> bytes:
        """The certificate of our CA `name`, or else of the imported trust anchor `name`."""
        ca = find_ca(session, name)
        if ca is not None:
            return ca.certificate_der
        anchor = session.scalars(select(TrustAnchor).where(TrustAnchor.name == name)).one_or_none()
        if anchor is not None:
            if anchor_kind(x509.Certificate.load(anchor.certificate_der)) is AnchorKind.LEAF:
                raise ValidationError(
                    "subject",
                    f"{name!r} is a directly trusted end-entity certificate, not a CA: it cannot be certified",
                )
            return anchor.certificate_der
        raise NotFound(f"no CA or trust anchor named {name!r}: see `certseal ca list` and `certseal trust list`")


def anchor_kind(certificate: x509.Certificate) -> AnchorKind:
    """CA when basicConstraints says cA, else a directly trusted end-entity certificate."""
    constraints = certificate.basic_constraints_value
    return AnchorKind.CA if constraints is not None and constraints["ca"].native else AnchorKind.LEAF


def _imported_info(row: TrustAnchor) -> AnchorInfo:
    certificate = x509.Certificate.load(row.certificate_der)
    not_after = certificate["tbs_certificate"]["validity"]["not_after"].native
    return AnchorInfo(
        row.name, row.subject, row.sha256, not_after, row.certificate_der, "imported", anchor_kind(certificate)
    )


def _check_trusted_leaf(certificate: x509.Certificate) -> None:
    """A directly trusted certificate must be an end-entity certificate able to sign, with a usable public key.

    Its validity period is not checked here: it may be trusted for signatures made while it was valid, and
    verification checks it at the signing time a proof of existence allows."""
    if anchor_kind(certificate) is AnchorKind.CA:
        raise ValidationError("certificate", "is a CA certificate: import it as a trust anchor, without --leaf")
    usage = certificate.key_usage_value
    if usage is not None and not {"digital_signature", "non_repudiation"} & set(usage.native):
        raise ValidationError(
            "certificate", "has neither the digitalSignature nor the nonRepudiation key usage: it signs nothing"
        )
    _check_public_key(certificate)
    if certificate.self_issued and certificate.authority_key_identifier in (None, certificate.key_identifier):
        _check_self_signature(certificate)


def _check_anchor(certificate: x509.Certificate) -> None:
    """A trust anchor must be a CA certificate, currently valid, and correctly self-signed if it is self-issued."""
    constraints = certificate.basic_constraints_value
    if constraints is None or not constraints["ca"].native:
        raise ValidationError(
            "certificate",
            "is not a CA certificate (basicConstraints cA is not set); to trust this end-entity certificate "
            "directly, import it as a leaf (--leaf)",
        )
    usage = certificate.key_usage_value
    if usage is not None and "key_cert_sign" not in usage.native:
        raise ValidationError("certificate", "is a CA certificate without the keyCertSign key usage")
    validity = certificate["tbs_certificate"]["validity"]
    now = datetime.now(UTC)
    if now > validity["not_after"].native:
        raise ValidationError("certificate", f"expired on {validity['not_after'].native:%Y-%m-%d}")
    if now < validity["not_before"].native:
        raise ValidationError("certificate", f"is not valid before {validity['not_before'].native:%Y-%m-%d}")
    _check_public_key(certificate)
    if certificate.self_issued and certificate.authority_key_identifier in (None, certificate.key_identifier):
        _check_self_signature(certificate)


def _check_public_key(certificate: x509.Certificate) -> PublicKey:
    try:
        return PublicKey(certificate.public_key.dump())
    except CryptoError as exc:
        raise ValidationError("certificate", f"its public key cannot be used here: {exc.message}") from None


def _check_self_signature(certificate: x509.Certificate) -> None:
    key = _check_public_key(certificate)
    try:
        scheme = scheme_of(certificate["signature_algorithm"])
        key.verify(certificate.signature, certificate["tbs_certificate"].dump(), scheme)
    except (CryptoError, ValueError) as exc:
        message = getattr(exc, "message", str(exc))
        raise ValidationError(
            "certificate", f"is self-issued but its self-signature does not verify: {message}"
        ) from None
