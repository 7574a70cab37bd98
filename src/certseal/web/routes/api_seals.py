"""REST API for the seal registry (/api/v1/seals), authorised by API key and role (seal:read, seal:write)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from asn1crypto import pem
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile, status
from pydantic import BaseModel, Field

from certseal.errors import ValidationError
from certseal.seals.image import MAX_IMAGE_BYTES, RoundSealDesign
from certseal.seals.model import SEAL_CODE_RULE, SEAL_NAME_RULE, SealInfo, SealType
from certseal.services.apikeys import Permission
from certseal.services.audit import Actor
from certseal.services.seals import SealService
from certseal.web.deps import API_ERRORS, authorised, platform_of

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


def _read(upload: UploadFile, field: str, limit: int) -> bytes:
    data = upload.file.read(limit + 1)
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
        "Nothing is stored unless every check passes."
    ),
)
def create_seal(
    request: Request,
    actor: SealWriter,
    name: Annotated[str, Form(description=SEAL_NAME_RULE, examples=["fda-license"])],
    certificate: Annotated[UploadFile, File(description="The seal certificate, PEM or DER")],
    image: Annotated[UploadFile | None, File(description="Seal image, PNG with alpha (or give unit_name)")] = None,
    unit_name: Annotated[
        str | None, Form(description="Draw a round seal for this unit", examples=["某某市药品监督管理局"])
    ] = None,
    text: Annotated[str | None, Form(description="Horizontal text under the star", examples=["电子证照专用章"])] = None,
    code: Annotated[str | None, Form(description=f"{SEAL_CODE_RULE}; assigned when omitted")] = None,
    seal_type: Annotated[SealType, Form(alias="type", description="Kind of seal")] = SealType.OFFICIAL,
    title: Annotated[str | None, Form(description="Full name as filed; unit name + type by default")] = None,
    users: Annotated[
        list[str] | None, Form(description="Who may use it (repeat the field); default: the caller")
    ] = None,
    width_mm: Annotated[float | None, Form(description="Printed width; 42 by default")] = None,
    height_mm: Annotated[float | None, Form(description="Printed height; from the image's proportions")] = None,
    not_before: Annotated[datetime | None, Form(description="Start of validity; the certificate's by default")] = None,
    not_after: Annotated[datetime | None, Form(description="End of validity; the certificate's by default")] = None,
) -> SealOut:
    if text is not None and unit_name is None:
        raise ValidationError("text", "goes with unit_name (a drawn seal)")
    info = SealService(platform_of(request)).create(
        name,
        _read(certificate, "certificate", MAX_CERTIFICATE_BYTES),
        actor,
        seal_type=seal_type,
        code=code or None,
        title=title or None,
        image_png=_read(image, "image", MAX_IMAGE_BYTES) if image is not None else None,
        design=RoundSealDesign(unit_name, text) if unit_name is not None else None,
        size_mm=_size(width_mm, height_mm),
        not_before=not_before,
        not_after=not_after,
        users=users or None,
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
