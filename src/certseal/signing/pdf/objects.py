"""PDF object model (ISO 32000-1 §7.3) shared by the reader, the incremental writer and the text extractor.

Python values stand for PDF objects:

- null → None, boolean → bool, integer → int, real → float
- string (literal or hex) → bytes, already unescaped/decoded from hex
- name → Name (a str subclass holding the name without its slash, #xx escapes decoded), so `d["Type"]` works
- array → list, dictionary → dict[str, object] keyed by Name
- indirect reference → Ref(num, gen); resolve it through the document that holds it
- stream → Stream(dictionary, raw bytes as stored in the file); `decoded()` applies its filters
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import NamedTuple

from certseal.errors import ValidationError

PdfObject = object  # None | bool | int | float | bytes | Name | list | dict | Ref | Stream


class Name(str):
    """A PDF name without the leading slash."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"/{self!s}"


class Ref(NamedTuple):
    num: int
    gen: int = 0

    def __str__(self) -> str:
        return f"{self.num} {self.gen} R"


@dataclass
class Stream:
    dictionary: dict[str, object]
    raw: bytes
    _decoded: bytes | None = field(default=None, repr=False, compare=False)

    def decoded(self) -> bytes:
        """The stream's data with FlateDecode (and its PNG/TIFF predictors) undone; other filters are refused."""
        if self._decoded is None:
            self._decoded = _apply_filters(self.raw, self.dictionary)
        return self._decoded


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _apply_filters(data: bytes, dictionary: dict[str, object]) -> bytes:
    filters = _as_list(dictionary.get("Filter"))
    params = _as_list(dictionary.get("DecodeParms"))
    for index, name in enumerate(filters):
        given = params[index] if index < len(params) else None
        parms: dict[str, object] = given if isinstance(given, dict) else {}
        if name in ("FlateDecode", "Fl"):
            try:
                data = zlib.decompress(data)
            except zlib.error:
                data = zlib.decompressobj().decompress(data)  # tolerate a truncated or padded deflate stream
            data = _undo_predictor(data, parms)
        else:
            raise ValidationError("pdf", f"stream filter {name} is not supported")
    return data


def _undo_predictor(data: bytes, parms: dict[str, object]) -> bytes:
    predictor = parms.get("Predictor", 1)
    if not isinstance(predictor, int) or predictor < 10:
        return data  # 1 = none; 2 (TIFF) does not occur in the streams we read (xref/object streams use PNG)
    columns = parms.get("Columns", 1)
    colors = parms.get("Colors", 1)
    bits = parms.get("BitsPerComponent", 8)
    assert isinstance(columns, int) and isinstance(colors, int) and isinstance(bits, int)
    bpp = max(1, colors * bits // 8)
    row_length = (columns * colors * bits + 7) // 8
    out = bytearray()
    previous = bytearray(row_length)
    for start in range(0, len(data), row_length + 1):
        kind = data[start]
        row = bytearray(data[start + 1 : start + 1 + row_length])
        row.extend(b"\x00" * (row_length - len(row)))
        for i in range(row_length):
            left = row[i - bpp] if i >= bpp else 0
            up = previous[i]
            if kind == 1:
                row[i] = (row[i] + left) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + up) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                upper_left = previous[i - bpp] if i >= bpp else 0
                p = left + up - upper_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
                row[i] = (row[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else upper_left)) & 0xFF
        out += row
        previous = row
    return bytes(out)
