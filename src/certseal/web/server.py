"""Serving the app: one process per worker, each with its own SO_REUSEPORT socket, supervised; OCSP and timestamp
requests answered by the HTTP connection itself.

`uvicorn --workers N` is not used: the listening socket it hands its workers reports protocol 0, so asyncio does
not set TCP_NODELAY on accepted connections and every response waits ~40 ms for a delayed ACK.  Here each worker
binds its own IPPROTO_TCP socket on the same port and the kernel spreads connections over them.  A worker that
dies is started again; the others keep serving meanwhile.

Direct routes: an OCSP or timestamp answer is one signature plus a few µs of DER, and relying parties ask for
thousands a second; uvicorn's per-request machinery (ASGI scope, a task per request, the receive/send messages,
Starlette's middleware) costs as much again as the DER.  `DirectHttpProtocol`, uvicorn's httptools protocol with
one addition, hands a request whose path a `DirectRoute` claims straight to that route once its body is in, and
writes the route's `Reply` itself: same status, headers, body limit and access-log line as the ASGI app would give.
Anything unusual about a claimed request (Expect: 100-continue, a declared body over the route's limit, an
upgrade, a request pipelined behind an unfinished one) and every other path go to the ASGI app, whose own routes
answer the same paths the same way (web/routes/ocsp.py, web/routes/tsa.py).  One difference: the access-log line of
a direct request names the TCP peer, not an X-Forwarded-For address (uvicorn's proxy-headers middleware is ASGI).
"""

from __future__ import annotations

import http
import multiprocessing
import signal
import socket
import time
import urllib.parse
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from certseal.logs import get_logger
from certseal.web.routes.ocsp import INTERNAL_ERROR, Done, Reply

if TYPE_CHECKING:
    from fastapi import FastAPI

log = get_logger("server")
RESTART_PAUSE = 0.5

DirectHandler = Callable[[str, bytes | None, Done], None]
"""Answers one claimed request: (media type of the request, its body or None when longer than the route's limit,
`done`), calling `done` with the reply exactly once, now or later on the event loop."""
Claims = dict[tuple[bytes, bytes], tuple[DirectHandler | None, str]]
Heads = dict[bytes, "KnownHead"]


class DirectRoute(Protocol):
    """Requests a route answers without the ASGI app."""

    @property
    def prefix(self) -> bytes:
        """What every claimed request target starts with (a cheap first test on the raw URL)."""
        ...

    @property
    def body_limit(self) -> int:
        """Bytes a request body may have; a longer body is handed to the handler as None."""
        ...

    def claim(self, method: str, path: str) -> DirectHandler | None:
        """The handler for a request, or None if this route does not answer it."""
        ...


def direct_routes(app: FastAPI) -> tuple[DirectRoute, ...]:
    """The routes `DirectHttpProtocol` answers for an app: OCSP and the timestamp authority."""
    from certseal.web.routes import ocsp, tsa

    platform = app.state.platform
    return (ocsp.direct_route(platform), tsa.direct_route(platform))


def listening_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def run_worker(host: str, port: int, access_log: bool, reuse_port: bool) -> None:
    """One server process: builds the app from the environment's settings (CERTSEAL_*) and serves it."""
    import uvicorn

    from certseal.web.app import create_app

    app = create_app()
    config = uvicorn.Config(
        app,
        http=protocol_class(direct_routes(app)),
        log_level="info" if access_log else "warning",
        access_log=access_log,
        proxy_headers=True,
        backlog=2048,
    )
    uvicorn.Server(config).run(sockets=[listening_socket(host, port, reuse_port)])


def protocol_class(routes: Sequence[DirectRoute]) -> type[DirectHttpProtocol]:
    """uvicorn's httptools protocol answering `routes` itself."""
    claims: Claims = {}
    heads: Heads = {}
    attributes = {"routes": tuple(routes), "claims": claims, "heads": heads}
    return type("DirectHttpProtocol", (DirectHttpProtocol,), attributes)


class _NoWaiter:
    """The message_event uvicorn sets on a request it is told has ended: nobody waits on a direct exchange."""

    def set(self) -> None:
        pass


_NO_WAITER = _NoWaiter()


