"""REST API: seal an OFD with a registered SM2 seal (POST /api/v1/seals/{name}/ofd), answered with the sealed OFD."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile, status
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from certseal.errors import ValidationError
from certseal.services.apikeys import Permission
from certseal.services.audit import Actor
from certseal.services.ofd_sealing import MAX_OFD_BYTES, AtKeyword, AtPosition, OfdPlacement, OfdSealingService, Riding
from certseal.web.deps import API_ERRORS, ErrorBody, authorised, platform_of

router = APIRouter(prefix="/api/v1", tags=["seals"], responses=API_ERRORS)

SealUser = Annotated[Actor, Depends(authorised(Permission.SEAL_USE))]
OFD_MEDIA_TYPE = "application/ofd"
_PLACEMENT_RULE = "give exactly one placement: page with x and y, keyword, or riding=true"
_CHUNK = 1024 * 1024


def _placement(page: int | None, x: float | None, y: float | None, keyword: str | None, riding: bool) -> OfdPlacement:
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


async def _read_limited(upload: UploadFile) -> bytes:
    """The uploaded file, or 413 as soon as it is larger than MAX_OFD_BYTES."""
    too_large = HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, f"file: must be at most {MAX_OFD_BYTES // (1024 * 1024)} MiB"
    )
    if upload.size is not None and upload.size > MAX_OFD_BYTES:
        raise too_large
    parts: list[bytes] = []
    total = 0
    while chunk := await upload.read(_CHUNK):
        total += len(chunk)
        if total > MAX_OFD_BYTES:
            raise too_large
        parts.append(chunk)
    return b"".join(parts)


@router.post(
    "/seals/{name}/ofd",
    summary="Seal an OFD",
    description=(
        "Seal the uploaded OFD with the SM2 seal `name` (GB/T 33190 ch. 18 signature with a GB/T 38540 "
        "SES_Signature v4; earlier signatures stay valid) and answer with the sealed OFD. Give exactly one "
        "placement: `page` (1-based) with `x` and `y` (the seal's centre in mm from the page's top-left corner), "
        "`keyword` (the seal centred on every occurrence; one signature), or `riding=true` (骑缝章 across every "
        "page's right edge, centred at `y` mm from the top or in the middle). `timestamp=true` adds an RFC 3161 "
        "timestamp of the signature from this deployment's TSA. The API key's name must be a user of the seal "
        "(`api:<key name>`)."
    ),
    response_class=Response,
    responses={
        200: {"content": {OFD_MEDIA_TYPE: {}}, "description": "The sealed OFD"},
        413: {"model": ErrorBody, "description": f"The file is larger than {MAX_OFD_BYTES // (1024 * 1024)} MiB"},
    },
)
async def seal_ofd(
    request: Request,
    name: str,
    actor: SealUser,
    file: Annotated[UploadFile, File(description="The OFD to seal")],
    page: Annotated[int | None, Form(ge=1, description="Page, 1-based (with x and y)")] = None,
    x: Annotated[float | None, Form(description="Seal centre, mm from the page's left edge")] = None,
    y: Annotated[float | None, Form(description="Seal centre, mm from the page's top edge")] = None,
    keyword: Annotated[str | None, Form(max_length=200, description="Seal every occurrence of this text")] = None,
    riding: Annotated[bool, Form(description="Riding seal across all pages")] = False,
    timestamp: Annotated[bool, Form(description="Add an RFC 3161 timestamp of the signature")] = False,
) -> Response:
    placement = _placement(page, x, y, keyword, riding)
    ofd = await _read_limited(file)
    service = OfdSealingService(platform_of(request))
    result = await run_in_threadpool(service.seal, ofd, name, actor, placement, timestamp)
    return Response(
        result.ofd,
        media_type=OFD_MEDIA_TYPE,
        headers={
            "Content-Disposition": 'attachment; filename="sealed.ofd"',
            "X-Signature-Id": result.signature_id,
            "X-Stamps": str(len(result.stamps)),
        },
    )
