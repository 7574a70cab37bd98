"""TrueType fonts for OFD text: finding a CJK font, reading its metrics, and subsetting it for embedding.

The subset is a plain TrueType font (glyf outlines) that keeps only the glyphs a document uses, renumbered, with a
Unicode cmap (3,1 format 4, plus 3,10 format 12 beyond the BMP), so a browser can load it through @font-face and text
renders from Unicode. TrueType collections (.ttc) are read through one of their subfonts. CFF-outline fonts (most
.otf files, Noto CJK) are refused: their outlines cannot be subset by this glyf/loca subsetter.
"""

from __future__ import annotations

import struct
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from certseal.errors import ConfigError, ValidationError

CJK_FONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/arphic/ukai.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
_PROBE = "中文证照"  # a CJK font must map these

# Tables copied unchanged into a subset (hinting programs stay valid because glyph instructions are kept).
_COPIED_TABLES = ("OS/2", "cvt ", "fpgm", "gasp", "name", "prep")
_REQUIRED_TABLES = ("cmap", "glyf", "head", "hhea", "hmtx", "loca", "maxp")

_ARG_1_AND_2_ARE_WORDS = 0x0001
_WE_HAVE_A_SCALE = 0x0008
_MORE_COMPONENTS = 0x0020
_WE_HAVE_AN_X_AND_Y_SCALE = 0x0040
_WE_HAVE_A_TWO_BY_TWO = 0x0080


def _fail(rule: str) -> ValidationError:
    return ValidationError("font", rule)


@dataclass(frozen=True)
class TrueTypeFont:
    """One TrueType font (a .ttf, or one subfont of a .ttc) parsed far enough to measure text and subset it."""

    family: str
    units_per_em: int
    ascent: int  # font units above the baseline (hhea)
    descent: int  # font units below the baseline, positive (hhea)
    cmap: Mapping[int, int]  # Unicode code point -> glyph id
    advances: tuple[int, ...]  # advance width of every glyph, font units
    tables: Mapping[str, bytes]

    @classmethod
    def from_bytes(cls, data: bytes, index: int = 0) -> TrueTypeFont:
        """Parse a .ttf/.ttc (subfont `index`); raise ValidationError("font", …) if it is not a usable TrueType font."""
        try:
            tables = _read_tables(data, index)
            return cls._from_tables(tables)
        except (struct.error, IndexError, KeyError, ValueError, OverflowError, ZeroDivisionError) as exc:
            raise _fail(f"not a readable TrueType font ({exc})") from exc

    @classmethod
    def from_file(cls, path: str | Path, index: int = 0) -> TrueTypeFont:
        """Load a font file, cached by path, size and modification time."""
        file = Path(path)
        try:
            stat = file.stat()
        except OSError as exc:
            raise ConfigError(f"font file {file}: cannot be read ({exc.strerror})") from exc
        return _cached_font(str(file.resolve()), index, stat.st_size, stat.st_mtime_ns)

    @classmethod
    def _from_tables(cls, tables: dict[str, bytes]) -> TrueTypeFont:
        if "CFF " in tables or "CFF2" in tables:
            raise ValueError("CFF outlines are not supported, use a TrueType (glyf) font")
        missing = [tag for tag in _REQUIRED_TABLES if tag not in tables]
        if missing:
            raise ValueError(f"missing tables {', '.join(missing)}")
        head, hhea, maxp = tables["head"], tables["hhea"], tables["maxp"]
        units_per_em = struct.unpack_from(">H", head, 18)[0]
        ascent, descent = struct.unpack_from(">hh", hhea, 4)
        metrics_count = struct.unpack_from(">H", hhea, 34)[0]
        glyph_count = struct.unpack_from(">H", maxp, 4)[0]
        if not units_per_em or not metrics_count or metrics_count > glyph_count:
            raise ValueError("inconsistent head/hhea/maxp")
        return cls(
            family=_family_name(tables.get("name", b"")) or "Embedded",
            units_per_em=units_per_em,
            ascent=ascent,
            descent=-descent if descent < 0 else descent,
            cmap=_parse_cmap(tables["cmap"]),
            advances=_parse_advances(tables["hmtx"], metrics_count, glyph_count),
            tables=tables,
        )

    @property
    def glyph_count(self) -> int:
        return len(self.advances)

    def has_glyph(self, char: str) -> bool:
        return self.cmap.get(ord(char), 0) != 0

    def advance_em(self, char: str) -> float:
        """Advance width of one character in em (multiply by the font size); .notdef's width if unmapped."""
        return self.advances[self.cmap.get(ord(char), 0)] / self.units_per_em

    def missing(self, text: str) -> list[str]:
        """Characters of `text` the font has no glyph for (in order, without repeats)."""
        seen: dict[str, None] = {}
        for char in text:
            if not self.has_glyph(char):
                seen.setdefault(char)
        return list(seen)

    def subset(self, chars: Iterable[str]) -> bytes:
        """A TrueType font with .notdef plus exactly the glyphs of `chars` (and their composite parts)."""
        codepoints = sorted({ord(c) for c in chars if self.cmap.get(ord(c), 0)})
        return _Subsetter(self, codepoints).build()


