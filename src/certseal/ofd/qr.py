"""QR codes as OFD vector paths (segno for the symbol): one filled path of module rectangles, no image.

`qr_modules` is the one place QR modules are made for drawing: the OFD writer's `qr` and the license PDF renderer
both draw its modules (with `QUIET_ZONE` around them), so a license face shows the same symbol in either format.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import segno

from certseal.errors import ValidationError

ERROR_LEVELS = ("l", "m", "q", "h")
QUIET_ZONE = 2  # modules of light margin drawn around the symbol
# Any mask gives a valid symbol; letting segno score all eight took 20–50 ms a code, most of a license face's time.
MASK = 4


def qr_modules(payload: str | bytes, error: str = "m") -> list[list[bool]]:
    """The dark/light modules of the smallest QR code (not Micro QR) holding `payload`, without quiet zone, mask
    pattern `MASK`."""
    if error.lower() not in ERROR_LEVELS:
        raise ValidationError("qr", f"error correction level must be one of {', '.join(ERROR_LEVELS)}")
    if not payload:
        raise ValidationError("qr", "the payload is empty")
    try:
        symbol = segno.make(payload, error=error.lower(), micro=False, boost_error=False, mask=MASK)
    except (segno.DataOverflowError, ValueError) as exc:
        raise ValidationError("qr", f"the payload does not fit in a QR code ({exc})") from exc
    return [[bool(module) for module in row] for row in symbol.matrix_iter(border=0)]


def dark_runs(modules: Sequence[Sequence[bool]]) -> Iterator[tuple[int, int, int]]:
    """(row, first column, column after the last) of every horizontal run of dark modules, row by row."""
    for row_index, row in enumerate(modules):
        column = 0
        while column < len(row):
            if not row[column]:
                column += 1
                continue
            end = column
            while end < len(row) and row[end]:
                end += 1
            yield row_index, column, end
            column = end


def qr_path_data(payload: str | bytes, size_mm: float, *, error: str = "m", quiet_zone: int = QUIET_ZONE) -> str:
    """AbbreviatedData drawing the symbol in a `size_mm` square (origin top-left), a `quiet_zone`-module light
    margin included: one closed rectangle per horizontal run of dark modules, to be filled (non-zero rule)."""
    if size_mm <= 0:
        raise ValidationError("qr", "the size must be positive")
    modules = qr_modules(payload, error)
    unit = size_mm / (len(modules) + 2 * quiet_zone)
    parts: list[str] = []
    for row, start, end in dark_runs(modules):
        y0, y1 = _mm((row + quiet_zone) * unit), _mm((row + quiet_zone + 1) * unit)
        x0, x1 = _mm((start + quiet_zone) * unit), _mm((end + quiet_zone) * unit)
        parts.append(f"M {x0} {y0} L {x1} {y0} L {x1} {y1} L {x0} {y1} C")
    return " ".join(parts)


def _mm(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
