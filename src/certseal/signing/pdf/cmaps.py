"""CMaps for PDF text (ISO 32000-1 §9.7.5, §9.10.3): splitting shown strings into character codes, code → CID, and
code → Unicode.

Three sources: embedded CMap streams (a ToUnicode map with bfchar/bfrange, or an encoding with cidchar/cidrange), the
predefined Identity-H/V, and the predefined Unicode and legacy CJK CMaps (UniGB-UCS2-H, UniGB-UTF16-H, GBK-EUC-H …),
whose code → Unicode step we do with Python codecs instead of shipping Adobe's CMap files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["CMap", "CodeSplitter", "PredefinedCMap", "parse_cmap", "predefined_cmap"]

_TOKEN = re.compile(
    rb"(?P<hex><[0-9A-Fa-f\s]*>)|(?P<open>\[)|(?P<close>\])|(?P<name>/[^\s/\[\]<>(){}%]*)"
    rb"|(?P<num>[+-]?\d+)(?![^\s/\[\]<>(){}%])|(?P<word>[^\s/\[\]<>(){}%]+)|(?P<str>\((?:\\.|[^\\)])*\))"
    rb"|%[^\r\n]*|\s+|.",
    re.S,
)
_MAX_RANGE = 0x10000  # a bfrange wider than this is kept as a range, not expanded
_MAX_ENTRIES = 0x40000  # beyond this many expanded codes, further ranges stay ranges (bounds memory on hostile input)


def _utf16(data: bytes) -> str:
    if len(data) % 2:  # not UTF-16BE: a one-byte target some producers write
        return data.decode("latin-1")
    return data.decode("utf-16-be", "replace")


@dataclass
class CodeSplitter:
    """Splits a string into codes by codespace ranges; each range is (length, low bytes, high bytes)."""

    ranges: list[tuple[int, bytes, bytes]] = field(default_factory=list)

    def split(self, data: bytes) -> list[tuple[int, int]]:
        """(code, code length in bytes) for each code in `data`."""
        if not self.ranges:
            return [(b, 1) for b in data]
        if all(length == 2 for length, _, _ in self.ranges):
            return [((data[i] << 8) | (data[i + 1] if i + 1 < len(data) else 0), 2) for i in range(0, len(data), 2)]
        codes: list[tuple[int, int]] = []
        pos, end = 0, len(data)
        shortest = min(length for length, _, _ in self.ranges)
        while pos < end:
            size = self._match(data, pos) or shortest
            chunk = data[pos : pos + size]
            codes.append((int.from_bytes(chunk, "big"), size))
            pos += size
        return codes

    def _match(self, data: bytes, pos: int) -> int:
        for length, low, high in self.ranges:
            chunk = data[pos : pos + length]
            if len(chunk) == length and all(lo <= b <= hi for b, lo, hi in zip(chunk, low, high, strict=True)):
                return length
        return 0


@dataclass
class CMap:
    """A parsed embedded CMap: codespace, code → CID (encoding CMaps) and code → Unicode (ToUnicode CMaps)."""

    codespace: CodeSplitter = field(default_factory=CodeSplitter)
    unicode: dict[int, str] = field(default_factory=dict)
    unicode_ranges: list[tuple[int, int, int, int]] = field(default_factory=list)  # (low, high, base value, bytes)
    cids: dict[int, int] = field(default_factory=dict)
    cid_ranges: list[tuple[int, int, int]] = field(default_factory=list)  # (low, high, first CID)
    vertical: bool = False
    parent: str | None = None  # /usecmap target, a predefined CMap name
    expanded: int = field(default=0, repr=False)  # codes written by expanding bfranges (bounded by _MAX_ENTRIES)

    def to_unicode(self, code: int) -> str | None:
        text = self.unicode.get(code)
        if text is not None:
            return text
        for low, high, base, size in self.unicode_ranges:
            if low <= code <= high:
                return _utf16((base + code - low).to_bytes(size, "big"))
        return None

    def to_cid(self, code: int) -> int | None:
        cid = self.cids.get(code)
        if cid is not None:
            return cid
        for low, high, first in self.cid_ranges:
            if low <= code <= high:
                return first + code - low
        return None


class _Tokens:
    """PostScript-ish tokens of a CMap: bytes for hex strings, int, '/name', '[' ']', or a bare word."""

    def __init__(self, data: bytes) -> None:
        self.items: list[object] = []
        for match in _TOKEN.finditer(data):
            kind = match.lastgroup
            text = match.group()
            if kind == "hex":
                digits = re.sub(rb"\s", b"", text[1:-1])
                self.items.append(bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode("ascii")))
            elif kind == "num":
                self.items.append(int(text))
            elif kind in ("name", "word", "open", "close"):
                self.items.append(text.decode("latin-1"))


def parse_cmap(data: bytes) -> CMap:
    """Parse an embedded CMap stream; unknown or malformed parts are skipped, never raised."""
    cmap = CMap()
    items = _Tokens(data).items
    i, n = 0, len(items)
    while i < n:
        token = items[i]
        if token == "begincodespacerange":
            i = _read_codespace(items, i + 1, cmap)
        elif token == "beginbfchar":
            i = _read_bfchar(items, i + 1, cmap)
        elif token == "beginbfrange":
            i = _read_bfrange(items, i + 1, cmap)
        elif token == "begincidchar":
            i = _read_cidchar(items, i + 1, cmap)
        elif token == "begincidrange":
            i = _read_cidrange(items, i + 1, cmap)
        elif token == "/WMode" and i + 1 < n and items[i + 1] == 1:
            cmap.vertical = True
            i += 2
        elif token == "usecmap" and i > 0 and isinstance(items[i - 1], str) and str(items[i - 1]).startswith("/"):
            cmap.parent = str(items[i - 1])[1:]
            i += 1
        else:
            i += 1
    cmap.unicode_ranges.sort()
    cmap.cid_ranges.sort()
    return cmap


def _read_codespace(items: list[object], i: int, cmap: CMap) -> int:
    while i + 1 < len(items) and isinstance(items[i], bytes) and isinstance(items[i + 1], bytes):
        low, high = items[i], items[i + 1]
        assert isinstance(low, bytes) and isinstance(high, bytes)
        if len(low) == len(high) and 1 <= len(low) <= 4:
            cmap.codespace.ranges.append((len(low), low, high))
        i += 2
    return i


def _read_bfchar(items: list[object], i: int, cmap: CMap) -> int:
    while i + 1 < len(items) and isinstance(items[i], bytes):
        source, target = items[i], items[i + 1]
        assert isinstance(source, bytes)
        if isinstance(target, bytes):
            cmap.unicode[int.from_bytes(source, "big")] = _utf16(target)
        i += 2
    return i


def _read_bfrange(items: list[object], i: int, cmap: CMap) -> int:
    while i + 2 < len(items) and isinstance(items[i], bytes) and isinstance(items[i + 1], bytes):
        low_b, high_b = items[i], items[i + 1]
        assert isinstance(low_b, bytes) and isinstance(high_b, bytes)
        low, high = int.from_bytes(low_b, "big"), int.from_bytes(high_b, "big")
        target = items[i + 2]
        i += 3
        if isinstance(target, bytes) and target and low <= high:
            base = int.from_bytes(target, "big")
            count = high - low + 1
            if count <= _MAX_RANGE and cmap.expanded + count <= _MAX_ENTRIES:
                cmap.expanded += count
                _expand_bfrange(cmap, low, count, base, len(target))
            else:
                cmap.unicode_ranges.append((low, high, base, len(target)))
        elif target == "[":
            i = _read_bfrange_array(items, i, low, high, cmap)
    return i


def _expand_bfrange(cmap: CMap, low: int, count: int, base: int, size: int) -> None:
    if size == 2 and (base + count <= 0xD800 or 0xE000 <= base) and base + count <= 0x10000:
        cmap.unicode.update(zip(range(low, low + count), map(chr, range(base, base + count)), strict=True))
        return
    for offset in range(count):  # carry into higher bytes: keeps surrogate pairs right
        value = (base + offset) % (1 << (8 * size))
        cmap.unicode[low + offset] = _utf16(value.to_bytes(size, "big"))


def _read_bfrange_array(items: list[object], i: int, low: int, high: int, cmap: CMap) -> int:
    code = low
    while i < len(items) and items[i] != "]":
        value = items[i]
        if isinstance(value, bytes) and code <= high:
            cmap.unicode[code] = _utf16(value)
        code += 1
        i += 1
    return i + 1


def _read_cidchar(items: list[object], i: int, cmap: CMap) -> int:
    while i + 1 < len(items) and isinstance(items[i], bytes) and isinstance(items[i + 1], int):
        source, cid = items[i], items[i + 1]
        assert isinstance(source, bytes) and isinstance(cid, int)
        cmap.cids[int.from_bytes(source, "big")] = cid
        i += 2
    return i


def _read_cidrange(items: list[object], i: int, cmap: CMap) -> int:
    while (
        i + 2 < len(items)
        and isinstance(items[i], bytes)
        and isinstance(items[i + 1], bytes)
        and isinstance(items[i + 2], int)
    ):
        low_b, high_b, first = items[i], items[i + 1], items[i + 2]
        assert isinstance(low_b, bytes) and isinstance(high_b, bytes) and isinstance(first, int)
        low, high = int.from_bytes(low_b, "big"), int.from_bytes(high_b, "big")
        if low <= high:
            cmap.cid_ranges.append((low, high, first))
        i += 3
    return i


# --- predefined CMaps -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PredefinedCMap:
    """A predefined CMap we understand without its file: how codes split, and how a code becomes Unicode."""

    name: str
    kind: str  # "identity", "ucs2", "utf16", "utf8", "utf32" or a Python codec name
    ordering: str | None  # Adobe character collection (GB1, CNS1, Japan1, Korea1), None for Identity
    vertical: bool
    lead_bytes: tuple[tuple[int, int, int], ...] = ()  # codec CMaps: (first, last, code length) for lead bytes

    def split(self, data: bytes) -> list[tuple[int, int]]:
        """(code, length) pairs."""
        if self.kind in ("identity", "ucs2"):
            return [((data[i] << 8) | (data[i + 1] if i + 1 < len(data) else 0), 2) for i in range(0, len(data), 2)]
        if self.kind == "utf16":
            return _split_utf16(data)
        if self.kind == "utf32":
            return [(int.from_bytes(data[i : i + 4], "big"), 4) for i in range(0, len(data), 4)]
        return self._split_by_lead(data)

    def _split_by_lead(self, data: bytes) -> list[tuple[int, int]]:
        codes: list[tuple[int, int]] = []
        pos, end = 0, len(data)
        while pos < end:
            size = 1
            lead = data[pos]
            for first, last, length in self.lead_bytes:
                if first <= lead <= last:
                    size = length
                    break
            codes.append((int.from_bytes(data[pos : pos + size], "big"), size))
            pos += size
        return codes

    def to_unicode(self, code: int, size: int) -> str | None:
        if self.kind == "identity":
            return None
        if self.kind == "ucs2":
            return chr(code) if not 0xD800 <= code <= 0xDFFF else None
        if self.kind == "utf32":
            return chr(code) if code <= 0x10FFFF else None
        codec = {"utf16": "utf-16-be", "utf8": "utf-8"}.get(self.kind, self.kind)
        try:
            return code.to_bytes(size, "big").decode(codec)
        except (UnicodeDecodeError, LookupError):
            return None

    def to_cid(self, code: int, size: int) -> int | None:
        """The CID where we know it without the CMap file: Identity, and the ASCII block of the Uni* CMaps."""
        if self.kind == "identity":
            return code
        # Adobe-GB1/CNS1/Japan1/Korea1 all put proportional ASCII 0x20..0x7E at CIDs 1..95; other CIDs of these
        # collections need Adobe's CMap files, which we do not ship.
        if self.ordering and self.kind in ("ucs2", "utf16", "utf8", "utf32") and 0x20 <= code <= 0x7E:
            return code - 31
        return None


def _split_utf16(data: bytes) -> list[tuple[int, int]]:
    codes: list[tuple[int, int]] = []
    pos, end = 0, len(data)
    while pos < end:
        unit = int.from_bytes(data[pos : pos + 2], "big")
        size = 4 if 0xD800 <= unit <= 0xDBFF and pos + 4 <= end else 2
        codes.append((int.from_bytes(data[pos : pos + size], "big"), size))
        pos += size
    return codes


_UTF8_LEADS = ((0xC0, 0xDF, 2), (0xE0, 0xEF, 3), (0xF0, 0xF7, 4))
_DOUBLE_FROM_81 = ((0x81, 0xFE, 2),)
_LEGACY = {  # CMap name stem → (ordering, Python codec, lead-byte table)
    "GB-EUC": ("GB1", "gb2312", ((0xA1, 0xFE, 2),)),
    "GBpc-EUC": ("GB1", "gbk", _DOUBLE_FROM_81),
    "GBK-EUC": ("GB1", "gbk", _DOUBLE_FROM_81),
    "GBK2K": ("GB1", "gb18030", _DOUBLE_FROM_81),
    "B5pc": ("CNS1", "big5", _DOUBLE_FROM_81),
    "ETen-B5": ("CNS1", "cp950", _DOUBLE_FROM_81),
    "HKscs-B5": ("CNS1", "big5hkscs", _DOUBLE_FROM_81),
    "90ms-RKSJ": ("Japan1", "cp932", ((0x81, 0x9F, 2), (0xE0, 0xFC, 2))),
    "EUC": ("Japan1", "euc_jp", ((0x8E, 0x8E, 2), (0x8F, 0x8F, 3), (0xA1, 0xFE, 2))),
    "KSC-EUC": ("Korea1", "euc_kr", ((0xA1, 0xFE, 2),)),
    "KSCms-UHC": ("Korea1", "cp949", _DOUBLE_FROM_81),
}
_UNICODE_KINDS = {"UCS2": "ucs2", "UTF16": "utf16", "UTF8": "utf8", "UTF32": "utf32"}
_ORDERINGS = {"GB": "GB1", "CNS": "CNS1", "JIS": "Japan1", "KS": "Korea1"}


def predefined_cmap(name: str) -> PredefinedCMap | None:
    """The predefined CMap `name` (e.g. Identity-H, UniGB-UCS2-H, GBK-EUC-H), or None if we do not know it."""
    stem, _, direction = name.rpartition("-")
    if direction not in ("H", "V") or not stem:
        return None
    vertical = direction == "V"
    if stem == "Identity":
        return PredefinedCMap(name, "identity", None, vertical)
    if stem.startswith("Uni"):
        collection, _, form = stem[3:].partition("-")
        kind = _UNICODE_KINDS.get(form.removesuffix("-HW"))  # -HW: half-width ASCII, same codes
        ordering = _ORDERINGS.get(collection.removesuffix("X").removesuffix("2004").removesuffix("X0213"))
        if kind is None or ordering is None:
            return None
        leads: tuple[tuple[int, int, int], ...] = _UTF8_LEADS if kind == "utf8" else ()
        return PredefinedCMap(name, kind, ordering, vertical, leads)
    legacy = _LEGACY.get(stem)
    if legacy is None:
        return None
    ordering, codec, leads = legacy
    return PredefinedCMap(name, codec, ordering, vertical, leads)
