"""QR codes as OFD vector paths (segno for the symbol): one filled path of module rectangles, no image."""

from __future__ import annotations

import segno

from certseal.errors import ValidationError

ERROR_LEVELS = ("l", "m", "q", "h")


def qr_modules(payload: str | bytes, error: str = "m") -> list[list[bool]]:
    """The dark/light modules of the smallest QR code (not Micro QR) holding `payload`, without quiet zone."""
    if error.lower() not in ERROR_LEVELS:
        raise ValidationError("qr", f"error correction level must be one of {', '.join(ERROR_LEVELS)}")
    if not payload:
        raise ValidationError("qr", "the payload is empty")
    try:
        symbol = segno.make(payload, error=error.lower(), micro=False, boost_error=False)
    except (segno.DataOverflowError, ValueError) as exc:
        raise ValidationError("qr", f"the payload does not fit in a QR code ({exc})") from exc
    return [[bool(module) for module in row] for row in symbol.matrix_iter(border=0)]


def qr_path_data(payload: str | bytes, size_mm: float, *, error: str = "m", quiet_zone: int = 2) -> str:
    """AbbreviatedData drawing the symbol in a `size_mm` square (origin top-left), a `quiet_zone`-module light
    margin included: one closed rectangle per horizontal run of dark modules, to be filled (non-zero rule)."""
    if size_mm <= 0:
        raise ValidationError("qr", "the size must be positive")
    modules = qr_modules(payload, error)
    count = len(modules) + 2 * quiet_zone
    unit = size_mm / count
    parts: list[str] = []
    for row_index, row in enumerate(modules):
        y0 = _mm((row_index + quiet_zone) * unit)
        y1 = _mm((row_index + quiet_zone + 1) * unit)
        column = 0
        while column < len(row):
            if not row[column]:
                column += 1
                continue
            end = column
            while end < len(row) and row[end]:
                end += 1
            x0, x1 = _mm((column + quiet_zone) * unit), _mm((end + quiet_zone) * unit)
            parts.append(f"M {x0} {y0} L {x1} {y0} L {x1} {y1} L {x0} {y1} C")
            column = end
    return " ".join(parts)


def _mm(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
