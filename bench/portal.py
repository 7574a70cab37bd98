"""Public verification page throughput (SPEC PF6): GET /v/<identifier> next to a static file served by the same
server stack, at 200 keep-alive connections from a second process over loopback.

    python bench/portal.py [--seconds 10] [--workers 2] [--connections 200]

Sets up a deployment in a temporary directory (demo CAs, the license seals and QR key, one issued Drug Production
License), starts --workers uvicorn processes serving certseal.web.app:create_app on one SO_REUSEPORT port (as
`certseal serve --workers N` does, see certseal.web.server), and drives it from a second process: a small asyncio
HTTP/1.1 keep-alive client sending GETs, bounded by --seconds, timing every request.  Two runs, same server:

- ours: GET /v/<identifier>, the public record page a scanned QR code opens (HTML, served from the in-process page
  cache that is revalidated against the registry every second: certseal.web.routes.public.PublicPages);
- baseline: GET /static/qr-verify.js, a static file of similar size through the same uvicorn + FastAPI stack
  (FileResponse), the ceiling of the stack for a page that needs no work at all.

Prints requests/s, p50 and p99 latency, errors, CPU per request of client and server, the rate the server alone
would sustain on all cores ("server-bound": the client shares the cores here, as it would on a 2-core box), and the
ratio ours / baseline.  Target (PF6): >= 2,000 requests/s with p99 <= 100 ms at 200 connections on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

TARGET_RATE = 2_000
TARGET_P99_MS = 100.0
BASELINE_PATH = "/static/qr-verify.js"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- load generator (its own process: `portal.py --client …`) ---------------------------------------------------


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[bool, bool]:
    """One GET and its response: (answered 200, the server closes the connection)."""
    writer.write(request)
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("closed before answering")
    length, close = -1, False
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
    if length >= 0:
        await reader.readexactly(length)
    else:
        await reader.read()
        close = True
    return b" 200 " in status_line, close


async def _connection(port: int, request: bytes, deadline: float, latencies: list[float], errors: list[int]) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            ok, close = await _exchange(reader, writer, request)
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


async def _drive(port: int, path: str, seconds: float, connections: int) -> dict[str, float]:
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/html\r\n\r\n".encode()
    latencies: list[float] = []
    errors = [0]
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(_connection(port, request, deadline, latencies, errors) for _ in range(connections)))
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
    print(json.dumps(asyncio.run(_drive(args.port, args.path, args.seconds, args.connections))))


# --- measuring -----------------------------------------------------------------------------------------------------


@dataclass
class Load:
    """One client run: the rate, latencies, errors and CPU time per request of client and server."""

    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    client_us: float
    server_us: float

    def server_bound(self, cores: int) -> float:
        """Requests/s the server would sustain on `cores` cores with the client elsewhere."""
        return cores * 1e6 / self.server_us if self.server_us else 0.0


def _cpu_seconds(pids: list[int]) -> float:
    """user + system CPU time of processes (Linux /proc; 0 elsewhere)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def load(port: int, path: str, seconds: float, connections: int, servers: list[int]) -> Load:
    before = _cpu_seconds(servers)
    result = subprocess.run(
        [sys.executable, __file__, "--client", "--port", str(port), "--path", path,
         "--seconds", str(seconds), "--connections", str(connections)],
        capture_output=True, text=True, check=True, timeout=seconds + 120,
    )  # fmt: skip
    server_cpu = _cpu_seconds(servers) - before
    found = json.loads(result.stdout)
    done = max(1, int(found["ok"]) + int(found["errors"]))
    return Load(
        found["ok"] / found["elapsed"],
        found["p50"] * 1000,
        found["p99"] * 1000,
        int(found["errors"]),
        found["client_cpu"] * 1e6 / done,
        server_cpu * 1e6 / done,
    )


# --- the deployment ------------------------------------------------------------------------------------------------


