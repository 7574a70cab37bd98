"""SQLAlchemy models.  Every table carries created_by, created_at, updated_by, updated_at."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Tracked:
    """Who created and last changed a row, and when."""

    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CryptoKey(Tracked, Base):
    """A key known to the deployment.  Software-token keys carry their sealed PKCS#8; PKCS#11 keys do not."""

    __tablename__ = "crypto_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    label: Mapped[str] = mapped_column(String(128), unique=True)
    token: Mapped[str] = mapped_column(String(16))
    algorithm: Mapped[str] = mapped_column(String(16))
    public_key_der: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_private_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    kek_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class AuditEvent(Tracked, Base):
    """One change, chained to the previous event by an HMAC tag.  Append-only."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(128))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
    prev_tag: Mapped[str] = mapped_column(String(64))
    tag: Mapped[str] = mapped_column(String(64))


class AuditHead(Tracked, Base):
    """The chain's tail (one row): detects deleted last events and serialises appends (row lock)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(Integer)
    last_tag: Mapped[str] = mapped_column(String(64))
    tag: Mapped[str] = mapped_column(String(64))


class CertificateAuthority(Tracked, Base):
    """A CA of this deployment (root, intermediate) or an external one it only trusts or cross-certifies."""

    __tablename__ = "certificate_authorities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("certificate_authorities.id"), nullable=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    key_label: Mapped[str | None] = mapped_column(String(128), nullable=True)
    subject: Mapped[str] = mapped_column(Text)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    serial: Mapped[str] = mapped_column(String(64))
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="active")
    crl_number: Mapped[int] = mapped_column(Integer, default=0)
    last_full_crl_number: Mapped[int] = mapped_column(Integer, default=0)


