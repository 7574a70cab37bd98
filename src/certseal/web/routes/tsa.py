"""RFC 3161 timestamps over HTTP (RFC 3161 3.4): POST a DER TimeStampReq, get a DER TimeStampResp."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from certseal.services.tsa import TsaNotConfigured, TsaService
from certseal.web.deps import platform_of

router = APIRouter(tags=["tsa"])

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"


@router.post(
    "/tsa",
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
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != QUERY_TYPE:
        return JSONResponse(
            {"error": f"POST a DER TimeStampReq with Content-Type {QUERY_TYPE}, not {content_type or 'none'!r}"},
            status_code=415,
        )
    body = await request.body()
    try:
        response = await run_in_threadpool(TsaService(platform_of(request)).stamp, body)
    except TsaNotConfigured as exc:
        return JSONResponse({"error": exc.message}, status_code=503, headers={"Retry-After": "60"})
    return Response(response, media_type=REPLY_TYPE)
