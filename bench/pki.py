"""All PKI benchmarks of issue "Certificate authorities", each printing ours, the reference from the same run and
the ratio:

- bench/pki_issue.py — persisted certificate issuance per second (PF2), single and batched, 1 and 2 processes;
- bench/pki_ocsp.py  — OCSP responses per second, pre-produced and live-signed (PF1), and `openssl ocsp -port`;
- bench/pki_tsa.py   — timestamps per second against the raw signing rate of the TSA key (PF3).

    python -m bench.pki [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

RUNS = {
    "bench.pki_issue": (["--count", "2000"], ["--count", "300"]),
    "bench.pki_ocsp": (["--certs", "1000", "--seconds", "5"], ["--certs", "200", "--seconds", "2"]),
    "bench.pki_tsa": (["--seconds", "3"], ["--seconds", "1"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    args = parser.parse_args()
    failed = []
    for module, (full, quick) in RUNS.items():
        print(f"\n=== {module} ===", flush=True)
        if subprocess.run([sys.executable, "-m", module, *(quick if args.quick else full)]).returncode != 0:
            failed.append(module)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
