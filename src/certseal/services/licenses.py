"""The e-license registry: drafts, lifecycle actions, versions, issued files, search, the public record.

The dataclasses and method signatures below are the contract that the REST API, the CLI, the portals and the demo
code are written against.

Every method that acts for somebody takes the `Principal` (certseal.services.access): it checks the permission,
then the data scope of the record (`Principal.require_scope(LicenseScope(...))`), then the lifecycle role
(`lifecycle.apply(..., TransitionContext(actor_role=role_token(...)))`).  Writes happen in one unit of work with
their audit record, which names fields but never the values of sensitive ones.

Storage (migration 0006, certseal.store.models License*).  `licenses` holds the status and what lists and searches
need; `license_versions` the field values of each version, version 0 being the draft / application.  A version's
`data` is JSON with every encrypted field (the type's ``encrypted_fields``, nested list paths included) left out;
those values are sealed together in the row's `sealed` envelope (SensitiveData, SM4-GCM by default), keyed by
their concrete path (``contact_phone``, ``sites[1].phone``).  The holder code (USCC or ID number) is also kept as a
blind index (kind "id-number") for exact search and data scope; a USCC is public and kept clear, an ID number only
masked.  A holder name the type encrypts (a pharmacist's) is kept masked, plus a blind index (kind "text").
Sealed files (`license_files`) are kept clear unless the type prints an encrypted value on a face or in the core
metadata (a pharmacist's name and ID number): then their bytes are sealed too and they are not offered for public
download.  Encrypted fields that no face prints are not even handed to the renderer.

Numbers come from the type's pattern with a database sequence (`DatabaseSequenceStore`: one row per (type,
scope), incremented by UPDATE … RETURNING under the row lock), are reserved for the license in their own short
transaction before rendering (so a failed rendering keeps the number for the retry rather than burning it), and are
unique per type (a unique constraint).  Identifiers follow GB/T 36904 with the issuer code of the settings, a serial
``<year><6 digits>`` from the same sequence table (type "~identifier"), and the type's ``identifier.type_code`` or,
when the type leaves it null, the issuer's USCC + a 3-digit type number (`DEFAULT_TYPE_NUMBERS`; for other types
100-999 from the SHA-256 of the code).

Issue, change and renew render and seal outside any write transaction (the documents service writes its own
records): read and check → reserve the number → render, sign the QR payload, seal → write the version if the
license's row version is still the one checked (else AlreadyExists → 409, nothing written).

Views are built by certseal.licenses.public for the audience: OWNER for everybody in scope (sensitive values
masked, private ones clear), OFFICER with `reveal=True` (clear values: needs license:view-sensitive; each reveal
is audited as action "reveal" naming the fields), PUBLIC for the public record.  A masked value sent back unchanged
in an edit, change or renewal keeps the stored clear value.
"""

from __future__ import annotations

import base64
import copy as copying
import hashlib
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import ColumnElement, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.signer import Signer
from certseal.errors import AlreadyExists, Forbidden, NotFound, ValidationError
from certseal.licenses import lifecycle, qr
from certseal.licenses.identifiers import (
    ELICENSE_ROOT,
    HolderCodeType,
    build_identifier,
    check_division_code,
    parse_identifier,
)
from certseal.licenses.lifecycle import Action, LicenseState, Status, Transition, TransitionContext
from certseal.licenses.masking import mask
from certseal.licenses.numbering import LicenseNumber, allocate_number, import_number, observe_imported
from certseal.licenses.public import Audience, public_digest, public_view, view_fields
from certseal.licenses.qr import QrPayload, sign_payload
from certseal.licenses.render.layout import EXTRA_FACE_FIELDS, Copy, format_value
from certseal.licenses.schema import (
    CleanLicenseData,
    FieldSpec,
    LayoutItem,
    LicenseType,
    LicenseTypeRegistry,
    Stage,
    load_registry,
)
from certseal.services.access import LicensePermission, LicenseScope, Principal, ScopeKind, SensitiveData
from certseal.services.audit import Actor
from certseal.services.platform import Platform, UnitOfWork
from certseal.store.models import License, LicenseEvent, LicenseFile, LicenseSequence, LicenseVersion, utcnow

if TYPE_CHECKING:
    from certseal.services.license_documents import ProducedFile


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


# --- rules of the registry -------------------------------------------------------------------------------------

ACTION_PERMISSIONS: dict[Action, LicensePermission] = {
    Action.EDIT: LicensePermission.WRITE,
    Action.SUBMIT: LicensePermission.WRITE,
    Action.WITHDRAW: LicensePermission.WRITE,
    Action.RETURN: LicensePermission.APPROVE,
    Action.REJECT: LicensePermission.APPROVE,
    Action.APPROVE: LicensePermission.APPROVE,
    Action.ISSUE: LicensePermission.ISSUE,
    Action.CHANGE: LicensePermission.ISSUE,
    Action.RENEW: LicensePermission.ISSUE,
    Action.SUSPEND: LicensePermission.REVOKE,
    Action.RESUME: LicensePermission.REVOKE,
    Action.REVOKE: LicensePermission.REVOKE,
    Action.CANCEL: LicensePermission.REVOKE,
    Action.EXPIRE: LicensePermission.REVOKE,
}
NEW_VERSION_ACTIONS = frozenset({Action.ISSUE, Action.CHANGE, Action.RENEW})
PUBLIC_ACTIONS = frozenset(
    a.value
    for a in (
        Action.ISSUE,
        Action.IMPORT,
        Action.CHANGE,
        Action.RENEW,
        Action.SUSPEND,
        Action.RESUME,
        Action.REVOKE,
        Action.CANCEL,
        Action.EXPIRE,
    )
)
STATUS_TEXT: dict[Status, str] = {
    Status.DRAFT: "草稿 (draft)",
    Status.SUBMITTED: "已提交，待审查 (submitted)",
    Status.APPROVED: "已批准，待发证 (approved, not yet issued)",
    Status.REJECTED: "不予许可 (rejected)",
    Status.WITHDRAWN: "申请已撤回 (withdrawn)",
    Status.ISSUED: "有效 (valid)",
    Status.SUSPENDED: "已暂停 (suspended)",
    Status.REVOKED: "已撤销 (revoked)",
    Status.CANCELLED: "已注销 (cancelled)",
    Status.EXPIRED: "已过期 (expired)",
}
# GB/T 36904 type numbers under the issuer's USCC for types whose JSON names no national type code.
DEFAULT_TYPE_NUMBERS: dict[str, int] = {
    "drug-production": 1,
    "drug-distribution": 2,
    "medical-device-production": 3,
    "pharmacist-registration": 4,
}
IDENTIFIER_SEQUENCE = "~identifier"
ISSUING_AUTHORITY_LABEL = "发证机关"
PENDING_NUMBER = "PENDING"
MAX_PAGE = 500
PUBLIC_CACHE_SECONDS = 60.0
PUBLIC_CACHE_SIZE = 2048
SYSTEM = Actor("system", "license-jobs")
_CONCRETE_INDEX = re.compile(r"\[\d+\]")
_PATH_STEP = re.compile(r"^([a-z][a-z0-9_]*)(?:\[(\d+)\])?$")


def identifier_type_code(license_type: LicenseType, issuer_code: str) -> str:
    """The GB/T 36904 type code: the type's own, else the issuer's USCC + the default 3-digit type number."""
    own = license_type.document.identifier.type_code
    if own:
        return own
    number = DEFAULT_TYPE_NUMBERS.get(license_type.code)
    if number is None:
        number = 100 + int.from_bytes(hashlib.sha256(license_type.code.encode()).digest()[:4], "big") % 900
    return f"{issuer_code}{number:03d}"


def status_text(status: str, valid_until: date | None, today: date | None = None) -> str:
    """Plain words (Chinese and English) for a status; an issued license past its validity reads as expired."""
    parsed = Status(status)
    if parsed is Status.ISSUED and valid_until is not None and (today or date.today()) > valid_until:
        return STATUS_TEXT[Status.EXPIRED]
    return STATUS_TEXT[parsed]


