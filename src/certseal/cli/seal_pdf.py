"""`certseal seal pdf`: seal a PDF file with a registered seal (PAdES B-B/B-T/B-LT, SM2 seals), over the service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from certseal.cli.common import actor, out, platform
from certseal.cli.seal import KeywordOption, PageOption, RidingOption, document_placement, read_document, seal_app
from certseal.services.pdf_sealing import MAX_PDF_BYTES, PadesLevel, PdfSealingService


@seal_app.command("pdf")
def seal_pdf(
    seal: Annotated[str, typer.Option("--seal", help="Name of the seal to use (see `certseal seal list`).")],
    in_file: Annotated[Path, typer.Option("--in", help="The PDF to seal.", exists=True, dir_okay=False, readable=True)],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the sealed PDF.")],
    page: PageOption = None,
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
    keyword: KeywordOption = None,
    riding: RidingOption = False,
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
    placement = document_placement(
        page, x, y, keyword, riding, at="--page N --x X --y Y", position="points from bottom-left"
    )
    pdf = read_document(in_file, MAX_PDF_BYTES)
    result = PdfSealingService(platform()).seal(
        pdf, seal, actor(), placement, chosen_level, reason=reason, location=location
    )
    out_file.write_bytes(result.pdf)
    out.print(
        f"sealed {in_file} with seal [bold]{seal}[/] ({result.level.value}, field {result.field_name}, "
        f"{len(result.placements)} widget(s)); wrote {out_file}"
    )
