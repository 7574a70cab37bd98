"""All PKI benchmarks of issue "Certificate authorities", each printing ours, the reference from the same run and
the ratio:

- bench/pki_issue.py — persisted certificate issuance per second (PF2), single and batched, 1 and 2 processes;
- bench/pki_ocsp.py  — OCSP responses per second, pre-produced and live-signed (PF1), and `openssl ocsp -port`;
- bench/pki_tsa.py   — timestamps per second against the raw signing rate of the TSA key (PF3);
- here, "per core"   — live-signed OCSP (nonce) and timestamps over HTTP to `certseal serve` workers, RSA-2048 and
  SM2: (a) responses per wall-clock second with the load generator (a second process) on the same machine, next
  to `openssl speed -multi W`; (b) responses per CPU-second of the server processes (utime + stime from
  /proc/PID/stat over the run), next to `openssl speed` in one process (signs per CPU-second) run just before and
  just after each load.  (b) is the figure the load generator's share of the cores cannot skew.

    python -m bench.pki [--quick]
    python -m bench.pki --per-core-only [--workers W] [--pin] [--seconds S] [--connections C] [--rounds N]

--pin runs one worker on core 0 and the load generator on core 1 (the cleanest per-core figure).  On a shared machine
the references move by several per cent from one second to the next, and so do single loads: --rounds N (default 3)
runs each load N times, alternating with `openssl speed` (speed, OCSP, speed, TSA, speed, OCSP, …), compares each
load with the speeds just before and after it, prints every round's ratios and shows the median round in the tables.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, median

from bench.loadgen import Load, free_port, load, median_by, start_servers, stop, wait_http
from bench.pki_ocsp import setup, speed_rates

RUNS = {
    "bench.pki_issue": (["--count", "2000"], ["--count", "300"]),
    "bench.pki_ocsp": (["--certs", "1000", "--seconds", "5"], ["--certs", "200", "--seconds", "2"]),
    "bench.pki_tsa": (["--seconds", "3"], ["--seconds", "1"]),
}
TARGETS = {"OCSP": 0.9, "TSA": 0.8}
SUCCESS = {
    "OCSP": b"\x0a\x01\x00",  # OCSPResponseStatus successful
    "TSA": b"\x30\x03\x02\x01\x00",  # PKIStatusInfo granted
}
CONTENT_TYPES = {"OCSP": "application/ocsp-request", "TSA": "application/timestamp-query"}


# --- measuring -----------------------------------------------------------------------------------------------


def _load(
    kind: str,
    port: int,
    path: str,
    bodies: list[bytes],
    args: argparse.Namespace,
    servers: list[int],
    seconds: float = 0,
) -> Load:
    """POSTs of random `bodies` of `kind` for `seconds` (default --seconds); with --pin the client runs on core 1."""
    return load(port, path, seconds or args.seconds, args.connections, servers, bodies=bodies,
                content_type=CONTENT_TYPES[kind], success=SUCCESS[kind], cpu=1 if args.pin else None)  # fmt: skip


def openssl_speed(algorithm: str, seconds: int, multi: int | None, pin: bool) -> float:
    """Signs per second (rsa2048 or sm2): per CPU-second of one process, or the sum over `multi` processes."""
    command = ["openssl", "speed", "-seconds", str(seconds), algorithm]
    if multi:
        command[2:2] = ["-multi", str(multi)]
    if pin and not multi:
        command = ["taskset", "-c", "0", *command]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = speed_rates(output).get(algorithm)
    if rate is not None:
        return rate
    raise RuntimeError(f"no {algorithm} signing rate in the output of {' '.join(command)}")


def _tsa_bodies(hash_name: str, count: int) -> list[bytes]:
    from certseal.pki.tsa import build_request

    return [build_request(os.urandom(64), hash_name, nonce=random.getrandbits(63)) for _ in range(count)]


@dataclass(frozen=True)
class Result:
    """One load and its references: `openssl speed` in one process just before and just after it, and the speed
    of the cores the workers run on (with --pin: the mean of before and after; else `-multi W`, once per algorithm)."""

    kind: str
    label: str
    run: Load
    before: float
    after: float
    all_cores: float

    @property
    def one_process(self) -> float:
        return (self.before + self.after) / 2

    @property
    def wall_clock_ratio(self) -> float:
        """(a): answers per wall-clock second against the cores' signing rate."""
        return self.run.rate / self.all_cores if self.all_cores else 0.0

    @property
    def cpu_ratio(self) -> float:
        """(b): answers per server CPU-second against signs per CPU-second of one process."""
        return self.run.server_bound(1) / self.one_process if self.one_process else 0.0


