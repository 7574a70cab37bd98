"""REST API: seal a PDF with a registered seal (POST /api/v1/seals/{name}/pdf), answered with the sealed PDF."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile, status
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

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
        "(`api:<key name>`)."
    ),
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The sealed PDF"},
        413: {"model": ErrorBody, "description": f"The file is larger than {MAX_PDF_BYTES // (1024 * 1024)} MiB"},
    },
)
async def seal_pdf(
    request: Request,
    name: str,
    actor: SealUser,
    file: Annotated[UploadFile, File(description="The PDF to seal")],
    page: Annotated[int | None, Form(ge=1, description="Page, 1-based (with x and y)")] = None,
    x: Annotated[float | None, Form(description="Seal centre, points from the page's left edge")] = None,
    y: Annotated[float | None, Form(description="Seal centre, points from the page's bottom edge")] = None,
    keyword: Annotated[str | None, Form(max_length=200, description="Seal every occurrence of this text")] = None,
    riding: Annotated[bool, Form(description="Riding seal across all pages")] = False,
    level: Annotated[str, Form(description="B-B, B-T or B-LT")] = "B-B",
    reason: Annotated[str | None, Form(max_length=200, description="Reason written into the signature")] = None,
    location: Annotated[str | None, Form(max_length=200, description="Location written into the signature")] = None,
) -> Response:
    chosen_level = PadesLevel.parse(level)
    placement = _placement(page, x, y, keyword, riding)
    pdf = await _read_limited(file)
    if pdf is None:
        limit = f"must be at most {MAX_PDF_BYTES // (1024 * 1024)} MiB"
        return JSONResponse(
            {"error": f"file: {limit}", "field": "file", "rule": limit}, status.HTTP_413_CONTENT_TOO_LARGE
        )
    service = PdfSealingService(platform_of(request))
    result = await run_in_threadpool(
        service.seal, pdf, name, actor, placement, chosen_level, reason=reason, location=location
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