class DirectExchange:
    """One claimed request on its way to its reply; stands where uvicorn keeps its RequestResponseCycle, with the
    attributes uvicorn's connection handling reads and writes (response_complete, disconnected, keep_alive,
    message_event)."""

    __slots__ = (
        "_chunks",
        "_size",
        "disconnected",
        "handler",
        "http_version",
        "keep_alive",
        "limit",
        "media_type",
        "message_event",
        "method",
        "response_complete",
        "target",
    )

    def __init__(
        self,
        handler: DirectHandler,
        limit: int,
        media_type: str,
        method: str,
        target: str,
        http_version: str,
        keep_alive: bool,
    ) -> None:
        self.handler = handler
        self.limit = limit
        self.media_type = media_type
        self.method = method
        self.target = target
        self.http_version = http_version
        self.keep_alive = keep_alive
        self.response_complete = False
        self.disconnected = False
        self.message_event = _NO_WAITER
        self._chunks: list[bytes] = []
        self._size = 0

    @classmethod
    def known(cls, head: KnownHead, body: bytes) -> DirectExchange:
        """The exchange for a request whose head was seen before and whose whole body came with it."""
        exchange = cls(*head[:7])
        exchange._chunks = [body]
        exchange._size = len(body)
        return exchange

    def add(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size <= self.limit:
            self._chunks.append(chunk)
        else:
            self._chunks = []  # over the limit: nothing more is kept

    def body(self) -> bytes | None:
        if self._size > self.limit:
            return None
        return self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)


class KnownHead(NamedTuple):
    """What a claimed request's head (request line and headers, byte for byte) says: the same every time."""

    handler: DirectHandler
    limit: int
    media_type: str
    method: str
    target: str
    http_version: str
    keep_alive: bool
    body_length: int


def head(reply: Reply, default_headers: Sequence[tuple[bytes, bytes]], keep_alive: bool) -> bytes:
    """Status line and headers of a reply, as uvicorn writes them (default headers: date, server)."""
    if not reply.headers:
        key = (reply.status, reply.media_type, keep_alive, len(reply.body))
        if _HEADS[0] is not default_headers:  # uvicorn makes a new list when the date changes, once a second
            _HEADS[:] = [default_headers, {}]
        cached: bytes | None = _HEADS[1].get(key)
        if cached is None:
            cached = _HEADS[1][key] = _head(reply, default_headers, keep_alive)
        return cached
    return _head(reply, default_headers, keep_alive)


_HEADS: list[Any] = [None, {}]  # [the default headers they were made with, {(status, type, keep-alive, length): head}]


def _head(reply: Reply, default_headers: Sequence[tuple[bytes, bytes]], keep_alive: bool) -> bytes:
    lines = [_STATUS_LINES.get(reply.status) or _status_line(reply.status)]
    lines.extend(name + b": " + value + b"\r\n" for name, value in default_headers)
    lines.append(b"content-type: " + reply.media_type.encode("latin-1") + b"\r\n")
    lines.append(b"content-length: " + str(len(reply.body)).encode() + b"\r\n")
    for name, value in reply.headers.items():
        if name.lower() != "connection":
            lines.append(name.lower().encode("latin-1") + b": " + value.encode("latin-1") + b"\r\n")
    if not keep_alive:
        lines.append(b"connection: close\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def _status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")


_STATUS_LINES = {status: _status_line(status) for status in (200, 404, 413, 415, 500, 503)}


def _media_type(value: bytes | None) -> str:
    if value is None:
        return ""
    known = _MEDIA_TYPES.get(value)
    if known is None:
        known = value.split(b";", 1)[0].strip().lower().decode("latin-1")
        if len(_MEDIA_TYPES) < _CLAIMS_KEPT:
            _MEDIA_TYPES[value] = known
    return known


def _claimed(route: DirectRoute, raw_method: bytes, url: bytes) -> tuple[DirectHandler | None, str]:
    """(The route's handler or None, the method) for a request line; the same every time for the same line, so
    the protocol class keeps it in `claims` (a route's handlers hold no per-request state)."""
    method = raw_method.decode("latin-1")
    if not url.isascii():
        return None, method
    path = (httptools.parse_url(url).path if b"?" in url or b"#" in url else url).decode("ascii")
    if "%" in path:
        path = urllib.parse.unquote(path)  # as uvicorn puts it in the ASGI scope
    return route.claim(method, path), method


