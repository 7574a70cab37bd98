"""The verification report: one verdict per signature in the EU DSS vocabulary, with the evidence behind it.

Every signature gets an indication (PASSED / FAILED / INDETERMINATE), a sub-indication naming the first reason it is
not PASSED, a sentence for people, and the details the verdict rests on: integrity, signer, chain, revocation (at
signing time and now), timestamp, the signing time used and, for PDF, the changes made after signing.

`to_dict()` / `to_json()` give stable keys (every key always present, null when it does not apply) and ISO 8601
UTC times, so clients can rely on the shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from certseal.pki.path import Indication, SubIndication

__all__ = [
    "ChainDetail",
    "FileKind",
    "Indication",
    "Integrity",
    "ModificationDetail",
    "ModificationKind",
    "ObjectChange",
    "RevocationDetail",
    "RevocationSource",
    "RevocationStatus",
    "SignatureReport",
    "SignerDetail",
    "SigningTime",
    "SigningTimeSource",
    "SubIndication",
    "TimestampDetail",
    "VerificationReport",
    "iso",
]


class FileKind(StrEnum):
    PDF = "pdf"
    CMS = "cms"
    OFD = "ofd"


class RevocationStatus(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


class RevocationSource(StrEnum):
    EMBEDDED_OCSP = "embedded OCSP"
    EMBEDDED_CRL = "embedded CRL"
    OUR_RESPONDER = "our responder"
    NONE = "none"


class SigningTimeSource(StrEnum):
    TIMESTAMP = "timestamp"  # genTime of a valid signature timestamp: a proof of existence
    CLAIMED = "claimed"  # what the signer wrote (signingTime attribute, PDF /M): no proof
    VALIDATION_TIME = "validation time"  # neither: the time of this validation


class ModificationKind(StrEnum):
    NONE = "none"
    PERMITTED = "permitted"  # later signatures, DSS, their widgets and form fields, /Info and metadata
    CONTENT_CHANGED = "content changed"


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, whole seconds."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Integrity:
    """Whether the signed data and the signature value are intact (None: could not be checked)."""

    digest_matches: bool | None
    signature_valid: bool | None
    signing_certificate_matches: bool | None = None  # the signed signing-certificate(-v2) reference
    byte_range_valid: bool | None = None  # PDF: /ByteRange starts at 0 and leaves out exactly /Contents
    covers_revision: bool | None = None  # PDF: the signed ranges end where the signature's revision ends
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "digest_matches": self.digest_matches,
            "signature_valid": self.signature_valid,
            "signing_certificate_matches": self.signing_certificate_matches,
            "byte_range_valid": self.byte_range_valid,
            "covers_revision": self.covers_revision,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class SignerDetail:
    subject: str
    issuer: str
    serial: str  # upper-case hex
    algorithm: str  # signature algorithm, e.g. rsa-pkcs1-sha256, ecdsa-sha256, sm2-sm3
    certificate_sha256: str
    not_before: datetime
    not_after: datetime

    def to_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "algorithm": self.algorithm,
            "certificate_sha256": self.certificate_sha256,
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
        }


@dataclass(frozen=True)
class ChainDetail:
    indication: Indication
    sub_indication: SubIndication | None
    message: str
    subjects: tuple[str, ...] = ()  # leaf first, anchor last; empty unless a valid path was found
    anchor: str | None = None
    validated_at: datetime | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "indication": self.indication.value,
            "sub_indication": self.sub_indication.value if self.sub_indication else None,
            "message": self.message,
            "subjects": list(self.subjects),
            "anchor": self.anchor,
            "validated_at": iso(self.validated_at),
        }


@dataclass(frozen=True)
class RevocationDetail:
    """Revocation status of the signing certificate at the signing time and now, and where it was learnt."""

    status_at_signing: RevocationStatus
    status_now: RevocationStatus
    source: RevocationSource
    revoked_at: datetime | None = None
    reason: str | None = None  # RFC 5280 CRLReason as asn1crypto names it, e.g. key_compromise
    produced_at: datetime | None = None  # of the OCSP response / thisUpdate of the CRL used
    sources_consulted: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "status_at_signing": self.status_at_signing.value,
            "status_now": self.status_now.value,
            "source": self.source.value,
            "revoked_at": iso(self.revoked_at),
            "reason": self.reason,
            "produced_at": iso(self.produced_at),
            "sources_consulted": list(self.sources_consulted),
            "problems": list(self.problems),
        }


NO_REVOCATION = RevocationDetail(RevocationStatus.UNKNOWN, RevocationStatus.UNKNOWN, RevocationSource.NONE)


@dataclass(frozen=True)
class TimestampDetail:
    present: bool
    gen_time: datetime | None = None
    tsa_subject: str | None = None
    valid: bool | None = None  # token signature, TSA certificate and its chain at genTime
    imprint_matches: bool | None = None  # the token's messageImprint is the hash of the signature value
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "present": self.present,
            "gen_time": iso(self.gen_time),
            "tsa_subject": self.tsa_subject,
            "valid": self.valid,
            "imprint_matches": self.imprint_matches,
            "problems": list(self.problems),
        }


NO_TIMESTAMP = TimestampDetail(present=False)


@dataclass(frozen=True)
class SigningTime:
    time: datetime
    source: SigningTimeSource

    @property
    def claimed(self) -> bool:
        return self.source is not SigningTimeSource.TIMESTAMP

    def to_dict(self) -> dict[str, object]:
        return {"time": iso(self.time), "source": self.source.value, "claimed": self.claimed}


@dataclass(frozen=True)
class ObjectChange:
    """One object written after the signed revision."""

    number: int
    generation: int
    type: str  # /Type of a dictionary or stream, or a short description (e.g. "content stream", "array")
    change: str  # "added" or "changed"
    permitted: bool
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "object": f"{self.number} {self.generation}",
            "type": self.type,
            "change": self.change,
            "permitted": self.permitted,
            "note": self.note,
        }


@dataclass(frozen=True)
class ModificationDetail:
    kind: ModificationKind
    revisions_after: int = 0
    changes: tuple[ObjectChange, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "revisions_after": self.revisions_after,
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass(frozen=True)
class SignatureReport:
    id: str  # PDF field name, "signer-N" for CMS, the OFD signature id
    format: str  # CMS, CAdES-B-B, CAdES-B-T, PAdES-B-B, PAdES-B-T, PAdES-B-LT, PDF-SM2, PDF-PKCS7, OFD-SES …
    indication: Indication
    sub_indication: SubIndication | None
    reason: str
    integrity: Integrity
    signer: SignerDetail | None = None
    chain: ChainDetail | None = None
    revocation: RevocationDetail = NO_REVOCATION
    timestamp: TimestampDetail = NO_TIMESTAMP
    signing_time: SigningTime | None = None
    modifications: ModificationDetail | None = None  # PDF only
    level: str | None = None  # B-B, B-T, B-LT reached (CAdES/PAdES), None for plain CMS
    warnings: tuple[str, ...] = ()
    location: dict[str, object] = field(default_factory=dict)  # PDF: page, rect, revision, sub_filter

    @property
    def passed(self) -> bool:
        return self.indication is Indication.PASSED

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "format": self.format,
            "level": self.level,
            "indication": self.indication.value,
            "sub_indication": self.sub_indication.value if self.sub_indication else None,
            "reason": self.reason,
            "integrity": self.integrity.to_dict(),
            "signer": self.signer.to_dict() if self.signer else None,
            "chain": self.chain.to_dict() if self.chain else None,
            "revocation": self.revocation.to_dict(),
            "timestamp": self.timestamp.to_dict(),
            "signing_time": self.signing_time.to_dict() if self.signing_time else None,
            "modifications": self.modifications.to_dict() if self.modifications else None,
            "warnings": list(self.warnings),
            "location": dict(self.location),
        }


@dataclass(frozen=True)
class VerificationReport:
    kind: FileKind
    filename: str | None
    validation_time: datetime
    signatures: tuple[SignatureReport, ...]
    problems: tuple[str, ...] = ()  # about the file as a whole

    @property
    def indication(self) -> Indication:
        """PASSED only when there is at least one signature and every one PASSED; else the worst of them."""
        if not self.signatures:
            return Indication.FAILED
        found = {s.indication for s in self.signatures}
        for worst in (Indication.FAILED, Indication.INDETERMINATE):
            if worst in found:
                return worst
        return Indication.PASSED

    @property
    def passed(self) -> bool:
        return self.indication is Indication.PASSED

    @property
    def summary(self) -> str:
        if not self.signatures:
            return "the file holds no signature"
        passed = sum(1 for s in self.signatures if s.passed)
        return f"{passed} of {len(self.signatures)} signature(s) PASSED"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "filename": self.filename,
            "validation_time": iso(self.validation_time),
            "indication": self.indication.value,
            "summary": self.summary,
            "signature_count": len(self.signatures),
            "signatures": [s.to_dict() for s in self.signatures],
            "problems": list(self.problems),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)