def per_core(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="certseal-bench-per-core-"))
    port = free_port()
    speed = 1 if args.quick else 2
    try:
        env, _, nonced = setup(work, 40, port)
        cli = [sys.executable, "-m", "certseal.cli"]
        results: list[Result] = []
        for label, ca, alg, hash_name in (("RSA-2048", "rsa-ca", "rsa2048", "sha256"), ("SM2", "sm2-ca", "sm2", "sm3")):
            subprocess.run([*cli, "tsa", "setup", "--ca", ca, "--alg", alg], env=env, check=True, capture_output=True)
            loads = {"OCSP": (f"/ocsp/{ca}", nonced[ca]), "TSA": ("/tsa", _tsa_bodies(hash_name, 64))}
            workers = start_servers(env, work, port, 1 if args.pin else args.workers, cpu=0 if args.pin else None)
            try:
                wait_http(f"http://127.0.0.1:{port}/health/live")
                pids = [w.pid for w in workers]
                for kind, (path, bodies) in loads.items():  # warm keys, caches, statements
                    _load(kind, port, path, bodies, args, pids, seconds=1.0)
                all_cores = 0.0 if args.pin else openssl_speed(alg, speed, args.workers, False)
                before = openssl_speed(alg, speed, None, args.pin)
                for _ in range(args.rounds):
                    for kind, (path, bodies) in loads.items():
                        run = _load(kind, port, path, bodies, args, pids)
                        after = openssl_speed(alg, speed, None, args.pin)
                        results.append(Result(kind, label, run, before, after, all_cores or (before + after) / 2))
                        before = after
            finally:
                stop(workers)
            port = free_port()
        _report(args, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _report(args: argparse.Namespace, results: list[Result]) -> None:
    cores = os.cpu_count() or 1
    layout = "1 worker on core 0, load generator on core 1" if args.pin else f"{args.workers} worker(s) unpinned"
    print(f"\nLive-signed OCSP (nonce) and RFC 3161 timestamps over HTTP: {layout}, {cores} cores (shared machine),")
    clients = "/".join(sorted({r.run.client for r in results}))  # "c": bench/loadgen.c, "python": its asyncio client
    print(f"{args.connections} keep-alive connections, {args.seconds:g} s per run, load generator: {clients} client,")
    print(f"{args.rounds} round(s) alternating with `openssl speed`: the tables show the median round")
    groups: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        groups.setdefault((r.kind, r.label), []).append(r)
    reference = "openssl speed, mean of before and after" if args.pin else f"openssl speed -multi {args.workers}"
    print(f"\n(a) wall clock, load generator on the same machine; reference: {reference}, sign/s")
    print(f"{'':16} {'answers/s':>10} {'reference':>10} {'ratio':>6} {'target':>7} {'errors':>7}")
    for (kind, label), group in groups.items():
        r = median_by(group, lambda r: r.wall_clock_ratio)
        errors = sum(g.run.errors for g in group)
        print(f"{kind + ' ' + label:16} {r.run.rate:10.0f} {r.all_cores:10.0f} {r.wall_clock_ratio:6.2f} "
              f"{TARGETS[kind]:7.1f} {errors:7d}")  # fmt: skip
    print("\n(b) per server CPU-second (utime+stime of the workers); reference: `openssl speed` in one process, signs")
    print("    per CPU-second, run just before and just after the load; ratio against their mean")
    print(f"{'':16} {'µs/answer':>10} {'per CPU-s':>10} {'before':>8} {'after':>8} {'ratio':>6} {'target':>7}")
    for (kind, label), group in groups.items():
        r = median_by(group, lambda r: r.cpu_ratio)
        print(
            f"{kind + ' ' + label:16} {r.run.server_us:10.1f} {r.run.server_bound(1):10.0f} "
            f"{r.before:8.0f} {r.after:8.0f} {r.cpu_ratio:6.2f} {TARGETS[kind]:7.1f}"
        )
    print("\nevery round: (a) / (b)")
    for (kind, label), group in groups.items():
        shown = "  ".join(f"{r.wall_clock_ratio:.2f}/{r.cpu_ratio:.2f}" for r in group)
        a = [r.wall_clock_ratio for r in group]
        b = [r.cpu_ratio for r in group]
        print(f"  {kind + ' ' + label:14} {shown}   median {median(a):.3f}/{median(b):.3f}, "
              f"mean {mean(a):.3f}/{mean(b):.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    parser.add_argument("--per-core-only", action="store_true", help="only the live OCSP / TSA per-core figures")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="server processes (per core)")
    parser.add_argument("--pin", action="store_true", help="one worker on core 0, the load generator on core 1")
    parser.add_argument("--seconds", type=float, default=0.0, help="per run (per core; default 5, quick 2)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (per core)")
    parser.add_argument("--rounds", type=int, default=0, help="loads alternating with openssl speed (3, quick 1)")
    args = parser.parse_args()
    args.seconds = args.seconds or (2.0 if args.quick else 5.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    failed = []
    if not args.per_core_only:
        for module, (full, quick) in RUNS.items():
            print(f"\n=== {module} ===", flush=True)
            if subprocess.run([sys.executable, "-m", module, *(quick if args.quick else full)]).returncode != 0:
                failed.append(module)
    print("\n=== bench.pki per core ===", flush=True)
    per_core(args)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