@lru_cache(maxsize=8)
def _cached_font(path: str, index: int, _size: int, _mtime: int) -> TrueTypeFont:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"font file {path}: cannot be read ({exc.strerror})") from exc
    return TrueTypeFont.from_bytes(data, index)


def find_cjk_font(path: str | Path | None = None, index: int = 0) -> TrueTypeFont:
    """The CJK TrueType font to embed: `path` if given (from configuration or an argument), else the first of the
    usual system locations that exists and maps Chinese text."""
    if path:
        font = TrueTypeFont.from_file(path, index)
        if font.missing(_PROBE):
            raise ConfigError(f"font file {path}: has no glyphs for Chinese text, a CJK font is needed")
        return font
    for candidate in CJK_FONT_CANDIDATES:
        if Path(candidate).is_file():
            try:
                font = TrueTypeFont.from_file(candidate, 0)
            except ValidationError:
                continue
            if not font.missing(_PROBE):
                return font
    raise ConfigError(
        "no CJK TrueType font found (looked in "
        + ", ".join(CJK_FONT_CANDIDATES)
        + "): install fonts-wqy-zenhei or give the path of a .ttf/.ttc font"
    )


def estimated_advance_em(char: str) -> float:
    """Advance of a character when the font's metrics are unknown: full width for wide (CJK) characters, else half."""
    return 1.0 if unicodedata.east_asian_width(char) in ("W", "F") else 0.5


# --- reading ---------------------------------------------------------------------------------------------------


def _read_tables(data: bytes, index: int) -> dict[str, bytes]:
    offset = 0
    if data[:4] == b"ttcf":
        count = struct.unpack_from(">I", data, 8)[0]
        if not 0 <= index < count:
            raise ValueError(f"the collection has {count} fonts, no subfont {index}")
        offset = struct.unpack_from(">I", data, 12 + 4 * index)[0]
    elif index != 0:
        raise ValueError("not a font collection, only subfont 0 exists")
    version = data[offset : offset + 4]
    if version not in (b"\x00\x01\x00\x00", b"true", b"OTTO"):
        raise ValueError("unknown sfnt version")
    count = struct.unpack_from(">H", data, offset + 4)[0]
    tables: dict[str, bytes] = {}
    for i in range(count):
        tag, _checksum, start, length = struct.unpack_from(">4sIII", data, offset + 12 + 16 * i)
        if start + length > len(data):
            raise ValueError(f"table {tag!r} runs past the end of the file")
        tables[tag.decode("latin-1")] = data[start : start + length]
    return tables


