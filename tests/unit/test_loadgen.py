"""The benchmarks' load clients (bench/loadgen.c, compiled by bench/loadgen.py, and the asyncio one) against a tiny
asyncio HTTP/1.1 server in this test that checks every request byte for byte and answers in pieces: good answers,
answers that close the connection, a large body, HTTP/1.0 bodies that run to the close, a wrong status, a body
without the success bytes, garbage, and no server at all."""

from __future__ import annotations

import asyncio
import random
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from bench.loadgen import Load, _requests, free_port, load, median_by
from bench.pki import Result
from bench.pki_ocsp import LiveRound, median_round, speed_rates

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None,
    reason="no C compiler (cc or gcc) on PATH: bench/loadgen.c cannot be built here",
)

SUCCESS = b"\x0a\x01\x00"
GOOD_BODY = b"\x30\x82\x01\x00" + SUCCESS + bytes(range(256)) * 4
BIG_BODY = b"%PDF" + SUCCESS + b"x" * (3 * 1024 * 1024)
BODIES = [b"request %d " % i + bytes(range(256)) * i for i in range(8)]
CONTENT_TYPE = "application/ocsp-request"
SECONDS = 0.3


@dataclass
class Seen:
    """What the server saw: connections accepted, requests not among the expected ones, distinct requests."""

    connections: int = 0
    unexpected: int = 0
    distinct: set[bytes] = field(default_factory=set)


