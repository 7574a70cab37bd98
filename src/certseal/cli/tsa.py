"""`certseal tsa …`: the RFC 3161 timestamp authority (set it up, stamp a file locally, export its certificate)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer
from asn1crypto import pem, tsp

from certseal.cli.common import actor, app, fail, out, platform
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.pki.tsa import build_request
from certseal.services.tsa import TsaService

tsa_app = typer.Typer(help="Timestamp authority (RFC 3161): RSA, ECDSA P-256 and SM2.", no_args_is_help=True)
app.add_typer(tsa_app, name="tsa")

_NAME_HELP = "TSA name (its certificate's CN is 'certseal TSA NAME')."


@tsa_app.command("setup")
def tsa_setup(
    ca: Annotated[str, typer.Option("--ca", help="CA that issues the TSA certificate.")],
    alg: Annotated[str, typer.Option("--alg", help="rsa2048, rsa3072, p256 or sm2.")],
    name: Annotated[str, typer.Option("--name", help=_NAME_HELP)] = "default",
    token: Annotated[str, typer.Option("--token", help="software or pkcs11.")] = "",
) -> None:
    """Issue a TSA certificate (critical EKU timeStamping) with a key generated in the token; it becomes the TSA."""
    algorithm = KeyAlgorithm.parse(alg, "--alg")
    info = TsaService(platform(), name).setup(ca, algorithm, actor(), token or platform().settings.default_token)
    out.print(
        f"TSA [bold]{info.name}[/] now signs with certificate {info.serial} ({info.algorithm.value}) from CA "
        f"{info.ca}, valid until {info.not_after:%Y-%m-%d}"
    )


@tsa_app.command("cert")
def tsa_cert(
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the TSA certificate (PEM).")],
    chain: Annotated[Path | None, typer.Option("--chain", help="Also write the issuing CA chain (PEM) here.")] = None,
    name: Annotated[str, typer.Option("--name", help=_NAME_HELP)] = "default",
) -> None:
    """Write the TSA's current certificate (and optionally its CA chain) as PEM."""
    info = TsaService(platform(), name).active()
    out_file.write_bytes(pem.armor("CERTIFICATE", info.certificate_der))
    if chain is not None:
        chain.write_bytes(b"".join(pem.armor("CERTIFICATE", der) for der in info.chain))
    out.print(f"wrote {out_file}" + (f" and {chain}" if chain else ""))


@tsa_app.command("stamp")
def tsa_stamp(
    in_file: Annotated[Path, typer.Option("--in", help="File to timestamp.", exists=True, dir_okay=False)],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the TimeStampResp (.tsr, DER).")],
    hash_name: Annotated[str, typer.Option("--hash", help="sha256, sha384, sha512 or sm3.")] = "sha256",
    name: Annotated[str, typer.Option("--name", help=_NAME_HELP)] = "default",
) -> None:
    """Timestamp a file with this deployment's TSA (no server needed); writes what POST /tsa would answer."""
    request = build_request(in_file.read_bytes(), hash_name.lower(), nonce=secrets.randbits(63), cert_req=True)
    response = TsaService(platform(), name).stamp(request)
    out_file.write_bytes(response)
    status = tsp.TimeStampResp.load(response)["status"]
    if status["status"].native != "granted":
        text = "; ".join(status["status_string"].native or [])
        fail(f"timestamp refused ({status['status'].native}): {text}")
    info = tsp.TimeStampResp.load(response)["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    out.print(
        f"timestamp {info['serial_number'].native:X} at {info['gen_time'].native:%Y-%m-%d %H:%M:%S}Z "
        f"({hash_name.lower()}); wrote {out_file}"
    )