def _family_name(name: bytes) -> str:
    if len(name) < 6:
        return ""
    count, storage = struct.unpack_from(">HH", name, 2)
    found: dict[tuple[int, int], str] = {}
    for i in range(count):
        platform, encoding, language, name_id, length, offset = struct.unpack_from(">6H", name, 6 + 12 * i)
        if name_id != 1:
            continue
        raw = name[storage + offset : storage + offset + length]
        if platform in (0, 3):
            found.setdefault((0 if language == 0x409 else 1, 0), raw.decode("utf-16-be", "replace"))
        elif platform == 1 and encoding == 0:
            found.setdefault((2, 0), raw.decode("latin-1"))
    return found[min(found)] if found else ""


def _parse_advances(hmtx: bytes, metrics_count: int, glyph_count: int) -> tuple[int, ...]:
    widths = [struct.unpack_from(">H", hmtx, 4 * i)[0] for i in range(metrics_count)]
    widths.extend([widths[-1]] * (glyph_count - metrics_count))
    return tuple(widths)


def _parse_cmap(cmap: bytes) -> dict[int, int]:
    count = struct.unpack_from(">H", cmap, 2)[0]
    subtables: dict[tuple[int, int], int] = {}
    for i in range(count):
        platform, encoding, offset = struct.unpack_from(">HHI", cmap, 4 + 8 * i)
        subtables[(platform, encoding)] = offset
    for key in ((3, 10), (0, 6), (0, 4), (3, 1), (0, 3), (0, 2), (0, 1), (0, 0)):
        if key in subtables:
            offset = subtables[key]
            fmt = struct.unpack_from(">H", cmap, offset)[0]
            if fmt == 12:
                return _parse_cmap12(cmap, offset)
            if fmt == 4:
                return _parse_cmap4(cmap, offset)
    raise ValueError("no Unicode cmap (format 4 or 12)")


def _parse_cmap4(cmap: bytes, offset: int) -> dict[int, int]:
    segments = struct.unpack_from(">H", cmap, offset + 6)[0] // 2
    ends = struct.unpack_from(f">{segments}H", cmap, offset + 14)
    starts = struct.unpack_from(f">{segments}H", cmap, offset + 16 + 2 * segments)
    deltas = struct.unpack_from(f">{segments}h", cmap, offset + 16 + 4 * segments)
    range_base = offset + 16 + 6 * segments
    range_offsets = struct.unpack_from(f">{segments}H", cmap, range_base)
    mapping: dict[int, int] = {}
    for seg in range(segments):
        start, end, delta, range_offset = starts[seg], ends[seg], deltas[seg], range_offsets[seg]
        if start == 0xFFFF:
            continue
        for code in range(start, end + 1):
            if range_offset == 0:
                glyph = (code + delta) & 0xFFFF
            else:
                at = range_base + 2 * seg + range_offset + 2 * (code - start)
                glyph = struct.unpack_from(">H", cmap, at)[0]
                glyph = (glyph + delta) & 0xFFFF if glyph else 0
            if glyph:
                mapping[code] = glyph
    return mapping


def _parse_cmap12(cmap: bytes, offset: int) -> dict[int, int]:
    groups = struct.unpack_from(">I", cmap, offset + 12)[0]
    mapping: dict[int, int] = {}
    for i in range(groups):
        start, end, glyph = struct.unpack_from(">III", cmap, offset + 16 + 12 * i)
        for code in range(start, end + 1):
            mapping[code] = glyph + code - start
    return mapping


# --- subsetting ------------------------------------------------------------------------------------------------


