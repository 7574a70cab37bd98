"""One self-contained HTML document showing OFD pages at their original size.

Every page is its inline SVG (svg.py) in a white sheet with a shadow, centred, `width` in CSS mm so it prints and
shows at 100 % at the original size; on screens narrower than the page the sheet shrinks to the window (the SVG keeps
its aspect ratio through its viewBox). Fonts are embedded once in the document's <style> however many pages use them.
A label under each page gives its number. No scripts and no external resources: images and fonts are data: URIs.
"""

from __future__ import annotations

from collections.abc import Sequence

from certseal.errors import ValidationError
from certseal.ofd.model import Document
from certseal.ofd.render.svg import Annotation, FontFaces, Stamp, escape, num, render_page_parts

_PAGE_CSS = (
    "html{background:#e4e4e4}"
    "body{margin:0;padding:24px 12px}"
    ".ofd-page{margin:0 auto;background:#fff;box-shadow:0 2px 8px rgba(0,0,0,.28);max-width:100%}"
    ".ofd-page>svg{display:block;width:100%;height:auto}"
    ".ofd-label{margin:6px auto 24px;text-align:center;font:12px/1.4 sans-serif;color:#555}"
    "@media print{html{background:none}body{padding:0}.ofd-page{box-shadow:none;break-after:page}"
    ".ofd-label{display:none}}"
)


def render_html(
    document: Document,
    pages: Sequence[int] | None = None,
    *,
    stamps: Sequence[Stamp] = (),
    annotations: Sequence[Annotation] = (),
    title: str | None = None,
) -> str:
    """The pages (0-based indexes; all when None) as one HTML document, stamps and annotations drawn on them."""
    indexes = list(range(len(document.pages))) if pages is None else list(pages)
    if not indexes:
        raise ValidationError("pages", "at least one page is needed")
    fonts = FontFaces()
    total = len(document.pages)
    sheets = []
    for index in indexes:
        box, svg = render_page_parts(
            document, index, stamps=stamps, annotations=annotations, fonts=fonts, prefix=f"p{index + 1}-"
        )
        label = f"{index + 1} / {total}"
        sheets.append(
            f'<section class="ofd-page" id="page-{index + 1}" data-page="{index + 1}" '
            f'style="width:{num(box.width)}mm" aria-label="page {label}">{svg}</section>'
            f'<p class="ofd-label">{label}</p>'
        )
    heading = title or document.doc_info.title or "OFD"
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(heading)}</title><style>{fonts.css()}{_PAGE_CSS}</style></head>"
        f"<body><main>{''.join(sheets)}</main></body></html>\n"
    )
