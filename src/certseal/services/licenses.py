"""The e-license registry: drafts, lifecycle actions, versions, issued files, search, the public record.

INTERFACE FIRST: the dataclasses and method signatures below are the contract that the REST API, the CLI, the
portals and the demo code are written against.  Bodies marked `NotImplementedError` are filled in by the storage
work (migration 0006, certseal.store.models License*); keep the signatures.

Every method that acts for somebody takes the `Principal` (certseal.services.access): it checks the permission,
then the data scope of the record (`Principal.require_scope(LicenseScope(...))`), then the lifecycle role
(`lifecycle.apply(..., TransitionContext(actor_role=role_token(...)))`).  Writes happen in one unit of work with
their audit record.  Sensitive fields (the type's ``sensitivity: sensitive`` fields: phone, legal representative's
ID, pharmacist ID …) never reach the database in clear: each version's field values are stored with the sensitive
ones sealed (certseal.services.access.SensitiveData, SM4-GCM by default), the holder's code (USCC or ID number)
also as a blind index for exact search.  Views are built by certseal.licenses.public for the audience: PUBLIC
(anyone), OWNER (the enterprise user or pharmacist the license belongs to), OFFICER (clear values: needs
license:view-sensitive and `reveal=True`; each reveal is audited).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from certseal.licenses.lifecycle import Action
from certseal.licenses.render.layout import Copy
from certseal.licenses.schema import LicenseType
from certseal.services.access import Principal
from certseal.services.platform import Platform


class FileFormat(StrEnum):
    PDF = "pdf"
    OFD = "ofd"


MEDIA_TYPES: dict[FileFormat, str] = {FileFormat.PDF: "application/pdf", FileFormat.OFD: "application/ofd"}


@dataclass(frozen=True)
class LicenseFileInfo:
    """One sealed file of a version: 正本 (original) or 副本 (duplicate), PDF or OFD."""

    copy: Copy
    format: FileFormat
    size: int
    sha256: str
    seal: str  # the name of the seal that sealed it


@dataclass(frozen=True)
class VersionInfo:
    version: int
    identifier: str  # GB/T 36904 e-license identifier of this version (its last group is the version)
    action: str  # issue | change | renew | import: what made this version
    current: bool  # False once superseded by a later version
    number: str
    issued_on: date | None
    valid_from: date | None
    valid_until: date | None
    created_at: datetime
    created_by: str
    files: tuple[LicenseFileInfo, ...] = ()
    changed_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class HistoryEntry:
    """One lifecycle action, for the history tables (officer console, enterprise portal, public change list)."""

    at: datetime
    action: str
    from_status: str | None
    to_status: str
    actor: str  # user name; on the public page replaced by the issuer's name
    version: int
    reason: str | None = None
    changed_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class LicenseInfo:
    """A list/search row: no sensitive value in clear (holder_code masked unless the view is an officer's reveal)."""

    id: str  # opaque record id (drafts have no number or identifier yet)
    type_code: str
    type_name: str
    status: str  # lifecycle.Status value
    version: int  # current version (0 while a draft)
    number: str | None
    identifier: str | None  # the current version's GB/T 36904 identifier
    holder_name: str
    holder_code: str  # USCC clear; a pharmacist's ID number masked
    division_code: str  # the data scope of the record (GB/T 2260 code)
    issued_on: date | None
    valid_from: date | None
    valid_until: date | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class LicenseDetail:
    info: LicenseInfo
    audience: str  # public.Audience value of `fields`
    fields: dict[str, Any]  # the current data as that audience sees it (JSON-ready)
    versions: tuple[VersionInfo, ...]
    history: tuple[HistoryEntry, ...]
    actions: tuple[str, ...]  # lifecycle actions available from the status (guards not evaluated)
    warnings: tuple[str, ...] = ()  # validation warnings for officers


@dataclass(frozen=True)
class VersionDetail:
    info: VersionInfo
    audience: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class TransitionRequest:
    """Inputs of a lifecycle action; which ones an action needs is in certseal.licenses.lifecycle."""

    reason: str | None = None
    ground: str | None = None
    confirmed: frozenset[str] = frozenset()
    data: Mapping[str, Any] | None = None  # edit / change / renew: the complete new data
    applied_on: date | None = None
    number: str | None = None  # issue of an externally numbered type (pharmacist), import
    valid_from: date | None = None  # import
    valid_until: date | None = None  # import
    today: date | None = None  # tests and the CLI's --today only; the API never sets it


@dataclass(frozen=True)
class LicenseQuery:
    type_code: str | None = None
    status: str | None = None
    number: str | None = None  # exact
    holder_name: str | None = None  # substring
    holder_code: str | None = None  # exact USCC or ID number (searched by blind index)
    division_code: str | None = None  # prefix within the caller's scope
    offset: int = 0
    limit: int = 50  # at most 500


@dataclass(frozen=True)
class SearchPage:
    total: int
    items: tuple[LicenseInfo, ...]


@dataclass(frozen=True)
class StoredFile:
    name: str  # e.g. 鄂20260001-v2-original.pdf
    media_type: str
    content: bytes


@dataclass(frozen=True)
class SealVerdict:
    """The seal check of the current version's files, for the public page (cached per file digest)."""

    indication: str  # PASSED | FAILED | INDETERMINATE (EU DSS), worst over the files checked
    summary: str  # plain words, e.g. "电子印章有效 — 湖北省药品监督管理局电子证照专用章"
    signer: str | None = None
    signed_at: datetime | None = None


@dataclass(frozen=True)
class PublicRecord:
    """What /v/<identifier> shows: always the CURRENT data of the license the scanned identifier belongs to."""

    identifier: str  # current version's identifier
    scanned_identifier: str
    scanned_version: int
    current_version: int
    type_code: str
    type_name: str
    status: str
    status_text: str  # plain words: 有效 / 已暂停 / 已撤销 / 已注销 / 已过期 (+ English)
    number: str
    holder_name: str
    valid_from: date | None
    valid_until: date | None
    issuer: str
    fields: dict[str, Any]  # public view: sensitive fields masked, private omitted
    changes: tuple[HistoryEntry, ...]  # change history (2025 rules); actors replaced by the issuer
    seal: SealVerdict | None
    qr_jws: str  # a freshly signed compact JWS of the current state, for the page's offline check
    public_digest: str  # hex SHA-256 of the canonical public view (what the JWS vouches for)


@dataclass(frozen=True)
class IssuedLicense:
    """Returned by `issue_now`: the detail plus the QR text printed on the faces."""

    detail: LicenseDetail
    qr_text: str
    files: tuple[LicenseFileInfo, ...] = field(default_factory=tuple)


class LicenseService:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    # --- types -------------------------------------------------------------------------------------------------

    def types(self) -> list[LicenseType]:
        """The registry: built-ins plus settings.license_types_dir."""
        raise NotImplementedError

    def type(self, code: str) -> LicenseType:
        """NotFound naming the known codes."""
        raise NotImplementedError

    # --- writing -----------------------------------------------------------------------------------------------

    def create(
        self, principal: Principal, type_code: str, data: Mapping[str, Any], division_code: str | None = None
    ) -> LicenseDetail:
        """A draft (validated at Stage.DRAFT).  division_code defaults to the caller's division scope, else the
        setting license_division."""
        raise NotImplementedError

    def transition(
        self, principal: Principal, license_id: str, action: Action, request: TransitionRequest
    ) -> LicenseDetail:
        """One lifecycle action (edit, submit, withdraw, return, reject, approve, issue, change, renew, suspend,
        resume, revoke, cancel, expire).  issue/change/renew render 正本 and 副本 to PDF and OFD, seal them
        (settings license_pdf_seal / license_ofd_seal) and store them with the new version; change/renew mark the
        previous version superseded.  Illegal → IllegalTransition (422) naming the rule; role → Forbidden."""
        raise NotImplementedError

    def issue_now(
        self,
        principal: Principal,
        type_code: str,
        data: Mapping[str, Any],
        division_code: str | None = None,
        request: TransitionRequest | None = None,
    ) -> IssuedLicense:
        """create → submit → approve → issue in one call (CLI `license issue`, demo data); every step audited.
        `request.confirmed` defaults to every confirmation the type lists for approve."""
        raise NotImplementedError

    # --- reading -----------------------------------------------------------------------------------------------

    def get(self, principal: Principal, license_id: str, reveal: bool = False) -> LicenseDetail:
        """The license as the caller may see it (OWNER for the holder, OFFICER with reveal=True — audited)."""
        raise NotImplementedError

    def find(self, principal: Principal, key: str) -> LicenseDetail:
        """By record id, identifier (any version) or license number."""
        raise NotImplementedError

    def version(self, principal: Principal, license_id: str, version: int, reveal: bool = False) -> VersionDetail:
        raise NotImplementedError

    def search(self, principal: Principal, query: LicenseQuery) -> SearchPage:
        """Only records inside the caller's scope; holder_code searched by blind index."""
        raise NotImplementedError

    def file(
        self,
        principal: Principal,
        license_id: str,
        copy: Copy = "original",
        file_format: FileFormat = FileFormat.PDF,
        version: int | None = None,
    ) -> StoredFile:
        raise NotImplementedError

    # --- public (no principal) -----------------------------------------------------------------------------------

    def public_record(self, identifier: str) -> PublicRecord:
        """For /v/<identifier>: NotFound for an unknown or never-issued license; ValidationError for a malformed
        identifier (bad check character)."""
        raise NotImplementedError

    def public_file(
        self, identifier: str, copy: Copy = "original", file_format: FileFormat = FileFormat.PDF
    ) -> StoredFile:
        """The current version's sealed file, as the public page offers it for download."""
        raise NotImplementedError

    def qr_text(self, license_id_or_identifier: str) -> str:
        """The QR text of the current version: <base_url>/v/<identifier>#<fresh JWS>."""
        raise NotImplementedError

    # --- jobs --------------------------------------------------------------------------------------------------

    def expire_due(self, today: date | None = None) -> int:
        """Expire every issued/suspended license past its validity (system actor); returns how many."""
        raise NotImplementedError
