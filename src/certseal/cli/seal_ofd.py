"""`certseal seal ofd`: seal an OFD file with a registered SM2 seal (GB/T 38540 v4), over the service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from certseal.cli.common import actor, out, platform
from certseal.cli.seal import KeywordOption, PageOption, RidingOption, document_placement, read_document, seal_app
from certseal.services.ofd_sealing import MAX_OFD_BYTES, OfdSealingService


@seal_app.command("ofd")
def seal_ofd(
    seal: Annotated[
        str, typer.Option("--seal", help="Name of the seal to use (an SM2 seal, see `certseal seal list`).")
    ],
    in_file: Annotated[Path, typer.Option("--in", help="The OFD to seal.", exists=True, dir_okay=False, readable=True)],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the sealed OFD.")],
    page: PageOption = None,
    x: Annotated[
        float | None,
        typer.Option("--x", help="Horizontal position of the seal's centre, mm from the page's left edge."),
    ] = None,
    y: Annotated[
        float | None,
        typer.Option(
            "--y",
            help="Vertical position of the seal's centre, mm from the page's top edge (with --riding: the height of "
            "the riding seal's centre, default the middle of each page).",
        ),
    ] = None,
    keyword: KeywordOption = None,
    riding: RidingOption = False,
    timestamp: Annotated[
        bool, typer.Option("--timestamp", help="Add an RFC 3161 timestamp of the signature from this deployment's TSA.")
    ] = False,
) -> None:
    """Seal an OFD (GB/T 33190 ch. 18, SES_Signature v4); earlier signatures stay valid.

    Coordinates are millimetres from the top-left corner of the page, y downwards; pages count from 1.
    """
    placement = document_placement(
        page, x, y, keyword, riding, at="--page N --x MM --y MM", position="mm from the top-left"
    )
    ofd = read_document(in_file, MAX_OFD_BYTES)
    result = OfdSealingService(platform()).seal(ofd, seal, actor(), placement, timestamp=timestamp)
    out_file.write_bytes(result.ofd)
    out.print(
        f"sealed {in_file} with seal [bold]{seal}[/] (signature {result.signature_id}, {len(result.stamps)} stamp(s)"
        f"{', timestamped' if result.timestamped else ''}); wrote {out_file}"
    )
