"""HTTP load against `certseal serve` workers, shared by the server benchmarks (bench/portal.py, bench/pki_ocsp.py,
bench/pki.py).

- init_deployment: the environment of a fresh deployment in a temporary directory, initialised by `certseal init`;
- start_servers / stop: uvicorn workers serving certseal.web.app:create_app on one SO_REUSEPORT port, as
  `certseal serve --workers N` runs them (certseal.web.server);
- load: drives them from a second process over loopback — an HTTP/1.1 keep-alive client, bounded by a number of
  seconds, one request in flight per connection, sending GETs of one path or POSTs of bodies picked at random — and
  returns the rate, p50 and p99 latency, errors, CPU time per answer of the client and of the server processes, and
  which client ran (Load.client).

Two clients do the same thing and print the same JSON: bench/loadgen.c (epoll, ~3-5 µs of CPU a request) and an
asyncio one here (~26 µs a request, a visible share of a 2-core machine the server runs on). `load(client="auto")`
runs the C one when a C compiler (`cc`, else `gcc`) can build it — once, into
~/.cache/certseal-bench/loadgen-<sha256 of the source>, again when the source changes — else the Python one;
CERTSEAL_BENCH_CLIENT=c|python overrides "auto".

The child processes:

    loadgen-<sha256> -p P -t S -c C [-s HEX] < requests      (requests: "<length>\n<bytes>" records)
    python bench/loadgen.py client --port P --path /v/x --seconds S --connections C [--content-type T --success HEX]
    python bench/loadgen.py serve --port P

(with --content-type the Python client POSTs the bodies it reads from stdin, one base64 line each; without, it GETs).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import hashlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

LOADGEN = str(Path(__file__).resolve())
C_SOURCE = Path(__file__).resolve().with_name("loadgen.c")
CLIENTS = ("auto", "c", "python")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the client (its own process: `loadgen.py client …`) -----------------------------------------------------------


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, success: bytes
) -> tuple[bool, bool]:
    """One request and its answer: (HTTP 200 whose first bytes hold `success`, the server closes the connection)."""
    writer.write(request)
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("closed before answering")
    length, close = -1, status_line.startswith(b"HTTP/1.0")
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    payload = await reader.readexactly(length) if length >= 0 else await reader.read()
    return b" 200 " in status_line and success in payload[:12], close or length < 0


async def _connection(
    port: int, requests: list[bytes], success: bytes, deadline: float, latencies: list[float], errors: list[int]
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            ok, close = await _exchange(reader, writer, random.choice(requests), success)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            ok, close = False, True
            await asyncio.sleep(0.01)
        if ok:
            latencies.append(time.perf_counter() - started)
        else:
            errors[0] += 1
        if close and writer is not None:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


def _requests(port: int, path: str, content_type: str, bodies: list[bytes]) -> list[bytes]:
    """The requests to send: one GET of `path`, or a POST of each body."""
    host = f"Host: 127.0.0.1:{port}\r\n"
    if not content_type:
        return [f"GET {path} HTTP/1.1\r\n{host}Accept: text/html\r\n\r\n".encode()]
    head = f"POST {path} HTTP/1.1\r\n{host}Content-Type: {content_type}\r\n"
    return [f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body for body in bodies]


async def _drive(
    requests: list[bytes], success: bytes, port: int, seconds: float, connections: int
) -> dict[str, float]:
    latencies: list[float] = []
    errors = [0]
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(
        *(_connection(port, requests, success, deadline, latencies, errors) for _ in range(connections))
    )
    elapsed = time.monotonic() - started
    ordered = sorted(latencies) or [0.0]
    return {
        "ok": len(latencies),
        "errors": errors[0],
        "elapsed": elapsed,
        "client_cpu": time.process_time(),
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


def client_main(args: argparse.Namespace) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    bodies = [base64.b64decode(line) for line in sys.stdin.read().split()] if args.content_type else []
    requests = _requests(args.port, args.path, args.content_type, bodies)
    found = asyncio.run(_drive(requests, bytes.fromhex(args.success), args.port, args.seconds, args.connections))
    print(json.dumps(found))


# --- measuring -----------------------------------------------------------------------------------------------------


@dataclass
class Load:
    """One client run: the rate, errors, CPU time per answer of client and server, and latencies."""

    rate: float
    errors: int
    client_us: float = 0.0
    server_us: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    client: str = "python"  # which client measured it: "c" (bench/loadgen.c) or "python"

    def server_bound(self, cores: int) -> float:
        """Answers/s the server would sustain on `cores` cores with the client elsewhere."""
        return cores * 1e6 / self.server_us if self.server_us else 0.0


def median_by(items: list[T], ratio: Callable[[T], float]) -> T:
    """The item whose `ratio` is the median (the lower one of the middle two for an even count)."""
    ranked = sorted(items, key=ratio)
    return ranked[(len(ranked) - 1) // 2]


def cpu_seconds(pids: list[int]) -> float:
    """user + system CPU time of processes (Linux /proc; 0 elsewhere)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def load(
    port: int,
    path: str,
    seconds: float,
    connections: int,
    servers: list[int],
    *,
    bodies: list[bytes] | None = None,
    content_type: str = "",
    success: bytes = b"",
    cpu: int | None = None,
    client: str = "auto",
) -> Load:
    """Run the client process against `path`: GETs, or with `content_type` POSTs of random `bodies`.

    An answer counts when it is an HTTP 200 whose body's first 12 bytes contain `success`; `servers` are the pids
    whose CPU time is the server's; `cpu` pins the client to that core (taskset); `client` is "c", "python" or
    "auto" (see the module doc)."""
    chosen = choose_client(client)
    if chosen == "c":
        requests = _requests(port, path, content_type, bodies or [])
        command = [str(c_client()), "-p", str(port), "-t", str(seconds), "-c", str(connections), "-s", success.hex()]
        stdin = b"".join(b"%d\n%b" % (len(request), request) for request in requests)
    else:
        command = [sys.executable, LOADGEN, "client", "--port", str(port), "--path", path, "--seconds", str(seconds),
                   "--connections", str(connections), "--content-type", content_type,
                   "--success", success.hex()]  # fmt: skip
        stdin = "\n".join(base64.b64encode(body).decode() for body in bodies or []).encode()
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    before = cpu_seconds(servers)
    result = subprocess.run(command, input=stdin, capture_output=True, check=True, timeout=seconds + 120)
    server_cpu = cpu_seconds(servers) - before
    found = json.loads(result.stdout)
    done = max(1, int(found["ok"]) + int(found["errors"]))
    return Load(
        rate=found["ok"] / found["elapsed"],
        errors=int(found["errors"]),
        client_us=found["client_cpu"] * 1e6 / done,
        server_us=server_cpu * 1e6 / done,
        p50_ms=found["p50"] * 1000,
        p99_ms=found["p99"] * 1000,
        client=chosen,
    )


