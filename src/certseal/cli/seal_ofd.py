"""`certseal seal ofd`: seal an OFD file with a registered SM2 seal (GB/T 38540 v4), over the service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from certseal.cli.common import actor, out, platform
from certseal.cli.seal import seal_app
from certseal.errors import ValidationError
from certseal.seals.placement import placement_of
from certseal.services.ofd_sealing import MAX_OFD_BYTES, OfdPlacement, OfdSealingService

_PLACEMENT_RULE = "give exactly one placement: --page N --x MM --y MM, --keyword TEXT or --riding"


def ofd_placement_of(
    page: int | None, x: float | None, y: float | None, keyword: str | None, riding: bool
) -> OfdPlacement:
    """The one placement the options describe; ValidationError("placement", …) for none, two or a partial one."""
    return placement_of(
        page,
        x,
        y,
        keyword,
        riding,
        rule=_PLACEMENT_RULE,
        position_rule="--page, --x and --y go together (1-based page, mm from the top-left)",
    )


@seal_app.command("ofd")
def seal_ofd(
    seal: Annotated[
        str, typer.Option("--seal", help="Name of the seal to use (an SM2 seal, see `certseal seal list`).")
    ],
    in_file: Annotated[Path, typer.Option("--in", help="The OFD to seal.", exists=True, dir_okay=False, readable=True)],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the sealed OFD.")],
    page: Annotated[
        int | None, typer.Option("--page", help="Page for the seal, 1-based (with --x and --y).", min=1)
    ] = None,
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
    keyword: Annotated[
        str | None,
        typer.Option("--keyword", help="Put the seal centred on every occurrence of this text (one signature)."),
    ] = None,
    riding: Annotated[
        bool, typer.Option("--riding", help="Riding seal (骑缝章): one slice of the seal on every page's right edge.")
    ] = False,
    timestamp: Annotated[
        bool, typer.Option("--timestamp", help="Add an RFC 3161 timestamp of the signature from this deployment's TSA.")
    ] = False,
) -> None:
    """Seal an OFD (GB/T 33190 ch. 18, SES_Signature v4); earlier signatures stay valid.

    Coordinates are millimetres from the top-left corner of the page, y downwards; pages count from 1.
    """
    placement = ofd_placement_of(page, x, y, keyword, riding)
    if in_file.stat().st_size > MAX_OFD_BYTES:
        raise ValidationError("in", f"must be at most {MAX_OFD_BYTES // (1024 * 1024)} MiB")
    result = OfdSealingService(platform()).seal(in_file.read_bytes(), seal, actor(), placement, timestamp=timestamp)
    out_file.write_bytes(result.ofd)
    out.print(
        f"sealed {in_file} with seal [bold]{seal}[/] (signature {result.signature_id}, {len(result.stamps)} stamp(s)"
        f"{', timestamped' if result.timestamped else ''}); wrote {out_file}"
    )
