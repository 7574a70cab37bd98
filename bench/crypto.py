"""Sign/verify throughput of certseal's public key API against `openssl speed`, both pinned to one core.

    python bench/crypto.py [--seconds N] [--cpu C] [--json] [--elapsed] [--diagnose]

certseal is measured through certseal.crypto.keys.PrivateKey / PublicKey (what the project calls), signing
a 20-byte message as `openssl speed` does; SM2 uses the standard ID 1234567812345678. The reference is
`taskset -c C openssl speed -seconds N sm2 rsa2048 ecdsap256`, run by the same script right after.

Like `openssl speed`, each loop runs for N wall-clock seconds and divides the count by the *user CPU time*
spent, so other load on a shared core does not skew one side; --elapsed divides by wall-clock time on both
sides (passing -elapsed to openssl). --diagnose adds rows for the layers under the public API (key objects
held across calls) to show where the overhead goes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial

from certseal.crypto import sm2
from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.keys import PrivateKey, PublicKey

TARGET = 0.9
MESSAGE = bytes(range(20))

# (label in our table, KeyAlgorithm, scheme, regex for the `openssl speed` summary row)
CASES = [
    ("SM2", KeyAlgorithm.SM2, SignatureScheme.SM2_SM3, re.compile(r"^\s*256 bits SM2 \(CurveSM2\)")),
    ("RSA-2048", KeyAlgorithm.RSA2048, SignatureScheme.RSA_PKCS1_SHA256, re.compile(r"^\s*rsa 2048 bits")),
    (
        "ECDSA P-256",
        KeyAlgorithm.P256,
        SignatureScheme.ECDSA_SHA256,
        re.compile(r"^\s*256 bits ecdsa \(nistp256\)"),
    ),
]
OPENSSL_NAMES = ["sm2", "rsa2048", "ecdsap256"]


@dataclass
class Row:
    algorithm: str
    op: str
    certseal_per_s: float
    openssl_per_s: float | None

    @property
    def ratio(self) -> float | None:
        return self.certseal_per_s / self.openssl_per_s if self.openssl_per_s else None

    @property
    def meets_target(self) -> bool | None:
        ratio = self.ratio
        return None if ratio is None else ratio >= TARGET

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ratio": self.ratio, "meets_target": self.meets_target}


def _user_seconds() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def ops_per_second(fn: Callable[[], object], seconds: float, elapsed: bool = False) -> float:
    """Call fn for about `seconds` of wall-clock time after a short warm-up.

    Returns ops per second of user CPU time, as `openssl speed` counts, or of wall-clock time if `elapsed`.
    Batches keep the clock reads negligible.
    """
    warm_until = time.perf_counter() + min(0.2, seconds / 10)
    while time.perf_counter() < warm_until:
        fn()
    batch, count = 16, 0
    start, user_start = time.perf_counter(), _user_seconds()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn()
        count += batch
        now = time.perf_counter()
        if now >= deadline:
            spent = now - start if elapsed else _user_seconds() - user_start
            return count / spent


def measure_certseal(seconds: float, elapsed: bool) -> dict[tuple[str, str], float]:
    rate = partial(ops_per_second, seconds=seconds, elapsed=elapsed)
    results: dict[tuple[str, str], float] = {}
    for label, alg, scheme, _ in CASES:
        key = PrivateKey.generate(alg)
        public = PublicKey(key.public_key.spki_der)
        sig = key.sign(MESSAGE, scheme)
        public.verify(sig, MESSAGE, scheme)
        results[(label, "sign")] = rate(lambda k=key, s=scheme: k.sign(MESSAGE, s))
        results[(label, "verify")] = rate(lambda p=public, g=sig, s=scheme: p.verify(g, MESSAGE, s))
    return results


def measure_layers(seconds: float, elapsed: bool) -> list[tuple[str, float]]:
    """The same operations one layer down, with the key object kept between calls."""
    rate = partial(ops_per_second, seconds=seconds, elapsed=elapsed)
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    rows: list[tuple[str, float]] = []
    sm2_key = sm2.SM2PrivateKey.generate()
    sm2_pub = sm2_key.public_key
    sm2_sig = sm2_key.sign(MESSAGE)
    sm2_spki = sm2_pub.spki_der
    rows.append(("SM2 sign, sm2.SM2PrivateKey.sign", rate(lambda: sm2_key.sign(MESSAGE))))
    rows.append(
        (
            "SM2 verify, held sm2.SM2PublicKey",
            rate(lambda: sm2_pub.verify(sm2_sig, MESSAGE)),
        )
    )
    rows.append(
        (
            "SM2 SPKI decode only (d2i_PUBKEY)",
            rate(lambda: sm2.SM2PublicKey.from_spki_der(sm2_spki)),
        )
    )

    for label, alg, scheme in (
        ("RSA-2048", KeyAlgorithm.RSA2048, SignatureScheme.RSA_PKCS1_SHA256),
        ("ECDSA P-256", KeyAlgorithm.P256, SignatureScheme.ECDSA_SHA256),
    ):
        key = PrivateKey.generate(alg)
        sig = key.sign(MESSAGE, scheme)
        spki = key.public_key.spki_der
        pyca_pub = serialization.load_der_public_key(spki)
        pyca_priv = key._key  # the pyca object behind PrivateKey (diagnostic only)
        if alg is KeyAlgorithm.RSA2048:

            def sign_direct(k: object = pyca_priv) -> object:
                return k.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[attr-defined]

            def verify_direct(p: object = pyca_pub, g: bytes = sig) -> object:
                return p.verify(g, MESSAGE, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[attr-defined]

        else:

            def sign_direct(k: object = pyca_priv) -> object:
                return k.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))  # type: ignore[attr-defined]

            def verify_direct(p: object = pyca_pub, g: bytes = sig) -> object:
                return p.verify(g, MESSAGE, ec.ECDSA(hashes.SHA256()))  # type: ignore[attr-defined]

        rows.append((f"{label} sign, pyca key held", rate(sign_direct)))
        rows.append((f"{label} verify, pyca key held", rate(verify_direct)))
        rows.append(
            (
                f"{label} SPKI decode only (load_der_public_key)",
                rate(lambda s=spki: serialization.load_der_public_key(s)),
            )
        )
    return rows


def run_openssl_speed(cpu: int, seconds: float, elapsed: bool) -> tuple[dict[tuple[str, str], float], str]:
    """Run `openssl speed` on the same core and parse its summary table (sign/s and verify/s columns)."""
    command = ["openssl", "speed", "-seconds", str(max(1, round(seconds)))]
    if elapsed:
        command.append("-elapsed")
    command += OPENSSL_NAMES
    if shutil.which("taskset"):
        command = ["taskset", "-c", str(cpu), *command]
    proc = subprocess.run(command, capture_output=True, text=True, check=True)
    results: dict[tuple[str, str], float] = {}
    for line in proc.stdout.splitlines():
        for label, _, _, pattern in CASES:
            if pattern.match(line):
                numbers = re.findall(r"\d+(?:\.\d+)?", line.split(")")[-1] if ")" in line else line)
                sign_s, verify_s = float(numbers[-2]), float(numbers[-1])
                results[(label, "sign")] = sign_s
                results[(label, "verify")] = verify_s
    missing = [label for label, *_ in CASES if (label, "sign") not in results]
    if missing:
        raise RuntimeError(f"could not parse `openssl speed` output for {missing}:\n{proc.stdout}")
    version = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=True).stdout.strip()
    return results, version


def print_table(rows: list[Row], title: str) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text fallback
        print(title)
        print(f"{'algorithm':<12} {'op':<7} {'certseal/s':>11} {'openssl/s':>11} {'ratio':>6}  >= {TARGET}")
        for row in rows:
            ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
            ossl = f"{row.openssl_per_s:,.0f}" if row.openssl_per_s else "-"
            ok = {True: "yes", False: "NO", None: "-"}[row.meets_target]
            print(f"{row.algorithm:<12} {row.op:<7} {row.certseal_per_s:>11,.0f} {ossl:>11} {ratio:>6}  {ok}")
        return
    table = Table(title=title)
    for name, justify in (
        ("algorithm", "left"),
        ("op", "left"),
        ("certseal/s", "right"),
        ("openssl/s", "right"),
        ("ratio", "right"),
        (f"≥ {TARGET}", "center"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        ok = {True: "[green]yes[/]", False: "[red]NO[/]", None: "-"}[row.meets_target]
        table.add_row(
            row.algorithm,
            row.op,
            f"{row.certseal_per_s:,.0f}",
            f"{row.openssl_per_s:,.0f}" if row.openssl_per_s else "-",
            f"{row.ratio:.2f}" if row.ratio is not None else "-",
            ok,
        )
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per measurement (default 3)")
    parser.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the highest allowed)")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    parser.add_argument("--diagnose", action="store_true", help="also time the layers under the public API")
    parser.add_argument("--elapsed", action="store_true", help="divide by wall-clock instead of user CPU time")
    parser.add_argument("--no-openssl", action="store_true", help="skip `openssl speed`")
    args = parser.parse_args(argv)

    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})

    ours = measure_certseal(args.seconds, args.elapsed)
    reference: dict[tuple[str, str], float] = {}
    version = None
    if not args.no_openssl:
        reference, version = run_openssl_speed(cpu, args.seconds, args.elapsed)
    rows = [
        Row(label, op, ours[(label, op)], reference.get((label, op)))
        for label, *_ in CASES
        for op in ("sign", "verify")
    ]
    layers = measure_layers(args.seconds, args.elapsed) if args.diagnose else []

    if args.json:
        out = {
            "cpu": cpu,
            "seconds": args.seconds,
            "openssl": version,
            "python": sys.version.split()[0],
            "divisor": "wall-clock" if args.elapsed else "user CPU time",
            "target_ratio": TARGET,
            "results": [row.as_dict() for row in rows],
            "layers": [{"what": what, "per_s": per_s} for what, per_s in layers],
        }
        print(json.dumps(out, indent=2))
    else:
        title = f"certseal vs {version or 'openssl (skipped)'}, pinned to CPU {cpu}, {args.seconds:g} s per op"
        print_table(rows, title)
        for what, per_s in layers:
            print(f"  {what:<55} {per_s:>11,.0f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