def choose_client(client: str = "auto") -> str:
    """The client that runs, "c" or "python": `client`; "auto" defers to CERTSEAL_BENCH_CLIENT, then to the C build."""
    if client == "auto":
        client = os.environ.get("CERTSEAL_BENCH_CLIENT", "") or "auto"
    if client not in CLIENTS:
        raise ValueError(
            f"client must be one of {', '.join(CLIENTS)} (argument or CERTSEAL_BENCH_CLIENT), not {client!r}"
        )
    if client == "auto":
        try:
            c_client()
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            print(f"loadgen: the C client does not build ({error}); using the Python client", file=sys.stderr)
            return "python"
        return "c"
    if client == "c":
        c_client()
    return client


@functools.cache
def c_client() -> Path:
    """bench/loadgen.c compiled into the cache directory, named by the source's SHA-256 (built once per version)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc or gcc) on PATH")
    source = C_SOURCE.read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "certseal-bench"
    binary = cache / f"loadgen-{hashlib.sha256(source).hexdigest()}"
    if os.access(binary, os.X_OK):
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    building = binary.with_name(f"{binary.name}.{os.getpid()}.tmp")  # benchmarks may build it side by side
    command = [compiler, "-O2", "-Wall", "-Wextra", "-std=c11", "-o", str(building), str(C_SOURCE)]
    built = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if built.returncode != 0:
        building.unlink(missing_ok=True)
        raise RuntimeError(f"{' '.join(command)} failed: {built.stderr.strip()}")
    os.replace(building, binary)
    return binary


# --- the deployment ------------------------------------------------------------------------------------------------


def init_deployment(work: Path, port: int) -> dict[str, str]:
    """Environment of a deployment under `work` answering at `port`, after `certseal init`; also set in os.environ
    so that Settings() in this process sees the same deployment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSEAL_")}
    env.update(
        CERTSEAL_HOME=str(work / "var"),
        CERTSEAL_KEK=base64.b64encode(os.urandom(32)).decode(),
        CERTSEAL_AUDIT_KEY=base64.b64encode(os.urandom(32)).decode(),
        CERTSEAL_BASE_URL=f"http://127.0.0.1:{port}",
        CERTSEAL_ACTOR="bench",
    )
    subprocess.run([sys.executable, "-m", "certseal.cli", "init"], env=env, check=True, capture_output=True)
    os.environ.update(env)
    return env


def serve_main(args: argparse.Namespace) -> None:
    """One server worker, as `certseal serve --workers N` runs them (certseal.web.server)."""
    from certseal.web.server import run_worker

    run_worker("127.0.0.1", args.port, access_log=False, reuse_port=True)


def start_servers(
    env: dict[str, str], work: Path, port: int, workers: int, *, cpu: int | None = None
) -> list[subprocess.Popen[bytes]]:
    """`workers` server processes on `port`, logging to work/server.log; wait_http tells when they answer.

    `cpu` pins them to that core (taskset)."""
    command = [sys.executable, LOADGEN, "serve", "--port", str(port)]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    with open(work / "server.log", "ab") as log:
        return [
            subprocess.Popen(command, env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT) for _ in range(workers)
        ]


def stop(processes: list[subprocess.Popen[bytes]], seconds: float = 20) -> None:
    """Terminate processes still running and wait for them, killing any that outlast `seconds`."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.terminate()
    for process in running:
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_http(url: str, seconds: float = 30) -> bytes:
    """The body of `url` once it answers, polling for up to `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body: bytes = response.read()
                return body
        except OSError as error:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {seconds:.0f} s") from error
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    modes = parser.add_subparsers(dest="mode", required=True)
    client = modes.add_parser("client", help="drive a server, print the result as JSON")
    client.add_argument("--port", type=int, required=True)
    client.add_argument("--path", required=True)
    client.add_argument("--seconds", type=float, required=True)
    client.add_argument("--connections", type=int, required=True)
    client.add_argument("--content-type", default="", help="POST the base64 bodies read from stdin, one a line")
    client.add_argument("--success", default="", help="hex bytes the first 12 of a good answer's body contain")
    serve = modes.add_parser("serve", help="one server worker")
    serve.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.mode == "client":
        client_main(args)
    else:
        serve_main(args)


if __name__ == "__main__":
    main()
