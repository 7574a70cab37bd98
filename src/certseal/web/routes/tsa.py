"""RFC 3161 timestamps over HTTP (RFC 3161 3.4): POST a DER TimeStampReq, get a DER TimeStampResp.

Served, like OCSP, by a plain ASGI endpoint (`TsaEndpoint`) held as a Starlette route ahead of the FastAPI route
that documents it; `fast_path` lets the app dispatch to it before its router.  A token is stamped on the event loop
(a signature and one SQLite insert, a few hundred µs) unless the database would make it wait: then in a thread.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from certseal.pki.tsa import MAX_REQUEST_BYTES
from certseal.services.platform import Platform
from certseal.services.tsa import TsaNotConfigured, TsaService
from certseal.web.deps import platform_of
from certseal.web.routes.ocsp import Reply, read_body, send_reply

router = APIRouter(tags=["tsa"])

PATH = "/tsa"
QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
JSON_TYPE = "application/json"


def _json(status: int, content: dict[str, str], headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
    return Reply(status, body.encode(), JSON_TYPE, headers or {})


def _wrong_type(content_type: str) -> Reply | None:
    if content_type == QUERY_TYPE:
        return None
    return _json(
        415, {"error": f"POST a DER TimeStampReq with Content-Type {QUERY_TYPE}, not {content_type or 'none'!r}"}
    )


async def stamp(platform: Platform, body: bytes) -> Reply:
    service = TsaService(platform)
    try:
        response = service.stamp_without_waiting(body)
        if response is None:  # the database is busy: wait for it off the event loop
            response = await run_in_threadpool(service.stamp, body)
    except TsaNotConfigured as exc:
        return _json(503, {"error": exc.message}, {"Retry-After": "60"})
    return Reply(200, response, REPLY_TYPE)


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


class TsaEndpoint:
    """POST /tsa as a plain ASGI app (the platform is the app's)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = _media_type(value.decode("latin-1"))
                break
        refused = _wrong_type(content_type)
        if refused is not None:
            await send_reply(send, refused)
            return
        body = await read_body(receive, MAX_REQUEST_BYTES)
        platform: Platform = scope["app"].state.platform
        await send_reply(send, await stamp(platform, body if body is not None else b""))


ENDPOINT = TsaEndpoint()


def fast_path(scope: Scope) -> ASGIApp | None:
    """The endpoint if an HTTP scope is POST /tsa, for an app that dispatches before its router."""
    return ENDPOINT if scope["path"] == PATH and scope["method"] == "POST" else None


# Served: a Starlette route (plain ASGI), matched before the FastAPI route below.
router.routes.append(Route(PATH, ENDPOINT, methods=["POST"], include_in_schema=False))


# Documented: the same behaviour through FastAPI, for OpenAPI.
@router.post(
    PATH,
    summary="Timestamp (RFC 3161): body is a DER TimeStampReq",
    openapi_extra={
        "requestBody": {"required": True, "content": {QUERY_TYPE: {"schema": {"type": "string", "format": "binary"}}}}
    },
    responses={
        200: {"content": {REPLY_TYPE: {}}, "description": "TimeStampResp: granted, or rejection with failure info"},
        415: {"description": "the body is not application/timestamp-query"},
        503: {"description": "no timestamp authority is set up"},
    },
)
async def timestamp(request: Request) -> Response:
    refused = _wrong_type(_media_type(request.headers.get("content-type", "")))
    answer = refused or await stamp(platform_of(request), await request.body())
    return Response(answer.body, status_code=answer.status, media_type=answer.media_type, headers=answer.headers)
