"""REST API: a CMS signature by a registered seal (POST /api/v1/seals/{name}/cms), over an uploaded file or over a
digest the client computed, answered with the DER SignedData (application/pkcs7-signature).

Two request bodies, told apart by Content-Type: application/json `CmsDigestRequest` for hash-only clients (the
digest in HEX, as sha256sum prints it), or multipart/form-data `CmsFileForm` with the file.  As for PDF sealing,
the API key and its seal:use permission are checked before the body is read, and the body is read with a bound.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from certseal.errors import ValidationError
from certseal.services.apikeys import Permission
from certseal.services.audit import Actor
from certseal.services.cms_signing import (
    MAX_CONTENT_BYTES,
    MAX_DIGEST_BYTES,
    CmsSigningService,
    SignedCmsResult,
    parse_hex_digest,
)
from certseal.web.deps import API_ERRORS, ErrorBody, authorised, platform_of
from certseal.web.forms import multipart_form, read_limited, too_large

router = APIRouter(prefix="/api/v1", tags=["seals"], responses=API_ERRORS)

SealUser = Annotated[Actor, Depends(authorised(Permission.SEAL_USE))]
CMS_MEDIA_TYPE = "application/pkcs7-signature"
MAX_JSON_BYTES = 4096
_MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and the small fields around the file
_MIB = 1024 * 1024


class CmsDigestRequest(BaseModel):
    """The JSON body of POST /api/v1/seals/{name}/cms for clients that send only the content's digest."""

    model_config = ConfigDict(extra="forbid")

    digest: str = Field(
        max_length=4 * MAX_DIGEST_BYTES,
        description="The content's digest in hex (64 hex digits for sha256 and sm3), as sha256sum prints it",
        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
    )
    digest_algorithm: Literal["sha256", "sm3"] | None = Field(
        None, description="sha256 for RSA/ECDSA seals, sm3 for SM2 seals; default: the seal's"
    )
    timestamp: bool = Field(False, description="CAdES-T: add a signature timestamp from this deployment's TSA")


class CmsFileForm(BaseModel):
    """The multipart/form-data fields of POST /api/v1/seals/{name}/cms: a file to sign, or (as in the JSON body) a
    digest; exactly one of the two."""

    file: UploadFile | None = Field(None, description="The content to sign")
    digest: str | None = Field(None, max_length=4 * MAX_DIGEST_BYTES, description="Instead of file: its digest, hex")
    digest_algorithm: Literal["sha256", "sm3"] | None = Field(
        None, description="With digest: sha256 for RSA/ECDSA seals, sm3 for SM2 seals; default: the seal's"
    )
    detached: bool = Field(True, description="false: the content goes inside the signature (attached)")
    timestamp: bool = Field(False, description="CAdES-T: add a signature timestamp from this deployment's TSA")


openapi_models = (CmsDigestRequest, CmsFileForm)

_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/CmsDigestRequest"}},
        "multipart/form-data": {"schema": {"$ref": "#/components/schemas/CmsFileForm"}},
    },
}


def _declared_length(request: Request) -> int | None:
    declared = request.headers.get("content-length")
    return int(declared) if declared is not None and declared.isdigit() else None


@router.post(
    "/seals/{name}/cms",
    summary="Sign a file or a digest (CMS)",
    description=(
        "A CMS SignedData (RFC 5652) by the seal `name` with CAdES-B signed attributes (signing-certificate-v2, "
        "signing-time), or CAdES-T with `timestamp=true` (a signature timestamp from this deployment's TSA). "
        "RSA/ECDSA seals sign SHA-256 digests; SM2 seals sign SM3 digests with GB/T 35275 content types. "
        "Send either `application/json` with the content's `digest` in **hex** (hash-only clients; the signature "
        "is detached), or `multipart/form-data` with the `file` (detached by default, `detached=false` puts the "
        "content inside) or, instead of the file, a hex `digest`. The digest must have the length of its algorithm "
        "(32 bytes for sha256 and sm3); `digest_algorithm`, if given, must be the seal's. "
        f"Files are limited to {MAX_CONTENT_BYTES // _MIB} MiB, JSON bodies to {MAX_JSON_BYTES} "
        "bytes. The API key's name must be a user of the seal (`api:<key name>`); it is checked before the body "
        "is read. Verify the answer with `openssl cms -verify -binary -inform DER -content FILE` (RSA/ECDSA) or "
        "POST /api/v1/verify."
    ),
    response_class=Response,
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={
        200: {
            "content": {CMS_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "description": "The DER ContentInfo holding the SignedData",
            "headers": {
                "X-CAdES-Level": {"description": "CAdES-B or CAdES-T", "schema": {"type": "string"}},
                "X-Digest-Algorithm": {"description": "sha256 or sm3", "schema": {"type": "string"}},
                "X-Message-Digest": {
                    "description": "The signed digest of the content, hex",
                    "schema": {"type": "string"},
                },
            },
        },
        413: {"model": ErrorBody, "description": "The file or the JSON body is too large"},
    },
)
async def sign_cms(request: Request, name: str, actor: SealUser) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return await _sign_digest(request, name, actor)
    if content_type == "multipart/form-data":
        return await _sign_file(request, name, actor)
    raise ValidationError(
        "body", "send application/json {digest, digest_algorithm, timestamp} or multipart/form-data with a file"
    )


async def _sign_digest(request: Request, name: str, actor: Actor) -> Response:
    declared = _declared_length(request)
    if declared is not None and declared > MAX_JSON_BYTES:
        return too_large("body", f"{MAX_JSON_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            return too_large("body", f"{MAX_JSON_BYTES} bytes")
    asked = _json_request(bytes(body))
    service = CmsSigningService(platform_of(request))
    result = await run_in_threadpool(
        service.sign,
        name,
        actor,
        digest=parse_hex_digest(asked.digest),
        digest_algorithm=asked.digest_algorithm,
        timestamp=asked.timestamp,
    )
    return _answer(result)


def _json_request(body: bytes) -> CmsDigestRequest:
    try:
        return CmsDigestRequest.model_validate_json(body)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        field_name = ".".join(str(part) for part in error["loc"]) or "body"
        raise ValidationError(field_name, error["msg"]) from None


async def _sign_file(request: Request, name: str, actor: Actor) -> Response:
    declared = _declared_length(request)
    if declared is not None and declared > MAX_CONTENT_BYTES + _MULTIPART_OVERHEAD:
        return too_large("file", f"{MAX_CONTENT_BYTES // _MIB} MiB")
    async with multipart_form(request, CmsFileForm, max_files=1, max_fields=8) as form:
        content = await read_limited(form.file, MAX_CONTENT_BYTES) if form.file is not None else None
        if form.file is not None and content is None:
            return too_large("file", f"{MAX_CONTENT_BYTES // _MIB} MiB")
    service = CmsSigningService(platform_of(request))
    result = await run_in_threadpool(
        service.sign,
        name,
        actor,
        content=content,
        digest=parse_hex_digest(form.digest) if form.digest is not None else None,
        digest_algorithm=form.digest_algorithm,
        detached=form.detached,
        timestamp=form.timestamp,
    )
    return _answer(result)


def _answer(result: SignedCmsResult) -> Response:
    return Response(
        result.der,
        media_type=CMS_MEDIA_TYPE,
        headers={
            "Content-Disposition": 'attachment; filename="signature.p7s"',
            "X-CAdES-Level": result.level.value,
            "X-Digest-Algorithm": result.digest_algorithm,
            "X-Message-Digest": result.message_digest.hex(),
        },
    )
