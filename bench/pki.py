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
    python -m bench.pki --per-core-only [--workers W] [--pin] [--seconds S] [--connections C]

--pin runs one worker on core 0 and the load generator on core 1 (the cleanest per-core figure).  On a shared machine
the references move by several per cent from one second to the next: both are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

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


# --- load generator (its own process: `python -m bench.pki --client …`) ------------------------------------------


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes, ok: bytes
) -> tuple[bool, bool]:
    """One request and its answer: (answered as wanted, connection closed by the server)."""
    writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
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
    return b" 200 " in status_line and ok in payload[:12], close or length < 0


async def _connection(
    port: int, head: bytes, bodies: list[bytes], ok: bytes, deadline: float, counts: list[int]
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.monotonic() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            good, close = await _exchange(reader, writer, head, random.choice(bodies), ok)
            counts[0 if good else 1] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            counts[1] += 1
            close = True
            await asyncio.sleep(0.01)
        if close and writer is not None:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def _drive(args: argparse.Namespace) -> None:
    bodies = [base64.b64decode(line) for line in Path(args.bodies).read_text().split()]
    head = (
        f"POST {args.path} HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n"
        f"Content-Type: {CONTENT_TYPES[args.kind]}\r\nContent-Length: "
    ).encode()
    counts = [0, 0]
    started = time.monotonic()
    deadline = started + args.seconds
    connections = (
        _connection(args.port, head, bodies, SUCCESS[args.kind], deadline, counts) for _ in range(args.connections)
    )
    await asyncio.gather(*connections)
    print(counts[0], counts[1], f"{time.monotonic() - started:.3f}")


# --- measuring -----------------------------------------------------------------------------------------------


def _cpu_seconds(pids: list[int]) -> float:
    """utime + stime of processes, from /proc/PID/stat (fields 14 and 15)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Run:
    """One load: answers per wall-clock second, failures, and server CPU-seconds per answer."""

    rate: float
    errors: int
    server_cpu_per_answer: float

    @property
    def per_cpu_second(self) -> float:
        return 1 / self.server_cpu_per_answer if self.server_cpu_per_answer else 0.0


def load(kind: str, port: int, path: str, bodies: list[bytes], args: argparse.Namespace, servers: list[int]) -> Run:
    work = Path(args.work)
    file = work / f"bodies-{random.randrange(1 << 30)}.txt"
    file.write_text("\n".join(base64.b64encode(b).decode() for b in bodies))
    command = [sys.executable, "-m", "bench.pki", "--client", "--kind", kind, "--port", str(port), "--path", path,
               "--bodies", str(file), "--seconds", str(args.seconds),
               "--connections", str(args.connections)]  # fmt: skip
    if args.pin:
        command = ["taskset", "-c", "1", *command]
    before = _cpu_seconds(servers)
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=args.seconds + 120)
    cpu = _cpu_seconds(servers) - before
    ok, errors, elapsed = result.stdout.split()
    return Run(int(ok) / float(elapsed), int(errors), cpu / max(1, int(ok) + int(errors)))


def openssl_speed(algorithm: str, seconds: int, multi: int | None, pin: bool) -> float:
    """Signs per second (rsa2048 or sm2): per CPU-second of one process, or the sum over `multi` processes."""
    command = ["openssl", "speed", "-seconds", str(seconds), algorithm]
    if multi:
        command[2:2] = ["-multi", str(multi)]
    if pin and not multi:
        command = ["taskset", "-c", "0", *command]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    for line in output.splitlines():
        numbers = re.findall(r"[\d.]+", line)
        if algorithm == "rsa2048" and re.match(r"^\s*rsa\s+2048 bits", line) and len(numbers) >= 5:
            return float(numbers[3])
        if algorithm == "sm2" and "SM2" in line and "bits" in line and len(numbers) >= 5:
            return float(numbers[-2])
    raise RuntimeError(f"no {algorithm} signing rate in the output of {' '.join(command)}")


def _start_workers(args: argparse.Namespace, env: dict[str, str], port: int) -> list[subprocess.Popen[bytes]]:
    from bench.pki_ocsp import wait_http

    code = (
        "from certseal.web.server import run_worker; import sys; run_worker('127.0.0.1', int(sys.argv[1]), False, True)"
    )
    workers = []
    for index in range(1 if args.pin else args.workers):
        command = [sys.executable, "-c", code, str(port)]
        if args.pin:
            command = ["taskset", "-c", "0", *command]
        log = open(Path(args.work) / f"worker-{port}-{index}.log", "wb")
        workers.append(subprocess.Popen(command, env=env, cwd=args.work, stdout=log, stderr=subprocess.STDOUT))
    wait_http(f"http://127.0.0.1:{port}/health/live")
    return workers


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(timeout=20)


def _tsa_bodies(hash_name: str, count: int) -> list[bytes]:
    from certseal.pki.tsa import build_request

    return [build_request(os.urandom(64), hash_name, nonce=random.getrandbits(63)) for _ in range(count)]


@dataclass(frozen=True)
class Result:
    """One load and its references: `openssl speed` on one core just before and just after it, and on all cores."""

    kind: str
    label: str
    run: Run
    before: float
    after: float
    all_cores: float


def per_core(args: argparse.Namespace) -> None:
    from bench.pki_ocsp import _free_port, setup

    work = Path(tempfile.mkdtemp(prefix="certseal-bench-per-core-"))
    args.work = str(work)
    port = _free_port()
    speed = 1 if args.quick else 2
    try:
        env, _, nonced = setup(work, 40, port)
        cli = [sys.executable, "-m", "certseal.cli"]
        results: list[Result] = []
        for label, ca, alg, hash_name in (("RSA-2048", "rsa-ca", "rsa2048", "sha256"), ("SM2", "sm2-ca", "sm2", "sm3")):
            subprocess.run([*cli, "tsa", "setup", "--ca", ca, "--alg", alg], env=env, check=True, capture_output=True)
            loads = {"OCSP": (f"/ocsp/{ca}", nonced[ca]), "TSA": ("/tsa", _tsa_bodies(hash_name, 64))}
            workers = _start_workers(args, env, port)
            try:
                pids = [w.pid for w in workers]
                for kind, (path, bodies) in loads.items():  # warm keys, caches, statements
                    load(kind, port, path, bodies, _warm(args), pids)
                all_cores = openssl_speed(alg, speed, None if args.pin else args.workers, args.pin)
                for kind, (path, bodies) in loads.items():
                    before = openssl_speed(alg, speed, None, args.pin)
                    run = load(kind, port, path, bodies, args, pids)
                    after = openssl_speed(alg, speed, None, args.pin)
                    results.append(Result(kind, label, run, before, after, all_cores))
            finally:
                _stop(workers)
            port = _free_port()
        _report(args, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _warm(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "seconds": 1.0})


def _report(args: argparse.Namespace, results: list[Result]) -> None:
    cores = os.cpu_count() or 1
    layout = "1 worker on core 0, load generator on core 1" if args.pin else f"{args.workers} worker(s) unpinned"
    print(f"\nLive-signed OCSP (nonce) and RFC 3161 timestamps over HTTP: {layout}, {cores} cores (shared machine),")
    print(f"{args.connections} keep-alive connections, {args.seconds:g} s per run")
    reference = "openssl speed" + ("" if args.pin else f" -multi {args.workers}")
    print(f"\n(a) wall clock, load generator on the same machine; reference: {reference} sign/s")
    print(f"{'':16} {'answers/s':>10} {'reference':>10} {'ratio':>6} {'target':>7} {'errors':>7}")
    for r in results:
        ratio = r.run.rate / r.all_cores if r.all_cores else 0.0
        name = f"{r.kind} {r.label}"
        print(f"{name:16} {r.run.rate:10.0f} {r.all_cores:10.0f} {ratio:6.2f} {TARGETS[r.kind]:7.1f} {r.run.errors:7d}")
    print("\n(b) per server CPU-second (utime+stime of the workers); reference: `openssl speed` in one process, signs")
    print("    per CPU-second, run just before and just after the load; ratio against their mean")
    print(f"{'':16} {'µs/answer':>10} {'per CPU-s':>10} {'before':>8} {'after':>8} {'ratio':>6} {'target':>7}")
    for r in results:
        mean = (r.before + r.after) / 2
        ratio = r.run.per_cpu_second / mean if mean else 0.0
        print(
            f"{r.kind + ' ' + r.label:16} {r.run.server_cpu_per_answer * 1e6:10.1f} {r.run.per_cpu_second:10.0f} "
            f"{r.before:8.0f} {r.after:8.0f} {ratio:6.2f} {TARGETS[r.kind]:7.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    parser.add_argument("--per-core-only", action="store_true", help="only the live OCSP / TSA per-core figures")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="server processes (per core)")
    parser.add_argument("--pin", action="store_true", help="one worker on core 0, the load generator on core 1")
    parser.add_argument("--seconds", type=float, default=0.0, help="per run (per core; default 5, quick 2)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (per core)")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kind", choices=sorted(SUCCESS), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--path", default="", help=argparse.SUPPRESS)
    parser.add_argument("--bodies", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        asyncio.run(_drive(args))
        return
    args.seconds = args.seconds or (2.0 if args.quick else 5.0)
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