class TinyServer:
    """HTTP/1.1 on loopback in a thread; the request path picks the answer (see `_answer`)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.expected: set[bytes] = set()
        self.seen = Seen()
        self._handlers: set[asyncio.Task[None]] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _shutdown(self) -> None:
        self._server.close()
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.seen.connections += 1
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + await reader.readexactly(length)
                self.seen.distinct.add(request)
                if request not in self.expected:
                    self.seen.unexpected += 1
                answered += 1
                if not await self._answer(request.split(b" ")[1].decode(), answered, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self._handlers.discard(task)

    async def _answer(self, path: str, answered: int, writer: asyncio.StreamWriter) -> bool:
        """Write the answer for `path` in pieces; False when the connection is to close."""
        status, body, close, framing = "200 OK", GOOD_BODY, False, "length"
        if path == "/close":
            close = answered % 3 == 0
        elif path == "/big":
            body = BIG_BODY
        elif path == "/http10":
            framing = "until-close"
        elif path == "/missing":
            status = "404 Not Found"
        elif path == "/wrong":
            body = b"\x30\x03\x02\x01\x02" + bytes(100)  # PKIStatus rejection
        elif path == "/late":
            body = b"x" * 10 + SUCCESS  # the success bytes end past the body's 12th byte
        elif path == "/edge":
            body = b"x" * 9 + SUCCESS  # the success bytes end at the body's 12th byte
        elif path == "/garbage":
            await self._write_split(writer, b"garbage\r\n\r\n")
            return True
        if framing == "until-close":
            await self._write_split(writer, b"HTTP/1.0 200 OK\r\nContent-Type: x\r\n\r\n" + body)
            return False
        connection = "Connection: close\r\n" if close else ""
        head = f"HTTP/1.1 {status}\r\nContent-Type: x\r\nContent-Length: {len(body)}\r\n{connection}\r\n".encode()
        await self._write_split(writer, head + body)
        return not close

    @staticmethod
    async def _write_split(writer: asyncio.StreamWriter, data: bytes) -> None:
        """`data` in three writes cut at random places (one inside the head), each drained after a pause."""
        cuts = sorted(random.sample(range(1, min(len(data), 40)), 1) + random.sample(range(1, len(data)), 1))
        for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
            writer.write(data[start:end])
            await writer.drain()
            await asyncio.sleep(0.0005)


@pytest.fixture
def server() -> Iterator[TinyServer]:
    running = TinyServer()
    yield running
    running.close()


def _run(server: TinyServer, path: str, client: str = "c", *, post: bool = False, connections: int = 3) -> Load:
    content_type = CONTENT_TYPE if post else ""
    server.expected = set(_requests(server.port, path, content_type, BODIES))
    return load(server.port, path, SECONDS, connections, [], bodies=BODIES if post else None,
                content_type=content_type, success=SUCCESS, client=client)  # fmt: skip


@pytest.mark.parametrize("client", ["c", "python"])
def test_good_answers_in_pieces_count_ok_and_requests_are_byte_exact(server: TinyServer, client: str) -> None:
    found = _run(server, "/ocsp", client, post=True)
    assert found.client == client
    assert found.errors == 0 and found.rate > 0
    assert server.seen.unexpected == 0
    assert len(server.seen.distinct) > 1  # the bodies are picked at random
    assert server.seen.connections == 3  # keep-alive: no reconnection


@pytest.mark.parametrize("path", ["/close", "/http10"])
def test_answers_that_close_the_connection_are_ok_and_the_client_reconnects(server: TinyServer, path: str) -> None:
    found = _run(server, path)
    assert found.errors == 0 and found.rate > 0
    assert server.seen.connections > 3
    assert server.seen.unexpected == 0


@pytest.mark.parametrize("path", ["/big", "/edge"])
def test_large_body_and_success_bytes_at_the_edge_are_ok(server: TinyServer, path: str) -> None:
    found = _run(server, path, connections=2)
    assert found.errors == 0 and found.rate > 0


@pytest.mark.parametrize("client", ["c", "python"])
@pytest.mark.parametrize("path", ["/missing", "/wrong", "/late"])
def test_wrong_status_or_missing_success_bytes_are_errors(server: TinyServer, path: str, client: str) -> None:
    found = _run(server, path, client)
    assert found.rate == 0 and found.errors > 0
    assert server.seen.connections == 3  # a well-formed answer keeps its connection
    assert found.p50_ms == 0


def test_garbage_answers_are_errors_and_reconnect(server: TinyServer) -> None:
    found = _run(server, "/garbage")
    assert found.rate == 0 and found.errors > 0
    assert server.seen.connections > 3


def test_no_server_counts_connection_failures() -> None:
    found = load(free_port(), "/health/live", SECONDS, 2, [], client="c")
    assert found.rate == 0 and found.errors > 0


def test_a_client_name_outside_the_choices_is_refused() -> None:
    with pytest.raises(ValueError, match="client must be one of auto, c, python"):
        load(free_port(), "/", SECONDS, 1, [], client="rust")


def test_live_rounds_compare_each_with_the_speeds_around_it_and_the_median_is_shown() -> None:
    speeds = [{"rsa2048": 1000.0, "sm2": 2000.0}, {"rsa2048": 1200.0}, {"rsa2048": 800.0, "sm2": 1000.0}]
    rounds = [
        LiveRound({"rsa2048": Load(990, 0), "sm2": Load(1800, 0)}, speeds[0], speeds[1]),  # 990/1100, 1800/2000
        LiveRound({"rsa2048": Load(900, 0), "sm2": Load(950, 0)}, speeds[1], speeds[2]),  # 900/1000, 950/1000
        LiveRound({"rsa2048": Load(700, 0), "sm2": Load(0, 0)}, speeds[2], {}),  # 700/800, no reference after
    ]
    assert [round(r.ratio("rsa2048"), 3) for r in rounds] == [0.9, 0.9, 0.875]
    assert [r.reference("sm2") for r in rounds] == [2000.0, 1000.0, 1000.0]
    assert median_round(rounds, "rsa2048") is rounds[0]  # ranked 0.875, 0.9, 0.9: the middle one is the first 0.9
    assert median_round(rounds, "sm2") is rounds[0]  # 0.0, 0.9, 0.95
    assert LiveRound({"sm2": Load(5, 0)}, {}, {}).ratio("sm2") == 0.0  # no reference: no ratio, not a crash


def test_per_core_rounds_compare_each_load_with_the_speeds_around_it() -> None:
    # 1,000 answers/s at 900 µs of server CPU each: 1,111 per CPU-second
    pinned = Result("OCSP", "RSA-2048", Load(1000, 0, server_us=900), before=1200, after=1000, all_cores=1100)
    assert pinned.one_process == 1100
    assert round(pinned.wall_clock_ratio, 3) == 0.909
    assert round(pinned.cpu_ratio, 3) == 1.01
    rounds = [
        pinned,
        Result("OCSP", "RSA-2048", Load(950, 0, server_us=1000), 1000, 1000, 1000),  # 0.95 / 1.0
        Result("OCSP", "RSA-2048", Load(800, 0, server_us=1250), 1000, 1000, 1000),  # 0.8 / 0.8
    ]
    assert median_by(rounds, lambda r: r.wall_clock_ratio) is pinned
    assert median_by(rounds, lambda r: r.cpu_ratio) is rounds[1]
    nothing = Result("TSA", "SM2", Load(5, 0), 0, 0, 0)
    assert (nothing.wall_clock_ratio, nothing.cpu_ratio) == (0.0, 0.0)  # no reference, no CPU: no ratio, no crash


def test_openssl_speed_summary_tables_are_read_by_algorithm() -> None:
    output = (
        "CPUINFO: OPENSSL_ia32cap=0xfffa32034f8bffff:0x1a415f46f1bf2ffb\n"
        "                  sign    verify    sign/s verify/s\n"
        "rsa 2048 bits 0.000143s 0.000008s   6988.0 131358.0\n"
        "                              sign    verify    sign/s verify/s\n"
        " 256 bits SM2 (CurveSM2)   0.0001s   0.0001s   7714.0   7851.0\n"
    )
    assert speed_rates(output) == {"rsa2048": 6988.0, "sm2": 7714.0}
    assert speed_rates(output.split("\n", 3)[3]) == {"sm2": 7714.0}  # only what the output holds
