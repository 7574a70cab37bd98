"""REST API of the license registry under /api/v1: license types, drafts, one-call issuance, search, lookup, the
detail of a license, lifecycle transitions, versions and the sealed files.

Thin: every endpoint parses, authorises the permission (`requires(...)`, per action for transitions), calls
`LicenseService` — which checks the record's data scope and the lifecycle role and writes the audit records — and
renders the answer.  Every error is an `ErrorBody` {error, field, rule}: the service's errors through the app's
handlers, and request validation errors (malformed JSON, a wrong type, an unknown action) as a `ValidationError`
naming the field (`ErrorBodyRoute`).

A record outside the caller's data scope (another enterprise's license, a county outside an officer's city) answers
403, the service's Forbidden, not 404: record ids are random, licenses are public registers, and the message says
which scope refused, which is what an officer or an enterprise user needs to know.  The one exception: lookup by
license number searches within the caller's scope (numbers are unique per type only), so another's number is 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from certseal.licenses.lifecycle import Action
from certseal.licenses.render.layout import Copy
from certseal.licenses.schema import FieldSpec, LicenseType, LicenseTypeDocument
from certseal.services.access import LicensePermission, Principal
from certseal.services.licenses import (
    ACTION_PERMISSIONS,
    MAX_PAGE,
    FileFormat,
    HistoryEntry,
    LicenseDetail,
    LicenseFileInfo,
    LicenseInfo,
    LicenseQuery,
    LicenseService,
    TransitionRequest,
    VersionDetail,
    VersionInfo,
)
from certseal.web.deps import API_ERRORS, ErrorBodyRoute, client_address, current_principal, platform_of, requires

_DIVISION = r"^[1-9][0-9]{5}$"

LICENSE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {**API_ERRORS[401], "description": "Not logged in and no API key, or an unknown, expired or revoked one"},
    403: {
        **API_ERRORS[403],
        "description": "The role lacks the permission, the record is outside the caller's data scope, the lifecycle "
        "does not let the role (or its level) perform the action, or a cookie request lacks its X-CSRF-Token",
    },
    404: {**API_ERRORS[404], "description": "No such license, license type, version or file"},
    409: {**API_ERRORS[409], "description": "A license number exists already, or the license changed meanwhile"},
    422: {**API_ERRORS[422], "description": "Bad input or an illegal transition: names the field and the rule"},
}
router = APIRouter(prefix="/api/v1", tags=["licenses"], responses=LICENSE_ERRORS, route_class=ErrorBodyRoute)


def _service(request: Request) -> LicenseService:
    return LicenseService(platform_of(request), client_address(request))


Reader = Annotated[Principal, Depends(requires(LicensePermission.READ))]
Writer = Annotated[Principal, Depends(requires(LicensePermission.WRITE))]
Issuer = Annotated[Principal, Depends(requires(LicensePermission.ISSUE))]
Caller = Annotated[Principal, Depends(current_principal)]

# The actions a request may name: those acting on an existing license, in the lifecycle's order.  A Literal so that
# OpenAPI lists them and another one is a 422 naming `action`; built from the one vocabulary, hence the ignore.
TRANSITION_ACTIONS = tuple(action.value for action in ACTION_PERMISSIONS)
TransitionAction = Literal[TRANSITION_ACTIONS]  # type: ignore[valid-type]


# --- license types -------------------------------------------------------------------------------------------


class FieldOut(BaseModel):
    key: str = Field(examples=["enterprise_name"])
    label: str = Field(examples=["企业名称"])
    label_en: str = Field(examples=["Enterprise name"])
    kind: str = Field(description="certseal.licenses.schema.FieldKind", examples=["text"])
    required: bool
    set_on_issue: bool = Field(description="Filled by the registry at issuance (number, dates, issuer)")
    sensitivity: str = Field(description="public, sensitive (masked, encrypted at rest) or private")
    description: str | None = None
    choices: list[str] | None = Field(None, description="Allowed values of an enum field")
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    pattern_hint: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    items: list[FieldOut] | None = Field(None, description="Fields of each object of a list field")


class LicenseTypeOut(BaseModel):
    code: str = Field(examples=["drug-production"])
    name: str = Field(examples=["药品生产许可证"])
    name_en: str = Field(examples=["Drug Production License"])
    family: str = Field(description="enterprise or pharmacist")
    definition_version: int
    number_mode: str = Field(description="pattern: numbered by the registry; external: supplied when issuing")
    holder_name_field: str
    holder_code_field: str
    fields: list[FieldOut]


def _field_out(spec: FieldSpec) -> FieldOut:
    return FieldOut(
        key=spec.key,
        label=spec.label,
        label_en=spec.label_en,
        kind=spec.kind.value,
        required=spec.required,
        set_on_issue=spec.set_on_issue,
        sensitivity=spec.sensitivity.value,
        description=spec.description,
        choices=spec.choices,
        min_length=spec.min_length,
        max_length=spec.max_length,
        pattern=spec.pattern,
        pattern_hint=spec.pattern_hint,
        minimum=spec.minimum,
        maximum=spec.maximum,
        min_items=spec.min_items,
        max_items=spec.max_items,
        items=[_field_out(item) for item in spec.items] if spec.items else None,
    )


def _type_out(license_type: LicenseType) -> LicenseTypeOut:
    document = license_type.document
    return LicenseTypeOut(
        code=license_type.code,
        name=license_type.name,
        name_en=license_type.name_en,
        family=license_type.family.value,
        definition_version=document.definition_version,
        number_mode=document.number.mode,
        holder_name_field=document.holder.name_field,
        holder_code_field=document.holder.code_field,
        fields=[_field_out(spec) for spec in license_type.fields],
    )


@router.get("/license-types", summary="License types: codes, names and their fields", tags=["license types"])
def list_license_types(request: Request, _caller: Reader) -> list[LicenseTypeOut]:
    return [_type_out(t) for t in _service(request).types()]


@router.get(
    "/license-types/{code}",
    summary="One license type's definition (the type document: fields, rules, lifecycle, layouts)",
    tags=["license types"],
    response_model=LicenseTypeDocument,
    response_model_exclude_none=True,
)
def get_license_type(code: str, request: Request, _caller: Reader) -> LicenseTypeDocument:
    return _service(request).type(code).document


# --- licenses: models ----------------------------------------------------------------------------------------


class LicenseInfoOut(BaseModel):
    id: str = Field(description="Opaque record id")
    type_code: str
    type_name: str
    status: str = Field(description="Lifecycle status: draft, submitted, approved, issued, suspended, revoked, …")
    version: int = Field(description="Current version (0 while a draft)")
    number: str | None = Field(examples=["鄂20260001"])
    identifier: str | None = Field(description="GB/T 36904 e-license identifier of the current version")
    holder_name: str
    holder_code: str = Field(description="USCC in clear; a pharmacist's ID number masked")
    division_code: str = Field(description="Data scope of the record (GB/T 2260)")
    issued_on: date | None
    valid_from: date | None
    valid_until: date | None
    created_at: datetime
    updated_at: datetime


class LicenseFileOut(BaseModel):
    copy_: Copy = Field(alias="copy", description="original (正本) or duplicate (副本)")
    format: FileFormat
    size: int
    sha256: str
    seal: str = Field(description="The seal that sealed it")
    url: str = Field(description="Where to download it (same authorisation as the license)")


class VersionInfoOut(BaseModel):
    version: int
    identifier: str
    action: str = Field(description="issue, change, renew or import: what made this version")
    current: bool = Field(description="False once superseded by a later version")
    number: str
    issued_on: date | None
    valid_from: date | None
    valid_until: date | None
    created_at: datetime
    created_by: str
    files: list[LicenseFileOut]
    changed_fields: list[str]


class HistoryEntryOut(BaseModel):
    at: datetime
    action: str
    from_status: str | None
    to_status: str
    actor: str
    version: int
    reason: str | None
    changed_fields: list[str]


class LicenseDetailOut(BaseModel):
    info: LicenseInfoOut
    audience: str = Field(description="public, owner or officer: how `fields` is shown (masked or clear)")
    fields: dict[str, Any] = Field(description="The current data, as the audience sees it")
    versions: list[VersionInfoOut]
    history: list[HistoryEntryOut]
    actions: list[str] = Field(description="Lifecycle actions available from the status (guards not evaluated)")
    warnings: list[str] = Field(description="Validation warnings for officers")


class VersionDetailOut(BaseModel):
    info: VersionInfoOut
    audience: str
    fields: dict[str, Any]


class SearchPageOut(BaseModel):
    total: int = Field(description="How many licenses match (in the caller's scope)")
    items: list[LicenseInfoOut]


class IssuedOut(BaseModel):
    license: LicenseDetailOut
    qr_text: str = Field(description="The text of the QR code printed on the faces: <base_url>/v/<identifier>#<JWS>")


class LicenseCreateIn(BaseModel):
    type: str = Field(min_length=1, max_length=64, examples=["drug-production"])
    data: dict[str, Any] = Field(description="The license data, keyed by the type's field keys")
    division_code: str | None = Field(
        None, pattern=_DIVISION, description="Data scope (GB/T 2260); the caller's division by default"
    )


class LicenseIssueIn(LicenseCreateIn):
    confirmed: list[str] | None = Field(
        None, description="Confirmation codes for approve; omitted or empty: every one the type lists"
    )
    number: str | None = Field(None, max_length=64, description="Only for externally numbered types (pharmacist)")


class TransitionIn(BaseModel):
    action: TransitionAction
    reason: str | None = Field(None, max_length=2000)
    ground: str | None = Field(None, max_length=64, description="Refusal or cancellation ground code of the type")
    confirmed: list[str] = Field(default_factory=list, description="Confirmation codes (approve, change, renew)")
    data: dict[str, Any] | None = Field(None, description="edit, change, renew: the complete new data")
    applied_on: date | None = Field(None, description="renew: when the renewal was applied for (default today)")
    number: str | None = Field(None, max_length=64, description="issue of an externally numbered type")
    valid_from: date | None = None
    valid_until: date | None = None


# --- licenses: conversions -----------------------------------------------------------------------------------


def _info_out(info: LicenseInfo) -> LicenseInfoOut:
    return LicenseInfoOut(
        id=info.id,
        type_code=info.type_code,
        type_name=info.type_name,
        status=info.status,
        version=info.version,
        number=info.number,
        identifier=info.identifier,
        holder_name=info.holder_name,
        holder_code=info.holder_code,
        division_code=info.division_code,
        issued_on=info.issued_on,
        valid_from=info.valid_from,
        valid_until=info.valid_until,
        created_at=info.created_at,
        updated_at=info.updated_at,
    )


def file_url(license_id: str, version: int, copy: str, file_format: str) -> str:
    return f"/api/v1/licenses/{quote(license_id, safe='')}/files/{copy}.{file_format}?version={version}"


def _file_out(license_id: str, version: int, file: LicenseFileInfo) -> LicenseFileOut:
    return LicenseFileOut.model_validate(
        {
            "copy": file.copy,
            "format": file.format,
            "size": file.size,
            "sha256": file.sha256,
            "seal": file.seal,
            "url": file_url(license_id, version, file.copy, file.format.value),
        }
    )


def _version_out(license_id: str, info: VersionInfo) -> VersionInfoOut:
    return VersionInfoOut(
        version=info.version,
        identifier=info.identifier,
        action=info.action,
        current=info.current,
        number=info.number,
        issued_on=info.issued_on,
        valid_from=info.valid_from,
        valid_until=info.valid_until,
        created_at=info.created_at,
        created_by=info.created_by,
        files=[_file_out(license_id, info.version, f) for f in info.files],
        changed_fields=list(info.changed_fields),
    )


def _history_out(entry: HistoryEntry) -> HistoryEntryOut:
    return HistoryEntryOut(
        at=entry.at,
        action=entry.action,
        from_status=entry.from_status,
        to_status=entry.to_status,
        actor=entry.actor,
        version=entry.version,
        reason=entry.reason,
        changed_fields=list(entry.changed_fields),
    )


def _detail_out(detail: LicenseDetail) -> LicenseDetailOut:
    license_id = detail.info.id
    return LicenseDetailOut(
        info=_info_out(detail.info),
        audience=detail.audience,
        fields=detail.fields,
        versions=[_version_out(license_id, v) for v in detail.versions],
        history=[_history_out(h) for h in detail.history],
        actions=list(detail.actions),
        warnings=list(detail.warnings),
    )


def _version_detail_out(license_id: str, detail: VersionDetail) -> VersionDetailOut:
    return VersionDetailOut(info=_version_out(license_id, detail.info), audience=detail.audience, fields=detail.fields)


def _transition_request(body: TransitionIn) -> TransitionRequest:
    return TransitionRequest(
        reason=body.reason,
        ground=body.ground,
        confirmed=frozenset(body.confirmed),
        data=body.data,
        applied_on=body.applied_on,
        number=body.number,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
    )


# --- licenses: endpoints -------------------------------------------------------------------------------------


@router.post(
    "/licenses",
    status_code=status.HTTP_201_CREATED,
    summary="Create a draft license (validated as a draft: nothing is required yet)",
)
async def create_license(body: LicenseCreateIn, request: Request, caller: Writer) -> LicenseDetailOut:
    detail = await run_in_threadpool(_service(request).create, caller, body.type, body.data, body.division_code)
    return _detail_out(detail)


@router.post(
    "/licenses/issue",
    status_code=status.HTTP_201_CREATED,
    summary="Create, submit, approve and issue a license in one call (every step audited)",
    description=(
        "For an officer who may approve and issue (a provincial admin or a provincial licensing officer by default). "
        "`confirmed` defaults to every confirmation the type lists for approve. Answers the issued license and the "
        "QR text printed on its faces."
    ),
)
async def issue_license(body: LicenseIssueIn, request: Request, caller: Issuer) -> IssuedOut:
    steps = TransitionRequest(confirmed=frozenset(body.confirmed or ()), number=body.number)  # empty: every one
    issued = await run_in_threadpool(
        _service(request).issue_now, caller, body.type, body.data, body.division_code, steps
    )
    return IssuedOut(license=_detail_out(issued.detail), qr_text=issued.qr_text)


@router.get("/licenses", summary="Search licenses within the caller's data scope")
async def search_licenses(
    request: Request,
    caller: Reader,
    license_type: Annotated[str | None, Query(alias="type", max_length=64, examples=["drug-production"])] = None,
    license_status: Annotated[str | None, Query(alias="status", max_length=32, examples=["issued"])] = None,
    number: Annotated[str | None, Query(max_length=64, description="Exact license number")] = None,
    holder_name: Annotated[str | None, Query(max_length=200, description="Part of the holder's name")] = None,
    holder_code: Annotated[
        str | None, Query(max_length=32, description="Exact USCC or ID number (searched by blind index)")
    ] = None,
    division: Annotated[str | None, Query(max_length=6, pattern=r"^[0-9]{1,6}$", description="Code prefix")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> SearchPageOut:
    query = LicenseQuery(
        type_code=license_type or None,
        status=license_status or None,
        number=number or None,
        holder_name=holder_name or None,
        holder_code=holder_code or None,
        division_code=division or None,
        offset=offset,
        limit=limit,
    )
    page = await run_in_threadpool(_service(request).search, caller, query)
    return SearchPageOut(total=page.total, items=[_info_out(i) for i in page.items])


@router.get(
    "/licenses/lookup",
    summary="Find a license by record id, identifier (any version) or license number",
    description=(
        "A number is looked up within the caller's data scope (numbers are unique per type only), so a number "
        "outside it answers 404; an id or identifier outside it answers 403."
    ),
)
async def lookup_license(
    request: Request,
    caller: Reader,
    key: Annotated[str, Query(min_length=1, max_length=128, description="Record id, identifier or number")],
) -> LicenseDetailOut:
    return _detail_out(await run_in_threadpool(_service(request).find, caller, key))


@router.get(
    "/licenses/{license_id}",
    summary="One license: current data (masked unless revealed), versions, history, available actions",
    description="`reveal=true` shows sensitive values in clear: needs license:view-sensitive; every reveal is audited.",
)
async def get_license(
    license_id: str,
    request: Request,
    caller: Reader,
    reveal: Annotated[bool, Query(description="Show sensitive fields in clear (audited)")] = False,
) -> LicenseDetailOut:
    if reveal:
        caller.require(LicensePermission.VIEW_SENSITIVE)
    return _detail_out(await run_in_threadpool(_service(request).get, caller, license_id, reveal))


@router.post(
    "/licenses/{license_id}/transitions",
    summary="Perform a lifecycle action (submit, approve, issue, change, renew, suspend, revoke, cancel, …)",
    description=(
        "Permission per action: submit/edit/withdraw license:write; return/reject/approve license:approve; "
        "issue/change/renew license:issue; suspend/resume/revoke/cancel/expire license:revoke. The lifecycle "
        "decides whether the action is allowed now (422 naming the rule) and for the caller's role and level (403)."
    ),
)
async def transition_license(license_id: str, body: TransitionIn, request: Request, caller: Caller) -> LicenseDetailOut:
    action = Action(body.action)
    caller.require(ACTION_PERMISSIONS[action])
    detail = await run_in_threadpool(
        _service(request).transition, caller, license_id, action, _transition_request(body)
    )
    return _detail_out(detail)


@router.get("/licenses/{license_id}/versions/{version}", summary="One version of a license, as the caller may see it")
async def get_license_version(
    license_id: str,
    request: Request,
    caller: Reader,
    version: Annotated[int, Path(ge=1, description="1 for the first issued version")],
    reveal: Annotated[bool, Query(description="Show sensitive fields in clear (audited)")] = False,
) -> VersionDetailOut:
    if reveal:
        caller.require(LicensePermission.VIEW_SENSITIVE)
    detail = await run_in_threadpool(_service(request).version, caller, license_id, version, reveal)
    return _version_detail_out(license_id, detail)


_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/pdf": {}, "application/ofd": {}},
        "description": "The sealed file (PDF or OFD) of the version, as stored at issuance",
    }
}


@router.get(
    "/licenses/{license_id}/files/{copy}.{format}",
    summary="Download a sealed file: 正本 (original) or 副本 (duplicate), PDF or OFD",
    response_class=Response,
    responses=_FILE_RESPONSES,
)
async def get_license_file(
    license_id: str,
    copy: Copy,
    format: FileFormat,
    request: Request,
    caller: Reader,
    version: Annotated[int | None, Query(ge=1, description="The version; the current one by default")] = None,
) -> Response:
    stored = await run_in_threadpool(_service(request).file, caller, license_id, copy, format, version)
    return Response(stored.content, media_type=stored.media_type, headers=_download_headers(stored.name))


def _download_headers(name: str) -> Mapping[str, str]:
    """Content-Disposition with an ASCII fallback and the UTF-8 name (RFC 6266 / 5987): names hold 鄂 etc."""
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    return {
        "content-disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}",
        "cache-control": "private, no-store",
        "x-content-type-options": "nosniff",
    }
