"""The OCSP responder over HTTP (RFC 6960 appendix A, RFC 5019): POST /ocsp/{ca} and GET /ocsp/{ca}/{base64}.

Every well-addressed request gets HTTP 200 with an OCSPResponse, malformedRequest included (RFC 6960 A.1); only
an unknown CA is a 404.  Nonce-less answers to GET carry RFC 5019 6.2 caching headers.

Relying parties send these requests by the thousand per second, so they are served by a plain ASGI endpoint
(`OcspEndpoint`, ~5 µs) rather than FastAPI's request machinery (~100 µs): the router holds it as a Starlette route
ahead of the FastAPI routes, which stay only to document the endpoints in OpenAPI.  `fast_path` lets the app
dispatch to it before its router too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import unquote

from fastapi import APIRouter, Request, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from certseal.errors import NotFound
from certseal.pki import ocsp
from certseal.services.ocsp import OcspAnswer, OcspService
from certseal.services.platform import Platform
from certseal.store.models import utcnow
from certseal.web.deps import platform_of

router = APIRouter(tags=["ocsp"])
MEDIA_TYPE = "application/ocsp-response"
PREFIX = "/ocsp/"
_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {MEDIA_TYPE: {}}, "description": "an OCSPResponse (malformedRequest too, per RFC 6960 A.1)"},
    404: {"description": "no such CA"},
}


@dataclass(frozen=True, slots=True)
class Reply:
    """What goes back over HTTP, whichever layer sends it."""

    status: int
    body: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)


def reply(platform: Platform, ca: str, der: bytes, cache_headers: bool) -> Reply:
    # Signing and the status lookup take well under a millisecond: the event loop runs them directly rather than
    # paying a thread hop for each request.
    try:
        answer = OcspService(platform).answer(ca, der)
    except NotFound:
        return Reply(404, f"no OCSP responder for CA {ca!r}\n".encode(), "text/plain; charset=utf-8")
    headers = _cache_headers(answer) if cache_headers and answer.cacheable else {}
    return Reply(200, answer.der, MEDIA_TYPE, headers)


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


def _get_reply(platform: Platform, ca: str, encoded: str) -> Reply:
    der = _decode(encoded)
    if der is None:
        return reply(platform, ca, b"", cache_headers=False)  # base64 that is not: malformedRequest
    return reply(platform, ca, der, cache_headers=True)


# --- the plain ASGI endpoint that serves the requests ------------------------------------------------------


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None if it is longer than `limit` bytes or the client went away."""
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body if message["type"] == "http.request" and len(body) <= limit else None
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def send_reply(send: Send, answer: Reply) -> None:
    headers = [
        (b"content-type", answer.media_type.encode()),
        (b"content-length", str(len(answer.body)).encode()),
    ]
    headers.extend((name.lower().encode(), value.encode("latin-1")) for name, value in answer.headers.items())
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


def _target(scope: Scope) -> tuple[str, str | None] | None:
    """(CA, base64 text for GET) if the scope is one of ours: POST /ocsp/{ca} or GET /ocsp/{ca}/{base64}."""
    path: str = scope["path"]
    if not path.startswith(PREFIX):
        return None
    rest = path[len(PREFIX) :]
    method = scope["method"]
    if method == "POST":
        return (rest, None) if rest and "/" not in rest else None
    if method == "GET":
        ca, slash, encoded = rest.partition("/")
        return (ca, encoded) if ca and slash else None
    return None


class OcspEndpoint:
    """POST /ocsp/{ca} and GET /ocsp/{ca}/{base64} as a plain ASGI app (the platform is the app's)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = _target(scope)
        assert target is not None  # routed here only for our paths
        ca, encoded = target
        platform: Platform = scope["app"].state.platform
        if encoded is not None:
            await send_reply(send, _get_reply(platform, ca, encoded))
            return
        body = await read_body(receive, ocsp.MAX_REQUEST)
        await send_reply(send, reply(platform, ca, body if body is not None else b"", cache_headers=False))


ENDPOINT = OcspEndpoint()


def fast_path(scope: Scope) -> ASGIApp | None:
    """The endpoint if an HTTP scope is an OCSP request, for an app that dispatches before its router."""
    return ENDPOINT if _target(scope) is not None else None


# Served: Starlette routes (plain ASGI), matched before the FastAPI routes below.
router.routes.append(Route("/ocsp/{ca}", ENDPOINT, methods=["POST"], include_in_schema=False))
router.routes.append(Route("/ocsp/{ca}/{encoded:path}", ENDPOINT, methods=["GET"], include_in_schema=False))


# Documented: the same behaviour through FastAPI, for OpenAPI (and any request the routes above do not take).
@router.post(
    "/ocsp/{ca}",
    summary="OCSP request in the body (application/ocsp-request)",
    responses=_RESPONSES,
    openapi_extra={"requestBody": {"content": {"application/ocsp-request": {}}, "required": True}},
)
async def ocsp_post(ca: str, request: Request) -> Response:
    return _response(reply(platform_of(request), ca, await request.body(), cache_headers=False))


@router.get("/ocsp/{ca}/{encoded:path}", summary="OCSP request, base64 in the URL (RFC 5019 5)", responses=_RESPONSES)
async def ocsp_get(ca: str, encoded: str, request: Request) -> Response:
    return _response(_get_reply(platform_of(request), ca, encoded))


def _response(answer: Reply) -> Response:
    return Response(answer.body, status_code=answer.status, media_type=answer.media_type, headers=answer.headers)
