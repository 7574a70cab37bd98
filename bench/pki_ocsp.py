"""OCSP responder throughput: certseal (uvicorn workers) next to `openssl speed` and `openssl ocsp -port`.

    python bench/pki_ocsp.py [--certs 1000] [--seconds 5] [--workers 2] [--connections 32]

Sets up a deployment in a temporary directory (an RSA-2048 CA and an SM2 CA, --certs certificates between them,
responses pre-produced with `certseal ocsp refresh`), starts --workers uvicorn processes serving
certseal.web.app:create_app on one SO_REUSEPORT port (see certseal.web.server for why not
`uvicorn --workers`), and drives it from a second process over loopback: a small asyncio HTTP/1.1 keep-alive client
POSTing OCSP requests for random certificates, bounded by --seconds.  Prints

- pre-produced (no nonce) responses/s — target >= 10,000/s;
- live-signed (nonce) responses/s for RSA-2048 and SM2 next to `openssl speed -multi W rsa2048 sm2` sign/s on the
  same cores — target >= 0.9x;
- OpenSSL's own responder (`openssl ocsp -index … -port …`, RSA CA, same certificates) as a peer: one process,
  as its `-multi` parent exits at once when started from Python here; it signs every response, nonce or not.

The client shares the machine's cores with the server, as it would on a 2-core box; the figures are what the
whole machine sustains, the client's share included.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

TARGET_PREPRODUCED = 10_000
TARGET_RATIO = 0.9


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- load generator (runs in its own process: `pki_ocsp.py --client …`) ---------------------------------------


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes, counts: list[int]
) -> bool:
    """One request and its response; True if the server closes the connection after it."""
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
    if b" 200 " in status_line and b"\x0a\x01\x00" in payload[:8]:  # HTTP 200 carrying a successful OCSP answer
        counts[0] += 1
    else:
        counts[1] += 1
    return close or length < 0


async def _connection(
    host: str, port: int, path: str, bodies: list[bytes], deadline: float, limit: int, counts: list[int]
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/ocsp-request\r\nContent-Length: "
    ).encode()
    while time.monotonic() < deadline and counts[0] < limit:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            assert reader is not None
            close = await _exchange(reader, writer, head, random.choice(bodies), counts)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            counts[1] += 1
            close = True
            await asyncio.sleep(0.01)
        if close and writer is not None:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def _drive(host: str, port: int, path: str, bodies: list[bytes], seconds: float, connections: int) -> None:
    counts = [0, 0]
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(
        *(_connection(host, port, path, bodies, deadline, 10_000_000, counts) for _ in range(connections))
    )
    elapsed = time.monotonic() - started
    print(f"{counts[0]} {counts[1]} {elapsed:.3f} {time.process_time():.3f}")


def client_main(args: argparse.Namespace) -> None:
    bodies = [base64.b64decode(line) for line in Path(args.bodies).read_text().split()]
    asyncio.run(_drive("127.0.0.1", args.port, args.path, bodies, args.seconds, args.connections))


@dataclass
class Load:
    """One run of the client: the rate, and CPU time per response of the client and of the server processes."""

    rate: float
    errors: int
    client_us: float = 0.0
    server_us: float = 0.0

    def server_bound(self, cores: int) -> float:
        """Responses/s the server would sustain on `cores` cores with the client on other ones."""
        return cores * 1e6 / self.server_us if self.server_us else 0.0


def _cpu_seconds(pids: list[int]) -> float:
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
    port: int, path: str, bodies: list[bytes], seconds: float, connections: int, work: Path, servers: list[int]
) -> Load:
    """Run the client process; the rate, errors and CPU time per response."""
    file = work / f"bodies-{random.randrange(1 << 30)}.txt"
    file.write_text("\n".join(base64.b64encode(b).decode() for b in bodies))
    server_before = _cpu_seconds(servers)
    result = subprocess.run(
        [sys.executable, __file__, "--client", "--port", str(port), "--path", path, "--bodies", str(file),
         "--seconds", str(seconds), "--connections", str(connections)],
        capture_output=True, text=True, check=True, timeout=seconds + 120,
    )  # fmt: skip
    server_cpu = _cpu_seconds(servers) - server_before
    ok, errors, elapsed, client_cpu = result.stdout.split()
    done = max(1, int(ok) + int(errors))
    return Load(int(ok) / float(elapsed), int(errors), float(client_cpu) * 1e6 / done, server_cpu * 1e6 / done)


# --- the deployment --------------------------------------------------------------------------------------------


def setup(work: Path, certs: int, port: int) -> tuple[dict[str, str], dict[str, list[bytes]], dict[str, list[bytes]]]:
    """Deployment with two CAs and `certs` certificates; returns env and, per CA, nonce-less and nonce requests."""
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
    from asn1crypto import core, ocsp, pem

    from certseal.config import Settings
    from certseal.crypto.algorithms import KeyAlgorithm
    from certseal.crypto.keys import PrivateKey
    from certseal.services.audit import Actor
    from certseal.services.ca import CaService
    from certseal.services.platform import Platform

    platform = Platform(Settings())
    actor = Actor("bench", "bench")
    service = CaService(platform)
    plain: dict[str, list[bytes]] = {}
    nonced: dict[str, list[bytes]] = {}
    leaf_key = PrivateKey.generate(KeyAlgorithm.P256).public_key
    for ca, algorithm in (("rsa-ca", KeyAlgorithm.RSA2048), ("sm2-ca", KeyAlgorithm.SM2)):
        info = service.create_ca(ca, algorithm, actor)
        (work / f"{ca}.pem").write_bytes(pem.armor("CERTIFICATE", info.certificate_der))
        serials = []
        for i in range(certs // 2):
            serials.append(service.issue(ca, "person", actor, subject=f"CN=bench {i}", public_key=leaf_key).serial)
        if ca == "rsa-ca":
            _openssl_files(work, platform, info.key_label or "", serials)
        from certseal.pki.ocsp import IssuerHashes

        hashes = IssuerHashes.of(info.certificate_der)
        plain[ca], nonced[ca] = [], []
        for serial in serials:
            cert_id = ocsp.CertId.load(hashes.cert_id(int(serial, 16)))
            tbs: dict[str, object] = {"request_list": [{"req_cert": cert_id}]}
            plain[ca].append(bytes(ocsp.OCSPRequest({"tbs_request": tbs}).dump()))
            for _ in range(4):
                nonce = [{"extn_id": "nonce", "extn_value": core.OctetString(os.urandom(16))}]
                request = ocsp.OCSPRequest({"tbs_request": {**tbs, "request_extensions": nonce}})
                nonced[ca].append(bytes(request.dump()))
    platform.close()
    return env, plain, nonced


def _openssl_files(work: Path, platform: object, key_label: str, serials: list[str]) -> None:
    """index.txt and the CA key in PEM, for `openssl ocsp -index` (its responder)."""
    from asn1crypto import pem

    from certseal.services.platform import Platform

    assert isinstance(platform, Platform)
    with platform.db.reading() as session:
        key = platform.software_token(session).private_key(key_label)
    (work / "rsa-ca.key").write_bytes(pem.armor("PRIVATE KEY", key.pkcs8_der()))
    lines = [f"V\t491231235959Z\t\t{serial}\tunknown\t/CN=bench-{serial}\n" for serial in serials]
    (work / "index.txt").write_text("".join(lines))


def wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def openssl_speed(workers: int) -> dict[str, float]:
    command = ["openssl", "speed", "-seconds", "3", "-multi", str(workers), "rsa2048", "sm2"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rates: dict[str, float] = {}
    for line in output.splitlines():
        numbers = re.findall(r"[\d.]+", line)
        if re.match(r"^\s*rsa\s+2048 bits", line) and len(numbers) >= 5:
            rates["rsa2048"] = float(numbers[3])
        elif "SM2" in line and "bits" in line and len(numbers) >= 5:
            rates["sm2"] = float(numbers[-2])
    return rates


def serve_main(args: argparse.Namespace) -> None:
    """One server worker, as `certseal serve --workers N` runs them (certseal.web.server)."""
    from certseal.web.server import run_worker

    run_worker("127.0.0.1", args.port, access_log=False, reuse_port=True)


def report(
    args: argparse.Namespace,
    ours: list[tuple[str, Load, str, float | None]],
    peer_plain: Load,
    peer_nonce: Load,
    errors: int,
) -> None:
    rows = [(label, result.rate, reference, value) for label, result, reference, value in ours]
    rows.append(("openssl ocsp -port (1 proc), no nonce, RSA", peer_plain.rate, "ours / openssl", ours[0][1].rate))
    rows.append(("openssl ocsp -port (1 proc), nonce, RSA", peer_nonce.rate, "ours / openssl", ours[2][1].rate))
    cores = os.cpu_count() or 1
    print(f"\nOCSP over loopback, {args.workers} uvicorn worker(s), {cores} core(s), {args.connections} connections")
    print(f"{'':44} {'responses/s':>12}   {'reference':<22} {'value':>10} {'ratio':>7}")
    for label, rate, reference, value in rows:
        if reference == "ours / openssl":
            ratio = value / rate if value and rate else None
        else:
            ratio = rate / value if value else None
        shown = f"{value:10.0f}" if value else f"{'n/a':>10}"
        print(f"{label:44} {rate:12.0f}   {reference:<22} {shown} {ratio if ratio is None else f'{ratio:7.2f}'}")
    print(f"errors (non-200 or non-OCSP answers): {errors}")
    print(f"\nCPU per response (the load client shares the {cores} cores); 'server-bound' = {cores} cores / server CPU")
    print(f"{'':44} {'client µs':>10} {'server µs':>10} {'server-bound/s':>15} {'ratio':>7}")
    for label, result, _, value in ours:
        bound = result.server_bound(cores)
        shown_ratio = f"{bound / value:7.2f}" if value else f"{'n/a':>7}"
        print(f"{label:44} {result.client_us:10.0f} {result.server_us:10.0f} {bound:15.0f} {shown_ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--path", default="", help=argparse.SUPPRESS)
    parser.add_argument("--bodies", default="", help=argparse.SUPPRESS)
    parser.add_argument("--certs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return
    if args.serve:
        serve_main(args)
        return

    work = Path(tempfile.mkdtemp(prefix="certseal-bench-ocsp-"))
    port = _free_port()
    processes: list[subprocess.Popen[bytes]] = []
    peer_group: int | None = None
    try:
        started = time.perf_counter()
        env, plain, nonced = setup(work, args.certs, port)
        print(f"setup: {args.certs} certificates in {time.perf_counter() - started:.1f} s ({work})")
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "certseal.cli", "ocsp", "refresh"], env=env, check=True, capture_output=True
        )
        print(f"certseal ocsp refresh: {args.certs} responses pre-produced in {time.perf_counter() - started:.1f} s")

        log = open(work / "server.log", "wb")
        command = [sys.executable, __file__, "--serve", "--port", str(port)]
        servers = [
            subprocess.Popen(command, env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT)
            for _ in range(args.workers)
        ]
        processes.extend(servers)
        wait_http(f"http://127.0.0.1:{port}/health/live")
        pids = [server.pid for server in servers]
        for ca in plain:  # warm every worker's caches (responders, keys, in-process responses)
            load(port, f"/ocsp/{ca}", plain[ca], 2, args.connections, work, pids)

        def run(path: str, bodies: list[bytes], pids: list[int] = pids, at: int = port) -> Load:
            return load(at, path, bodies, args.seconds, args.connections, work, pids)

        ours: list[tuple[str, Load, str, float | None]] = [
            ("pre-produced, no nonce (RSA CA)", run("/ocsp/rsa-ca", plain["rsa-ca"]), "target", TARGET_PREPRODUCED),
            ("pre-produced, no nonce (SM2 CA)", run("/ocsp/sm2-ca", plain["sm2-ca"]), "target", TARGET_PREPRODUCED),
        ]
        speed = openssl_speed(args.workers)
        ours.append(("live-signed with nonce, RSA-2048", run("/ocsp/rsa-ca", nonced["rsa-ca"]), "openssl speed sign/s",
                     speed.get("rsa2048")))  # fmt: skip
        ours.append(("live-signed with nonce, SM2", run("/ocsp/sm2-ca", nonced["sm2-ca"]), "openssl speed sign/s",
                     speed.get("sm2")))  # fmt: skip
        errors = sum(result.errors for _, result, _, _ in ours)
        for server in servers:
            server.terminate()
            server.wait(timeout=20)

        peer_port = _free_port()
        peer = subprocess.Popen(
            ["openssl", "ocsp", "-index", str(work / "index.txt"), "-port", str(peer_port), "-rsigner",
             str(work / "rsa-ca.pem"), "-rkey", str(work / "rsa-ca.key"), "-CA", str(work / "rsa-ca.pem"),
             "-nmin", "60"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(work / "openssl-ocsp.log", "wb"),
            start_new_session=True,
        )  # fmt: skip
        processes.append(peer)
        peer_group = peer.pid
        time.sleep(1.0)
        if peer.poll() is not None:
            print("openssl ocsp responder failed:", (work / "openssl-ocsp.log").read_text())
        peer_plain = run("/", plain["rsa-ca"], [peer.pid], peer_port)
        peer_nonce = run("/", nonced["rsa-ca"], [peer.pid], peer_port)
        report(args, ours, peer_plain, peer_nonce, errors)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)
        if peer_group is not None:  # `openssl ocsp -multi` children outlive their parent: end the group we made
            try:
                os.killpg(peer_group, 15)
            except ProcessLookupError:
                pass
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