class _Subsetter:
    """Builds one subset font; glyph order is .notdef then the kept glyphs in their original order."""

    def __init__(self, font: TrueTypeFont, codepoints: list[int]) -> None:
        self.font = font
        self.codepoints = codepoints
        tables = font.tables
        long_loca = struct.unpack_from(">h", tables["head"], 50)[0] == 1
        count = font.glyph_count + 1
        loca = tables["loca"]
        if long_loca:
            self.loca = struct.unpack_from(f">{count}I", loca)
        else:
            self.loca = tuple(2 * v for v in struct.unpack_from(f">{count}H", loca))
        self.glyf = tables["glyf"]
        kept = {0} | {font.cmap[c] for c in codepoints}
        self.old_ids = sorted(self._with_components(kept))
        self.new_id = {old: new for new, old in enumerate(self.old_ids)}

    def _glyph(self, glyph_id: int) -> bytes:
        return self.glyf[self.loca[glyph_id] : self.loca[glyph_id + 1]]

    def _with_components(self, glyphs: set[int]) -> set[int]:
        todo = list(glyphs)
        while todo:
            for component in _components(self._glyph(todo.pop())):
                if component not in glyphs:
                    glyphs.add(component)
                    todo.append(component)
        return glyphs

    def build(self) -> bytes:
        glyf, loca = self._glyf_and_loca()
        tables: dict[str, bytes] = {tag: self.font.tables[tag] for tag in _COPIED_TABLES if tag in self.font.tables}
        tables.update(
            {
                "cmap": _build_cmap({c: self.new_id[self.font.cmap[c]] for c in self.codepoints}),
                "glyf": glyf,
                "head": _patch(self.font.tables["head"], (8, ">I", 0), (50, ">h", 1)),
                "hhea": _patch(self.font.tables["hhea"], (34, ">H", len(self.old_ids))),
                "hmtx": self._hmtx(),
                "loca": loca,
                "maxp": _patch(self.font.tables["maxp"], (4, ">H", len(self.old_ids))),
                # post version 3: no glyph names (they would have to be renumbered too)
                "post": b"\x00\x03\x00\x00" + self.font.tables.get("post", bytes(32))[4:32].ljust(28, b"\x00"),
            }
        )
        if "OS/2" in tables and self.codepoints:
            bmp = [c for c in self.codepoints if c <= 0xFFFF] or [0xFFFF]
            tables["OS/2"] = _patch(tables["OS/2"], (64, ">H", min(bmp)), (66, ">H", max(bmp)))
        return _assemble(tables)

    def _glyf_and_loca(self) -> tuple[bytes, bytes]:
        parts: list[bytes] = []
        offsets = [0]
        for old in self.old_ids:
            glyph = _renumber_components(self._glyph(old), self.new_id)
            glyph += b"\x00" * (-len(glyph) % 4)
            parts.append(glyph)
            offsets.append(offsets[-1] + len(glyph))
        return b"".join(parts), struct.pack(f">{len(offsets)}I", *offsets)

    def _hmtx(self) -> bytes:
        hmtx = self.font.tables["hhea"]
        metrics_count = struct.unpack_from(">H", hmtx, 34)[0]
        source = self.font.tables["hmtx"]
        out = bytearray()
        for old in self.old_ids:
            if old < metrics_count:
                lsb = struct.unpack_from(">h", source, 4 * old + 2)[0]
            else:
                lsb = struct.unpack_from(">h", source, 4 * metrics_count + 2 * (old - metrics_count))[0]
            out += struct.pack(">Hh", self.font.advances[old], lsb)
        return bytes(out)


def _components(glyph: bytes) -> list[int]:
    if len(glyph) < 10 or struct.unpack_from(">h", glyph, 0)[0] >= 0:
        return []
    found: list[int] = []
    for position in _component_positions(glyph):
        found.append(struct.unpack_from(">H", glyph, position)[0])
    return found


def _component_positions(glyph: bytes) -> list[int]:
    """Byte offsets of the glyph index of every component of a composite glyph."""
    positions: list[int] = []
    at = 10
    flags = _MORE_COMPONENTS
    while flags & _MORE_COMPONENTS:
        flags = struct.unpack_from(">H", glyph, at)[0]
        positions.append(at + 2)
        at += 4 + (4 if flags & _ARG_1_AND_2_ARE_WORDS else 2)
        if flags & _WE_HAVE_A_SCALE:
            at += 2
        elif flags & _WE_HAVE_AN_X_AND_Y_SCALE:
            at += 4
        elif flags & _WE_HAVE_A_TWO_BY_TWO:
            at += 8
    return positions


