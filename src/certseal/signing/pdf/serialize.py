"""Serialisation of the PDF object model (objects.py) back to bytes, plus text strings, dates and numbers.

The output round-trips through the reader: a page dictionary read and written again compares equal, which matters
because validators (pyHanko's difference analysis) compare the old and new versions of objects we rewrite.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from certseal.errors import ValidationError
from certseal.signing.pdf.objects import Name, Ref, Stream

__all__ = ["pdf_date", "pdf_number", "pdf_text", "serialize", "serialize_indirect"]

_NAME_REGULAR = re.compile(rb"[^\x21-\x7e]|[()<>\[\]{}/%#]")
_LITERAL_SPECIAL = re.compile(rb"[\\()\r]")
_PRINTABLE = re.compile(rb"[\x20-\x7e\n\t]*")


def pdf_number(value: float) -> bytes:
    """A PDF real/integer without exponent notation, exact for integers and shortest-repr for floats."""
    if isinstance(value, int):
        return str(value).encode()
    if value != value or value in (float("inf"), float("-inf")):
        raise ValidationError("pdf", "numbers must be finite")
    if value == int(value) and abs(value) < 2**53:
        return str(int(value)).encode()
    text = repr(value)
    if "e" in text or "E" in text:
        text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text.encode()


def pdf_text(text: str) -> bytes:
    """A text string (ISO 32000 §7.9.2.2) as literal: ASCII as is, anything else as UTF-16BE with a BOM."""
    if text.isascii():
        return _literal(text.encode("ascii"))
    return _hex(b"\xfe\xff" + text.encode("utf-16-be"))


def pdf_date(moment: datetime | None = None) -> bytes:
    """A PDF date string (D:YYYYMMDDHHmmSS+HH'mm') for `moment` (now, UTC, if not given)."""
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    zone = "Z" if minutes == 0 else f"{sign}{minutes // 60:02d}'{minutes % 60:02d}'"
    return _literal(f"D:{moment:%Y%m%d%H%M%S}{zone}".encode("ascii"))


def _literal(raw: bytes) -> bytes:
    return b"(" + _LITERAL_SPECIAL.sub(lambda m: b"\\r" if m.group() == b"\r" else b"\\" + m.group(), raw) + b")"


def _hex(raw: bytes) -> bytes:
    return b"<" + raw.hex().upper().encode("ascii") + b">"


def _string(raw: bytes) -> bytes:
    match = _PRINTABLE.fullmatch(raw)
    return _literal(raw) if match is not None else _hex(raw)


def _name(name: str) -> bytes:
    """The reader keeps name bytes as latin-1 text, so that round-trips; other characters are written as UTF-8."""
    try:
        raw = name.encode("latin-1")
    except UnicodeEncodeError:
        raw = name.encode("utf-8")
    return b"/" + _NAME_REGULAR.sub(lambda m: b"#%02X" % m.group()[0], raw)


def serialize(obj: object) -> bytes:
    """The PDF syntax for a direct object; a Stream becomes dictionary + stream data (only valid as indirect)."""
    out: list[bytes] = []
    _write(obj, out)
    return b"".join(out)


def serialize_indirect(ref: Ref, obj: object) -> bytes:
    """`N G obj … endobj` for `obj`, newline-terminated."""
    return b"%d %d obj\n%s\nendobj\n" % (ref.num, ref.gen, serialize(obj))


def _write(obj: object, out: list[bytes]) -> None:
    if obj is None:
        out.append(b"null")
    elif obj is True:
        out.append(b"true")
    elif obj is False:
        out.append(b"false")
    elif isinstance(obj, Name):
        out.append(_name(obj))
    elif isinstance(obj, Ref):
        out.append(b"%d %d R" % (obj.num, obj.gen))
    elif isinstance(obj, int | float):
        out.append(pdf_number(obj))
    elif isinstance(obj, bytes | bytearray):
        out.append(_string(bytes(obj)))
    elif isinstance(obj, str):
        out.append(pdf_text(obj))
    elif isinstance(obj, list | tuple):
        out.append(b"[")
        for index, item in enumerate(obj):
            if index:
                out.append(b" ")
            _write(item, out)
        out.append(b"]")
    elif isinstance(obj, dict):
        _write_dictionary(obj, out)
    elif isinstance(obj, Stream):
        dictionary = dict(obj.dictionary)
        dictionary[Name("Length")] = len(obj.raw)
        _write_dictionary(dictionary, out)
        out.append(b"\nstream\n")
        out.append(obj.raw)
        out.append(b"\nendstream")
    else:
        raise ValidationError("pdf", f"cannot serialise a {type(obj).__name__} as a PDF object")


def _write_dictionary(dictionary: dict[str, object], out: list[bytes]) -> None:
    out.append(b"<<")
    for key, value in dictionary.items():
        out.append(_name(key))
        out.append(b" ")
        _write(value, out)
    out.append(b">>")
