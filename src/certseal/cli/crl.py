"""`certseal crl …`: full and delta certificate revocation lists, issued on demand."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from asn1crypto import pem
from rich.table import Table

from certseal.cli.common import actor, app, out, platform
from certseal.services.crl import CrlService

crl_app = typer.Typer(help="Certificate revocation lists (full and delta, RFC 5280).", no_args_is_help=True)
app.add_typer(crl_app, name="crl")


@crl_app.command("generate")
def crl_generate(
    ca: Annotated[str, typer.Option("--ca", help="Issuing CA.")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the CRL (DER unless --pem).")],
    delta: Annotated[bool, typer.Option("--delta", help="A delta CRL against the CA's last full CRL.")] = False,
    as_pem: Annotated[bool, typer.Option("--pem", help="Write PEM instead of DER.")] = False,
) -> None:
    """Issue a CRL now (with the CA's next CRL number) and write it to a file."""
    info = CrlService(platform()).generate(ca, actor(), delta=delta)
    out_file.write_bytes(pem.armor("X509 CRL", info.der) if as_pem else info.der)
    kind = f"delta CRL (base {info.delta_base})" if info.is_delta else "full CRL"
    out.print(
        f"issued {kind} [bold]{info.number}[/] of {info.ca}: {info.entries} entries, "
        f"next update {info.next_update:%Y-%m-%d %H:%M} UTC; wrote {out_file}"
    )


@crl_app.command("show")
def crl_show(
    ca: Annotated[str, typer.Option("--ca", help="CA whose CRLs to list.")],
    limit: Annotated[int, typer.Option("--limit", help="How many of the newest CRLs.")] = 10,
) -> None:
    """List a CA's newest CRLs."""
    crls = CrlService(platform()).history(ca, limit)
    if not crls:
        out.print(f"CA {ca} has issued no CRL yet: `certseal crl generate --ca {ca} --out FILE`")
        return
    table = Table("number", "kind", "base", "this update (UTC)", "next update (UTC)", "entries")
    for info in crls:
        table.add_row(
            str(info.number),
            "delta" if info.is_delta else "full",
            str(info.delta_base) if info.is_delta else "—",
            f"{info.this_update:%Y-%m-%d %H:%M:%S}",
            f"{info.next_update:%Y-%m-%d %H:%M:%S}",
            str(info.entries),
        )
    out.print(table)