def _renumber_components(glyph: bytes, new_id: Mapping[int, int]) -> bytes:
    if len(glyph) < 10 or struct.unpack_from(">h", glyph, 0)[0] >= 0:
        return glyph
    out = bytearray(glyph)
    for position in _component_positions(glyph):
        struct.pack_into(">H", out, position, new_id[struct.unpack_from(">H", glyph, position)[0]])
    return bytes(out)


def _patch(table: bytes, *fields: tuple[int, str, int]) -> bytes:
    out = bytearray(table)
    for offset, fmt, value in fields:
        struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def _build_cmap(mapping: Mapping[int, int]) -> bytes:
    bmp = {c: g for c, g in mapping.items() if c <= 0xFFFF}
    subtables = [(3, 1, _cmap_format4(bmp))]
    if len(bmp) != len(mapping):
        subtables.append((3, 10, _cmap_format12(mapping)))
    header = struct.pack(">HH", 0, len(subtables))
    offset = 4 + 8 * len(subtables)
    records, bodies = b"", b""
    for platform, encoding, body in subtables:
        records += struct.pack(">HHI", platform, encoding, offset + len(bodies))
        bodies += body
    return header + records + bodies


def _runs(mapping: Mapping[int, int]) -> list[tuple[int, int, int]]:
    """(first code, last code, first glyph) for every run of consecutive codes mapped to consecutive glyphs."""
    runs: list[tuple[int, int, int]] = []
    for code in sorted(mapping):
        glyph = mapping[code]
        if runs and runs[-1][1] == code - 1 and runs[-1][2] + (code - runs[-1][0]) == glyph:
            runs[-1] = (runs[-1][0], code, runs[-1][2])
        else:
            runs.append((code, code, glyph))
    return runs


def _cmap_format4(mapping: Mapping[int, int]) -> bytes:
    segments = [(first, last, (glyph - first) & 0xFFFF) for first, last, glyph in _runs(mapping) if last < 0xFFFF]
    segments.append((0xFFFF, 0xFFFF, 1))
    count = len(segments)
    search = 2 ** (count.bit_length() - 1)
    body = struct.pack(">4H", 2 * count, 2 * search, search.bit_length() - 1, 2 * count - 2 * search)
    body += struct.pack(f">{count}H", *(s[1] for s in segments)) + b"\x00\x00"
    body += struct.pack(f">{count}H", *(s[0] for s in segments))
    body += struct.pack(f">{count}H", *(s[2] for s in segments))
    body += bytes(2 * count)  # idRangeOffset: every segment maps through idDelta
    return struct.pack(">HHH", 4, 6 + len(body), 0) + body


def _cmap_format12(mapping: Mapping[int, int]) -> bytes:
    runs = _runs(mapping)
    body = b"".join(struct.pack(">III", first, last, glyph) for first, last, glyph in runs)
    return struct.pack(">HHIII", 12, 0, 16 + len(body), 0, len(runs)) + body


def _checksum(data: bytes) -> int:
    padded = data + b"\x00" * (-len(data) % 4)
    words: tuple[int, ...] = struct.unpack(f">{len(padded) // 4}I", padded)
    return sum(words) & 0xFFFFFFFF


def _assemble(tables: Mapping[str, bytes]) -> bytes:
    tags = sorted(tables)
    count = len(tags)
    search = 2 ** (count.bit_length() - 1)
    header = struct.pack(">IHHHH", 0x00010000, count, 16 * search, search.bit_length() - 1, 16 * (count - search))
    offset = 12 + 16 * count
    directory, body = b"", b""
    head_at = 0
    for tag in tags:
        data = tables[tag]
        if tag == "head":
            head_at = offset + len(body)
        directory += struct.pack(">4sIII", tag.encode("latin-1"), _checksum(data), offset + len(body), len(data))
        body += data + b"\x00" * (-len(data) % 4)
    font = bytearray(header + directory + body)
    struct.pack_into(">I", font, head_at + 8, (0xB1B0AFBA - _checksum(bytes(font))) & 0xFFFFFFFF)
    return bytes(font)
