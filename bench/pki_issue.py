"""Persisted certificate issuance per second (PF2), next to the CA key's raw signing rate from the same run.

    python -m bench.pki_issue [--count N] [--batch N] [--processes N] [--database-url URL]

Three ways of issuing, each certificate written to the certificates table with its own audit event:
  single   one transaction per certificate, exactly as `certseal cert issue` does;
  batched  `CaService.issue_batch`, one transaction per --batch certificates (all or nothing);
  N procs  --processes processes issuing batches concurrently into the same database (aggregate rate).
Target: >= 1,000 certificates/s on 2 cores.  The published anchor is XiPKI's 800 SM2 certificates/s on a 4-thread
laptop (reference/crypto.md); it cannot be run here, so the same-run reference is the raw signing rate of the CA's
key (one process), the ceiling for one issuing process.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.keys import PrivateKey, PublicKey
from certseal.services.audit import Actor
from certseal.services.ca import CaService, IssueRequest
from certseal.services.deployment import init_deployment
from certseal.services.platform import Platform

XIPKI_SM2_PER_S = 800
TARGET = 1000
ACTOR = Actor("bench", "bench")


def raw_sign_rate(algorithm: KeyAlgorithm, seconds: float = 2.0) -> float:
    key = PrivateKey.generate(algorithm)
    message = os.urandom(600)  # about the size of a certificate's TBS
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        key.sign(message)
        count += 1
    return count / (time.perf_counter() - started)


def single_rate(service: CaService, ca: str, count: int, subject_key: PublicKey) -> float:
    started = time.perf_counter()
    for i in range(count):
        service.issue(ca, "person", ACTOR, subject=f"CN=single {i}", public_key=subject_key)
    return count / (time.perf_counter() - started)


def issue_batches(service: CaService, ca: str, count: int, batch: int, subject_key: PublicKey, tag: str) -> None:
    for start in range(0, count, batch):
        requests = [IssueRequest(f"CN={tag} {i}", subject_key) for i in range(start, min(count, start + batch))]
        service.issue_batch(ca, "person", requests, ACTOR)


def batched_rate(service: CaService, ca: str, count: int, batch: int, subject_key: PublicKey) -> float:
    started = time.perf_counter()
    issue_batches(service, ca, count, batch, subject_key, "batched")
    return count / (time.perf_counter() - started)


def _worker(settings: Settings, ca: str, count: int, batch: int, worker: int, barrier: Barrier) -> None:
    platform = Platform(settings)
    service = CaService(platform)
    subject_key = PrivateKey.generate(KeyAlgorithm.P256).public_key
    service.issue_batch(ca, "person", [IssueRequest(f"CN=warm-up {worker}", subject_key)], ACTOR)  # load key
    barrier.wait()
    issue_batches(service, ca, count, batch, subject_key, f"process {worker}")
    platform.close()


def concurrent_rate(settings: Settings, ca: str, count: int, batch: int, processes: int) -> float:
    """Aggregate rate of `processes` processes, each issuing `count` certificates in batches, all at once."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    workers = [context.Process(target=_worker, args=(settings, ca, count, batch, n, barrier)) for n in range(processes)]
    for process in workers:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    for process in workers:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"an issuing process failed (exit code {process.exitcode})")
    return processes * count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="certificates per CA and way of issuing")
    parser.add_argument("--batch", type=int, default=500, help="certificates per issue_batch transaction")
    parser.add_argument("--processes", type=int, default=2, help="concurrent issuing processes (0: none)")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), database_url=args.database_url, kek="00" * 32, audit_key="11" * 32)
        platform = Platform(settings)
        init_deployment(platform, ACTOR)
        service = CaService(platform)
        subject_key = PrivateKey.generate(KeyAlgorithm.P256).public_key
        print(
            f"persisted issuance, {args.count} certificates per CA and way, batches of {args.batch}, "
            f"{os.cpu_count()} CPUs, database {platform.db.dialect}"
        )
        procs = f"{args.processes} procs/s"
        print(
            f"{'CA key':<8} {'single/s':>9} {'batched/s':>10} {procs:>13} {'raw sign/s':>11} {'best/raw':>9} "
            f"{'best/XiPKI':>11} {'best/target':>12}"
        )
        for algorithm in (KeyAlgorithm.SM2, KeyAlgorithm.RSA2048, KeyAlgorithm.P256):
            name = f"bench-{algorithm.value}"
            service.create_ca(name, algorithm, ACTOR)
            service.issue(name, "person", ACTOR, subject="CN=warm-up", public_key=subject_key)  # load the key
            single = single_rate(service, name, args.count, subject_key)
            batched = batched_rate(service, name, args.count, args.batch, subject_key)
            concurrent = (
                concurrent_rate(settings, name, args.count, args.batch, args.processes) if args.processes else 0
            )
            raw = raw_sign_rate(algorithm)
            best = max(single, batched, concurrent)
            print(
                f"{algorithm.value:<8} {single:>9,.0f} {batched:>10,.0f} {concurrent:>13,.0f} {raw:>11,.0f} "
                f"{best / raw:>9.2f} {best / XIPKI_SM2_PER_S:>11.2f} {best / TARGET:>12.2f}"
            )
        with platform.db.reading() as session:
            verification = platform.audit.verify(session)
        print(f"audit chain: {'verifies' if verification.ok else verification.problem} ({verification.events_checked})")
        platform.close()


if __name__ == "__main__":
    main()