class IssuedCertificate(Tracked, Base):
    """Every certificate a CA of this deployment signed: written in the transaction that signs it."""

    __tablename__ = "certificates"
    __table_args__ = (
        Index("ix_certificates_ca_status", "ca_id", "status"),
        Index("ix_certificates_not_after", "not_after"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    ca_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"))
    profile: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(Text)
    subject_dn: Mapped[str] = mapped_column(Text)
    san: Mapped[str | None] = mapped_column(Text, nullable=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_key_sha256: Mapped[str] = mapped_column(String(64))
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="valid")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    key_label: Mapped[str | None] = mapped_column(String(128), nullable=True)
    renewed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class IssuedCrl(Tracked, Base):
    __tablename__ = "crls"
    __table_args__ = (UniqueConstraint("ca_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ca_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"))
    number: Mapped[int] = mapped_column(Integer)
    delta_base: Mapped[int | None] = mapped_column(Integer, nullable=True)
    this_update: Mapped[datetime] = mapped_column(UTCDateTime())
    next_update: Mapped[datetime] = mapped_column(UTCDateTime())
    crl_der: Mapped[bytes] = mapped_column(LargeBinary)


class OcspResponse(Tracked, Base):
    """A pre-produced OCSP response for one certificate, served to requests without a nonce."""

    __tablename__ = "ocsp_responses"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    ca_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"))
    produced_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_update: Mapped[datetime] = mapped_column(UTCDateTime())
    response_der: Mapped[bytes] = mapped_column(LargeBinary)


class TimestampRecord(Tracked, Base):
    """One timestamp token issued: its serial number is unique."""

    __tablename__ = "timestamps"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    tsa: Mapped[str] = mapped_column(String(64))
    gen_time: Mapped[datetime] = mapped_column(UTCDateTime())
    message_imprint: Mapped[str] = mapped_column(String(160))


class TrustAnchor(Tracked, Base):
    """A certificate trusted for path validation: our roots, or imported external anchors."""

    __tablename__ = "trust_anchors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(Text)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)


class ApiKey(Tracked, Base):
    """A credential for integrations: only the SHA-256 of its secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(24), unique=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Seal(Tracked, Base):
    """An electronic seal: its certificate (key in a token), image, validity, status and who may use it."""

    __tablename__ = "seals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    seal_type: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    certificate_sha256: Mapped[str] = mapped_column(String(64))
    key_label: Mapped[str] = mapped_column(String(128))
    image_png: Mapped[bytes] = mapped_column(LargeBinary)
    image_sha256: Mapped[str] = mapped_column(String(64))
    width_mm: Mapped[float] = mapped_column(Float)
    height_mm: Mapped[float] = mapped_column(Float)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    users: Mapped[str] = mapped_column(Text)  # JSON array of actor names


def blind_index_column() -> Mapped[str | None]:
    """A column holding a blind index (64 hex characters, HMAC-SM3) for exact search over a sealed value."""
    return mapped_column(String(64), nullable=True, index=True)


class SealedFields:
    """Mixin for a table whose sensitive fields are sealed together in one envelope (certseal.crypto.envelope).

    The envelope's associated data is (table, str(id), "sealed"), so the table needs an `id` primary key and the
    row must be flushed before it is sealed.  Every mapped class with this mixin is a registered sealed table:
    certseal.services.access.sealed_tables() finds it and `certseal keys rotate-master` rewraps its rows.
    Pair each searchable field with a `blind_index_column()`.
    """

    sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    master_version: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class EnvelopeKey(Tracked, Base):
    """A master key (versioned) or the blind-index key, wrapped under the KEK; retired keys keep no material."""

    __tablename__ = "envelope_keys"
    __table_args__ = (UniqueConstraint("purpose", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    purpose: Mapped[str] = mapped_column(String(16))  # master | blind-index
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # current | active | retired
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    kek_id: Mapped[str] = mapped_column(String(32))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ProtectedValue(SealedFields, Tracked, Base):
    """A sensitive value of some owner record, sealed, with its blind index (for modules without a table of
    their own, and for tests)."""

    __tablename__ = "protected_values"
    __table_args__ = (UniqueConstraint("owner", "record_id", "field"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    blind_index: Mapped[str | None] = blind_index_column()


class User(SealedFields, Tracked, Base):
    """A person who logs in: argon2id password hash, role and data scope, lockout state; the TOTP secret (when
    enrolled) is sealed in `sealed`."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(80))  # "*", division:420100, uscc:91…, person:<blind index>
    status: Mapped[str] = mapped_column(String(16), default="active")
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)


class UserSession(Tracked, Base):
    """A login session: the cookie carries a random id; only its SHA-256 is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(128))
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# --- the e-license registry (certseal.services.licenses) -----------------------------------------------------------


class License(Tracked, Base):
    """One license record from draft to its end: the lifecycle status and what lists and searches need.

    Nothing sensitive is kept here in clear: the holder name is masked when the type encrypts it (a pharmacist's
    name), the holder code is clear only when it is a USCC (public) and is otherwise found by its blind index.
    The field values live in license_versions (version 0 = the draft / application).
    """

    __tablename__ = "licenses"
    __table_args__ = (
        UniqueConstraint("type_code", "number", name="uq_licenses_type_number"),
        Index("ix_licenses_type_status", "type_code", "status"),
        Index("ix_licenses_division_code", "division_code"),
        Index("ix_licenses_holder_uscc", "holder_uscc"),
        Index("ix_licenses_holder_index", "holder_index"),
        Index("ix_licenses_holder_name_index", "holder_name_index"),
        Index("ix_licenses_valid_until", "valid_until"),
        Index("ix_licenses_identifier", "identifier"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    type_code: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    division_code: Mapped[str] = mapped_column(String(6))
    holder_name: Mapped[str] = mapped_column(String(500))  # masked when the type encrypts the name
    holder_name_index: Mapped[str | None] = mapped_column(String(64), nullable=True)  # blind index ("text")
    holder_code_type: Mapped[str] = mapped_column(String(3))  # GB/T 36901: 001 USCC, 111 citizen ID
    holder_uscc: Mapped[str | None] = mapped_column(String(18), nullable=True)
    holder_code_display: Mapped[str | None] = mapped_column(String(64), nullable=True)  # USCC, or masked ID
    holder_index: Mapped[str | None] = mapped_column(String(64), nullable=True)  # blind index ("id-number")
    version: Mapped[int] = mapped_column(Integer, default=0)  # current version; 0 while a draft
    number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    identifier_serial: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    identifier: Mapped[str | None] = mapped_column(String(128), nullable=True)  # the current version's
    issued_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    row_version: Mapped[int] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": row_version}  # noqa: RUF012 - SQLAlchemy's optimistic locking


class LicenseVersion(SealedFields, Tracked, Base):
    """The field values of one version (0 = draft/application): `data` is JSON with every encrypted field left
    out; those values are sealed together in `sealed`.  Issued versions are never changed, except `current`."""

    __tablename__ = "license_versions"
    __table_args__ = (UniqueConstraint("license_id", "version", name="uq_license_versions_license_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    license_id: Mapped[str] = mapped_column(ForeignKey("licenses.id"))
    version: Mapped[int] = mapped_column(Integer)
    identifier: Mapped[str | None] = mapped_column(String(128), nullable=True, unique=True)
    action: Mapped[str] = mapped_column(String(16))  # draft | issue | change | renew | import
    current: Mapped[bool] = mapped_column(Boolean, default=False)
    number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    issued_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    data: Mapped[str] = mapped_column(Text)
    changed_fields: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON array of field keys
    qr_text: Mapped[str | None] = mapped_column(Text, nullable=True)  # as printed on the faces


class LicenseFile(SealedFields, Tracked, Base):
    """A sealed file of a version.  `content` is NULL and the bytes are sealed (base64 in `sealed`) when the
    type prints an encrypted value on its faces or in its metadata (a pharmacist's ID number)."""

    __tablename__ = "license_files"
    __table_args__ = (
        UniqueConstraint("license_id", "version", "copy", "format", name="uq_license_files_version_copy_format"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    license_id: Mapped[str] = mapped_column(ForeignKey("licenses.id"))
    version: Mapped[int] = mapped_column(Integer)
    copy: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(8))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    seal: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class LicenseSequence(Tracked, Base):
    """The last serial used per (license type, numbering scope): the database SequenceStore."""

    __tablename__ = "license_sequences"

    type_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)


class LicenseEvent(Tracked, Base):
    """One lifecycle action on a license (the history tables; the audit trail has the chained record)."""

    __tablename__ = "license_events"
    __table_args__ = (Index("ix_license_events_license_id", "license_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    license_id: Mapped[str] = mapped_column(ForeignKey("licenses.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    ground: Mapped[str | None] = mapped_column(String(64), nullable=True)
    changed_fields: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON array of field keys
