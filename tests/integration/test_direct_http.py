"""OCSP and TSA requests answered by `certseal serve`'s HTTP protocol itself (certseal.web.server.DirectHttpProtocol):
HTTP framing over raw sockets — keep-alive, pipelining, HTTP/1.0, chunked and oversized bodies, Expect: 100-continue,
unknown CAs, wrong methods and media types, the access log — and every answer checked by `openssl ocsp` /
`openssl ts`, which we did not write."""

from __future__ import annotations

import base64
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import uvicorn
from asn1crypto import core, pem, tsp

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.pki.tsa import build_request
from certseal.services.ca import CaService
from certseal.services.platform import Platform
from certseal.services.tsa import TsaService
from certseal.web.app import create_app
from certseal.web.server import DirectHttpProtocol, direct_routes, listening_socket, protocol_class
from tests.conftest import ACTOR
from tests.fixtures.server import LiveDeployment, free_port

MALFORMED = b"\x30\x03\x0a\x01\x01"


# --- a small HTTP/1.1 client on a raw socket ----------------------------------------------------------------


class Connection:
    def __init__(self, live: LiveDeployment) -> None:
        self.sock = socket.create_connection(("127.0.0.1", live.port), timeout=30)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def response(self) -> tuple[bytes, dict[str, str], bytes]:
        """(status line, headers with lower-case names, body) of the next response."""
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"connection closed mid-response: {self.buffer!r}"
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status, *lines = head.split(b"\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            assert self._fill(), "connection closed mid-body"
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def closed_by_server(self) -> bool:
        return not self.buffer and not self._fill()

    def close(self) -> None:
        self.sock.close()


def post(path: str, body: bytes, content_type: str = "application/ocsp-request", version: str = "1.1") -> bytes:
    return (
        f"POST {path} HTTP/{version}\r\nHost: test\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


# --- set-up and outside checks ------------------------------------------------------------------------------


def _rsa_ca_with_leaf(live: LiveDeployment) -> None:
    live.run("ca", "create", "rsa-ca", "--alg", "rsa2048")
    live.run("ca", "cert", "rsa-ca", "--out", str(live.path("ca.pem")))
    live.run(
        "cert", "issue", "--ca", "rsa-ca", "--profile", "person", "--subject", "CN=Direct Leaf",
        "--generate-key", "p256", "--out", str(live.path("leaf.pem")),
    )  # fmt: skip


def _ocsp_request(live: LiveDeployment, name: str, nonce: bool = True) -> bytes:
    out = live.path(name)
    subprocess.run(
        ["openssl", "ocsp", "-issuer", str(live.path("ca.pem")), "-cert", str(live.path("leaf.pem")),
         "-reqout", str(out), *([] if nonce else ["-no_nonce"])],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return out.read_bytes()


def _openssl_checks_ocsp(live: LiveDeployment, request: str, response: bytes) -> str:
    """`openssl ocsp` reads the response as a client would: signature, the nonce against the request's, status.
    (-cert would make openssl build a request of its own, with another nonce: the status is read from -resp_text.)"""
    path = live.path("resp.der")
    path.write_bytes(response)
    result = subprocess.run(
        ["openssl", "ocsp", "-reqin", str(live.path(request)), "-respin", str(path), "-issuer",
         str(live.path("ca.pem")), "-CAfile", str(live.path("ca.pem")), "-resp_text"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return result.stdout + result.stderr


def _assert_ocsp_answer(status: bytes, headers: dict[str, str], body: bytes) -> None:
    assert status == b"HTTP/1.1 200 OK"
    assert headers["content-type"] == "application/ocsp-response"
    assert int(headers["content-length"]) == len(body)
    assert "date" in headers and "server" in headers  # uvicorn's default headers, as on every other answer
    assert body[:8].find(b"\x0a\x01\x00") > 0  # successful


# --- OCSP -----------------------------------------------------------------------------------------------------


def test_ocsp_keep_alive_pipelining_and_http_1_0(live: LiveDeployment) -> None:
    _rsa_ca_with_leaf(live)
    nonced = _ocsp_request(live, "nonce.req")
    plain = _ocsp_request(live, "plain.req", nonce=False)

    connection = Connection(live)
    for request, name in ((nonced, "nonce.req"), (plain, "plain.req"), (nonced, "nonce.req")):
        connection.send(post("/ocsp/rsa-ca", request))
        status, headers, body = connection.response()
        _assert_ocsp_answer(status, headers, body)
        text = _openssl_checks_ocsp(live, name, body)
        assert "Response verify OK" in text and "Cert Status: good" in text, text
        assert "WARNING" not in text and "Nonce Verify error" not in text, text  # a nonce sent is one echoed
    connection.send(post("/ocsp/rsa-ca", nonced) + post("/ocsp/rsa-ca", plain) + post("/ocsp/rsa-ca", nonced))
    answers = [connection.response() for _ in range(3)]  # pipelined: in order, on the same connection
    for (status, headers, body), name in zip(answers, ("nonce.req", "plain.req", "nonce.req"), strict=True):
        _assert_ocsp_answer(status, headers, body)
        assert "Response verify OK" in _openssl_checks_ocsp(live, name, body)
    tampered = bytearray(answers[0][2])
    tampered[-300] ^= 0x01  # inside the signature
    assert "Response verify OK" not in _openssl_checks_ocsp(live, "nonce.req", bytes(tampered))
    connection.close()

    old = Connection(live)
    old.send(post("/ocsp/rsa-ca", plain, version="1.0"))
    status, headers, body = old.response()
    assert status.startswith(b"HTTP/1.1 200") and headers["connection"] == "close"
    assert old.closed_by_server()
    closing = Connection(live)
    closing.send(post("/ocsp/rsa-ca", plain).replace(b"Host: test\r\n", b"Host: test\r\nConnection: close\r\n"))
    assert closing.response()[1]["connection"] == "close" and closing.closed_by_server()


def test_ocsp_bodies_chunked_oversized_and_100_continue(live: LiveDeployment) -> None:
    _rsa_ca_with_leaf(live)
    nonced = _ocsp_request(live, "nonce.req")
    connection = Connection(live)
    head = b"POST /ocsp/rsa-ca HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
    half = len(nonced) // 2
    connection.send(head + b"%x\r\n%s\r\n" % (half, nonced[:half]))
    time.sleep(0.05)  # the body arrives in two reads
    connection.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(nonced) - half, nonced[half:]))
    status, headers, body = connection.response()
    _assert_ocsp_answer(status, headers, body)
    assert "Response verify OK" in _openssl_checks_ocsp(live, "nonce.req", body)

    big = 70 * 1024  # over the 64 KiB an OCSP request may have
    chunk = b"\x00" * 8192
    connection.send(
        head + b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(big // 8192 + 1)) + b"0\r\n\r\n"
    )
    assert connection.response()[2] == MALFORMED
    connection.send(post("/ocsp/rsa-ca", b"\x30" * big))  # declared too long: the ASGI route answers the same
    assert connection.response()[2] == MALFORMED
    connection.send(post("/ocsp/rsa-ca", nonced))  # and the connection still serves
    _assert_ocsp_answer(*connection.response())

    expecting = post("/ocsp/rsa-ca", b"").replace(b"Host: test\r\n", b"Host: test\r\nExpect: 100-continue\r\n")
    connection.send(expecting.replace(b"Content-Length: 0", f"Content-Length: {len(nonced)}".encode()))
    while b"\r\n\r\n" not in connection.buffer:
        assert connection._fill()
    assert connection.buffer.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    connection.buffer = connection.buffer[len(b"HTTP/1.1 100 Continue\r\n\r\n") :]
    connection.send(nonced)
    _assert_ocsp_answer(*connection.response())
    connection.close()


def test_unknown_ca_wrong_method_and_the_access_log(live: LiveDeployment) -> None:
    _rsa_ca_with_leaf(live)
    nonced = _ocsp_request(live, "nonce.req")
    connection = Connection(live)
    connection.send(post("/ocsp/no-such-ca", nonced))
    status, headers, body = connection.response()
    assert status == b"HTTP/1.1 404 Not Found" and headers["content-type"].startswith("text/plain")
    assert b"no-such-ca" in body
    connection.send(post("/ocsp/rsa-ca", nonced).replace(b"POST", b"PUT", 1))
    assert connection.response()[0].startswith(b"HTTP/1.1 405")
    connection.send(post("/ocsp/rsa-ca?from=test", nonced))  # a query string does not change the path
    _assert_ocsp_answer(*connection.response())
    connection.close()
    deadline = time.monotonic() + 10
    log = ""
    while time.monotonic() < deadline and '"POST /ocsp/rsa-ca?from=test HTTP/1.1" 200' not in log:
        time.sleep(0.1)
        log = live.path("server.log").read_text(errors="replace")
    assert '"POST /ocsp/no-such-ca HTTP/1.1" 404' in log
    assert '"POST /ocsp/rsa-ca?from=test HTTP/1.1" 200' in log


# --- TSA ------------------------------------------------------------------------------------------------------


def _rsa_tsa(live: LiveDeployment) -> Path:
    live.run("ca", "create", "root", "--alg", "rsa2048")
    live.run("tsa", "setup", "--ca", "root", "--alg", "rsa2048")
    live.run("tsa", "cert", "--out", str(live.path("tsa.pem")), "--chain", str(live.path("chain.pem")))
    data = live.path("document.txt")
    data.write_text("a document to timestamp\n")
    return data


def _query(live: LiveDeployment, data: Path, name: str) -> bytes:
    out = live.path(name)
    subprocess.run(
        ["openssl", "ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(out)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return out.read_bytes()


def _openssl_verifies(live: LiveDeployment, data: Path, reply: bytes) -> bool:
    path = live.path("reply.tsr")
    path.write_bytes(reply)
    result = subprocess.run(
        ["openssl", "ts", "-verify", "-data", str(data), "-in", str(path), "-CAfile", str(live.path("chain.pem")),
         "-untrusted", str(live.path("tsa.pem"))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return result.returncode == 0 and "Verification: OK" in result.stdout


def _serial(reply: bytes) -> int:
    token = tsp.TimeStampResp.load(reply)["time_stamp_token"]["content"]
    return int(token["encap_content_info"]["content"].parsed["serial_number"].native)


def test_tsa_burst_many_connections_unique_recorded_serials(live: LiveDeployment) -> None:
    data = _rsa_tsa(live)
    queries = [_query(live, data, f"q{i}.tsq") for i in range(3)]  # each with its own nonce
    connections = [Connection(live) for _ in range(24)]
    for index, connection in enumerate(connections):  # all sent before any is read: stamped in a few batches
        connection.send(post("/tsa", queries[index % 3], "application/timestamp-query"))
    replies = []
    for connection in connections:
        status, headers, body = connection.response()
        assert status == b"HTTP/1.1 200 OK" and headers["content-type"] == "application/timestamp-reply"
        replies.append(body)
    for reply in replies[:3] + replies[-2:]:
        assert _openssl_verifies(live, data, reply)
    other = live.path("other.txt")
    other.write_text("another document\n")
    assert not _openssl_verifies(live, other, replies[0])
    serials = {_serial(reply) for reply in replies}
    assert len(serials) == len(replies)
    database = live.path("var") / "certseal.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        stored = {int(serial, 16) for (serial,) in db.execute("SELECT serial FROM timestamps")}
    assert serials <= stored

    connection = connections[0]
    connection.send(post("/tsa", queries[0], "text/plain"))
    status, headers, body = connection.response()
    assert status.startswith(b"HTTP/1.1 415") and headers["content-type"] == "application/json"
    connection.send(post("/tsa", b"\x30\x03garbage", "application/timestamp-query"))
    status, _, body = connection.response()
    assert status == b"HTTP/1.1 200 OK"
    assert tsp.PKIStatusInfo.load(core.Sequence.load(body)[0].dump())["status"].native == "rejection"
    connection.send(post("/tsa", queries[1], "Application/Timestamp-Query; charset=binary"))
    status, _, body = connection.response()
    assert status == b"HTTP/1.1 200 OK" and _openssl_verifies(live, data, body)
    for connection in connections:
        connection.close()


# --- which requests the protocol answers itself -------------------------------------------------------------


class CountingRoute:
    """A DirectRoute that counts the requests its handler is given (the real route answers them)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.prefix = inner.prefix
        self.body_limit = inner.body_limit
        self.answered: list[str] = []

    def claim(self, method: str, path: str) -> Any:
        handler = self.inner.claim(method, path)
        if handler is None:
            return None

        def counted(media_type: str, body: bytes | None, done: Any) -> None:
            self.answered.append(f"{method} {path}")
            handler(media_type, body, done)

        return counted


class InProcess(NamedTuple):
    port: int
    routes: list[CountingRoute]
    protocol: type[DirectHttpProtocol]


@pytest.fixture
def in_process(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[InProcess]:
    """uvicorn with DirectHttpProtocol in a thread of this process, over a P-256 CA and TSA."""
    yield from _serve_in_process(make_settings, tmp_path)


@pytest.fixture
def in_process_short_keep_alive(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[InProcess]:
    """As `in_process`, idle keep-alive connections closed after 1 s (uvicorn's default: 5 s)."""
    yield from _serve_in_process(make_settings, tmp_path, timeout_keep_alive=1)


def _serve_in_process(make_settings: Callable[..., Settings], tmp_path: Path, **options: Any) -> Iterator[InProcess]:
    platform = Platform(make_settings(f"sqlite:///{tmp_path / 'var' / 'direct.db'}"))
    platform.db.migrate()
    ca = CaService(platform).create_ca("p256-ca", KeyAlgorithm.P256, ACTOR)
    (tmp_path / "ca.pem").write_bytes(pem.armor("CERTIFICATE", ca.certificate_der))
    leaf = CaService(platform).issue("p256-ca", "person", ACTOR, subject="CN=In Process", generate=KeyAlgorithm.P256)
    (tmp_path / "leaf.pem").write_bytes(pem.armor("CERTIFICATE", leaf.certificate_der))
    TsaService(platform).setup("p256-ca", KeyAlgorithm.P256, ACTOR)
    app = create_app(platform)
    routes = [CountingRoute(route) for route in direct_routes(app)]
    protocol = protocol_class(routes)
    config = uvicorn.Config(app, http=protocol, log_level="warning", access_log=False, **options)
    server = uvicorn.Server(config)
    port = free_port()
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening_socket("127.0.0.1", port, False)]})
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield InProcess(port, routes, protocol)
    server.should_exit = True
    thread.join(timeout=30)
    platform.close()


def test_the_protocol_answers_claimed_requests_and_leaves_the_rest(in_process: InProcess, tmp_path: Path) -> None:
    port, (ocsp_route, tsa_route), _ = in_process
    live = LiveDeployment(tmp_path, port)
    nonced = _ocsp_request(live, "nonce.req")
    connection = Connection(live)
    connection.send(post("/ocsp/p256-ca", nonced))
    _assert_ocsp_answer(*connection.response())
    connection.send(post("/tsa", build_request(b"x"), "application/timestamp-query"))
    assert connection.response()[0] == b"HTTP/1.1 200 OK"
    assert ocsp_route.answered == ["POST /ocsp/p256-ca"] and tsa_route.answered == ["POST /tsa"]

    # the ASGI app answers these, the same way: a PUT, a declared body over the limit, 100-continue, a GET of /tsa
    connection.send(post("/ocsp/p256-ca", nonced).replace(b"POST", b"PUT", 1))
    assert connection.response()[0].startswith(b"HTTP/1.1 405")
    connection.send(post("/ocsp/p256-ca", b"\x30" * (70 * 1024)))
    assert connection.response()[2] == MALFORMED
    expecting = post("/ocsp/p256-ca", nonced).replace(b"Host: test\r\n", b"Host: test\r\nExpect: 100-continue\r\n")
    connection.send(expecting)
    while b"\r\n\r\n" not in connection.buffer:
        assert connection._fill()
    connection.buffer = connection.buffer.split(b"\r\n\r\n", 1)[1]  # 100 Continue
    body = connection.response()[2]
    assert "Response verify OK" in _openssl_checks_ocsp(live, "nonce.req", body)
    connection.send(b"GET /tsa HTTP/1.1\r\nHost: test\r\n\r\n")
    assert connection.response()[0].startswith(b"HTTP/1.1 405")
    assert len(ocsp_route.answered) == 1 and len(tsa_route.answered) == 1

    # pipelined: the first is answered here, the ones queued behind it by the ASGI app, in order
    connection.send(post("/ocsp/p256-ca", nonced) * 3)
    for _ in range(3):
        status, headers, body = connection.response()
        _assert_ocsp_answer(status, headers, body)
        assert "Response verify OK" in _openssl_checks_ocsp(live, "nonce.req", body)
    assert len(ocsp_route.answered) == 2
    connection.close()


def test_keep_alive_closes_idle_connections_and_only_those(
    in_process_short_keep_alive: InProcess, tmp_path: Path
) -> None:
    """The keep-alive timer is armed once per idle period and, when it fires, waits on if there was activity since:
    a busy connection stays open however long it lives; one idle for the timeout (1 s here) is closed, after a
    direct answer, after an answer of the ASGI app, and with half a request sent (uvicorn would keep that one)."""
    port, (ocsp_route, _), _ = in_process_short_keep_alive
    live = LiveDeployment(tmp_path, port)
    nonced = _ocsp_request(live, "nonce.req")

    def closes_after_idle(connection: Connection) -> float:
        started = time.monotonic()
        assert connection.closed_by_server()
        return time.monotonic() - started

    busy = Connection(live)
    for _ in range(8):  # 8 answers 0.4 s apart: 3 s in all, every gap well inside the timeout
        busy.send(post("/ocsp/p256-ca", nonced))
        _assert_ocsp_answer(*busy.response())
        time.sleep(0.4)
    assert len(ocsp_route.answered) == 8
    assert closes_after_idle(busy) >= 0.5  # the timer re-armed for the time left, not closed at once

    slow = Connection(live)  # a body sent in pieces keeps the connection active
    request = post("/ocsp/p256-ca", nonced)
    for start in range(0, len(request), len(request) // 4 + 1):
        slow.send(request[start : start + len(request) // 4 + 1])
        time.sleep(0.4)
    status, headers, body = slow.response()
    _assert_ocsp_answer(status, headers, body)
    assert "Response verify OK" in _openssl_checks_ocsp(live, "nonce.req", body)
    assert closes_after_idle(slow) >= 0.5

    asgi = Connection(live)
    asgi.send(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
    assert asgi.response()[0] == b"HTTP/1.1 200 OK"
    assert closes_after_idle(asgi) >= 0.5

    half = Connection(live)
    half.send(post("/ocsp/p256-ca", nonced))
    _assert_ocsp_answer(*half.response())
    half.send(post("/ocsp/p256-ca", nonced)[:40])  # then nothing more
    assert closes_after_idle(half) >= 0.5
    assert len(ocsp_route.answered) == 10


def test_heads_seen_before_are_answered_as_the_parser_would(
    in_process: InProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A head claimed once is remembered byte for byte, and a chunk holding it and exactly its body is answered
    without the parser.  Anything else (a split or pipelined request, blank lines before one, a chunked or an
    over-long head) is parsed; every answer is the parser's (openssl checks the OCSP ones)."""
    port, (ocsp_route, tsa_route), protocol = in_process
    parsed: list[bool] = []
    begin = protocol.on_message_begin

    def counted_begin(self: DirectHttpProtocol) -> None:
        parsed.append(True)
        begin(self)

    monkeypatch.setattr(protocol, "on_message_begin", counted_begin)
    live = LiveDeployment(tmp_path, port)
    nonced = _ocsp_request(live, "nonce.req")
    request = post("/ocsp/p256-ca", nonced)
    raw_head = request[: request.index(b"\r\n\r\n") + 4]
    connection = Connection(live)

    def answered(times: int = 1) -> None:
        for _ in range(times):
            status, headers, body = connection.response()
            _assert_ocsp_answer(status, headers, body)
            assert "Response verify OK" in _openssl_checks_ocsp(live, "nonce.req", body)

    connection.send(request)
    answered()
    assert len(parsed) == 1 and protocol.heads[raw_head].body_length == len(nonced)
    connection.send(request)
    answered()
    assert len(parsed) == 1 and len(ocsp_route.answered) == 2  # the route answered, the parser was not used

    connection.send(raw_head)  # the body in a later chunk
    time.sleep(0.05)
    connection.send(nonced)
    answered()
    connection.send(request * 2)  # pipelined
    answered(2)
    connection.send(b"\r\n\r\n" + request)  # blank lines first: what the parser skips is no head
    answered()
    assert len(parsed) == 5 and not any(head.startswith(b"\r") for head in protocol.heads)
    connection.send(b"\r\n\r\n" + nonced)  # a chunk that is no request at all
    assert connection.response()[0].startswith(b"HTTP/1.1 400")

    for variant in (request.replace(b"Host: test\r\n", b"Host: test\r\nConnection: close\r\n"),
                    request.replace(b"HTTP/1.1", b"HTTP/1.0", 1)):  # fmt: skip
        for _ in range(2):  # the second from memory: the connection is closed all the same
            connection = Connection(live)
            connection.send(variant)
            status, headers, _body = connection.response()
            assert status.startswith(b"HTTP/1.1 200") and headers["connection"] == "close"
            assert connection.closed_by_server()
    assert len(parsed) == 8

    connection = Connection(live)
    chunked = b"POST /ocsp/p256-ca HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
    long_head = raw_head.replace(b"Host: test\r\n", b"Host: test\r\nX-Padding: " + b"p" * 1024 + b"\r\n")
    for _ in range(2):
        connection.send(chunked + b"%x\r\n%s\r\n0\r\n\r\n" % (len(nonced), nonced))
        answered()
        connection.send(long_head + nonced)
        answered()
    assert chunked not in protocol.heads and long_head not in protocol.heads and len(parsed) == 12

    stamp = post("/tsa", build_request(b"x"), "application/ocsp-request")  # the wrong media type, from memory too
    for _ in range(2):
        connection.send(stamp)
        assert connection.response()[0].startswith(b"HTTP/1.1 415")
    assert len(parsed) == 13 and len(tsa_route.answered) == 2

    encoded = base64.b64encode(nonced).decode()
    get = f"GET /ocsp/p256-ca/{urllib.parse.quote(encoded, safe='')} HTTP/1.1\r\nHost: test\r\n\r\n".encode()
    for _ in range(2):  # no Content-Length: no body
        connection.send(get)
        answered()
    assert len(parsed) == 14
    connection.close()
