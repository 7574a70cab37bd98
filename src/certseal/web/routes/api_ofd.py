"""REST API: seal an OFD with a registered SM2 seal (POST /api/v1/seals/{name}/ofd), answered with the sealed OFD.

The API key (and its seal:use permission) is checked before the multipart body is read (see certseal.web.forms).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from certseal.seals.placement import placement_of
from certseal.services.apikeys import Permission
from certseal.services.audit import Actor
from certseal.services.ofd_sealing import MAX_OFD_BYTES, OfdSealingService
from certseal.web.deps import API_ERRORS, ErrorBody, authorised, platform_of
from certseal.web.forms import form_request_body, multipart_form, read_limited, too_large

router = APIRouter(prefix="/api/v1", tags=["seals"], responses=API_ERRORS)

SealUser = Annotated[Actor, Depends(authorised(Permission.SEAL_USE))]
OFD_MEDIA_TYPE = "application/ofd"
_PLACEMENT_RULE = "give exactly one placement: page with x and y, keyword, or riding=true"


class SealOfdForm(BaseModel):
    """The multipart/form-data fields of POST /api/v1/seals/{name}/ofd."""

    file: UploadFile = Field(description="The OFD to seal")
    page: int | None = Field(None, ge=1, description="Page, 1-based (with x and y)")
    x: float | None = Field(None, description="Seal centre, mm from the page's left edge")
    y: float | None = Field(None, description="Seal centre, mm from the page's top edge")
    keyword: str | None = Field(None, max_length=200, description="Seal every occurrence of this text")
    riding: bool = Field(False, description="Riding seal across all pages")
    timestamp: bool = Field(False, description="Add an RFC 3161 timestamp of the signature")


openapi_models = (SealOfdForm,)


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
    openapi_extra={"requestBody": form_request_body(SealOfdForm)},
    responses={
        200: {"content": {OFD_MEDIA_TYPE: {}}, "description": "The sealed OFD"},
        413: {"model": ErrorBody, "description": f"The file is larger than {MAX_OFD_BYTES // (1024 * 1024)} MiB"},
    },
)
async def seal_ofd(request: Request, name: str, actor: SealUser) -> Response:
    async with multipart_form(request, SealOfdForm, max_files=1, max_fields=16) as form:
        placement = placement_of(form.page, form.x, form.y, form.keyword, form.riding, rule=_PLACEMENT_RULE)
        ofd = await read_limited(form.file, MAX_OFD_BYTES)
    if ofd is None:
        return too_large("file", MAX_OFD_BYTES)
    service = OfdSealingService(platform_of(request))
    result = await run_in_threadpool(service.seal, ofd, name, actor, placement, form.timestamp)
    return Response(
        result.ofd,
        media_type=OFD_MEDIA_TYPE,
        headers={
            "Content-Disposition": 'attachment; filename="sealed.ofd"',
            "X-Signature-Id": result.signature_id,
            "X-Stamps": str(len(result.stamps)),
        },
    )
