"""RFC 3161 timestamps per second against the raw signing rate of the TSA's own key (target PF3: >= 0.8).

    .venv/bin/python -m bench.pki_tsa [--alg rsa2048 --alg sm2] [--seconds N] [--cpu C] [--clients K]

For each algorithm, in a fresh embedded deployment (SQLite, software token) in a temporary directory:

- raw sign: the TSA key through certseal.crypto.keys.PrivateKey.sign (a 20-byte message, as `openssl speed`);
- token only: TimestampAuthority.issue (TSTInfo + signed attributes + signature, no database);
- TsaService.stamp in-process: parse, record the serial (one SQLite transaction), build, sign;
- HTTP: POST /tsa of 64 different requests to `certseal serve` (pinned to the same core) from bench/loadgen.py's
  client in a second process (K keep-alive connections, one request in flight on each; pinned to another core);
- `openssl speed` for the algorithm on the same core.

Every rate is operations per wall-clock second (the database and the HTTP round trip take time off the CPU too),
and `openssl speed` runs with -elapsed to match. Ratios are against the raw certseal rate of the same key.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from bench.crypto import CASES, MESSAGE, ops_per_second, run_openssl_speed
from bench.loadgen import free_port, load
from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.pki.tsa import build_request, parse_request
from certseal.services.audit import Actor
from certseal.services.ca import CaService
from certseal.services.platform import Platform
from certseal.services.tsa import TsaService

TARGET = 0.8
GRANTED = b"\x30\x03\x02\x01\x00"  # PKIStatusInfo { granted }
ACTOR = Actor("bench", "bench")
KEK = base64.b64encode(bytes(range(32))).decode()
AUDIT_KEY = base64.b64encode(bytes(range(32, 64))).decode()
LABELS = {KeyAlgorithm.RSA2048: "RSA-2048", KeyAlgorithm.P256: "ECDSA P-256", KeyAlgorithm.SM2: "SM2"}


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def _serve(home: Path, port: int, cpu: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CERTSEAL_HOME": str(home), "CERTSEAL_KEK": KEK, "CERTSEAL_AUDIT_KEY": AUDIT_KEY}
    command = [sys.executable, "-m", "certseal.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        ["taskset", "-c", str(cpu), *command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("certseal serve did not start")


def bench(alg: KeyAlgorithm, seconds: float, cpu: int, client_cpu: int, clients: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        platform = Platform(Settings(home=home, kek=KEK, audit_key=AUDIT_KEY))
        platform.db.migrate()
        CaService(platform).create_ca("root", alg, ACTOR)
        service = TsaService(platform)
        service.setup("root", alg, ACTOR)
        hash_name = "sm3" if alg is KeyAlgorithm.SM2 else "sha256"
        request = build_request(b"a document" * 100, hash_name, nonce=2**62)
        loaded = service._loaded()  # the held TimestampAuthority (bench only)
        label = loaded.authority.signer.key_label
        with platform.db.reading() as session:
            key = platform.software_token(session).private_key(label)
        parsed = parse_request(request)
        now = datetime.now(UTC)
        rates = {
            "raw sign (PrivateKey.sign)": ops_per_second(lambda: key.sign(MESSAGE), seconds, elapsed=True),
            "token only (no DB)": ops_per_second(
                lambda: loaded.authority.issue(parsed, 123456789, now), seconds, elapsed=True
            ),
            "TsaService.stamp": ops_per_second(lambda: service.stamp(request), seconds, elapsed=True),
        }
        platform.close()
        port = free_port()
        server = _serve(home, port, cpu)
        try:
            bodies = [build_request(os.urandom(64), hash_name, nonce=random.getrandbits(63)) for _ in range(64)]
            http = partial(load, port, "/tsa", connections=clients, servers=[server.pid], bodies=bodies,
                           content_type="application/timestamp-query", success=GRANTED, cpu=client_cpu)  # fmt: skip
            http(seconds=0.5)  # warm the key, caches and statements
            rates[f"HTTP POST /tsa ({clients} connections)"] = http(seconds=seconds).rate
        finally:
            server.terminate()
            server.wait(timeout=10)
        return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alg", action="append", choices=[a.value for a in LABELS], help="repeatable")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--cpu", type=int, default=0, help="core for certseal (in-process and server)")
    parser.add_argument("--clients", type=int, default=16, help="keep-alive connections of the HTTP load")
    args = parser.parse_args()
    algorithms = [KeyAlgorithm(a) for a in (args.alg or ["rsa2048", "sm2"])]
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    client_cpu = next((c for c in cores if c != args.cpu), args.cpu)
    _pin(args.cpu)
    speed, version = run_openssl_speed(args.cpu, args.seconds, elapsed=True)
    print(f"# {version}; certseal on core {args.cpu}, HTTP client on core {client_cpu}; per wall-clock second")
    for alg in algorithms:
        label = LABELS[alg]
        rates = bench(alg, args.seconds, args.cpu, client_cpu, args.clients)
        raw = rates["raw sign (PrivateKey.sign)"]
        openssl = speed[(label, "sign")]
        print(f"\n{label}: openssl speed sign {openssl:,.0f}/s")
        print(f"  {'what':44} {'per s':>9} {'÷ raw':>7} {'÷ openssl':>10}")
        for what, rate in rates.items():
            mark = "" if what.startswith("raw") else ("  meets 0.8" if rate / raw >= TARGET else "  below 0.8")
            print(f"  {what:44} {rate:9,.0f} {rate / raw:7.2f} {rate / openssl:10.2f}{mark}")
    assert {label for label, *_ in CASES} >= set(LABELS.values())


if __name__ == "__main__":
    main()