def setup(work: Path, port: int) -> tuple[dict[str, str], str]:
    """An initialised deployment with one issued license; returns the environment and the license's identifier."""
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
    from certseal.config import Settings
    from certseal.services.access import Principal
    from certseal.services.audit import Actor
    from certseal.services.ca import CaService
    from certseal.services.deployment import DEMO_CAS, first_sample, load_samples
    from certseal.services.license_documents import LicenseDocuments
    from certseal.services.licenses import LicenseService
    from certseal.services.platform import Platform

    platform = Platform(Settings())
    actor = Actor("bench", "bench")
    cas = CaService(platform)
    for name, algorithm, parent, subject in DEMO_CAS:
        cas.create_ca(name, algorithm, actor, parent=parent, subject=subject)
    LicenseDocuments(platform).ensure_license_seals(actor)
    sample = first_sample(load_samples(), "drug-production")
    officer = Principal.for_user("bench-officer", "licensing-officer", "division:420000")
    issued = LicenseService(platform).issue_now(officer, sample.type_code, sample.data, sample.division_code)
    platform.close()
    identifier = issued.detail.info.identifier
    assert identifier is not None
    return env, identifier


def serve_main(args: argparse.Namespace) -> None:
    """One server worker, as `certseal serve --workers N` runs them (certseal.web.server)."""
    from certseal.web.server import run_worker

    run_worker("127.0.0.1", args.port, access_log=False, reuse_port=True)


def wait_http(url: str, seconds: float = 30) -> bytes:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body: bytes = response.read()
                return body
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def report(args: argparse.Namespace, sizes: dict[str, int], ours: Load, baseline: Load) -> None:
    cores = os.cpu_count() or 1
    print(
        f"\nPublic page over loopback: {args.workers} uvicorn worker(s), {cores} core(s) shared with the client, "
        f"{args.connections} keep-alive connections, {args.seconds:.0f} s a run"
    )
    header = f"{'':34} {'bytes':>6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
    print(f"{header} {'client µs':>9} {'server µs':>9} {'server-bound/s':>14}")
    for label, path, result in (
        ("ours: GET /v/<identifier>", "page", ours),
        ("baseline: " + BASELINE_PATH, "static", baseline),
    ):
        print(
            f"{label:34} {sizes[path]:6d} {result.rate:8.0f} {result.p50_ms:7.1f} {result.p99_ms:7.1f} "
            f"{result.errors:6d} {result.client_us:9.0f} {result.server_us:9.0f} {result.server_bound(cores):14.0f}"
        )
    ratio = ours.rate / baseline.rate if baseline.rate else 0.0
    bound_ratio = ours.server_bound(cores) / baseline.server_bound(cores) if baseline.server_us else 0.0
    print(f"ratio ours / baseline: {ratio:.2f} (measured), {bound_ratio:.2f} (server-bound)")
    met = ours.rate >= TARGET_RATE and ours.p99_ms <= TARGET_P99_MS and ours.errors == 0
    print(
        f"PF6 target >= {TARGET_RATE} req/s and p99 <= {TARGET_P99_MS:.0f} ms at {args.connections} connections: "
        f"{'met' if met else 'NOT met'} ({ours.rate:.0f} req/s, p99 {ours.p99_ms:.1f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--path", default="", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--connections", type=int, default=200)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return
    if args.serve:
        serve_main(args)
        return

    work = Path(tempfile.mkdtemp(prefix="certseal-bench-portal-"))
    port = _free_port()
    servers: list[subprocess.Popen[bytes]] = []
    try:
        started = time.perf_counter()
        env, identifier = setup(work, port)
        print(f"setup: deployment, seals and one issued license in {time.perf_counter() - started:.1f} s")
        log = open(work / "server.log", "wb")
        command = [sys.executable, __file__, "--serve", "--port", str(port)]
        servers = [
            subprocess.Popen(command, env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT)
            for _ in range(args.workers)
        ]
        base = f"http://127.0.0.1:{port}"
        page_path = f"/v/{identifier}"
        sizes = {"page": len(wait_http(base + page_path)), "static": len(wait_http(base + BASELINE_PATH))}
        pids = [s.pid for s in servers]
        load(port, page_path, 2.0, args.connections, pids)  # warm every worker's cache and code paths
        load(port, BASELINE_PATH, 2.0, args.connections, pids)
        ours = load(port, page_path, args.seconds, args.connections, pids)
        baseline = load(port, BASELINE_PATH, args.seconds, args.connections, pids)
        report(args, sizes, ours, baseline)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