# --- sensitive values: split off, merge back -----------------------------------------------------------------


def split_fields(
    fields: Sequence[FieldSpec], values: Mapping[str, Any], drop: Callable[[str], bool]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(values without the fields whose path ``a[].b`` `drop` selects, {concrete path ``a[1].b``: value} of those)."""
    return _split(fields, values, drop, "", "")


def _split(
    fields: Sequence[FieldSpec], values: Mapping[str, Any], drop: Callable[[str], bool], spec_at: str, concrete_at: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    specs = {spec.key: spec for spec in fields}
    kept: dict[str, Any] = {}
    taken: dict[str, Any] = {}
    for key, value in values.items():
        spec_path, concrete = spec_at + key, concrete_at + key
        if drop(spec_path):
            if value is not None:
                taken[concrete] = value
            continue
        spec = specs.get(key)
        if spec is not None and spec.items and isinstance(value, list):
            items: list[Any] = []
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    inner, found = _split(spec.items, item, drop, f"{spec_path}[].", f"{concrete}[{i}].")
                    items.append(inner)
                    taken.update(found)
                else:
                    items.append(item)
            kept[key] = items
        else:
            kept[key] = value
    return kept, taken


def merge_fields(values: Mapping[str, Any], taken: Mapping[str, Any]) -> dict[str, Any]:
    """Put values split off by `split_fields` back at their concrete paths."""
    merged = copying.deepcopy(dict(values))
    for path, value in taken.items():
        container, key = locate(merged, path)
        if container is not None:
            container[key] = value
    return merged


def locate(values: Any, path: str) -> tuple[dict[str, Any] | None, str]:
    """The dict holding the last step of a concrete path (``a[1].b`` → (values["a"][1], "b")), or (None, "")."""
    steps = path.split(".")
    at = values
    for step in steps[:-1]:
        found = _PATH_STEP.match(step)
        if found is None or not isinstance(at, dict):
            return None, ""
        at = at.get(found.group(1))
        if found.group(2) is not None:
            index = int(found.group(2))
            if not isinstance(at, list) or index >= len(at):
                return None, ""
            at = at[index]
    return (at, steps[-1]) if isinstance(at, dict) else (None, "")


def spec_path(concrete: str) -> str:
    return _CONCRETE_INDEX.sub("[]", concrete)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def face_paths(license_type: LicenseType) -> set[str]:
    """Field paths printed on some face or in the core metadata (holder name and code)."""
    document = license_type.document
    paths = {document.holder.name_field, document.holder.code_field}
    for face in document.layouts.values():
        for item in face.items:
            _layout_paths(license_type, item, "", paths)
    for (code, _), keys in EXTRA_FACE_FIELDS.items():
        if code == license_type.code:
            paths.update(keys)
    return paths


def _layout_paths(license_type: LicenseType, item: LayoutItem | str, prefix: str, paths: set[str]) -> None:
    key = item if isinstance(item, str) else item.field
    if key is None:
        return
    path = prefix + key
    paths.add(path)
    columns = None if isinstance(item, str) else item.columns
    if columns is not None:
        for column in columns:
            _layout_paths(license_type, column, f"{path}[].", paths)
        return
    try:
        spec = license_type.field(path)
    except NotFound:
        return
    for nested in spec.items or ():
        _layout_paths(license_type, nested.key, f"{path}[].", paths)


def files_carry_secrets(license_type: LicenseType) -> bool:
    """True if the rendered files of this type show an encrypted value (so they are sealed at rest)."""
    printed = face_paths(license_type)
    return any(path in printed for path in license_type.encrypted_fields)


# --- the database sequence store -------------------------------------------------------------------------------


class DatabaseSequenceStore:
    """numbering.SequenceStore over license_sequences, inside the caller's transaction.  The UPDATE … RETURNING
    holds the row lock until commit, so concurrent allocations queue (PostgreSQL) or hold the write lock (SQLite)."""

    def __init__(self, session: Session, actor: str) -> None:
        self._session = session
        self._actor = actor

    def next_value(self, type_code: str, scope: str) -> int:
        self._ensure(type_code, scope)
        statement = (
            update(LicenseSequence)
            .where(LicenseSequence.type_code == type_code, LicenseSequence.scope == scope)
            .values(last_value=LicenseSequence.last_value + 1, updated_by=self._actor, updated_at=utcnow())
            .returning(LicenseSequence.last_value)
            .execution_options(synchronize_session=False)
        )
        return int(self._session.execute(statement).scalar_one())

    def raise_to(self, type_code: str, scope: str, value: int) -> None:
        self._ensure(type_code, scope)
        statement = (
            update(LicenseSequence)
            .where(
                LicenseSequence.type_code == type_code,
                LicenseSequence.scope == scope,
                LicenseSequence.last_value < value,
            )
            .values(last_value=value, updated_by=self._actor, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        self._session.execute(statement)

    def last(self, type_code: str, scope: str) -> int:
        query = select(LicenseSequence.last_value).where(
            LicenseSequence.type_code == type_code, LicenseSequence.scope == scope
        )
        return int(self._session.scalar(query) or 0)

    def _ensure(self, type_code: str, scope: str) -> None:
        query = select(LicenseSequence.type_code).where(
            LicenseSequence.type_code == type_code, LicenseSequence.scope == scope
        )
        if self._session.execute(query).first() is not None:
            return
        now = utcnow()
        try:
            with self._session.begin_nested():  # two first allocations of a scope may race
                self._session.execute(
                    insert(LicenseSequence).values(
                        type_code=type_code,
                        scope=scope,
                        last_value=0,
                        created_by=self._actor,
                        created_at=now,
                        updated_by=self._actor,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            pass


# --- small internal records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Holder:
    name: str  # as stored: masked when the type encrypts the name
    name_index: str | None
    code_type: str
    uscc: str | None
    display: str | None  # USCC, or the masked ID number
    index: str | None


@dataclass(frozen=True)
class _VersionValues:
    """A version's action, changed fields, date and clear values, for the change history printed on the faces."""

    action: str
    changed: tuple[str, ...]
    issued_on: date | None
    values: dict[str, Any]


@dataclass(frozen=True)
class _Plan:
    """An issue / change / renew checked against the license as read, before anything is written."""

    license_id: str
    license_type: LicenseType
    action: Action
    transition: Transition
    data: dict[str, Any]  # the new version's values (JSON-ready), number still to fill for a first issue
    changed: tuple[str, ...]
    expected_row_version: int
    history: tuple[_VersionValues, ...]  # the issued versions so far


@dataclass
class _PublicCache:
    """Recently built public records, keyed by (scanned identifier, license id, row version)."""

    entries: OrderedDict[tuple[str, str, int], tuple[float, PublicRecord]] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple[str, str, int]) -> PublicRecord | None:
        with self.lock:
            found = self.entries.get(key)
            if found is None or time.monotonic() - found[0] > PUBLIC_CACHE_SECONDS:
                return None
            self.entries.move_to_end(key)
            return found[1]

    def put(self, key: tuple[str, str, int], record: PublicRecord) -> None:
        with self.lock:
            self.entries[key] = (time.monotonic(), record)
            self.entries.move_to_end(key)
            while len(self.entries) > PUBLIC_CACHE_SIZE:
                self.entries.popitem(last=False)


def _scope(row: License) -> LicenseScope:
    return LicenseScope(row.division_code, row.holder_uscc, row.holder_index)


def _state(row: License) -> LicenseState:
    return LicenseState(Status(row.status), row.version, row.number, row.issued_on, row.valid_from, row.valid_until)


def _is_owner(principal: Principal) -> bool:
    return principal.scope.kind in (ScopeKind.ENTERPRISE, ScopeKind.PERSON)


def _changed_keys(before: Mapping[str, Any], after: Mapping[str, Any], ignore: Iterable[str]) -> tuple[str, ...]:
    skipped = set(ignore)
    keys = (set(before) | set(after)) - skipped
    return tuple(sorted(k for k in keys if _json_text(before.get(k)) != _json_text(after.get(k))))


