"""Persisted certificate issuance per second (PF2), next to the CA key's raw signing rate from the same run.

    python -m bench.pki_issue [--count N] [--database-url URL]

Each certificate is built, signed by the CA key (software token), written to the certificates table and audited in
its own transaction, exactly as `certseal cert issue` does.  Target: >= 1,000 certificates/s on 2 cores.  The
published anchor is XiPKI's 800 SM2 certificates/s on a 4-thread laptop (reference/crypto.md); it cannot be run
here, so the same-run reference is the raw signing rate of the CA's key, the ceiling for any issuer.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.keys import PrivateKey
from certseal.services.audit import Actor
from certseal.services.ca import CaService
from certseal.services.deployment import init_deployment
from certseal.services.platform import Platform

XIPKI_SM2_PER_S = 800
TARGET = 1000


def raw_sign_rate(algorithm: KeyAlgorithm, seconds: float = 2.0) -> float:
    key = PrivateKey.generate(algorithm)
    message = os.urandom(600)  # about the size of a certificate's TBS
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        key.sign(message)
        count += 1
    return count / (time.perf_counter() - started)


def issuance_rate(service: CaService, ca: str, count: int) -> float:
    actor = Actor("bench", "bench")
    subject_key = PrivateKey.generate(KeyAlgorithm.P256).public_key
    started = time.perf_counter()
    for i in range(count):
        service.issue(ca, "person", actor, subject=f"CN=bench {i}", public_key=subject_key)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), database_url=args.database_url, kek="00" * 32, audit_key="11" * 32)
        platform = Platform(settings)
        init_deployment(platform, Actor("bench", "bench"))
        service = CaService(platform)
        print(f"persisted issuance, {args.count} certificates per CA, database {platform.db.dialect}")
        print(f"{'CA key':<10} {'certs/s':>9} {'raw sign/s':>11} {'ratio':>6} {'vs XiPKI 800/s':>15} {'target':>7}")
        for algorithm in (KeyAlgorithm.SM2, KeyAlgorithm.RSA2048, KeyAlgorithm.P256):
            name = f"bench-{algorithm.value}"
            service.create_ca(name, algorithm, Actor("bench", "bench"))
            rate = issuance_rate(service, name, args.count)
            raw = raw_sign_rate(algorithm)
            verdict = "met" if rate >= TARGET else "NOT met"
            print(
                f"{algorithm.value:<10} {rate:>9,.0f} {raw:>11,.0f} {rate / raw:>6.2f} "
                f"{rate / XIPKI_SM2_PER_S:>15.2f} {verdict:>7}"
            )
        platform.close()


if __name__ == "__main__":
    main()
