"""REST API: seal a PDF with a registered seal (POST /api/v1/seals/{name}/pdf), answered with the sealed PDF.

The API key (and its seal:use permission) is checked before the multipart body is read: the form fields are not
FastAPI parameters, which would make it spool the whole upload first, but a pydantic model (`SealPdfForm`) validated
from the parsed form and referenced from the OpenAPI document.  `multipart_form` does this for any such endpoint.
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import pydantic
from fastapi import APIRouter, Depends, Request, UploadFile, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from certseal.errors import ValidationError
from certseal.services.apikeys import Permission
from certseal.services.audit import Actor
from certseal.services.pdf_sealing import (
    MAX_PDF_BYTES,
    AtKeyword,
    AtPosition,
    PadesLevel,
    PdfSealingService,
    Riding,
    SealPlacement,
)
from certseal.web.deps import API_ERRORS, ErrorBody, authorised, platform_of

router = APIRouter(prefix="/api/v1", tags=["seals"], responses=API_ERRORS)

SealUser = Annotated[Actor, Depends(authorised(Permission.SEAL_USE))]
_PLACEMENT_RULE = "give exactly one placement: page with x and y, keyword, or riding=true"
_CHUNK = 1024 * 1024
FormModel = TypeVar("FormModel", bound=BaseModel)


class SealPdfForm(BaseModel):
    """The multipart/form-data fields of POST /api/v1/seals/{name}/pdf."""

    file: UploadFile = Field(description="The PDF to seal")
    page: int | None = Field(None, ge=1, description="Page, 1-based (with x and y)")
    x: float | None = Field(None, description="Seal centre, points from the page's left edge")
    y: float | None = Field(None, description="Seal centre, points from the page's bottom edge")
    keyword: str | None = Field(None, max_length=200, description="Seal every occurrence of this text")
    riding: bool = Field(False, description="Riding seal across all pages")
    level: str = Field("B-B", description="B-B, B-T or B-LT")
    reason: str | None = Field(None, max_length=200, description="Reason written into the signature")
    location: str | None = Field(None, max_length=200, description="Location written into the signature")


openapi_models = (SealPdfForm,)


def form_request_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI requestBody of an endpoint whose multipart/form-data fields are `model` (see openapi_models)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


@asynccontextmanager
async def multipart_form(
    request: Request, model: type[FormModel], max_files: int, max_fields: int
) -> AsyncIterator[FormModel]:
    """The request's form validated as `model`, its uploaded files open until the block ends.

    Call it only once the caller is authorised: it reads the body (bounded by the app's RequestBodyLimit)."""
    try:
        form = await request.form(max_files=max_files, max_fields=max_fields)
    except HTTPException as exc:
        raise ValidationError("file", f"the multipart body cannot be read: {exc.detail}") from None
    try:
        yield _validated(model, form)
    finally:
        await form.close()


def _validated(model: type[FormModel], form: FormData) -> FormModel:
    """As FastAPI reads Form/File parameters: an empty text field counts as absent, a repeated one is a list."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        items = [item for item in form.getlist(key) if item != ""]
        if items:
            values[key] = items if _is_list(field.annotation) else items[-1]
    try:
        return model.model_validate(values)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        field_name = ".".join(str(part) for part in error["loc"]) or "form"
        raise ValidationError(field_name, error["msg"]) from None


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_list(member) for member in get_args(annotation))
    return get_origin(annotation) is list


def _placement(page: int | None, x: float | None, y: float | None, keyword: str | None, riding: bool) -> SealPlacement:
    if riding:
        if page is not None or x is not None or keyword:
            raise ValidationError("placement", _PLACEMENT_RULE)
        return Riding(y)
    if keyword:
        if page is not None or x is not None or y is not None:
            raise ValidationError("placement", _PLACEMENT_RULE)
        return AtKeyword(keyword)
    if page is None or x is None or y is None:
        raise ValidationError("placement", _PLACEMENT_RULE)
    return AtPosition(page, x, y)


async def _read_limited(upload: UploadFile) -> bytes | None:
    """The uploaded file, or None as soon as it proves larger than MAX_PDF_BYTES."""
    if upload.size is not None and upload.size > MAX_PDF_BYTES:
        return None
    parts: list[bytes] = []
    total = 0
    while chunk := await upload.read(_CHUNK):
        total += len(chunk)
        if total > MAX_PDF_BYTES:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _too_large() -> JSONResponse:
    limit = f"must be at most {MAX_PDF_BYTES // (1024 * 1024)} MiB"
    return JSONResponse({"error": f"file: {limit}", "field": "file", "rule": limit}, status.HTTP_413_CONTENT_TOO_LARGE)


@router.post(
    "/seals/{name}/pdf",
    summary="Seal a PDF",
    description=(
        "Seal the uploaded PDF with the seal `name` by an incremental update (earlier signatures stay valid) and "
        "answer with the sealed PDF. Give exactly one placement: `page` (1-based) with `x` and `y` (the seal's "
        "centre in points, 1/72 in, from the page's bottom-left corner), `keyword` (the seal centred on every "
        "occurrence; one signature), or `riding=true` (骑缝章 across every page's right edge, at height `y` or "
        "the middle). `level`: B-B, B-T (signature timestamp from this deployment's TSA) or B-LT (+ DSS with "
        "certificates, OCSP responses and CRLs). RSA/ECDSA seals are PAdES (ETSI.CAdES.detached); SM2 seals are "
        "adbe.pkcs7.detached with GB/T 35275 CMS. The API key's name must be a user of the seal "
        "(`api:<key name>`); it is checked before the upload is read."
    ),
    response_class=Response,
    openapi_extra={"requestBody": form_request_body(SealPdfForm)},
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The sealed PDF"},
        413: {"model": ErrorBody, "description": f"The file is larger than {MAX_PDF_BYTES // (1024 * 1024)} MiB"},
    },
)
async def seal_pdf(request: Request, name: str, actor: SealUser) -> Response:
    async with multipart_form(request, SealPdfForm, max_files=1, max_fields=16) as form:
        chosen_level = PadesLevel.parse(form.level)
        placement = _placement(form.page, form.x, form.y, form.keyword, form.riding)
        pdf = await _read_limited(form.file)
    if pdf is None:
        return _too_large()
    service = PdfSealingService(platform_of(request))
    result = await run_in_threadpool(
        service.seal, pdf, name, actor, placement, chosen_level, reason=form.reason, location=form.location
    )
    return Response(
        result.pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="sealed.pdf"',
            "X-Signature-Field": result.field_name.encode("ascii", "replace").decode(),
            "X-PAdES-Level": result.level.value,
        },
    )
