"""OFD sealing throughput (GB/T 38540 v4 seals) next to the raw SM2 signing rate of the same key, in one run.

    .venv/bin/python -m bench.ofd_seal [--seconds N] [--cpu C]

Inputs, made once in this run: the license-like A4 OFD of tests/ofddocs.py (one page, an embedded subset CJK font,
frame paths, a vector QR code; ~19 KB) and a throw-away embedded deployment (SQLite in a temporary directory) with
an SM2 root and issuing CA, a registered SM2 seal (40 mm PNG) and the seal maker.

Measured, one after the other in this process (pinned to core C when given), each for about N seconds after one
warm-up call, counting calls per CPU second of the process (and per wall-clock second):
- raw SM2: the seal key's Signer (software token, key opened) signing a message as long as one TBS_Sign
  (the SES_Signature's signed part, ~4 KB: the SESeal with its PNG and two certificates is most of it);
- format level: certseal.signing.ofd.sealing.seal_ofd on the OFD bytes (read the package and page IDs, update
  OFD.xml and Signatures.xml, SM3 of every file, Signature.xml, one SM2 signature, SignedValue.dat) + writing
  the ZIP;
- use case: OfdSealingService.seal (also the seal's authorisation, its certificate's path validation, the
  cached SESeal and an audit record in SQLite).
The ratio is sealings per second over raw SM2 signatures per second: the share of the SM2 rate one sealing reaches
(at most 1: a sealing is one SM2 signature plus its document work).

Measured here (2 shared cores, --cpu 1, 5 s): raw SM2 3,517/CPU s; seal_ofd 215/CPU s (0.06x); the use case
64/CPU s (0.02x). Where the format-level time goes (cProfile): ses.build_signature_v4 re-parses and re-verifies the
SESeal on every call (~60 %), OfdPackage.to_bytes recompresses every member (~40 % of the rest), read_ofd; in the use
case SealService.signer_for's path validation and the audit record dominate.
"""

from __future__ import annotations

import argparse
import base64
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests import ofddocs, pdfdocs

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.ofd.package import OfdPackage
from certseal.ofd.reader import read_ofd
from certseal.seals.ses import parse_signature
from certseal.services.audit import Actor
from certseal.services.ca import CaService
from certseal.services.ofd_sealing import AtPosition, OfdSealingService
from certseal.services.platform import Platform
from certseal.services.seals import SealService
from certseal.signing.ofd.sealing import seal_ofd, stamp_at

ACTOR = Actor("bench", "bench")
SEAL_MM = 40.0


@dataclass(frozen=True)
class Measured:
    label: str
    calls: int
    wall_seconds: float
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.calls / self.wall_seconds

    @property
    def per_cpu_second(self) -> float:
        return self.calls / self.cpu_seconds if self.cpu_seconds > 0 else float("nan")


def measure(label: str, run: Callable[[], object], seconds: float) -> Measured:
    run()  # warm-up: imports, caches, first-call costs
    count = 0
    cpu_start, start = time.process_time(), time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        run()
        count += 1
    return Measured(label, count, time.perf_counter() - start, time.process_time() - cpu_start)


def deployment(home: Path) -> Platform:
    settings = Settings(
        home=home,
        kek=base64.b64encode(bytes(range(32))).decode(),
        audit_key=base64.b64encode(bytes(range(32, 64))).decode(),
        database_url=f"sqlite:///{home / 'certseal.db'}",
    )
    platform = Platform(settings)
    platform.db.migrate()
    cas = CaService(platform)
    cas.create_ca("bench-sm2-root", KeyAlgorithm.SM2, ACTOR)
    cas.create_ca("bench-sm2-issuing", KeyAlgorithm.SM2, ACTOR, parent="bench-sm2-root")
    issued = cas.issue(
        "bench-sm2-issuing", "seal", ACTOR, subject="CN=示例市药品监督管理局,O=示例市药品监督管理局,C=CN",
        generate=KeyAlgorithm.SM2,
    )  # fmt: skip
    SealService(platform).create(
        "bench", issued.certificate_der, ACTOR, image_png=pdfdocs.seal_png(), size_mm=(SEAL_MM, SEAL_MM)
    )
    return platform


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per measurement (default 5)")
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one core")
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})

    ofd = ofddocs.license_ofd()
    with tempfile.TemporaryDirectory(prefix="bench-ofd-seal-") as home:
        platform = deployment(Path(home))
        service = OfdSealingService(platform)
        seal_signer = SealService(platform).signer_for("bench", ACTOR)
        seal_der = service.ses_seal(seal_signer, ACTOR)
        signer = seal_signer.signer
        document = read_ofd(ofd)
        stamps = [stamp_at(document, 0, 150, 250, (SEAL_MM, SEAL_MM))]
        sample = service.seal(ofd, "bench", ACTOR, AtPosition(1, 150, 250)).ofd
        tbs = parse_signature(OfdPackage.from_bytes(sample)["Doc_0/Signs/Sign_0/SignedValue.dat"]).signed_bytes

        results = [
            measure(f"raw SM2 sign ({len(tbs)} B)", lambda: signer.sign(tbs), args.seconds),
            measure(
                "seal_ofd + ZIP (format)", lambda: seal_ofd(ofd, signer, seal_der, stamps).to_bytes(), args.seconds
            ),
            measure(
                "OfdSealingService.seal (use case)",
                lambda: service.seal(ofd, "bench", ACTOR, AtPosition(1, 150, 250)),
                args.seconds,
            ),
        ]
        platform.close()

    raw = results[0]
    print(f"OFD sealing of a {len(ofd) / 1024:.0f} KB license OFD, {args.seconds:g} s per row, cpu={args.cpu}")
    print(f"{'':38} {'calls':>7} {'per s':>9} {'per CPU s':>10} {'vs raw SM2 (CPU)':>17}")
    for row in results:
        ratio = row.per_cpu_second / raw.per_cpu_second
        print(f"{row.label:38} {row.calls:7d} {row.per_second:9.1f} {row.per_cpu_second:10.1f} {ratio:16.2f}x")


if __name__ == "__main__":
    main()
