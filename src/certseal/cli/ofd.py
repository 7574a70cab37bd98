"""`certseal ofd …`: OFD documents (GB/T 33190). `info` summarises a file; rendering commands join this sub-app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from certseal.cli.common import app, out

ofd_app = typer.Typer(help="OFD documents (GB/T 33190): inspect, render.", no_args_is_help=True)
app.add_typer(ofd_app, name="ofd")


@ofd_app.command("info")
def ofd_info(
    file: Annotated[Path, typer.Argument(help="The .ofd file.", exists=True, dir_okay=False, readable=True)],
) -> None:
    """Pages, fonts, signatures and attachments of an OFD file; exit code 2 if it is not a readable OFD."""
    from certseal.ofd.package import OfdPackage
    from certseal.ofd.reader import read_ofd, signature_count

    package = OfdPackage.from_bytes(file.read_bytes())
    document = read_ofd(package)
    info = document.doc_info
    summary = Table(title=f"OFD {file.name}", show_header=False)
    summary.add_row("DocID", info.doc_id or "—")
    if info.title:
        summary.add_row("title", info.title)
    if info.creation_date:
        summary.add_row("created", info.creation_date.isoformat())
    summary.add_row("pages", str(len(document.pages)))
    box = document.page_area.physical_box
    summary.add_row("page size", f"{box.width:g} × {box.height:g} mm")
    summary.add_row("template pages", str(len(document.templates)))
    summary.add_row("signatures", str(signature_count(package, document)))
    summary.add_row("attachments", str(len(document.attachments)))
    for name, value in info.custom_datas:
        summary.add_row(f"custom: {name}", value)
    out.print(summary)
    fonts = (*document.public_res.fonts, *document.document_res.fonts)
    if fonts:
        table = Table("font ID", "name", "embedded")
        for font in fonts:
            embedded = f"yes, {len(font.data)} bytes" if font.data else "no"
            table.add_row(str(font.id), font.name, embedded)
        out.print(table)
    if document.attachments:
        table = Table("attachment", "format", "bytes")
        for item in document.attachments:
            table.add_row(item.name, item.format or "", str(len(item.data)))
        out.print(table)


@ofd_app.command("render")
def ofd_render(
    file: Annotated[Path, typer.Argument(help="The .ofd file.", exists=True, dir_okay=False, readable=True)],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Where to write the SVG, PNG or HTML.", dir_okay=False)],
    page: Annotated[
        int | None, typer.Option("--page", "-p", help="Page number, 1-based (svg/png: default 1; html: all pages).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="svg, png or html.")] = "svg",
    dpi: Annotated[float, typer.Option("--dpi", help="Resolution of a PNG.")] = 150.0,
    seals: Annotated[bool, typer.Option("--seals/--no-seals", help="Draw the seal pictures of signatures.")] = True,
    chromium: Annotated[str | None, typer.Option("--chromium", help="Chromium executable for PNG.")] = None,
) -> None:
    """Render an OFD page as SVG or PNG, or pages as one HTML document, at the original size with seals drawn.
    Parts that cannot be drawn are skipped and listed as warnings; exit code 2 if the file or options are invalid."""
    import warnings

    from certseal.cli.common import err
    from certseal.errors import ValidationError
    from certseal.ofd.package import OfdPackage
    from certseal.ofd.reader import read_ofd
    from certseal.ofd.render import (
        RenderWarning,
        page_annotations,
        render_html,
        render_page,
        render_png,
        stamps_from_signatures,
    )

    kind = fmt.strip().lower()
    if kind not in ("svg", "png", "html"):
        raise ValidationError("--format", f"must be svg, png or html, got {fmt!r}")
    if page is not None and page < 1:
        raise ValidationError("--page", "page numbers start at 1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RenderWarning)
        package = OfdPackage.from_bytes(file.read_bytes())
        document = read_ofd(package)
        stamps = stamps_from_signatures(package, document) if seals else []
        annotations = page_annotations(package)
        index = (page or 1) - 1
        if kind == "html":
            data = render_html(
                document, None if page is None else [index], stamps=stamps, annotations=annotations
            ).encode("utf-8")
        elif kind == "svg":
            data = render_page(document, index, stamps=stamps, annotations=annotations).encode("utf-8")
        else:
            data = render_png(document, index, dpi=dpi, stamps=stamps, annotations=annotations, chromium=chromium)
    for warning in caught:
        if issubclass(warning.category, RenderWarning):
            err.print(f"[yellow]warning:[/] {warning.message}", highlight=False)
    out_file.write_bytes(data)
    out.print(f"wrote {out_file} ({kind}, {len(data)} bytes)")
