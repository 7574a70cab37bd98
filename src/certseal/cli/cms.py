"""`certseal cms sign`: a CMS (RFC 5652, CAdES-B/T) signature by a registered seal, over a file or its digest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from asn1crypto import pem

from certseal.cli.common import actor, app, out, platform
from certseal.errors import ValidationError
from certseal.services.cms_signing import MAX_CONTENT_BYTES, CmsSigningService, parse_hex_digest

cms_app = typer.Typer(help="CMS signatures (RFC 5652, CAdES) by registered seals.", no_args_is_help=True)
app.add_typer(cms_app, name="cms")


@cms_app.command("sign")
def cms_sign(
    seal: Annotated[str, typer.Option("--seal", help="Name of the seal to sign with (see `certseal seal list`).")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the signature (.p7s).")],
    in_file: Annotated[
        Path | None,
        typer.Option("--in", help="The file to sign.", exists=True, dir_okay=False, readable=True),
    ] = None,
    digest: Annotated[
        str | None, typer.Option("--digest", help="Sign this pre-computed digest (hex) instead of a file.")
    ] = None,
    digest_alg: Annotated[
        str | None,
        typer.Option("--digest-alg", help="Algorithm of --digest: sha256 (RSA/ECDSA seals) or sm3 (SM2 seals)."),
    ] = None,
    attached: Annotated[
        bool, typer.Option("--attached", help="Put the file inside the signature (default: detached).")
    ] = False,
    timestamp: Annotated[
        bool, typer.Option("--timestamp", help="CAdES-T: add a signature timestamp from this deployment's TSA.")
    ] = False,
    pem_output: Annotated[bool, typer.Option("--pem", help="Write PEM (-----BEGIN CMS-----) instead of DER.")] = False,
) -> None:
    """Sign a file (detached or attached) or a digest (detached) with a seal: CMS SignedData, CAdES-B or -T.

    The digest algorithm is the seal's: sha256 for RSA and ECDSA seals, sm3 for SM2 seals.
    """
    if (in_file is None) == (digest is None):
        raise ValidationError("input", "give exactly one of --in FILE and --digest HEX")
    if digest_alg is not None and digest is None:
        raise ValidationError("digest-alg", "goes with --digest; a file is hashed with the seal's algorithm")
    content = None
    if in_file is not None:
        if in_file.stat().st_size > MAX_CONTENT_BYTES:
            raise ValidationError("in", f"must be at most {MAX_CONTENT_BYTES // (1024 * 1024)} MiB")
        content = in_file.read_bytes()
    result = CmsSigningService(platform()).sign(
        seal,
        actor(),
        content=content,
        digest=parse_hex_digest(digest) if digest is not None else None,
        digest_algorithm=digest_alg,
        detached=not attached,
        timestamp=timestamp,
    )
    out_file.write_bytes(pem.armor("CMS", result.der) if pem_output else result.der)
    out.print(
        f"signed with seal [bold]{seal}[/] ({result.level.value}, {'detached' if result.detached else 'attached'}, "
        f"{result.digest_algorithm} {result.message_digest.hex()}); wrote {out_file}",
        highlight=False,
    )
