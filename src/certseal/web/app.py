"""FastAPI application factory, and the two pure-ASGI layers in front of its router: the protocol fast paths
(OCSP, TSA) and the request body size limit."""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import certseal.web.routes as web_routes
from certseal import __version__
from certseal.config import Settings
from certseal.errors import AlreadyExists, CertsealError, Forbidden, NotFound, Unauthenticated, ValidationError
from certseal.services.platform import Platform

_LANDING = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>certseal</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}}
h1{{color:#b00}}code{{background:#f4f4f4;padding:.1rem .3rem}}li{{margin:.3rem 0}}
table{{border-collapse:collapse;font-size:.9rem}}
td,th{{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}}</style></head>
<body><h1>certseal {version}</h1>
<p>Trusted electronic licenses and electronic signatures — 电子证照与电子签章平台.</p>
<p>This deployment ({mode}) is running. Available now:</p>
{cas}
<ul>
<li><a href="/tsa">/tsa</a> — RFC 3161 timestamp authority (POST application/timestamp-query)</li>
<li><a href="/health/ready">/health/ready</a> — readiness: database schema and crypto tokens</li>
<li><a href="/health/live">/health/live</a> — liveness</li>
<li><a href="/docs">/docs</a> — the HTTP API (OpenAPI; /api/v1 needs an API key: certseal apikey create)</li>
</ul>
<p>Administration is done with the <code>certseal</code> command: <code>certseal ca list</code>,
<code>certseal cert issue</code>, <code>certseal keys list</code>, <code>certseal audit verify</code>.</p>
</body></html>"""


def create_app(platform: Platform | None = None, body_limits: BodyLimits | None = None) -> FastAPI:
    platform = platform or Platform(Settings())
    app = FastAPI(
        title="certseal", version=__version__, description="Trusted electronic licenses and electronic signatures."
    )
    app.state.platform = platform
    app.add_middleware(RequestBodyLimit, limits=body_limits or BodyLimits())  # inside _ProtocolPaths: added first
    _mount_routers(app)
    _error_handlers(app)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def landing() -> str:
        mode = "embedded: SQLite, software token" if platform.settings.is_embedded else "cluster"
        return _LANDING.format(version=__version__, mode=mode, cas=_ca_table(platform))

    @app.get("/health/live", tags=["health"], summary="Liveness: the process answers")
    def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", tags=["health"], summary="Readiness: database schema current, tokens sign")
    def ready() -> JSONResponse:
        from certseal.services.keys import KeyService

        database_ok = platform.db.schema_is_current()
        tokens = {h.token: h.ok for h in KeyService(platform).health()} if database_ok else {}
        ok = database_ok and all(tokens.values())
        body = {"status": "ok" if ok else "unavailable", "database": database_ok, "tokens": tokens}
        return JSONResponse(body, status_code=200 if ok else 503)

    return app


FastPath = Callable[[Scope], ASGIApp | None]


class _ProtocolPaths:
    """Plain ASGI endpoints (OCSP, TSA) answered before FastAPI's router: their clients call them thousands of
    times a second, and the router's matching and request handling cost several times the answer itself."""

    def __init__(self, app: ASGIApp, fast_paths: tuple[FastPath, ...]) -> None:
        self.app = app
        self.fast_paths = fast_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for fast_path in self.fast_paths:
                endpoint = fast_path(scope)
                if endpoint is not None:
                    await endpoint(scope, receive, send)
                    return
        await self.app(scope, receive, send)


_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """How many bytes a request body may have, by path: uploads (a file to seal, sign or verify: /api/v1/…/pdf,
    …/ofd, …/cms, /api/v1/verify, the public /verify page; a seal registration) get `upload`, everything else that
    reaches the router (the JSON API, pages) `other`.  OCSP and TSA requests never get here: the fast paths answer
    them first, with their own much smaller limits."""

    upload: int = 64 * _MIB
    other: int = 1 * _MIB
    upload_suffixes: tuple[str, ...] = ("/pdf", "/ofd", "/cms")
    upload_paths: frozenset[str] = frozenset({"/api/v1/verify", "/api/v1/seals", "/verify"})

    def for_path(self, path: str) -> int:
        if path in self.upload_paths or (path.startswith("/api/v1/") and path.endswith(self.upload_suffixes)):
            return self.upload
        return self.other


class RequestBodyLimit:
    """Refuse a request whose body is larger than its path's limit with 413 JSON {error, field, rule}: at once when
    Content-Length says so, else as soon as the streamed (chunked) body grows past it.  The application then sees
    the client as gone, and whatever it answers (or raises) is replaced by the 413."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_too_large(send, limit)
            return
        guard = _BodyGuard(receive, send, limit)
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            if not guard.exceeded or guard.started:
                raise
        if guard.exceeded and not guard.started:
            await _send_too_large(send, limit)


class _BodyGuard:
    """receive and send of one request, counting the body it reads against `limit`."""

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.received = 0
        self.exceeded = False
        self.started = False
        self._replaced = False

    async def receive(self) -> Message:
        if self.exceeded:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.exceeded = True  # what is left of the body is never read: the client counts as gone
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self._replaced:
            return
        if message["type"] == "http.response.start":
            self.started = True
            if self.exceeded:
                self._replaced = True
                await _send_too_large(self._send, self.limit)
                return
        await self._send(message)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _send_too_large(send: Send, limit: int) -> None:
    rule = f"the request body must be at most {_size_text(limit)}"
    body = json.dumps({"error": f"file: {rule}", "field": "file", "rule": rule}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is not read; the connection cannot carry another request
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _size_text(limit: int) -> str:
    if limit >= _MIB and limit % _MIB == 0:
        return f"{limit // _MIB} MiB"
    if limit >= 1024 and limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"


def _mount_routers(app: FastAPI) -> None:
    """Every module under certseal.web.routes exposes a `router`; one may add a `fast_path` (see _ProtocolPaths)
    and `openapi_models`: pydantic models its operations reference by $ref in openapi_extra (multipart forms parsed
    by hand, after authorisation) rather than through a parameter, which FastAPI would not list otherwise."""
    fast_paths: list[FastPath] = []
    models: list[type[BaseModel]] = []
    for module in pkgutil.iter_modules(web_routes.__path__):
        routes = importlib.import_module(f"certseal.web.routes.{module.name}")
        app.include_router(routes.router)
        if hasattr(routes, "fast_path"):
            fast_paths.append(routes.fast_path)
        models.extend(getattr(routes, "openapi_models", ()))
    if fast_paths:
        app.add_middleware(_ProtocolPaths, fast_paths=tuple(fast_paths))
    if models:
        _document_models(app, models)


def _document_models(app: FastAPI, models: list[type[BaseModel]]) -> None:
    """Add `models` to the OpenAPI document's components/schemas."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            _, definitions = models_json_schema(
                [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions.get("$defs", {}))
        return app.openapi_schema  # type: ignore[return-value]  # set by generate()

    app.openapi = openapi  # type: ignore[method-assign]


def _error_handlers(app: FastAPI) -> None:
    """certseal's own errors become clear 4xx answers; nothing the user did wrong is a 500."""

    def status_of(exc: CertsealError) -> int:
        if isinstance(exc, Unauthenticated):
            return 401
        if isinstance(exc, Forbidden):
            return 403
        if isinstance(exc, NotFound):
            return 404
        if isinstance(exc, AlreadyExists):
            return 409
        if isinstance(exc, ValidationError):
            return 422
        return 400

    @app.exception_handler(CertsealError)
    def certseal_error(_request: Request, exc: CertsealError) -> JSONResponse:
        body: dict[str, str] = {"error": exc.message}
        if isinstance(exc, ValidationError):
            body.update(field=exc.field, rule=exc.rule)
        status = status_of(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(body, status_code=status, headers=headers)


def _ca_table(platform: Platform) -> str:
    from html import escape

    from certseal.services.ca import CaService

    if not platform.db.schema_is_current():
        return "<p>The database is not initialised: run <code>certseal init</code>.</p>"
    rows = "".join(
        f"<tr><td>{escape(ca.name)}</td><td>{ca.algorithm.value}</td><td>{escape(ca.subject)}</td>"
        f'<td><a href="/ca/{ca.name}.crt">certificate</a> · <a href="/crl/{ca.name}.crl">CRL</a> · '
        f"<code>/ocsp/{ca.name}</code></td></tr>"
        for ca in CaService(platform).list_cas()
    )
    if not rows:
        return "<p>No certificate authority yet: <code>certseal ca create NAME --alg sm2</code>.</p>"
    return (
        "<h2>Certificate authorities</h2><table><tr><th>name</th><th>key</th><th>subject</th><th></th></tr>"
        f"{rows}</table>"
    )
