"""REST API for the seal registry (/api/v1/seals), authorised by API key and role (seal:read, seal:write).

Registering a seal is a multipart upload: its fields are `SealRegistrationForm`, read after the API key is checked
(see certseal.web.forms)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from asn1crypto import pem
from fastapi import APIRouter, Depends, Request, Response, UploadFile, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from certseal.errors import ValidationError
from certseal.seals.image import MAX_IMAGE_BYTES, RoundSealDesign
from certseal.seals.model import SEAL_CODE_RULE, SEAL_NAME_RULE, SealInfo, SealType
from certseal.services.apikeys import Permission
from certseal.services.audit import Actor
from certseal.services.seals import SealService
from certseal.web.deps import API_ERRORS, authorised, platform_of
from certseal.web.forms import form_request_body, multipart_form

router = APIRouter(prefix="/api/v1", tags=["seals"], responses=API_ERRORS)

SealReader = Annotated[Actor, Depends(authorised(Permission.SEAL_READ))]
SealWriter = Annotated[Actor, Depends(authorised(Permission.SEAL_WRITE))]
MAX_CERTIFICATE_BYTES = 64 * 1024


class SealOut(BaseModel):
    name: str
    title: str = Field(description="The seal's full name as filed, e.g. 某某市药品监督管理局电子证照专用章")
    type: SealType
    type_label: str = Field(description="公章, 电子证照专用章, 合同专用章 or 个人签名")
    code: str = Field(description="GB/T 38540 seal code (esID)")
    status: str = Field(description="active or disabled")
    certificate_subject: str
    certificate_pem: str
    key_label: str = Field(description="The token key of the seal certificate")
    not_before: datetime
    not_after: datetime
    users: list[str] = Field(description="Who may seal with it: user names, or api:KEY-NAME for API keys")
    width_mm: float
    height_mm: float
    image_sha256: str
    image_url: str
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime


class SealRegistrationForm(BaseModel):
    """The multipart/form-data fields of POST /api/v1/seals."""

    name: str = Field(description=SEAL_NAME_RULE, examples=["fda-license"])
    certificate: UploadFile = Field(description="The seal certificate, PEM or DER")
    image: UploadFile | None = Field(None, description="Seal image, PNG with alpha (or give unit_name)")
    unit_name: str | None = Field(
        None, description="Draw a round seal for this unit", examples=["某某市药品监督管理局"]
    )
    text: str | None = Field(None, description="Horizontal text under the star", examples=["电子证照专用章"])
    code: str | None = Field(None, description=f"{SEAL_CODE_RULE}; assigned when omitted")
    seal_type: SealType = Field(SealType.OFFICIAL, alias="type", description="Kind of seal")
    title: str | None = Field(None, description="Full name as filed; unit name + type by default")
    users: list[str] | None = Field(None, description="Who may use it (repeat the field); default: the caller")
    width_mm: float | None = Field(None, description="Printed width; 42 by default")
    height_mm: float | None = Field(None, description="Printed height; from the image's proportions")
    not_before: datetime | None = Field(None, description="Start of validity; the certificate's by default")
    not_after: datetime | None = Field(None, description="End of validity; the certificate's by default")


openapi_models = (SealRegistrationForm,)


class SealUsers(BaseModel):
    users: list[str] = Field(min_length=1, examples=[["alice", "api:his-gateway"]])


class SealUsersChange(BaseModel):
    add: list[str] = Field(default_factory=list, examples=[["api:his-gateway"]])
    remove: list[str] = Field(default_factory=list, examples=[["bob"]])


def _out(info: SealInfo) -> SealOut:
    return SealOut(
        name=info.name,
        title=info.title,
        type=info.type,
        type_label=info.type.label,
        code=info.code,
        status=info.status.value,
        certificate_subject=info.certificate_subject,
        certificate_pem=bytes(pem.armor("CERTIFICATE", info.certificate_der)).decode(),
        key_label=info.key_label,
        not_before=info.not_before,
        not_after=info.not_after,
        users=list(info.users),
        width_mm=info.width_mm,
        height_mm=info.height_mm,
        image_sha256=info.image_sha256,
        image_url=f"/api/v1/seals/{info.name}/image",
        created_by=info.created_by,
        created_at=info.created_at,
        updated_by=info.updated_by,
        updated_at=info.updated_at,
    )


async def _read(upload: UploadFile, field: str, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if not data:
        raise ValidationError(field, "the uploaded file is empty")
    if len(data) > limit:
        raise ValidationError(field, f"must be at most {limit // 1024} KB")
    return data


def _size(width: float | None, height: float | None) -> tuple[float, float] | None:
    if width is None and height is None:
        return None
    if width is None:
        raise ValidationError("width_mm", "is required when height_mm is given")
    return width, height if height is not None else width


@router.get("/seals", summary="List seals")
def list_seals(request: Request, _actor: SealReader) -> list[SealOut]:
    return [_out(info) for info in SealService(platform_of(request)).list()]


@router.post(
    "/seals",
    status_code=status.HTTP_201_CREATED,
    summary="Register a seal",
    description=(
        "multipart/form-data: the seal certificate (PEM or DER; it must chain to a CA of this deployment, be valid, "
        "allow digitalSignature or nonRepudiation, and its key must be in a token), and EITHER an image (PNG with a "
        "transparent background, ≥ 200 px, ≤ 2 MB) OR unit_name (and optional text) to draw a round red seal. "
        "Nothing is stored unless every check passes. The API key is checked before the upload is read."
    ),
    openapi_extra={"requestBody": form_request_body(SealRegistrationForm)},
)
async def create_seal(request: Request, actor: SealWriter) -> SealOut:
    async with multipart_form(request, SealRegistrationForm, max_files=2, max_fields=256) as form:
        if form.text is not None and form.unit_name is None:
            raise ValidationError("text", "goes with unit_name (a drawn seal)")
        certificate = await _read(form.certificate, "certificate", MAX_CERTIFICATE_BYTES)
        image = await _read(form.image, "image", MAX_IMAGE_BYTES) if form.image is not None else None
    info = await run_in_threadpool(
        SealService(platform_of(request)).create,
        form.name,
        certificate,
        actor,
        seal_type=form.seal_type,
        code=form.code or None,
        title=form.title or None,
        image_png=image,
        design=RoundSealDesign(form.unit_name, form.text) if form.unit_name is not None else None,
        size_mm=_size(form.width_mm, form.height_mm),
        not_before=form.not_before,
        not_after=form.not_after,
        users=form.users or None,
    )
    return _out(info)


@router.get("/seals/{name}", summary="One seal")
def get_seal(name: str, request: Request, _actor: SealReader) -> SealOut:
    return _out(SealService(platform_of(request)).get(name))


@router.get(
    "/seals/{name}/image",
    summary="The seal's image",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The seal image, PNG with transparency"}},
)
def get_seal_image(name: str, request: Request, _actor: SealReader) -> Response:
    return Response(SealService(platform_of(request)).image(name), media_type="image/png")


@router.put("/seals/{name}/users", summary="Replace who may use a seal")
def put_seal_users(name: str, body: SealUsers, request: Request, actor: SealWriter) -> SealOut:
    return _out(SealService(platform_of(request)).set_users(name, actor, users=body.users))


@router.patch("/seals/{name}/users", summary="Add and remove users of a seal")
def patch_seal_users(name: str, body: SealUsersChange, request: Request, actor: SealWriter) -> SealOut:
    return _out(SealService(platform_of(request)).set_users(name, actor, add=body.add, remove=body.remove))


@router.post("/seals/{name}/disable", summary="Disable a seal for good (idempotent)")
def disable_seal(name: str, request: Request, actor: SealWriter) -> SealOut:
    return _out(SealService(platform_of(request)).disable(name, actor))