class LicenseService:
    def __init__(self, platform: Platform, source: str = "license-service") -> None:
        self._platform = platform
        self._source = source  # where actions come from, for the audit trail (the web layer passes the client)
        self._sensitive = SensitiveData(platform)

    # --- types -------------------------------------------------------------------------------------------------

    def types(self) -> list[LicenseType]:
        """The registry: built-ins plus settings.license_types_dir."""
        return list(self._registry())

    def type(self, code: str) -> LicenseType:
        """NotFound naming the known codes."""
        return self._registry().get(code)

    def _registry(self) -> LicenseTypeRegistry:
        directory = self._platform.settings.license_types_dir
        key = ("licenses", "types", str(directory or ""))
        found = self._platform.memo.get(key)
        if not isinstance(found, LicenseTypeRegistry):
            found = load_registry(directory)
            self._platform.memo[key] = found
        return found

    # --- writing -----------------------------------------------------------------------------------------------

    def create(
        self, principal: Principal, type_code: str, data: Mapping[str, Any], division_code: str | None = None
    ) -> LicenseDetail:
        """A draft (validated at Stage.DRAFT).  division_code defaults to the caller's division scope, else the
        setting license_division."""
        principal.require(LicensePermission.WRITE)
        license_type = self.type(type_code)
        division = self._division(principal, division_code)
        clean = license_type.validate(data, stage=Stage.DRAFT)
        transition = lifecycle.apply(
            license_type, Action.CREATE, LicenseState(), self._context(principal, date.today())
        )
        values = clean.to_json()
        with self._platform.unit_of_work(principal.actor(self._source)) as uow:
            holder = self._holder(uow.session, license_type, values)
            principal.require_scope(LicenseScope(division, holder.uscc, holder.index))
            actor = uow.actor.name
            row = License(
                id=secrets.token_hex(12),
                type_code=license_type.code,
                status=Status.DRAFT.value,
                division_code=division,
                version=0,
                created_by=actor,
                updated_by=actor,
            )
            self._set_holder(row, holder)
            uow.session.add(row)
            uow.session.flush()
            self._write_version(uow.session, row.id, license_type, values, 0, "draft", actor)
            self._event(uow, row.id, transition, None)
            uow.record(
                "license",
                row.id,
                "create",
                after={**transition.audit, "license_id": row.id, "division": division, "fields": sorted(values)},
            )
            license_id = row.id
        return self.get(principal, license_id)

    def transition(
        self, principal: Principal, license_id: str, action: Action, request: TransitionRequest
    ) -> LicenseDetail:
        """One lifecycle action (edit, submit, withdraw, return, reject, approve, issue, change, renew, suspend,
        resume, revoke, cancel, expire).  issue/change/renew render 正本 and 副本 to PDF and OFD, seal them
        (settings license_pdf_seal / license_ofd_seal) and store them with the new version; change/renew mark the
        previous version superseded.  Illegal → IllegalTransition (422) naming the rule; role → Forbidden."""
        action = Action(action)
        permission = ACTION_PERMISSIONS.get(action)
        if permission is None:
            raise ValidationError(
                "action", f"{action.value} does not act on an existing license (use create or import)"
            )
        principal.require(permission)
        today = request.today or date.today()
        if action in NEW_VERSION_ACTIONS:
            self._new_version(principal, license_id, action, request, today)
        else:
            self._step(principal, license_id, action, request, today)
        return self.get(principal, license_id)

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
        request = request or TransitionRequest()
        license_type = self.type(type_code)
        self._require_whole_chain(principal, license_type)
        confirmed = request.confirmed or frozenset(
            c.code for c in license_type.document.lifecycle.confirmations.get(Action.APPROVE.value, [])
        )
        draft = self.create(principal, type_code, data, division_code)
        license_id = draft.info.id
        self.transition(principal, license_id, Action.SUBMIT, TransitionRequest(today=request.today))
        approval = TransitionRequest(reason=request.reason, confirmed=confirmed, today=request.today)
        self.transition(principal, license_id, Action.APPROVE, approval)
        issuing = TransitionRequest(number=request.number, today=request.today)
        detail = self.transition(principal, license_id, Action.ISSUE, issuing)
        with self._platform.db.reading() as session:
            version = self._version_row(session, license_id, detail.info.version)
            printed = version.qr_text or ""
        current = detail.versions[-1] if detail.versions else None
        return IssuedLicense(detail, printed, current.files if current else ())

    def _require_whole_chain(self, principal: Principal, license_type: LicenseType) -> None:
        """Refuse before anything is stored a caller who could not finish create → submit → approve → issue."""
        principal.require(LicensePermission.WRITE)
        role = self._context(principal, date.today()).actor_role or principal.role
        for action in (Action.CREATE, Action.SUBMIT, Action.APPROVE, Action.ISSUE):
            permission = ACTION_PERMISSIONS.get(action)
            if permission is not None:
                principal.require(permission)
            if not lifecycle.may_perform(license_type, action, role):
                allowed = ", ".join(sorted(lifecycle.roles_for(license_type, action)))
                raise Forbidden(f"role {role} may not {action.value} a {license_type.name} (allowed: {allowed})")

    def import_license(
        self,
        principal: Principal,
        type_code: str,
        data: Mapping[str, Any],
        request: TransitionRequest | None = None,
        division_code: str | None = None,
    ) -> LicenseDetail:
        """A legacy license as issued elsewhere (lifecycle action import, needs license:issue): its number kept as
        it is; number and validity from `request` or else from the data's number and date fields; it lands issued or,
        if already past, expired.  No files are produced; the record and its QR text are live at once."""
        principal.require(LicensePermission.ISSUE)
        license_type = self.type(type_code)
        request = self._import_request(license_type, data, request or TransitionRequest())
        division = self._division(principal, division_code)
        today = request.today or date.today()
        transition = lifecycle.apply(
            license_type, Action.IMPORT, LicenseState(), self._context(principal, today, request)
        )
        after = transition.after
        number = after.number or ""
        filled = self._registry_fields(license_type, data, after, number, {}, principal, authority_from_settings=False)
        values = license_type.validate(filled, stage=Stage.ISSUED).to_json()
        actor = principal.actor(self._source)
        with self._platform.unit_of_work(actor) as uow:
            holder = self._holder(uow.session, license_type, values)
            principal.require_scope(LicenseScope(division, holder.uscc, holder.index))
            serial = self._next_serial(uow.session, today.year, actor.name)
            identifier = str(
                build_identifier(
                    identifier_type_code(license_type, self._issuer_code), self._issuer_code, serial, after.version
                )
            )
            row = License(
                id=secrets.token_hex(12),
                type_code=license_type.code,
                division_code=division,
                identifier_serial=serial,
                created_by=actor.name,
                updated_by=actor.name,
            )
            self._set_holder(row, holder)
            self._move(row, transition, actor.name)
            row.number, row.identifier = number, identifier
            uow.session.add(row)
            self._flush_numbered(uow.session, license_type, number)
            if license_type.number_pattern is not None:
                store = DatabaseSequenceStore(uow.session, actor.name)
                observe_imported(license_type.code, license_type.number_pattern, import_number(number), store)
            self._write_version(
                uow.session,
                row.id,
                license_type,
                values,
                after.version,
                Action.IMPORT.value,
                actor.name,
                made=(after, number, identifier),
            )
            self._event(uow, row.id, transition, request.reason)
            uow.record(
                "license",
                row.id,
                Action.IMPORT.value,
                after={**transition.audit, "license_id": row.id, "identifier": identifier},
            )
            license_id = row.id
        return self.get(principal, license_id)

    def _import_request(
        self, license_type: LicenseType, data: Mapping[str, Any], request: TransitionRequest
    ) -> TransitionRequest:
        document = license_type.document

        def day(key: str | None, given: date | None) -> date | None:
            if given is not None or key is None:
                return given
            value = data.get(key)
            if isinstance(value, date):
                return value
            try:
                return date.fromisoformat(str(value)) if value else None
            except ValueError:
                raise ValidationError(key, f"{license_type.field(key).label} must be a date (YYYY-MM-DD)") from None

        number = request.number or (str(data.get(document.number.field) or "") or None)
        valid_from = day(document.dates.valid_from or document.dates.issued_on, request.valid_from)
        return replace(
            request,
            number=number,
            valid_from=valid_from,
            valid_until=day(document.dates.valid_until, request.valid_until),
        )

    # --- reading -----------------------------------------------------------------------------------------------

    def get(self, principal: Principal, license_id: str, reveal: bool = False) -> LicenseDetail:
        """The license as the caller may see it (OWNER for the holder, OFFICER with reveal=True — audited)."""
        principal.require(LicensePermission.READ)
        if reveal:
            principal.require(LicensePermission.VIEW_SENSITIVE)
        with self._platform.db.reading() as session:
            row = self._load(session, license_id)
            principal.require_scope(_scope(row))
            license_type = self.type(row.type_code)
            version = self._version_row(session, row.id, row.version)
            values, taken = self._clear_data(session, version)
            audience = Audience.OFFICER if reveal else Audience.OWNER
            detail = LicenseDetail(
                info=self._info(row),
                audience=audience.value,
                fields=view_fields(license_type, values, audience),
                versions=self._versions(session, row.id),
                history=self._history(session, row.id),
                actions=tuple(a.value for a in lifecycle.available_actions(license_type, Status(row.status))),
                warnings=() if _is_owner(principal) else self._warnings(license_type, values),
            )
        if reveal:
            self._audit_reveal(principal, row.id, row.version, sorted(taken))
        return detail

    def find(self, principal: Principal, key: str) -> LicenseDetail:
        """By record id, identifier (any version) or license number."""
        principal.require(LicensePermission.READ)
        text = key.strip()
        if not text:
            raise ValidationError("key", "give a license id, identifier or number")
        with self._platform.db.reading() as session:
            license_id = self._resolve(session, principal, text)
        if license_id is None:
            raise NotFound(f"no license has the id, identifier or number {text!r}")
        return self.get(principal, license_id)

    def version(self, principal: Principal, license_id: str, version: int, reveal: bool = False) -> VersionDetail:
        principal.require(LicensePermission.READ)
        if reveal:
            principal.require(LicensePermission.VIEW_SENSITIVE)
        with self._platform.db.reading() as session:
            row = self._load(session, license_id)
            principal.require_scope(_scope(row))
            license_type = self.type(row.type_code)
            found = self._version_row(session, row.id, version)
            values, taken = self._clear_data(session, found)
            info = self._version_info(found, self._files_of(session, row.id).get(found.version, ()))
        audience = Audience.OFFICER if reveal else Audience.OWNER
        if reveal:
            self._audit_reveal(principal, license_id, version, sorted(taken))
        return VersionDetail(info, audience.value, view_fields(license_type, values, audience))

    def search(self, principal: Principal, query: LicenseQuery) -> SearchPage:
        """Only records inside the caller's scope; holder_code searched by blind index."""
        principal.require(LicensePermission.READ)
        if query.offset < 0:
            raise ValidationError("offset", "must be 0 or more")
        if not 1 <= query.limit <= MAX_PAGE:
            raise ValidationError("limit", f"must be 1-{MAX_PAGE}")
        with self._platform.db.reading() as session:
            conditions = [
                principal.scope.where(License.division_code, License.holder_uscc, License.holder_index),
                *self._query_conditions(session, query),
            ]
            total = int(session.scalar(select(func.count()).select_from(License).where(*conditions)) or 0)
            rows = session.scalars(
                select(License)
                .where(*conditions)
                .order_by(License.updated_at.desc(), License.id)
                .offset(query.offset)
                .limit(query.limit)
            )
            items = tuple(self._info(row) for row in rows)
        return SearchPage(total, items)

    def file(
        self,
        principal: Principal,
        license_id: str,
        copy: Copy = "original",
        file_format: FileFormat = FileFormat.PDF,
        version: int | None = None,
    ) -> StoredFile:
        principal.require(LicensePermission.READ)
        with self._platform.db.reading() as session:
            row = self._load(session, license_id)
            principal.require_scope(_scope(row))
            chosen = row.version if version is None else version
            stored = self._file_row(session, row, copy, FileFormat(file_format), chosen)
            sealed = stored.sealed is not None
            if sealed and not _is_owner(principal):
                principal.require(LicensePermission.VIEW_SENSITIVE)  # the face shows clear personal data
            result = self._stored_file(session, row, stored)
        if sealed:
            self._audit_reveal(principal, license_id, chosen, [f"file:{result.name}"])
        return result

    # --- public (no principal) -----------------------------------------------------------------------------------

    def public_record(self, identifier: str) -> PublicRecord:
        """For /v/<identifier>: NotFound for an unknown or never-issued license; ValidationError for a malformed
        identifier (bad check character)."""
        scanned = parse_identifier(identifier)
        with self._platform.db.reading() as session:
            row = self._by_identifier(session, str(scanned))
            key = (str(scanned), row.id, row.row_version)
            cached = self._public_cache.get(key)
            if cached is not None:
                return cached
            license_type = self.type(row.type_code)
            version = self._version_row(session, row.id, row.version)
            values, _ = self._clear_data(session, version)
            view = self._public_view(license_type, row, values)
            changes = tuple(
                HistoryEntry(
                    e.at, e.action, e.from_status, e.to_status, self._issuer, e.version, None, e.changed_fields
                )
                for e in self._history(session, row.id)
                if e.action in PUBLIC_ACTIONS
            )
            seal = self._seal_verdict(session, row)
        digest = public_digest(view)
        record = PublicRecord(
            identifier=row.identifier or "",
            scanned_identifier=str(scanned),
            scanned_version=scanned.version,
            current_version=row.version,
            type_code=license_type.code,
            type_name=license_type.name,
            status=row.status,
            status_text=status_text(row.status, row.valid_until),
            number=row.number or "",
            holder_name=row.holder_name,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            issuer=self._issuer,
            fields=view["fields"],
            changes=changes,
            seal=seal,
            qr_jws=self._sign(row, row.status, digest),
            public_digest=digest.hex(),
        )
        self._public_cache.put(key, record)
        return record

    def public_file(
        self, identifier: str, copy: Copy = "original", file_format: FileFormat = FileFormat.PDF
    ) -> StoredFile:
        """The current version's sealed file, as the public page offers it for download."""
        scanned = parse_identifier(identifier)
        with self._platform.db.reading() as session:
            row = self._by_identifier(session, str(scanned))
            stored = self._file_row(session, row, copy, FileFormat(file_format), row.version)
            if stored.sealed is not None:
                raise Forbidden(
                    f"the files of a {self.type(row.type_code).name} show personal data in clear: they are not offered "
                    "for public download (the holder downloads them from the portal)"
                )
            return self._stored_file(session, row, stored)

    def qr_text(self, license_id_or_identifier: str) -> str:
        """The QR text of the current version: <base_url>/v/<identifier>#<fresh JWS>."""
        key = license_id_or_identifier.strip()
        with self._platform.db.reading() as session:
            if key.upper().startswith(ELICENSE_ROOT + "."):
                row = self._by_identifier(session, str(parse_identifier(key)))
            else:
                found = session.get(License, key)
                if found is None or found.version < 1 or not found.identifier:
                    raise NotFound(f"no issued license {key!r}")
                row = found
            license_type = self.type(row.type_code)
            values, _ = self._clear_data(session, self._version_row(session, row.id, row.version))
            view = self._public_view(license_type, row, values)
        jws = self._sign(row, row.status, public_digest(view))
        return qr.qr_text(self._platform.settings.base_url, row.identifier or "", jws)

    # --- jobs --------------------------------------------------------------------------------------------------

    def expire_due(self, today: date | None = None) -> int:
        """Expire every issued/suspended license past its validity (system actor); returns how many."""
        day = today or date.today()
        live = (Status.ISSUED.value, Status.SUSPENDED.value)
        with self._platform.db.reading() as session:
            due = list(session.scalars(select(License.id).where(License.status.in_(live), License.valid_until < day)))
        expired = 0
        for license_id in due:
            with self._platform.unit_of_work(SYSTEM) as uow:
                row = self._load(uow.session, license_id, lock=True)
                if row.status not in live or row.valid_until is None or row.valid_until >= day:
                    continue  # changed meanwhile
                license_type = self.type(row.type_code)
                context = TransitionContext(day, actor_role=lifecycle.ActorRole.SYSTEM.value)
                transition = lifecycle.apply(license_type, Action.EXPIRE, _state(row), context)
                self._move(row, transition, SYSTEM.name)
                self._event(uow, row.id, transition, None)
                uow.record("license", row.id, Action.EXPIRE.value, after={**transition.audit, "license_id": row.id})
                expired += 1
        return expired

    # --- lifecycle steps without a new version -----------------------------------------------------------------

    def _step(
        self, principal: Principal, license_id: str, action: Action, request: TransitionRequest, today: date
    ) -> None:
        with self._platform.unit_of_work(principal.actor(self._source)) as uow:
            session = uow.session
            row = self._load(session, license_id, lock=True)
            principal.require_scope(_scope(row))
            license_type = self.type(row.type_code)
            transition = lifecycle.apply(license_type, action, _state(row), self._context(principal, today, request))
            version = self._version_row(session, row.id, row.version)
            changed: tuple[str, ...] = ()
            if action is Action.EDIT:
                changed = self._edit(session, principal, row, version, license_type, request)
            elif action is Action.SUBMIT:
                values, _ = self._clear_data(session, version)
                license_type.validate(values, today=today, stage=Stage.APPLICATION)
            self._move(row, transition, uow.actor.name)
            self._event(uow, row.id, transition, request.reason, changed)
            after = {**transition.audit, "license_id": row.id}
            if changed:
                after["changed_fields"] = list(changed)
            uow.record("license", row.id, action.value, before={"status": transition.from_status}, after=after)

    def _edit(
        self,
        session: Session,
        principal: Principal,
        row: License,
        version: LicenseVersion,
        license_type: LicenseType,
        request: TransitionRequest,
    ) -> tuple[str, ...]:
        if request.data is None:
            raise ValidationError("data", "edit needs the complete new data of the draft")
        before, taken = self._clear_data(session, version)
        values = license_type.validate(self._unmasked(license_type, request.data, taken), stage=Stage.DRAFT).to_json()
        holder = self._holder(session, license_type, values)
        principal.require_scope(LicenseScope(row.division_code, holder.uscc, holder.index))
        self._set_holder(row, holder)
        kept, secret = split_fields(license_type.fields, values, set(license_type.encrypted_fields).__contains__)
        version.data = _json_text(kept)
        version.updated_by = principal.name
        if secret:
            self._sensitive.seal_row(session, version, {k: _json_text(v) for k, v in secret.items()})
        else:
            version.sealed, version.master_version = None, None
        return _changed_keys(before, values, ())

    # --- issue, change, renew ----------------------------------------------------------------------------------

    def _new_version(
        self, principal: Principal, license_id: str, action: Action, request: TransitionRequest, today: date
    ) -> None:
        actor = principal.actor(self._source)
        plan = self._plan(principal, license_id, action, request, today)
        number, serial, expected = self._reserve(actor, plan, today)
        license_type, after = plan.license_type, plan.transition.after
        values = self._registry_fields(license_type, plan.data, after, number, plan.data, principal)
        clean = self._validated(license_type, values, today)
        values = clean.to_json()
        identifier = build_identifier(
            identifier_type_code(license_type, self._issuer_code), self._issuer_code, serial, after.version
        )
        holder_display = self._holder_display(license_type, values)
        view = public_view(
            license_type,
            values,
            status=(after.status or Status.ISSUED).value,
            version=after.version,
            identifier=str(identifier),
            audience=Audience.PUBLIC,
        )
        payload = self._payload(str(identifier), after, holder_display, (after.status or Status.ISSUED).value, view)
        printed = qr.qr_text(
            self._platform.settings.base_url, str(identifier), sign_payload(self._qr_signer(), payload)
        )
        produced = self._produce(plan, clean, str(identifier), number, printed, actor)
        with self._platform.unit_of_work(actor) as uow:
            session = uow.session
            row = self._load(session, license_id, lock=True)
            if row.row_version != expected:
                raise AlreadyExists(
                    f"license {license_id} changed while this {action.value} was prepared; reload it and try again"
                )
            holder = self._holder(session, license_type, values)
            principal.require_scope(LicenseScope(row.division_code, holder.uscc, holder.index))
            self._set_holder(row, holder)
            for old in session.scalars(
                select(LicenseVersion).where(LicenseVersion.license_id == row.id, LicenseVersion.current.is_(True))
            ):
                old.current, old.updated_by = False, actor.name
            self._write_version(
                session,
                row.id,
                license_type,
                values,
                after.version,
                action.value,
                actor.name,
                made=(after, number, str(identifier)),
                qr_text=printed,
                changed=plan.changed,
            )
            self._write_files(session, row.id, license_type, after.version, produced, actor.name)
            self._move(row, plan.transition, actor.name)
            row.number, row.identifier = number, str(identifier)
            self._event(uow, row.id, plan.transition, request.reason, plan.changed)
            audit = {**plan.transition.audit, "license_id": row.id, "identifier": str(identifier), "number": number}
            audit["files"] = [f"{f.copy}.{f.format.value}" for f in produced]
            uow.record("license", row.id, action.value, before={"status": plan.transition.from_status}, after=audit)

    def _plan(
        self, principal: Principal, license_id: str, action: Action, request: TransitionRequest, today: date
    ) -> _Plan:
        with self._platform.db.reading() as session:
            row = self._load(session, license_id)
            principal.require_scope(_scope(row))
            license_type = self.type(row.type_code)
            current, taken = self._clear_data(session, self._version_row(session, row.id, row.version))
            history = tuple(
                _VersionValues(
                    v.action, tuple(json.loads(v.changed_fields or "[]")), v.issued_on, self._clear_data(session, v)[0]
                )
                for v in session.scalars(
                    select(LicenseVersion)
                    .where(LicenseVersion.license_id == row.id, LicenseVersion.version > 0)
                    .order_by(LicenseVersion.version)
                )
            )
            expected, state = row.row_version, _state(row)
        context = self._context(principal, today, request)
        changed: tuple[str, ...] = ()
        if action is Action.ISSUE:
            transition = lifecycle.apply(license_type, action, state, context)
            pending = transition.after.number or state.number or PENDING_NUMBER
            filled = self._registry_fields(license_type, current, transition.after, pending, current, principal)
            license_type.validate(filled, today=today, stage=Stage.ISSUED)  # complete before a number is taken
            data = current
        else:
            given = request.data if request.data is not None else (current if action is Action.RENEW else None)
            if given is None:
                raise ValidationError("data", f"{action.value} needs the complete new data of the license")
            unmasked = self._unmasked(license_type, given, taken)
            kept = self._registry_fields(
                license_type, unmasked, state, state.number or PENDING_NUMBER, current, principal
            )
            proposed = license_type.validate(kept, today=today, stage=Stage.ISSUED).to_json()
            changed = _changed_keys(current, proposed, self._registry_keys(license_type))
            context = self._context(principal, today, request, frozenset(changed))
            transition = lifecycle.apply(license_type, action, state, context)
            data = proposed
        return _Plan(license_id, license_type, action, transition, data, changed, expected, history)

    def _reserve(self, actor: Actor, plan: _Plan, today: date) -> tuple[str, str, int]:
        """The number and identifier serial of the license, allocated (first issue, or a change that renumbers) in
        their own transaction; returns them with the row version to expect when the version is written."""
        license_type, transition = plan.license_type, plan.transition
        with self._platform.db.reading() as session:
            row = self._load(session, plan.license_id)
            number, serial = row.number, row.identifier_serial
            if row.row_version != plan.expected_row_version:
                raise AlreadyExists(f"license {plan.license_id} changed meanwhile; reload it and try again")
        external = transition.after.number if plan.action is Action.ISSUE else None
        renumber = transition.effects.assign_number and (plan.action is not Action.ISSUE or number is None)
        if serial is not None and not renumber and (external is None or external == number) and number:
            return number, serial, plan.expected_row_version
        with self._platform.unit_of_work(actor) as uow:
            row = self._load(uow.session, plan.license_id, lock=True)
            if row.row_version != plan.expected_row_version:
                raise AlreadyExists(f"license {plan.license_id} changed meanwhile; reload it and try again")
            with uow.session.no_autoflush:  # a number taken by another license fails in _flush_numbered
                if external is not None:
                    row.number = external
                elif renumber:
                    clean = license_type.validate(plan.data, stage=Stage.DRAFT)
                    row.number = self._allocate(uow.session, license_type, clean, today, actor.name).value
                if row.identifier_serial is None:
                    row.identifier_serial = self._next_serial(uow.session, today.year, actor.name)
                row.updated_by = actor.name
            self._flush_numbered(uow.session, license_type, row.number or "")
            uow.record(
                "license",
                row.id,
                "reserve-number",
                after={"number": row.number, "identifier_serial": row.identifier_serial, "for": plan.action.value},
            )
            assert row.number is not None and row.identifier_serial is not None
            return row.number, row.identifier_serial, row.row_version

    def _validated(self, license_type: LicenseType, values: Mapping[str, Any], today: date) -> CleanLicenseData:
        """ISSUED-stage validation of a version whose dates the registry set from the lifecycle.  A renewal runs from
        the previous expiry, so it may end more than one validity period after its 发证日期, which the type's
        within_validity rule would refuse: the lifecycle's dates take precedence over that rule."""
        dates = license_type.document.dates
        issued, until = values.get(dates.issued_on), values.get(dates.valid_until)
        if isinstance(issued, str) and isinstance(until, str):
            cap = license_type.validity_end(date.fromisoformat(issued))
            real = date.fromisoformat(until)
            if real > cap:
                probe = {**values, dates.valid_until: cap.isoformat()}
                clean = license_type.validate(probe, today=today, stage=Stage.ISSUED)
                return CleanLicenseData(clean.type_code, {**clean.values, dates.valid_until: real}, clean.warnings)
        return license_type.validate(values, today=today, stage=Stage.ISSUED)

    def _allocate(
        self, session: Session, license_type: LicenseType, clean: CleanLicenseData, today: date, actor: str
    ) -> LicenseNumber:
        pattern = license_type.number_pattern
        if pattern is None:
            raise ValidationError("number", f"{license_type.name} numbers are assigned elsewhere: supply the number")
        values = license_type.number_values(clean, today.year)
        return allocate_number(license_type.code, pattern, values, DatabaseSequenceStore(session, actor))

    def _next_serial(self, session: Session, year: int, actor: str) -> str:
        value = DatabaseSequenceStore(session, actor).next_value(IDENTIFIER_SEQUENCE, str(year))
        return f"{year:04d}{value:06d}"

    def _flush_numbered(self, session: Session, license_type: LicenseType, number: str) -> None:
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise AlreadyExists(f"number: a {license_type.name} numbered {number!r} exists already") from None

    def _produce(
        self,
        plan: _Plan,
        clean: CleanLicenseData,
        identifier: str,
        number: str,
        printed: str,
        actor: Actor,
    ) -> list[ProducedFile]:
        from certseal.services.license_documents import LicenseDocuments  # it imports this module

        license_type, after = plan.license_type, plan.transition.after
        printed_paths = face_paths(license_type)
        unprinted = {p for p in license_type.encrypted_fields if p not in printed_paths}
        render_data, _ = split_fields(license_type.fields, clean.values, unprinted.__contains__)
        made = _VersionValues(plan.action.value, plan.changed, after.issued_on, clean.to_json())
        history = self._change_history(license_type, [*plan.history, made])
        return LicenseDocuments(self._platform).produce(
            license_type,
            render_data,
            identifier=identifier,
            number=number,
            version=after.version,
            qr_text=printed,
            issue_date=after.issued_on or date.today(),
            actor=actor,
            change_history=history,
        )

    def _change_history(self, license_type: LicenseType, versions: Sequence[_VersionValues]) -> list[dict[str, Any]]:
        """变更记录 rows (date, item, before, after) of every change, from the public views of the versions."""
        rows: list[dict[str, Any]] = []
        previous: dict[str, Any] | None = None
        for entry in versions:
            shown = view_fields(license_type, entry.values, Audience.PUBLIC)
            if entry.action == Action.CHANGE.value and previous is not None:
                for key in entry.changed:
                    rows.append(
                        {
                            "date": entry.issued_on,
                            "item": self._label(license_type, key),
                            "before": format_value(previous.get(key)),
                            "after": format_value(shown.get(key)),
                        }
                    )
            previous = shown
        return rows

    def _write_files(
        self,
        session: Session,
        license_id: str,
        license_type: LicenseType,
        version: int,
        produced: Sequence[ProducedFile],
        actor: str,
    ) -> None:
        seal_content = files_carry_secrets(license_type)
        for item in produced:
            stored = LicenseFile(
                license_id=license_id,
                version=version,
                copy=item.copy,
                format=FileFormat(item.format).value,
                sha256=hashlib.sha256(item.content).hexdigest(),
                size=len(item.content),
                seal=item.seal,
                content=None if seal_content else item.content,
                created_by=actor,
                updated_by=actor,
            )
            session.add(stored)
            if seal_content:
                self._sensitive.seal_row(session, stored, {"content": base64.b64encode(item.content).decode("ascii")})

    # --- shared pieces -----------------------------------------------------------------------------------------

    @property
    def _issuer(self) -> str:
        return self._platform.settings.license_issuer

    @property
    def _issuer_code(self) -> str:
        return self._platform.settings.license_issuer_code

    @property
    def _public_cache(self) -> _PublicCache:
        key = ("licenses", "public-records")
        found = self._platform.memo.get(key)
        if not isinstance(found, _PublicCache):
            found = _PublicCache()
            self._platform.memo[key] = found
        return found

    def _context(
        self,
        principal: Principal,
        today: date,
        request: TransitionRequest | None = None,
        changed: frozenset[str] = frozenset(),
    ) -> TransitionContext:
        division = principal.scope.value if principal.scope.kind is ScopeKind.DIVISION else None
        request = request or TransitionRequest()
        return TransitionContext(
            today=today,
            actor_role=lifecycle.role_token(principal.role, division),
            reason=request.reason,
            ground=request.ground,
            confirmed=frozenset(request.confirmed),
            changed_fields=changed,
            applied_on=request.applied_on,
            number=request.number,
            valid_from=request.valid_from,
            valid_until=request.valid_until,
        )

    def _division(self, principal: Principal, division_code: str | None) -> str:
        if division_code:
            return check_division_code(division_code)
        if principal.scope.kind is ScopeKind.DIVISION:
            return principal.scope.value
        return self._platform.settings.license_division

    def _load(self, session: Session, license_id: str, lock: bool = False) -> License:
        query = select(License).where(License.id == license_id)
        if lock:
            query = query.with_for_update()
        row = session.scalars(query.execution_options(populate_existing=True)).first()
        if row is None:
            raise NotFound(f"no license {license_id!r}")
        return row

    def _version_row(self, session: Session, license_id: str, version: int) -> LicenseVersion:
        query = select(LicenseVersion).where(LicenseVersion.license_id == license_id, LicenseVersion.version == version)
        row = session.scalars(query).first()
        if row is None:
            raise NotFound(f"license {license_id} has no version {version}")
        return row

    def _by_identifier(self, session: Session, identifier: str) -> License:
        query = (
            select(License)
            .join(LicenseVersion, LicenseVersion.license_id == License.id)
            .where(LicenseVersion.identifier == identifier)
        )
        row = session.scalars(query).first()
        if row is None or row.version < 1:
            raise NotFound(f"no issued license has the identifier {identifier}")
        return row

    def _resolve(self, session: Session, principal: Principal, key: str) -> str | None:
        if session.get(License, key) is not None:
            return key
        if key.upper().startswith(ELICENSE_ROOT + "."):
            identifier = str(parse_identifier(key, "key"))
            query = select(LicenseVersion.license_id).where(LicenseVersion.identifier == identifier)
            return session.scalars(query).first()
        in_scope = principal.scope.where(License.division_code, License.holder_uscc, License.holder_index)
        query = select(License.id).where(License.number == key, in_scope).order_by(License.type_code)
        return session.scalars(query).first()

    def _clear_data(self, session: Session, version: LicenseVersion) -> tuple[dict[str, Any], dict[str, Any]]:
        """The version's values with the sealed ones put back, and those sealed values by path."""
        stored = json.loads(version.data)
        taken = {path: json.loads(text) for path, text in self._sensitive.open_row(session, version).items()}
        return merge_fields(stored, taken), taken

    def _write_version(
        self,
        session: Session,
        license_id: str,
        license_type: LicenseType,
        values: Mapping[str, Any],
        version: int,
        action: str,
        actor: str,
        *,
        made: tuple[LicenseState, str, str] | None = None,
        qr_text: str | None = None,
        changed: Sequence[str] = (),
    ) -> LicenseVersion:
        """A version row, its encrypted values sealed; `made` = (state, number, identifier) of an issued version,
        which becomes the current one."""
        kept, secret = split_fields(license_type.fields, values, set(license_type.encrypted_fields).__contains__)
        state, number, identifier = made if made is not None else (None, None, None)
        row = LicenseVersion(
            license_id=license_id,
            version=version,
            action=action,
            current=made is not None,
            identifier=identifier,
            number=number,
            issued_on=state.issued_on if state else None,
            valid_from=state.valid_from if state else None,
            valid_until=state.valid_until if state else None,
            data=_json_text(kept),
            changed_fields=_json_text(list(changed)) if changed else None,
            qr_text=qr_text,
            created_by=actor,
            updated_by=actor,
        )
        session.add(row)
        session.flush()
        if secret:
            self._sensitive.seal_row(session, row, {k: _json_text(v) for k, v in secret.items()})
        return row

    def _unmasked(self, license_type: LicenseType, data: Mapping[str, Any], taken: Mapping[str, Any]) -> dict[str, Any]:
        """`data` with every masked value that was sent back unchanged replaced by the stored clear value."""
        values = copying.deepcopy(dict(data))
        for path, old in taken.items():
            if not isinstance(old, str):
                continue
            try:
                rule = license_type.field(spec_path(path)).mask_rule
            except NotFound:
                continue
            container, key = locate(values, path)
            if container is not None and container.get(key) == mask(old, rule):
                container[key] = old
        return values

    def _registry_keys(self, license_type: LicenseType) -> set[str]:
        document = license_type.document
        keys = {document.number.field, document.dates.issued_on, document.dates.valid_until}
        if document.dates.valid_from:
            keys.add(document.dates.valid_from)
        keys.update(spec.key for spec in license_type.fields if spec.set_on_issue)
        return keys

    def _registry_fields(
        self,
        license_type: LicenseType,
        data: Mapping[str, Any],
        state: LicenseState,
        number: str,
        previous: Mapping[str, Any],
        principal: Principal | None,
        authority_from_settings: bool = True,
    ) -> dict[str, Any]:
        """The values the registry sets at issuance: number, dates, issuing authority, and any other set_on_issue
        field (签发人) left empty: the previous version's, else the acting officer's name."""
        document = license_type.document
        fixed = {document.number.field, document.dates.issued_on, document.dates.valid_until, document.dates.valid_from}
        values = dict(data)
        values[document.number.field] = number

        def day(value: date | None) -> str | None:
            return value.isoformat() if value else None

        values[document.dates.issued_on] = day(state.issued_on)
        values[document.dates.valid_until] = day(state.valid_until)
        if document.dates.valid_from:
            values[document.dates.valid_from] = day(state.valid_from)
        for spec in license_type.fields:
            if not spec.set_on_issue or spec.key in fixed:
                continue
            if spec.label == ISSUING_AUTHORITY_LABEL and (authority_from_settings or not values.get(spec.key)):
                values[spec.key] = self._issuer
            elif values.get(spec.key) in (None, ""):
                fallback = previous.get(spec.key) or (principal.display_name or principal.name if principal else None)
                values[spec.key] = fallback
        return values

    def _holder(self, session: Session, license_type: LicenseType, values: Mapping[str, Any]) -> _Holder:
        holder = license_type.document.holder
        name = str(values.get(holder.name_field) or "")
        code = str(values.get(holder.code_field) or "")
        name_secret = license_type.field(holder.name_field).encrypted_at_rest
        return _Holder(
            name=mask(name, license_type.field(holder.name_field).mask_rule) if name_secret else name,
            name_index=self._sensitive.index_of(session, "text", name) if name_secret and name else None,
            code_type=holder.code_type.value,
            uscc=code.upper() if code and holder.code_type is HolderCodeType.USCC else None,
            display=self._holder_display(license_type, values),
            index=self._sensitive.index_of(session, "id-number", code) if code else None,
        )

    def _holder_display(self, license_type: LicenseType, values: Mapping[str, Any]) -> str | None:
        holder = license_type.document.holder
        code = str(values.get(holder.code_field) or "")
        if not code:
            return None
        spec = license_type.field(holder.code_field)
        if holder.code_type is HolderCodeType.USCC or not spec.encrypted_at_rest:
            return code.upper()
        return mask(code, spec.mask_rule)

    def _set_holder(self, row: License, holder: _Holder) -> None:
        row.holder_name, row.holder_name_index, row.holder_code_type = holder.name, holder.name_index, holder.code_type
        row.holder_uscc, row.holder_code_display, row.holder_index = holder.uscc, holder.display, holder.index

    def _move(self, row: License, transition: Transition, actor: str) -> None:
        after = transition.after
        row.status = transition.to_status.value
        row.version = after.version
        if after.number:
            row.number = after.number
        row.issued_on, row.valid_from, row.valid_until = after.issued_on, after.valid_from, after.valid_until
        row.updated_by = actor

    def _event(
        self,
        uow: UnitOfWork,
        license_id: str,
        transition: Transition,
        reason: str | None,
        changed: Sequence[str] = (),
    ) -> None:
        ground = transition.audit.get("ground")
        uow.session.add(
            LicenseEvent(
                license_id=license_id,
                at=utcnow(),
                action=transition.action.value,
                from_status=transition.from_status.value if transition.from_status else None,
                to_status=transition.to_status.value,
                version=transition.after.version,
                actor=uow.actor.name,
                reason=(reason or "").strip() or None,
                ground=str(ground) if ground else None,
                changed_fields=_json_text(list(changed)) if changed else None,
                created_by=uow.actor.name,
                updated_by=uow.actor.name,
            )
        )

    def _audit_reveal(self, principal: Principal, license_id: str, version: int, fields: Sequence[str]) -> None:
        with self._platform.unit_of_work(principal.actor(self._source)) as uow:
            uow.record("license", license_id, "reveal", after={"version": version, "fields": list(fields)})

    def _warnings(self, license_type: LicenseType, values: Mapping[str, Any]) -> tuple[str, ...]:
        try:
            clean = license_type.validate(values, stage=Stage.DRAFT)
        except ValidationError as exc:
            return (f"the stored data no longer passes the type's rules: {exc.message}",)
        return tuple(f"{w.field}: {w.message}" for w in clean.warnings)

    def _label(self, license_type: LicenseType, key: str) -> str:
        try:
            return license_type.field(key).label
        except NotFound:
            return key

    def _query_conditions(self, session: Session, query: LicenseQuery) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if query.type_code:
            conditions.append(License.type_code == query.type_code)
        if query.status:
            try:
                conditions.append(License.status == Status(query.status).value)
            except ValueError:
                raise ValidationError("status", f"must be one of {', '.join(Status)}") from None
        if query.number:
            conditions.append(License.number == query.number.strip())
        if query.division_code:
            division = query.division_code.strip()
            if not re.fullmatch(r"[0-9]{2,6}", division):
                raise ValidationError("division", "must be 2-6 digits of a division code (a prefix)")
            conditions.append(License.division_code.startswith(division))
        name = (query.holder_name or "").strip()
        index = self._sensitive.blind_index(session) if query.holder_code or name else None
        if query.holder_code:
            try:
                tag = index.compute("id-number", query.holder_code) if index is not None else None
            except ValidationError:
                raise ValidationError("holder_code", "must be a USCC or an ID number (letters and digits)") from None
            conditions.append(License.holder_index == tag if tag else License.id.is_(None))
        if name:
            by_name: ColumnElement[bool] = License.holder_name.contains(name, autoescape=True)
            if index is not None:
                by_name = or_(by_name, License.holder_name_index == index.compute("text", name))
            conditions.append(by_name)
        return conditions

    def _info(self, row: License) -> LicenseInfo:
        try:
            type_name = self.type(row.type_code).name
        except NotFound:
            type_name = row.type_code
        return LicenseInfo(
            id=row.id,
            type_code=row.type_code,
            type_name=type_name,
            status=row.status,
            version=row.version,
            number=row.number if row.version > 0 else None,
            identifier=row.identifier,
            holder_name=row.holder_name,
            holder_code=row.holder_code_display or "",
            division_code=row.division_code,
            issued_on=row.issued_on,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def _files_of(self, session: Session, license_id: str) -> dict[int, tuple[LicenseFileInfo, ...]]:
        query = (
            select(
                LicenseFile.version,
                LicenseFile.copy,
                LicenseFile.format,
                LicenseFile.size,
                LicenseFile.sha256,
                LicenseFile.seal,
            )
            .where(LicenseFile.license_id == license_id)
            .order_by(LicenseFile.version, LicenseFile.copy.desc(), LicenseFile.format.desc())
        )
        found: dict[int, list[LicenseFileInfo]] = {}
        for version, copy, file_format, size, sha256, seal in session.execute(query):
            info = LicenseFileInfo(cast(Copy, copy), FileFormat(file_format), size, sha256, seal)
            found.setdefault(version, []).append(info)
        return {version: tuple(files) for version, files in found.items()}

    def _version_info(self, row: LicenseVersion, files: tuple[LicenseFileInfo, ...]) -> VersionInfo:
        return VersionInfo(
            version=row.version,
            identifier=row.identifier or "",
            action=row.action,
            current=row.current,
            number=row.number or "",
            issued_on=row.issued_on,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            created_at=row.created_at,
            created_by=row.created_by,
            files=files,
            changed_fields=tuple(json.loads(row.changed_fields or "[]")),
        )

    def _versions(self, session: Session, license_id: str) -> tuple[VersionInfo, ...]:
        files = self._files_of(session, license_id)
        rows = session.scalars(
            select(LicenseVersion)
            .where(LicenseVersion.license_id == license_id, LicenseVersion.version > 0)
            .order_by(LicenseVersion.version)
        )
        return tuple(self._version_info(row, files.get(row.version, ())) for row in rows)

    def _history(self, session: Session, license_id: str) -> tuple[HistoryEntry, ...]:
        rows = session.scalars(
            select(LicenseEvent).where(LicenseEvent.license_id == license_id).order_by(LicenseEvent.id)
        )
        return tuple(
            HistoryEntry(
                at=row.at,
                action=row.action,
                from_status=row.from_status,
                to_status=row.to_status,
                actor=row.actor,
                version=row.version,
                reason=row.reason,
                changed_fields=tuple(json.loads(row.changed_fields or "[]")),
            )
            for row in rows
        )

    def _file_row(
        self, session: Session, row: License, copy: Copy, file_format: FileFormat, version: int
    ) -> LicenseFile:
        if copy not in ("original", "duplicate"):
            raise ValidationError("copy", f"must be original or duplicate, not {copy!r}")
        query = select(LicenseFile).where(
            LicenseFile.license_id == row.id,
            LicenseFile.version == version,
            LicenseFile.copy == copy,
            LicenseFile.format == file_format.value,
        )
        stored = session.scalars(query).first()
        if stored is None:
            raise NotFound(f"license {row.id} has no {copy} {file_format.value.upper()} file of version {version}")
        return stored

    def _stored_file(self, session: Session, row: License, stored: LicenseFile) -> StoredFile:
        if stored.content is not None:
            content = stored.content
        else:
            content = base64.b64decode(self._sensitive.open_row(session, stored)["content"])
        name = f"{row.number or row.id}-v{stored.version}-{stored.copy}.{stored.format}"
        return StoredFile(name, MEDIA_TYPES[FileFormat(stored.format)], content)

    def _seal_verdict(self, session: Session, row: License) -> SealVerdict | None:
        from certseal.services.license_documents import LicenseDocuments  # it imports this module

        for file_format in (FileFormat.PDF, FileFormat.OFD):
            try:
                stored = self._file_row(session, row, "original", file_format, row.version)
            except NotFound:
                continue
            content = self._stored_file(session, row, stored).content
            return LicenseDocuments(self._platform).seal_verdict(content, file_format)
        return None

    def _public_view(self, license_type: LicenseType, row: License, values: Mapping[str, Any]) -> dict[str, Any]:
        return public_view(
            license_type,
            values,
            status=row.status,
            version=row.version,
            identifier=row.identifier,
            audience=Audience.PUBLIC,
        )

    def _payload(
        self, identifier: str, state: LicenseState, holder: str | None, status: str, view: Mapping[str, Any]
    ) -> QrPayload:
        start = state.valid_from or state.issued_on
        if start is None:
            raise ValidationError("valid_from", "an issued license needs a start of validity for its QR payload")
        return QrPayload(
            identifier=identifier,
            version=state.version,
            holder_code=holder or "-",
            valid_from=start,
            valid_until=state.valid_until,
            status=status,
            public_digest=public_digest(view),
            issued_at=utcnow().replace(microsecond=0),
        )

    def _sign(self, row: License, status: str, digest: bytes) -> str:
        start = row.valid_from or row.issued_on
        if start is None or not row.identifier:
            raise NotFound(f"license {row.id} has not been issued")
        payload = QrPayload(
            identifier=row.identifier,
            version=row.version,
            holder_code=row.holder_code_display or "-",
            valid_from=start,
            valid_until=row.valid_until,
            status=status,
            public_digest=digest,
            issued_at=utcnow().replace(microsecond=0),
        )
        return sign_payload(self._qr_signer(), payload)

    def _qr_signer(self) -> Signer:
        """The current QR key's Signer; the first time, a key is made and certified by a CA of this deployment
        (RSA or ECDSA CAs before SM2 ones, oldest first; call outside any write transaction)."""
        from certseal.services.ca import CaService
        from certseal.services.qr_keys import QrKeyService

        keys = QrKeyService(self._platform)
        try:
            return keys.signer()
        except NotFound:
            pass
        now = utcnow()
        usable = [ca for ca in CaService(self._platform).list_cas() if ca.key_label and ca.not_after > now]
        if not usable:
            raise ValidationError(
                "ca",
                "license QR codes are signed with a key certified by a CA of this deployment, and there is no CA: "
                "create one (`certseal ca create`) or run `certseal license qr-key ensure --ca NAME`",
            )
        chosen = sorted(usable, key=lambda ca: ca.algorithm is KeyAlgorithm.SM2)[0]
        keys.ensure(chosen.name, SYSTEM)
        return keys.signer()
