"""REST API: seal a PDF with a registered seal (POST /api/v1/seals/{name}/pdf), answered with the sealed PDF.

The API key (and its seal:use permission) is checked before the multipart body is read (see certseal.web.forms).
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from certseal.seals.placement import placement_of
from certseal.services.apikeys import Permission
from certseal.services.audit import Actor
from certseal.services.pdf_sealing import (
    MAX_PDF_BYTES,
    PadesLevel,
    PdfSealingService,
    SealPlacement,
)
from certseal.web.deps import API_ERRORS, ErrorBody, authorised, platform_of
from certseal.web.forms import form_request_body, multipart_form, read_limited, too_large

router = APIRouter(prefix="/api/v1", tags=["seals"], responses=API_ERRORS)

SealUser = Annotated[Actor, Depends(authorised(Permission.SEAL_USE))]
_PLACEMENT_RULE = "give exactly one placement: page with x and y, keyword, or riding=true"
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


def _placement(page: int | None, x: float | None, y: float | None, keyword: str | None, riding: bool) -> SealPlacement:
    return placement_of(page, x, y, keyword, riding, rule=_PLACEMENT_RULE)


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
        pdf = await read_limited(form.file, MAX_PDF_BYTES)
    if pdf is None:
        return too_large("file", MAX_PDF_BYTES)
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
