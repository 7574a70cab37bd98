"""The OCSP responder over HTTP (RFC 6960 appendix A, RFC 5019): POST /ocsp/{ca} and GET /ocsp/{ca}/{base64}.

Every well-addressed request gets HTTP 200 with an OCSPResponse, malformedRequest included (RFC 6960 A.1); only
an unknown CA is a 404.  Nonce-less answers to GET carry RFC 5019 6.2 caching headers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import unquote

from fastapi import APIRouter, Request, Response

from certseal.errors import NotFound
from certseal.pki import ocsp
from certseal.services.ocsp import OcspAnswer, OcspService
from certseal.store.models import utcnow
from certseal.web.deps import platform_of

router = APIRouter(tags=["ocsp"])
MEDIA_TYPE = "application/ocsp-response"
_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {MEDIA_TYPE: {}}, "description": "an OCSPResponse (malformedRequest too, per RFC 6960 A.1)"},
    404: {"description": "no such CA"},
}


@router.post(
    "/ocsp/{ca}",
    summary="OCSP request in the body (application/ocsp-request)",
    responses=_RESPONSES,
    openapi_extra={"requestBody": {"content": {"application/ocsp-request": {}}, "required": True}},
)
async def ocsp_post(ca: str, request: Request) -> Response:
    body = await request.body()
    return _respond(request, ca, body, cache_headers=False)


@router.get("/ocsp/{ca}/{encoded:path}", summary="OCSP request, base64 in the URL (RFC 5019 5)", responses=_RESPONSES)
async def ocsp_get(ca: str, encoded: str, request: Request) -> Response:
    der = _decode(encoded)
    if der is None:
        return _respond(request, ca, b"", cache_headers=False)  # base64 that is not: malformedRequest
    return _respond(request, ca, der, cache_headers=True)


def _respond(request: Request, ca: str, der: bytes, cache_headers: bool) -> Response:
    # Signing and the indexed status lookup take well under a millisecond: the event loop runs them directly
    # rather than paying a thread hop for each request.
    try:
        answer = OcspService(platform_of(request)).answer(ca, der)
    except NotFound:
        return Response(f"no OCSP responder for CA {ca!r}\n", status_code=404, media_type="text/plain")
    headers = _cache_headers(answer) if cache_headers and answer.cacheable else {}
    return Response(answer.der, media_type=MEDIA_TYPE, headers=headers)


def _decode(encoded: str) -> bytes | None:
    """Base64 from the URL path: percent-escapes (%2F, %2B, %3D) already undone once by the server, maybe twice."""
    text = unquote(encoded) if "%" in encoded else encoded
    text = text.strip().replace(" ", "+").replace("-", "+").replace("_", "/")  # '+' read as space; base64url
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _cache_headers(answer: OcspAnswer) -> dict[str, str]:
    if answer.status is not ocsp.ResponseStatus.SUCCESSFUL or answer.next_update is None:
        return {}
    max_age = max(0, int((answer.next_update - utcnow()).total_seconds()))
    headers = {
        "Cache-Control": f"max-age={max_age}, public, no-transform, must-revalidate",
        "Expires": _http_date(answer.next_update),
        "ETag": f'"{hashlib.sha1(answer.der, usedforsecurity=False).hexdigest()}"',
    }
    if answer.produced_at is not None:
        headers["Last-Modified"] = _http_date(answer.produced_at)
    return headers


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.replace(microsecond=0), usegmt=True)
