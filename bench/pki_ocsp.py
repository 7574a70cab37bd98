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
    print(f"{counts[0]} {counts[1]} {elapsed:.3f}")


def client_main(args: argparse.Namespace) -> None:
    bodies = [base64.b64decode(line) for line in Path(args.bodies).read_text().split()]
    asyncio.run(_drive("127.0.0.1", args.port, args.path, bodies, args.seconds, args.connections))


def load(port: int, path: str, bodies: list[bytes], seconds: float, connections: int, work: Path) -> tuple[float, int]:
    """Run the client process; (successful responses per second, errors)."""
    file = work / f"bodies-{random.randrange(1 << 30)}.txt"
    file.write_text("\n".join(base64.b64encode(b).decode() for b in bodies))
    result = subprocess.run(
        [sys.executable, __file__, "--client", "--port", str(port), "--path", path, "--bodies", str(file),
         "--seconds", str(seconds), "--connections", str(connections)],
        capture_output=True, text=True, check=True, timeout=seconds + 120,
    )  # fmt: skip
    ok, errors, elapsed = result.stdout.split()
    return int(ok) / float(elapsed), int(errors)


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
        for ca in plain:  # warm every worker's caches (responders, keys, in-process responses)
            load(port, f"/ocsp/{ca}", plain[ca], 2, args.connections, work)

        rows: list[tuple[str, float, str, float | None]] = []
        ours_plain, errors = load(port, "/ocsp/rsa-ca", plain["rsa-ca"], args.seconds, args.connections, work)
        rows.append(("pre-produced, no nonce (RSA CA)", ours_plain, "target", TARGET_PREPRODUCED))
        sm2_plain, _ = load(port, "/ocsp/sm2-ca", plain["sm2-ca"], args.seconds, args.connections, work)
        rows.append(("pre-produced, no nonce (SM2 CA)", sm2_plain, "target", TARGET_PREPRODUCED))
        speed = openssl_speed(args.workers)
        live_rsa, e1 = load(port, "/ocsp/rsa-ca", nonced["rsa-ca"], args.seconds, args.connections, work)
        rows.append(("live-signed with nonce, RSA-2048", live_rsa, "openssl speed sign/s", speed.get("rsa2048")))
        live_sm2, e2 = load(port, "/ocsp/sm2-ca", nonced["sm2-ca"], args.seconds, args.connections, work)
        rows.append(("live-signed with nonce, SM2", live_sm2, "openssl speed sign/s", speed.get("sm2")))
        errors += e1 + e2
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
        peer_plain, _ = load(peer_port, "/", plain["rsa-ca"], args.seconds, args.connections, work)
        peer_nonce, _ = load(peer_port, "/", nonced["rsa-ca"], args.seconds, args.connections, work)
        rows.append(("openssl ocsp -port (1 proc), no nonce, RSA", peer_plain, "ours / openssl", ours_plain))
        rows.append(("openssl ocsp -port (1 proc), nonce, RSA", peer_nonce, "ours / openssl", live_rsa))

        cores = os.cpu_count()
        print(
            f"\nOCSP over loopback, {args.workers} uvicorn worker(s), {cores} core(s), {args.connections} connections"
        )
        print(f"{'':44} {'responses/s':>12}   {'reference':<22} {'value':>10} {'ratio':>7}")
        for label, rate, reference, value in rows:
            if reference == "ours / openssl":
                ratio = value / rate if value and rate else None
            else:
                ratio = rate / value if value else None
            shown = f"{value:10.0f}" if value else f"{'n/a':>10}"
            print(f"{label:44} {rate:12.0f}   {reference:<22} {shown} {ratio if ratio is None else f'{ratio:7.2f}'}")
        print(f"errors (non-200 or non-OCSP answers): {errors}")
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
