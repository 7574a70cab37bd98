"""The OCSP responder over HTTP (RFC 6960 appendix A, RFC 5019): POST /ocsp/{ca} and GET /ocsp/{ca}/{base64}.

Every well-addressed request gets HTTP 200 with an OCSPResponse, malformedRequest included (RFC 6960 A.1); only
an unknown CA is a 404.  Nonce-less answers to GET carry RFC 5019 6.2 caching headers.

Relying parties send these requests by the thousand per second.  `certseal serve` answers them on the HTTP
connection itself (`direct_route`, see certseal.web.server), a turn of the event loop's worth at a time
(`TurnQueue`); any other ASGI server reaches a plain ASGI endpoint (`OcspEndpoint`, ~5 µs) rather than FastAPI's
request machinery (~100 µs): the router holds it as a Starlette route ahead of the FastAPI routes, which stay only
to document the endpoints in OpenAPI, and `fast_path` lets the app dispatch to it before its router too.  All three
give the same answer, from `reply`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from email.utils import format_datetime
from functools import partial
from types import MappingProxyType
from typing import Generic, NamedTuple, TypeVar
from urllib.parse import unquote

from fastapi import APIRouter, Request, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from certseal.errors import NotFound
from certseal.logs import get_logger
from certseal.pki import ocsp
from certseal.services.ocsp import OcspAnswer, OcspService
from certseal.services.platform import Platform
from certseal.store.models import utcnow
from certseal.web.deps import platform_of

log = get_logger("ocsp")
router = APIRouter(tags=["ocsp"])
MEDIA_TYPE = "application/ocsp-response"
PREFIX = "/ocsp/"
_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {MEDIA_TYPE: {}}, "description": "an OCSPResponse (malformedRequest too, per RFC 6960 A.1)"},
    404: {"description": "no such CA"},
}


_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class Reply(NamedTuple):
    """What goes back over HTTP, whichever layer sends it (a NamedTuple: one is made for every request)."""

    status: int
    body: bytes
    media_type: str
    headers: Mapping[str, str] = _NO_HEADERS


T = TypeVar("T")
Done = Callable[[Reply], None]
INTERNAL_ERROR = Reply(500, b"Internal Server Error", "text/plain; charset=utf-8", {"Connection": "close"})


class TurnQueue(Generic[T]):
    """Requests that arrive during one turn of an event loop, handed to `handle` together at the start of the next.

    Why: signing one request after another keeps the signing code and key in the CPU caches; a signature made
    between parsing HTTP and writing to sockets costs ~8 % more (bench.pki per core: ~380 against ~350 µs of CPU
    an RSA-2048 OCSP answer)."""

    def __init__(self, handle: Callable[[list[tuple[T, Done]]], None]) -> None:
        self._handle = handle
        self._pending: dict[asyncio.AbstractEventLoop, list[tuple[T, Done]]] = {}  # per loop: `done` runs on its own

    def submit(self, item: T, done: Done) -> None:
        """Queue an item (call on the event loop); `handle` must call `done` exactly once, with its reply."""
        loop = asyncio.get_running_loop()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._flush, loop)
        pending.append((item, done))

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle(self._pending.pop(loop))


def deliver(batch: Sequence[tuple[object, Done]], replies: Sequence[Reply]) -> None:
    """Call each request's `done` with its reply; one connection's failure is not the others'."""
    for (_, done), answer in zip(batch, replies, strict=True):
        try:
            done(answer)
        except Exception:
            log.exception("the reply could not be sent")


def reply(platform: Platform, ca: str, der: bytes, cache_headers: bool) -> Reply:
    return _reply(OcspService(platform), ca, der, cache_headers)


def _reply(service: OcspService, ca: str, der: bytes, cache_headers: bool) -> Reply:
    # Signing and the status lookup take well under a millisecond: the event loop runs them directly rather than
    # paying a thread hop for each request.
    try:
        answer = service.answer(ca, der)
    except NotFound:
        answer = None
    return _http(ca, answer, cache_headers)


def _http(ca: str, answer: OcspAnswer | None, cache_headers: bool) -> Reply:
    """The HTTP reply for an OCSP answer (None: the CA does not exist)."""
    if answer is None:
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
    return _get(OcspService(platform), ca, encoded)


def _get(service: OcspService, ca: str, encoded: str) -> Reply:
    der = _decode(encoded)
    if der is None:
        return _reply(service, ca, b"", cache_headers=False)  # base64 that is not: malformedRequest
    return _reply(service, ca, der, cache_headers=True)


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
    return target_of(scope["method"], scope["path"])


def target_of(method: str, path: str) -> tuple[str, str | None] | None:
    """(CA, base64 text for GET) for POST /ocsp/{ca} and GET /ocsp/{ca}/{base64}; None for anything else."""
    if not path.startswith(PREFIX):
        return None
    rest = path[len(PREFIX) :]
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


class OcspDirectRoute:
    """POST /ocsp/{ca} and GET /ocsp/{ca}/{base64} for certseal.web.server's HTTP protocol (a DirectRoute); the
    requests of one turn of the event loop are answered together (OcspService.answer_many)."""

    prefix = PREFIX.encode()
    body_limit = ocsp.MAX_REQUEST

    def __init__(self, platform: Platform) -> None:
        self._service = OcspService(platform)
        self._queue: TurnQueue[tuple[str, bytes, bool]] = TurnQueue(self._answer_all)

    def claim(self, method: str, path: str) -> Callable[[str, bytes | None, Done], None] | None:
        target = target_of(method, path)
        if target is None:
            return None
        ca, encoded = target
        return partial(self._post, ca) if encoded is None else partial(self._get, ca, encoded)

    def _post(self, ca: str, _media_type: str, body: bytes | None, done: Done) -> None:
        self._queue.submit((ca, body if body is not None else b"", False), done)

    def _get(self, ca: str, encoded: str, _media_type: str, _body: bytes | None, done: Done) -> None:
        der = _decode(encoded)
        self._queue.submit((ca, b"" if der is None else der, der is not None), done)  # not base64: malformed

    def _answer_all(self, batch: list[tuple[tuple[str, bytes, bool], Done]]) -> None:
        try:
            answers = self._service.answer_many([(ca, der) for (ca, der, _), _ in batch])
            replies = [_http(ca, a, cache) for ((ca, _, cache), _), a in zip(batch, answers, strict=True)]
        except Exception:
            log.exception("OCSP: internal error")
            replies = [INTERNAL_ERROR] * len(batch)
        deliver(batch, replies)


def direct_route(platform: Platform) -> OcspDirectRoute:
    return OcspDirectRoute(platform)


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
