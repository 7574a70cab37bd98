"""OFD rendering (PF5): a license page to SVG in <= 20 ms; page 1 of a 1,000-page OFD shown in < 1 s.

    .venv/bin/python -m bench.ofd [--repeat N] [--pages P]

Inputs, made once in this run: the license-like A4 page of tests/ofddocs.py (16 text objects in an embedded subset
CJK font, frame paths, a vector QR code) and a P-page document (default 1,000; a heading, a sentence and a frame
per page), both built with certseal's DocumentBuilder.

Measured (median of N runs, one process, ms):
- render, warm: certseal.ofd.render.render_page of the parsed license document (a server rendering pages of a
  document it has open; the font's @font-face and the path data are cached by content);
- render, cold: read_ofd of the .ofd bytes + render_page with every renderer cache emptied first (a first view);
- reference: lxml merely parsing that page's Content.xml (etree.fromstring), the least any renderer must do.
- first page of the long document: OfdPackage.from_bytes + read_ofd + render_page(page 1) from the bytes, caches
  emptied; reference: zipfile opening the same bytes and lxml parsing page 1's Content.xml; and, for scale, lxml
  parsing all P pages (what an eager reader would do before showing anything).
The ratio is ours over the reference (how many "bare parses" a full render costs).
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import zipfile
from collections.abc import Callable

from lxml import etree

PF5_PAGE_MS = 20.0
PF5_FIRST_PAGE_MS = 1000.0


def median_ms(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def clear_caches() -> None:
    from certseal.ofd import text
    from certseal.ofd.render import svg

    for cached in (svg._font_css, svg._image_href, svg.svg_path_data, text._parse_embedded):
        cached.cache_clear()


def long_document(pages: int) -> bytes:
    from certseal.ofd.writer import DocumentBuilder

    builder = DocumentBuilder((210.0, 297.0), doc_id=f"bench{pages:06d}")
    for number in range(1, pages + 1):
        builder.page()
        builder.text(20, 30, f"第{number}页 共{pages}页", size_mm=6)
        builder.text(20, 45, "本文件用于测量多页OFD文档首页的显示时间。", size_mm=4)
        builder.rect(15, 15, 180, 267, line_width=0.2)
    return builder.build()


def row(what: str, ours: float, reference: float, reference_name: str, target: float | None) -> None:
    verdict = "" if target is None else ("meets" if ours <= target else "MISSES") + f" ≤ {target:g} ms"
    print(
        f"{what:<42} {ours:9.2f} ms   {reference_name:<34} {reference:9.3f} ms   {ours / reference:8.1f}x   {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=50, help="runs per measurement (median reported)")
    parser.add_argument("--pages", type=int, default=1000, help="pages of the long document")
    args = parser.parse_args()

    from tests.ofddocs import license_ofd

    from certseal.ofd.package import OfdPackage
    from certseal.ofd.reader import read_ofd
    from certseal.ofd.render import render_page

    license_bytes = license_ofd()
    license_doc = read_ofd(license_bytes)
    content = OfdPackage.from_bytes(license_bytes)["Doc_0/Pages/Page_0/Content.xml"]
    svg_bytes = len(render_page(license_doc, 0).encode())

    def cold_license() -> str:
        clear_caches()
        return render_page(read_ofd(license_bytes), 0)

    print(f"OFD rendering (PF5), median of {args.repeat} runs; license page SVG = {svg_bytes} bytes")
    print(f"{'':<42} {'certseal':>12}   {'reference':<34} {'':>12}   {'ratio':>9}")
    parse_page = median_ms(lambda: etree.fromstring(content), args.repeat)
    row(
        "license page → SVG, warm",
        median_ms(lambda: render_page(license_doc, 0), args.repeat),
        parse_page,
        "lxml parse of its Content.xml",
        PF5_PAGE_MS,
    )
    row(
        "license page .ofd → SVG, cold",
        median_ms(cold_license, args.repeat),
        parse_page,
        "lxml parse of its Content.xml",
        PF5_PAGE_MS,
    )

    started = time.perf_counter()
    long_bytes = long_document(args.pages)
    print(f"({args.pages}-page document built in {time.perf_counter() - started:.1f} s, {len(long_bytes)} bytes)")

    def first_page() -> str:
        clear_caches()
        return render_page(read_ofd(OfdPackage.from_bytes(long_bytes)), 0)

    def bare_first_page() -> object:
        with zipfile.ZipFile(io.BytesIO(long_bytes)) as archive:
            return etree.fromstring(archive.read("Doc_0/Pages/Page_0/Content.xml"))

    def bare_all_pages() -> object:
        with zipfile.ZipFile(io.BytesIO(long_bytes)) as archive:
            names = [n for n in archive.namelist() if n.endswith("/Content.xml")]
            return [etree.fromstring(archive.read(n)) for n in names]

    repeat = max(3, args.repeat // 5)
    ours = median_ms(first_page, repeat)
    row(
        f"{args.pages}-page .ofd → page 1 SVG, cold",
        ours,
        median_ms(bare_first_page, repeat),
        "zip open + lxml parse of page 1",
        PF5_FIRST_PAGE_MS,
    )
    row(
        f"{args.pages}-page .ofd → page 1 SVG, cold",
        ours,
        median_ms(bare_all_pages, max(3, repeat // 3)),
        f"zip + lxml parse of all {args.pages} pages",
        PF5_FIRST_PAGE_MS,
    )


if __name__ == "__main__":
    main()
