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
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as `python bench/portal.py`: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import Load, free_port, init_deployment, load, start_servers, stop, wait_http

TARGET_RATE = 2_000
TARGET_P99_MS = 100.0
BASELINE_PATH = "/static/qr-verify.js"


def setup(work: Path, port: int) -> tuple[dict[str, str], str]:
    """An initialised deployment with one issued license; returns the environment and the license's identifier."""
    env = init_deployment(work, port)
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
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--connections", type=int, default=200)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="certseal-bench-portal-"))
    port = free_port()
    servers: list[subprocess.Popen[bytes]] = []
    try:
        started = time.perf_counter()
        env, identifier = setup(work, port)
        print(f"setup: deployment, seals and one issued license in {time.perf_counter() - started:.1f} s")
        servers = start_servers(env, work, port, args.workers)
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
        stop(servers, seconds=15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
