"""RFC 3161 timestamps over HTTP (RFC 3161 3.4): POST a DER TimeStampReq, get a DER TimeStampResp.

Served, like OCSP, on the HTTP connection itself under `certseal serve` (`direct_route`, see certseal.web.server),
else by a plain ASGI endpoint (`TsaEndpoint`) held as a Starlette route ahead of the FastAPI route that documents it;
`fast_path` lets the app dispatch to it before its router.  All of them queue the request in the `StampQueue`:
requests that arrive in one turn of the event loop are stamped together, their serials recorded in one transaction,
on the event loop (a signature each, a few hundred µs) unless the database would make it wait: then in a thread.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Callable, Sequence
from functools import partial

from fastapi import APIRouter, Request, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from certseal.logs import get_logger
from certseal.pki.tsa import MAX_REQUEST_BYTES
from certseal.services.platform import Platform
from certseal.services.tsa import TsaNotConfigured, TsaService
from certseal.web.deps import platform_of
from certseal.web.routes.ocsp import INTERNAL_ERROR, Done, Reply, TurnQueue, deliver, read_body, send_reply

log = get_logger("tsa")

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


class StampQueue:
    """Timestamp requests of one platform that arrived in the current turn of the event loop; the next turn stamps
    them together (TsaService.stamp_many_without_waiting: their serials in one transaction), or hands them to a
    thread that waits for the database when it is busy.  Each request's `done` is called once, on the loop."""

    def __init__(self, platform: Platform) -> None:
        self._platform = weakref.ref(platform)  # the queue lives as long as its platform, and does not keep it
        self._turns: TurnQueue[bytes] = TurnQueue(self._stamp)

    @classmethod
    def of(cls, platform: Platform) -> StampQueue:
        queue = _QUEUES.get(platform)
        if queue is None:
            queue = _QUEUES[platform] = cls(platform)
        return queue

    def submit(self, body: bytes, done: Done) -> None:
        """Queue a DER TimeStampReq (call on the event loop)."""
        self._turns.submit(body, done)

    def _stamp(self, batch: list[tuple[bytes, Done]]) -> None:
        platform = self._platform()
        if platform is None:
            deliver(batch, [INTERNAL_ERROR] * len(batch))
            return
        service = TsaService(platform)
        bodies = [body for body, _ in batch]
        try:
            replies = _replies(service.stamp_many_without_waiting(bodies))
        except TsaNotConfigured as exc:
            replies = [_not_configured(exc)] * len(batch)
        except Exception:
            log.exception("TSA: internal error")
            replies = [INTERNAL_ERROR] * len(batch)
        if replies is not None:
            deliver(batch, replies)
            return
        waiting = asyncio.get_running_loop().run_in_executor(None, _stamp_waiting, service, bodies)
        waiting.add_done_callback(partial(_deliver_when_done, batch))


_QUEUES: weakref.WeakKeyDictionary[Platform, StampQueue] = weakref.WeakKeyDictionary()


def _replies(responses: Sequence[bytes] | None) -> list[Reply] | None:
    return None if responses is None else [Reply(200, response, REPLY_TYPE) for response in responses]


def _not_configured(exc: TsaNotConfigured) -> Reply:
    return _json(503, {"error": exc.message}, {"Retry-After": "60"})


def _stamp_waiting(service: TsaService, bodies: list[bytes]) -> list[Reply]:
    """In a thread: stamp, waiting for the database as long as it takes."""
    try:
        replies = _replies(service.stamp_many(bodies))
        assert replies is not None
        return replies
    except TsaNotConfigured as exc:
        return [_not_configured(exc)] * len(bodies)


def _deliver_when_done(batch: list[tuple[bytes, Done]], future: asyncio.Future[list[Reply]]) -> None:
    try:
        replies = future.result()
    except Exception:
        log.exception("TSA: internal error")
        replies = [INTERNAL_ERROR] * len(batch)
    deliver(batch, replies)


async def stamp(platform: Platform, body: bytes) -> Reply:
    """The reply to a DER TimeStampReq, through the platform's StampQueue."""
    future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
    StampQueue.of(platform).submit(body, partial(_resolve, future))
    return await future


def _resolve(future: asyncio.Future[Reply], reply: Reply) -> None:
    if not future.done():  # the request's task may have been cancelled (client gone)
        future.set_result(reply)


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


class TsaDirectRoute:
    """POST /tsa for certseal.web.server's HTTP protocol (a DirectRoute)."""

    prefix = PATH.encode()
    body_limit = MAX_REQUEST_BYTES

    def __init__(self, platform: Platform) -> None:
        self._queue = StampQueue.of(platform)

    def claim(self, method: str, path: str) -> Callable[[str, bytes | None, Done], None] | None:
        return self._post if method == "POST" and path == PATH else None

    def _post(self, media_type: str, body: bytes | None, done: Done) -> None:
        refused = _wrong_type(media_type)
        if refused is not None:
            done(refused)
            return
        self._queue.submit(body if body is not None else b"", done)


def direct_route(platform: Platform) -> TsaDirectRoute:
    return TsaDirectRoute(platform)


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
