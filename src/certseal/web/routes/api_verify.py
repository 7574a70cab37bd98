"""REST API: verify the signatures of an uploaded PDF, OFD or CMS file (POST /api/v1/verify), as JSON or HTML.

The API key is checked before the body is read, and the body is read with a running count: an upload over
MAX_UPLOAD_BYTES is refused with 413 as soon as it is known to be too large, never parsed or spooled whole.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.types import Message

from certseal.errors import ValidationError
from certseal.services.apikeys import Permission
from certseal.services.audit import Actor
from certseal.services.verification import VerificationService
from certseal.signing.verify.html import render_html
from certseal.web.deps import API_ERRORS, ErrorBody, authorised, platform_of

router = APIRouter(prefix="/api/v1", tags=["verification"], responses=API_ERRORS)

Verifier = Annotated[Actor, Depends(authorised(Permission.VERIFY))]
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # the whole multipart body: the file and any detached content
_MB = 1024 * 1024

_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "The signed file: PDF, OFD, or CMS (DER or PEM)",
                    },
                    "content": {
                        "type": "string",
                        "format": "binary",
                        "description": "The signed content of a detached CMS signature",
                    },
                },
            }
        }
    },
}


@router.post(
    "/verify",
    summary="Verify the signatures of a file",
    description=(
        "Upload a signed file as multipart field `file` (and, for a detached CMS signature, the signed data as "
        "`content`). Every signature is verified: integrity, signer certificate chain to a trust anchor of this "
        "deployment, revocation at the signing time (data in the file, else this deployment's OCSP responder), "
        "signature timestamp and, for PDF, changes made after signing. Each gets PASSED, FAILED or INDETERMINATE "
        "with an EU DSS sub-indication. The answer is 200 whatever the verdict; `format=html` gives a readable "
        f"page. Uploads are limited to {MAX_UPLOAD_BYTES // _MB} MiB."
    ),
    response_class=Response,
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={
        200: {
            "content": {"application/json": {}, "text/html": {}},
            "description": "The verification report (JSON, or an HTML page with format=html)",
        },
        413: {"model": ErrorBody, "description": f"The upload is larger than {MAX_UPLOAD_BYTES // _MB} MiB"},
    },
)
async def verify(
    request: Request,
    _actor: Verifier,
    format: Annotated[Literal["json", "html"], Query(description="json (default) or html")] = "json",
) -> Response:
    too_large = _too_large(request)
    if too_large is not None:
        return too_large
    body = await _read_body(request)
    if body is None:
        return _error_413()
    data, filename, content = await _parts(request, body)
    service = VerificationService(platform_of(request))
    report = await run_in_threadpool(service.verify, data, filename, content)
    if format == "html":
        return HTMLResponse(render_html(report))
    return JSONResponse(report.to_dict())


def _error_413() -> JSONResponse:
    rule = f"the upload must be at most {MAX_UPLOAD_BYTES // _MB} MiB; verify larger files with `certseal verify`"
    return JSONResponse({"error": f"file: {rule}", "field": "file", "rule": rule}, status_code=413)


def _too_large(request: Request) -> JSONResponse | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        return _error_413()
    return None


async def _read_body(request: Request) -> bytes | None:
    """The request body, or None as soon as it grows past MAX_UPLOAD_BYTES (chunked uploads have no length)."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_UPLOAD_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _parts(request: Request, body: bytes) -> tuple[bytes, str | None, bytes | None]:
    """(file bytes, its name, detached content) from the multipart body already read."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ValidationError("file", "upload the signed file as multipart/form-data field 'file'")
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=2, max_fields=4)
    except HTTPException as exc:
        raise ValidationError("file", f"the multipart body cannot be read: {exc.detail}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ValidationError("file", "upload the signed file as multipart/form-data field 'file'")
    content = form.get("content")
    detached = await content.read() if isinstance(content, UploadFile) else None
    if isinstance(content, str):
        detached = content.encode()
    return await upload.read(), upload.filename, detached
