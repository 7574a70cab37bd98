"""`certseal seal pdf`: seal a PDF file with a registered seal (PAdES B-B/B-T/B-LT, SM2 seals), over the service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from certseal.cli.common import actor, out, platform
from certseal.cli.seal import seal_app
from certseal.errors import ValidationError
from certseal.seals.placement import placement_of as shared_placement_of
from certseal.services.pdf_sealing import (
    MAX_PDF_BYTES,
    PadesLevel,
    PdfSealingService,
    SealPlacement,
)

_PLACEMENT_RULE = "give exactly one placement: --page N --x X --y Y, --keyword TEXT or --riding"


def placement_of(
    page: int | None, x: float | None, y: float | None, keyword: str | None, riding: bool
) -> SealPlacement:
    """The one placement the options describe; ValidationError("placement", …) for none, two or a partial one."""
    return shared_placement_of(
        page,
        x,
        y,
        keyword,
        riding,
        rule=_PLACEMENT_RULE,
        position_rule="--page, --x and --y go together (1-based page, points from bottom-left)",
    )


@seal_app.command("pdf")
def seal_pdf(
    seal: Annotated[str, typer.Option("--seal", help="Name of the seal to use (see `certseal seal list`).")],
    in_file: Annotated[Path, typer.Option("--in", help="The PDF to seal.", exists=True, dir_okay=False, readable=True)],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the sealed PDF.")],
    page: Annotated[
        int | None, typer.Option("--page", help="Page for the seal, 1-based (with --x and --y).", min=1)
    ] = None,
    x: Annotated[
        float | None,
        typer.Option("--x", help="Horizontal position of the seal's centre, in points (1/72 in) from the page's left."),
    ] = None,
    y: Annotated[
        float | None,
        typer.Option(
            "--y",
            help="Vertical position of the seal's centre, in points from the page's bottom (with --riding: "
            "the height of the riding seal, default the middle of the page).",
        ),
    ] = None,
    keyword: Annotated[
        str | None,
        typer.Option("--keyword", help="Put the seal centred on every occurrence of this text (one signature)."),
    ] = None,
    riding: Annotated[
        bool, typer.Option("--riding", help="Riding seal (骑缝章): one slice of the seal on every page's right edge.")
    ] = False,
    level: Annotated[
        str,
        typer.Option(
            "--level",
            help="PAdES level: B-B (signature), B-T (+ timestamp from this deployment's TSA), B-LT (+ DSS with "
            "certificates, OCSP responses and CRLs).",
        ),
    ] = "B-B",
    reason: Annotated[str | None, typer.Option("--reason", help="Reason written into the signature.")] = None,
    location: Annotated[str | None, typer.Option("--location", help="Location written into the signature.")] = None,
) -> None:
    """Seal a PDF with an incremental update; earlier signatures stay valid.

    Coordinates are PDF points (1/72 inch) measured from the bottom-left corner of the page; pages count from 1.
    """
    chosen_level = PadesLevel.parse(level)
    placement = placement_of(page, x, y, keyword, riding)
    if in_file.stat().st_size > MAX_PDF_BYTES:
        raise ValidationError("in", f"must be at most {MAX_PDF_BYTES // (1024 * 1024)} MiB")
    result = PdfSealingService(platform()).seal(
        in_file.read_bytes(), seal, actor(), placement, chosen_level, reason=reason, location=location
    )
    out_file.write_bytes(result.pdf)
    out.print(
        f"sealed {in_file} with seal [bold]{seal}[/] ({result.level.value}, field {result.field_name}, "
        f"{len(result.placements)} widget(s)); wrote {out_file}"
    )
