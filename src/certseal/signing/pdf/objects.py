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

import base64
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
        """The stream's data with its filters undone (Flate with PNG predictors, LZW, ASCII85, ASCIIHex, RunLength).

        Image codecs (DCT, JPX, CCITT, JBIG2) are refused with ValidationError, as is corrupt filter data.
        """
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
            data = _undo_predictor(_inflate(data), parms)
        elif name in ("LZWDecode", "LZW"):
            early = parms.get("EarlyChange", 1)
            data = _undo_predictor(_lzw_decode(data, early != 0), parms)
        elif name in ("ASCII85Decode", "A85"):
            data = _ascii85_decode(data)
        elif name in ("ASCIIHexDecode", "AHx"):
            data = _ascii_hex_decode(data)
        elif name in ("RunLengthDecode", "RL"):
            data = _run_length_decode(data)
        else:
            raise ValidationError("pdf", f"stream filter {name} is not supported")
    return data


def _inflate(data: bytes) -> bytes:
    try:
        return zlib.decompress(data)
    except zlib.error:
        pass
    try:
        return zlib.decompressobj().decompress(data)  # tolerate a truncated or padded deflate stream
    except zlib.error as exc:
        raise ValidationError("pdf", f"FlateDecode stream data is corrupt ({exc})") from exc


def _ascii85_decode(data: bytes) -> bytes:
    text = bytes(b for b in data if b not in b" \t\r\n\x0c\x00")
    if text.startswith(b"<~"):
        text = text[2:]
    end = text.find(b"~>")
    if end >= 0:
        text = text[:end]
    elif text.endswith(b"~"):
        text = text[:-1]
    try:
        return base64.a85decode(text)
    except ValueError as exc:
        raise ValidationError("pdf", f"ASCII85Decode stream data is corrupt ({exc})") from exc


def _ascii_hex_decode(data: bytes) -> bytes:
    end = data.find(b">")
    text = bytes(b for b in (data if end < 0 else data[:end]) if b not in b" \t\r\n\x0c\x00")
    if len(text) % 2:
        text += b"0"
    try:
        return bytes.fromhex(text.decode("ascii"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError("pdf", "ASCIIHexDecode stream data is not hexadecimal") from exc


def _run_length_decode(data: bytes) -> bytes:
    out = bytearray()
    pos = 0
    while pos < len(data):
        length = data[pos]
        if length == 128:
            break
        if length < 128:
            out += data[pos + 1 : pos + 2 + length]
            pos += length + 2
        else:
            out += data[pos + 1 : pos + 2] * (257 - length)
            pos += 2
    return bytes(out)


def _lzw_decode(data: bytes, early_change: bool) -> bytes:
    out = bytearray()
    table = [bytes([i]) for i in range(256)] + [b"", b""]
    code_length = 9
    bits = 0
    buffer = 0
    previous: bytes | None = None
    for byte in data:
        buffer = (buffer << 8) | byte
        bits += 8
        while bits >= code_length:
            bits -= code_length
            code = (buffer >> bits) & ((1 << code_length) - 1)
            if code == 256:
                table = table[:258]
                code_length = 9
                previous = None
                continue
            if code == 257:
                return bytes(out)
            if code < len(table):
                entry = table[code]
                if previous is not None:
                    table.append(previous + entry[:1])
            elif previous is not None and code == len(table):
                entry = previous + previous[:1]
                table.append(entry)
            else:
                raise ValidationError("pdf", "LZWDecode stream data is corrupt")
            out += entry
            previous = entry
            limit = len(table) + (1 if early_change else 0)
            if limit >= (1 << code_length) and code_length < 12:
                code_length += 1
    return bytes(out)


def _undo_predictor(data: bytes, parms: dict[str, object]) -> bytes:
    predictor = parms.get("Predictor", 1)
    if not isinstance(predictor, int) or predictor < 10:
        return data  # 1 = none; 2 (TIFF) does not occur in the streams we read (xref/object streams use PNG)
    columns = parms.get("Columns", 1)
    colors = parms.get("Colors", 1)
    bits = parms.get("BitsPerComponent", 8)
    if not (isinstance(columns, int) and isinstance(colors, int) and isinstance(bits, int)):
        raise ValidationError("pdf", "DecodeParms /Columns, /Colors and /BitsPerComponent must be integers")
    if min(columns, colors, bits) < 1:
        raise ValidationError("pdf", "DecodeParms /Columns, /Colors and /BitsPerComponent must be positive integers")
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