_CLAIMS_KEPT = 1024  # request lines, heads, Content-Type values remembered per process; all forgotten when full
_HEAD_KEPT = 1024  # bytes of the longest head remembered
_CR_LF = b"\r\n"
_MEDIA_TYPES: dict[bytes, str] = {}


class DirectHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; requests a DirectRoute claims are answered here (see the module doc).

    Two of uvicorn's per-request costs are paid only when needed (together ≈ 45 % of the protocol's CPU for a
    direct request): the ASGI scope is built once the request is known to go to the app, and the keep-alive timer is
    armed once per idle period rather than cancelled and armed again around every request — when it fires it looks
    at the time of the connection's last activity and waits longer if there was some since.

    A relying party sends the same head (request line and headers) again and again, with only the body changing:
    a head once claimed is remembered byte for byte with what it said, and a chunk that is such a head followed by
    exactly its body is answered without the parser (4.7 → 2.5 µs of this protocol's CPU an answer).  Only a head
    that came whole at the start of a chunk, between two messages, is remembered, so the bytes remembered are the
    whole head the parser read and nothing else."""

    routes: tuple[DirectRoute, ...] = ()
    claims: Claims  # (method, URL) → what the routes say of it: per class, as the routes are
    heads: Heads  # raw head of a claimed request → what it says: per class, as the routes are
    _held_for_writing = False
    _active_at = 0.0
    _between_messages = True  # the parser has nothing of a message yet
    _raw_head = b""  # the head of the message being parsed, when it came whole at the start of a chunk

    def data_received(self, data: bytes) -> None:
        """A chunk holding exactly one request, whose head is byte for byte one claimed before, is answered without
        the parser (it would say the same again); anything else is parsed."""
        if self._between_messages:
            end = data.find(b"\r\n\r\n") + 4
            if 3 < end <= _HEAD_KEPT and data[0] not in _CR_LF:  # the parser skips blank lines before a request
                raw_head = data[:end]
                known = self.heads.get(raw_head)
                if known is not None and len(data) - end == known.body_length:
                    cycle: Any = self.cycle
                    if cycle is None or cycle.response_complete:
                        self._active_at = self.loop.time()
                        self._answer(DirectExchange.known(known, data[end:]))
                        return
                self._raw_head = raw_head
        super().data_received(data)

    def on_message_begin(self) -> None:
        self._between_messages = False
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        exchange = self._claim()
        if exchange is None:
            self._begin_asgi_message()
            super().on_headers_complete()
        else:
            self.cycle = exchange  # type: ignore[assignment]  # uvicorn only reads the attributes it shares

    def _begin_asgi_message(self) -> None:
        """What uvicorn's on_message_begin does (the ASGI scope), keeping the URL and headers already read."""
        url, headers, expect_100_continue = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.expect_100_continue = url, expect_100_continue
        self.headers.extend(headers)  # the list the new scope holds

    # --- keep-alive: one timer per idle period ---------------------------------------------------------------

    def _unset_keepalive_if_required(self) -> None:
        self._active_at = self.loop.time()  # the timer, when it fires, sees this (no cancel and re-arm per request)

    def on_response_complete(self) -> None:
        """uvicorn's, with the keep-alive timer armed only if none is pending."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._active_at = self.loop.time()
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_due)

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        cycle: Any = self.cycle
        if cycle is not None and not cycle.response_complete:
            return  # a request is being answered: on_response_complete arms the timer again
        idle = self.loop.time() - self._active_at
        if idle >= self.timeout_keep_alive:
            self.timeout_keep_alive_handler()
        else:
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive - idle, self._keep_alive_due)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        super().connection_lost(exc)

    def _claim(self) -> DirectExchange | None:
        url: bytes = self.url
        for route in self.routes:
            if url.startswith(route.prefix):
                break
        else:
            return None
        previous: Any = self.cycle
        if (previous is not None and not previous.response_complete) or self.expect_100_continue:
            return None  # pipelined behind an unfinished request, or 100-continue: the ASGI app's way
        if self.parser.should_upgrade():
            return None
        raw_method: bytes = self.parser.get_method()
        claims = self.claims
        claimed = claims.get((raw_method, url))
        if claimed is None:
            claimed = _claimed(route, raw_method, url)
            if len(claims) >= _CLAIMS_KEPT:
                claims.clear()
            claims[(raw_method, url)] = claimed
        handler, method = claimed
        if handler is None:
            return None
        declared = content_type = None
        for name, value in self.headers:
            if name == b"content-length":
                declared = value
            elif name == b"content-type":
                content_type = value
        if declared is not None and (not declared.isdigit() or int(declared) > route.body_limit):
            return None  # the ASGI route answers (and does not read a body it will not use)
        http_version = self.parser.get_http_version()
        known = KnownHead(
            handler,
            route.body_limit,
            _media_type(content_type),
            method,
            url.decode("latin-1"),  # ASCII: _claimed claims nothing else
            http_version,
            http_version != "1.0" and self.parser.should_keep_alive(),
            0 if declared is None else int(declared),
        )
        if self._raw_head and not any(name == b"transfer-encoding" for name, _ in self.headers):
            self._remember(self._raw_head, known)  # no Content-Length nor Transfer-Encoding: no body (RFC 9112 6.3)
        return DirectExchange(*known[:7])

    def _remember(self, raw_head: bytes, known: KnownHead) -> None:
        heads = self.heads
        if len(heads) >= _CLAIMS_KEPT:
            heads.clear()
        heads[raw_head] = known

    def on_body(self, body: bytes) -> None:
        exchange: Any = self.cycle
        if type(exchange) is DirectExchange:
            exchange.add(body)
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._between_messages = True
        self._raw_head = b""
        exchange: Any = self.cycle
        if type(exchange) is not DirectExchange:
            super().on_message_complete()
            return
        self._answer(exchange)

    def _answer(self, exchange: DirectExchange) -> None:
        def done(reply: Reply) -> None:
            self._reply(exchange, reply)

        try:
            exchange.handler(exchange.media_type, exchange.body(), done)
        except Exception:
            log.exception("%s %s: internal error", exchange.method, exchange.target)
            self._reply(exchange, INTERNAL_ERROR)

    def _reply(self, exchange: DirectExchange, reply: Reply) -> None:
        if exchange.response_complete:
            return
        exchange.response_complete = True
        if exchange.disconnected or self.transport.is_closing():
            return
        if reply.status == 500:
            exchange.keep_alive = False
        if self.access_log:
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                f"{self.client[0]}:{self.client[1]}" if self.client else "",
                exchange.method,
                exchange.target,
                exchange.http_version,
                reply.status,
            )
        self.transport.write(head(reply, self.server_state.default_headers, exchange.keep_alive) + reply.body)
        if not exchange.keep_alive:
            self.transport.close()
        self.on_response_complete()
        if self.flow.write_paused and not self.flow.read_paused:
            # the client is not reading its answers: read no more requests until it does
            self._held_for_writing = True
            self.flow.pause_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._held_for_writing:
            self._held_for_writing = False
            self.flow.resume_reading()


def serve(host: str, port: int, workers: int = 1, access_log: bool = True) -> None:
    if workers <= 1:
        run_worker(host, port, access_log, reuse_port=False)
        return
    Supervisor(host, port, workers, access_log).run()


class Supervisor:
    def __init__(self, host: str, port: int, workers: int, access_log: bool) -> None:
        self._args = (host, port, access_log, True)
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[BaseProcess] = []
        self._count = workers
        self._stopping = False

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self._workers = [self._start() for _ in range(self._count)]
        log.info("serving on %s:%s with %d workers", self._args[0], self._args[1], self._count)
        while not self._stopping:
            time.sleep(RESTART_PAUSE)
            for index, worker in enumerate(self._workers):
                if not worker.is_alive() and not self._stopping:
                    log.warning("worker %s exited with %s; starting another", worker.pid, worker.exitcode)
                    self._workers[index] = self._start()
        for worker in self._workers:
            worker.terminate()
        for worker in self._workers:
            worker.join(timeout=15)

    def _start(self) -> BaseProcess:
        worker = self._context.Process(target=run_worker, args=self._args, daemon=True)
        worker.start()
        return worker

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping = True
