"""OCSP responder throughput: certseal (uvicorn workers) next to `openssl speed` and `openssl ocsp -port`.

    python bench/pki_ocsp.py [--certs 1000] [--seconds 5] [--workers 2] [--connections 32] [--rounds 5]

Sets up a deployment in a temporary directory (an RSA-2048 CA and an SM2 CA, --certs certificates between them,
responses pre-produced with `certseal ocsp refresh`), starts --workers uvicorn processes serving
certseal.web.app:create_app on one SO_REUSEPORT port (see certseal.web.server for why not
`uvicorn --workers`), and drives it from a second process over loopback: bench/loadgen.py's HTTP/1.1 keep-alive
client (bench/loadgen.c when a C compiler can build it, else the asyncio one) POSTing OCSP requests for random
certificates, bounded by --seconds.  Prints

- pre-produced (no nonce) responses/s — target >= 10,000/s;
- live-signed (nonce) responses/s for RSA-2048 and SM2 next to `openssl speed -multi W rsa2048 sm2` sign/s on the
  same cores — target >= 0.9x.  On a shared machine both move by several per cent from one run to the next, so
  --rounds alternates them (speed, ours, speed, ours, …, speed): each round is compared with the mean of the speeds
  just before and just after it, every round's ratio is printed with their median and mean, and the table shows
  the median round;
- OpenSSL's own responder (`openssl ocsp -index … -port …`, RSA CA, same certificates) as a peer: one process,
  as its `-multi` parent exits at once when started from Python here; it signs every response, nonce or not.

The client shares the machine's cores with the server, as it would on a 2-core box; the figures are what the
whole machine sustains, the client's share included.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean, median
from typing import NamedTuple

if not __package__:  # run as `python bench/pki_ocsp.py`: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import Load, free_port, init_deployment, load, median_by, start_servers, stop, wait_http

TARGET_PREPRODUCED = 10_000
TARGET_RATIO = 0.9
CONTENT_TYPE = "application/ocsp-request"
SUCCESSFUL = b"\x0a\x01\x00"  # OCSPResponseStatus successful, at the start of an OCSP answer


def setup(work: Path, certs: int, port: int) -> tuple[dict[str, str], dict[str, list[bytes]], dict[str, list[bytes]]]:
    """Deployment with two CAs and `certs` certificates; returns env and, per CA, nonce-less and nonce requests."""
    env = init_deployment(work, port)
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


def openssl_speed(workers: int) -> dict[str, float]:
    command = ["openssl", "speed", "-seconds", "3", "-multi", str(workers), "rsa2048", "sm2"]
    return speed_rates(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def speed_rates(output: str) -> dict[str, float]:
    """Signs per second by algorithm (rsa2048, sm2) in the summary table `openssl speed` prints."""
    rates: dict[str, float] = {}
    for line in output.splitlines():
        numbers = re.findall(r"[\d.]+", line)
        if re.match(r"^\s*rsa\s+2048 bits", line) and len(numbers) >= 5:
            rates["rsa2048"] = float(numbers[3])
        elif "SM2" in line and "bits" in line and len(numbers) >= 5:
            rates["sm2"] = float(numbers[-2])
    return rates


class LiveRound(NamedTuple):
    """Live-signed loads of one round and `openssl speed` just before and just after them."""

    loads: dict[str, Load]
    before: dict[str, float]
    after: dict[str, float]

    def reference(self, algorithm: str) -> float | None:
        speeds = [speed[algorithm] for speed in (self.before, self.after) if algorithm in speed]
        return sum(speeds) / len(speeds) if speeds else None

    def ratio(self, algorithm: str) -> float:
        reference = self.reference(algorithm)
        return self.loads[algorithm].rate / reference if reference else 0.0


def median_round(rounds: list[LiveRound], algorithm: str) -> LiveRound:
    """The round whose ratio is the median (the lower one of the middle two for an even count)."""
    return median_by(rounds, lambda r: r.ratio(algorithm))


def report_rounds(rounds: list[LiveRound]) -> None:
    print(f"\nlive-signed, {len(rounds)} round(s) alternating with `openssl speed`; each ratio against the mean of")
    print("the speeds just before and after it (the table above shows the median round)")
    for algorithm, label in (("rsa2048", "RSA-2048"), ("sm2", "SM2")):
        ratios = [r.ratio(algorithm) for r in rounds]
        shown = "  ".join(f"{r.loads[algorithm].rate:.0f}/{r.reference(algorithm) or 0:.0f}={x:.2f}" for r, x in
                          zip(rounds, ratios, strict=True))  # fmt: skip
        print(f"  {label:9} {shown}")
        print(f"  {'':9} median {median(ratios):.3f}, mean {mean(ratios):.3f}, lowest {min(ratios):.2f}")


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
    parser.add_argument("--certs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="live-signed rounds alternating with openssl speed")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="certseal-bench-ocsp-"))
    port = free_port()
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

        servers = start_servers(env, work, port, args.workers)
        processes.extend(servers)
        wait_http(f"http://127.0.0.1:{port}/health/live")
        pids = [server.pid for server in servers]

        def run(path: str, bodies: list[bytes], pids: list[int] = pids, at: int = port, seconds: float = 0.0) -> Load:
            return load(at, path, seconds or args.seconds, args.connections, pids,
                        bodies=bodies, content_type=CONTENT_TYPE, success=SUCCESSFUL)  # fmt: skip

        for ca in plain:  # warm every worker's caches (responders, keys, in-process responses)
            run(f"/ocsp/{ca}", plain[ca], seconds=2)

        ours: list[tuple[str, Load, str, float | None]] = [
            ("pre-produced, no nonce (RSA CA)", run("/ocsp/rsa-ca", plain["rsa-ca"]), "target", TARGET_PREPRODUCED),
            ("pre-produced, no nonce (SM2 CA)", run("/ocsp/sm2-ca", plain["sm2-ca"]), "target", TARGET_PREPRODUCED),
        ]
        rounds: list[LiveRound] = []
        speed = openssl_speed(args.workers)
        for _ in range(max(1, args.rounds)):
            loads = {"rsa2048": run("/ocsp/rsa-ca", nonced["rsa-ca"]), "sm2": run("/ocsp/sm2-ca", nonced["sm2-ca"])}
            after = openssl_speed(args.workers)
            rounds.append(LiveRound(loads, speed, after))
            speed = after
        for algorithm, label in (("rsa2048", "RSA-2048"), ("sm2", "SM2")):
            chosen = median_round(rounds, algorithm)
            ours.append((f"live-signed with nonce, {label}", chosen.loads[algorithm], "openssl speed sign/s",
                         chosen.reference(algorithm)))  # fmt: skip
        errors = sum(result.errors for _, result, _, _ in ours)
        stop(servers)

        peer_port = free_port()
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
        report_rounds(rounds)
    finally:
        stop(processes)
        if peer_group is not None:  # `openssl ocsp -multi` children outlive their parent: end the group we made
            try:
                os.killpg(peer_group, 15)
            except ProcessLookupError:
                pass
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
