"""Fonts as text extraction needs them (ISO 32000-1 §9.6–9.10): character code → Unicode text and advance width.

Simple fonts (Type1, TrueType, Type3, MMType1) decode one byte per code through their encoding (a base encoding, or
the encoding array of an embedded Type 1 program, plus /Differences; glyph names → Unicode through a compact glyph
list), widths from /Widths or, for the standard 14 fonts without /Widths, from the AFM metrics reportlab ships.
Type0 fonts split codes by their CMap (Identity-H/V, predefined Unicode or legacy CJK CMaps, or an embedded CMap) and
take widths from the descendant's /W and /DW. A /ToUnicode CMap wins over every other source of text. Fonts we cannot
read come back as None and their text is skipped.
"""

from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import cache
from typing import NamedTuple

from reportlab.pdfbase import pdfmetrics

from certseal.errors import ValidationError
from certseal.signing.pdf.cmaps import CMap, PredefinedCMap, parse_cmap, predefined_cmap
from certseal.signing.pdf.objects import Ref, Stream

__all__ = ["Font", "FontCache", "GlyphCode", "glyph_name_to_text", "load_font"]

Resolve = Callable[[object], object]

UNKNOWN_TEXT = "\ufffd"  # a glyph whose Unicode value we cannot know: it still has a box but matches no keyword
_DEFAULT_ASCENT = 0.88
_DEFAULT_DESCENT = -0.12
_GUESSED_WIDTH = 500.0  # no /Widths and not a standard 14 font: half an em is the least wrong guess
_MAX_WIDTH_RANGE = 0x10000  # wider /W ranges are kept as ranges, not expanded
_MAX_WIDTH_ENTRIES = 0x40000  # beyond this many expanded CIDs, further ranges stay ranges (hostile input)


class GlyphCode(NamedTuple):
    """One decoded character code. Metrics are in text space units per unit of font size (glyph units / 1000)."""

    text: str
    width: float  # horizontal displacement w0
    word_space: bool  # a single-byte code 32, the only code Tw applies to
    advance_y: float = 0.0  # vertical writing: displacement w1y (negative: downwards)
    origin_x: float = 0.0  # vertical writing: position vector v from the horizontal to the vertical origin
    origin_y: float = 0.0


class Font(ABC):
    """A font reduced to what positions and text need: its name, vertical extent and a decoder for shown strings."""

    __slots__ = ("ascent", "descent", "name", "vertical")

    def __init__(self, name: str, ascent: float, descent: float, vertical: bool = False) -> None:
        self.name = name
        self.ascent = ascent  # per unit of font size, above the baseline
        self.descent = descent  # per unit of font size, negative below the baseline
        self.vertical = vertical

    @abstractmethod
    def decode(self, data: bytes) -> list[GlyphCode]:
        """The codes of a shown string, in order."""


class SimpleFont(Font):
    """One byte per code, a precomputed 256-entry table."""

    __slots__ = ("_table",)

    def __init__(self, name: str, ascent: float, descent: float, table: list[GlyphCode]) -> None:
        super().__init__(name, ascent, descent)
        self._table = table

    def decode(self, data: bytes) -> list[GlyphCode]:
        return list(map(self._table.__getitem__, data))


class CompositeFont(Font):
    """A Type0 font: codes split by a CMap; each distinct code decoded once and cached."""

    __slots__ = ("_cache", "_glyph", "_split")

    def __init__(
        self,
        name: str,
        ascent: float,
        descent: float,
        vertical: bool,
        split: Callable[[bytes], list[tuple[int, int]]],
        glyph: Callable[[int, int], GlyphCode],
    ) -> None:
        super().__init__(name, ascent, descent, vertical)
        self._split = split
        self._glyph = glyph
        self._cache: dict[tuple[int, int], GlyphCode] = {}

    def decode(self, data: bytes) -> list[GlyphCode]:
        cache = self._cache
        out: list[GlyphCode] = []
        for key in self._split(data):
            glyph = cache.get(key)
            if glyph is None:
                glyph = cache[key] = self._glyph(*key)
            out.append(glyph)
        return out


class FontCache:
    """Parsed fonts of one document, keyed by font dictionary object (its Ref, or the direct dict itself).

    It holds no reference to the document, so it can live in a weak mapping keyed by the document.
    """

    def __init__(self) -> None:
        self._by_ref: dict[Ref, Font | None] = {}
        self._by_id: dict[int, tuple[object, Font | None]] = {}

    def get(self, font: object, resolve: Resolve) -> Font | None:
        """The font for a /Font resource entry, or None if it cannot be read (its text is then skipped)."""
        if isinstance(font, Ref):
            if font not in self._by_ref:
                self._by_ref[font] = _load_or_none(font, resolve)
            return self._by_ref[font]
        hit = self._by_id.get(id(font))
        if hit is not None and hit[0] is font:
            return hit[1]
        loaded = _load_or_none(font, resolve)
        self._by_id[id(font)] = (font, loaded)  # holding the dict keeps its id from being reused
        return loaded


def _load_or_none(font: object, resolve: Resolve) -> Font | None:
    try:
        return load_font(font, resolve)
    except ValidationError:
        return None


def load_font(font: object, resolve: Resolve) -> Font | None:
    """Read a font dictionary; None when it is not a font dictionary or its codes cannot be interpreted."""
    font = resolve(font)
    if not isinstance(font, dict):
        return None
    if resolve(font.get("Subtype")) == "Type0":
        return _load_composite(font, resolve)
    return _load_simple(font, resolve)  # Type1, MMType1, TrueType, Type3, or a font missing its /Subtype


# --- small typed accessors ----------------------------------------------------------------------------------------


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _resolved_list(value: object, resolve: Resolve) -> list[object]:
    value = resolve(value)
    if not isinstance(value, list):
        return []
    return [resolve(item) if isinstance(item, Ref) else item for item in value]


def _usable(text: str | None) -> str | None:
    """ToUnicode text, unless it is empty or NULs (reportlab maps unused subset slots to U+0000)."""
    if not text or not text.strip("\x00"):
        return None
    return text


def _to_unicode(font: dict[str, object], resolve: Resolve) -> CMap | None:
    stream = resolve(font.get("ToUnicode"))
    if not isinstance(stream, Stream):
        return None  # absent, or a name such as /Identity-H that carries no text
    try:
        cmap = parse_cmap(stream.decoded())
    except ValidationError:
        return None
    return cmap if cmap.unicode or cmap.unicode_ranges else None


def _vertical_extent(
    descriptor: dict[str, object], resolve: Resolve, face: str | None, scale: float
) -> tuple[float, float]:
    """(ascent, descent) per unit of font size: from the descriptor, the standard 14 metrics, or 0.88/-0.12."""
    ascent = _number(resolve(descriptor.get("Ascent")))
    descent = _number(resolve(descriptor.get("Descent")))
    if ascent is not None and descent is not None and 0 < ascent * 0.001 <= 2.5 and -1.5 <= descent * 0.001 <= 0:
        return ascent * scale, descent * scale
    if face is not None:
        _, face_ascent, face_descent = _face_metrics(face)
        if face_ascent > 0:
            return face_ascent * scale, face_descent * scale
    return _DEFAULT_ASCENT, _DEFAULT_DESCENT


# --- simple fonts -------------------------------------------------------------------------------------------------


def _load_simple(font: dict[str, object], resolve: Resolve) -> Font:
    subtype = resolve(font.get("Subtype"))
    base_font = resolve(font.get("BaseFont"))
    name = str(base_font) if isinstance(base_font, str) else ""
    face = None if subtype == "Type3" else _standard_face(name)
    descriptor = _dict(resolve(font.get("FontDescriptor")))
    scale = _type3_scale(font, resolve) if subtype == "Type3" else 0.001
    names = _encoding_names(font, resolve, face, descriptor)
    widths = _simple_widths(font, resolve, descriptor, face, names)
    to_unicode = _to_unicode(font, resolve)
    table: list[GlyphCode] = []
    for code in range(256):
        text = _usable(to_unicode.to_unicode(code)) if to_unicode is not None else None
        if text is None:
            glyph_name = names[code]
            text = glyph_name_to_text(glyph_name) if glyph_name else None
        table.append(GlyphCode(text or UNKNOWN_TEXT, widths[code] * scale, code == 32))
    ascent, descent = _vertical_extent(descriptor, resolve, face, scale)
    return SimpleFont(name, ascent, descent, table)


def _type3_scale(font: dict[str, object], resolve: Resolve) -> float:
    matrix = _resolved_list(font.get("FontMatrix"), resolve)
    first = _number(matrix[0]) if len(matrix) == 6 else None
    return first if first else 0.001


def _encoding_names(
    font: dict[str, object], resolve: Resolve, face: str | None, descriptor: dict[str, object]
) -> list[str | None]:
    encoding = resolve(font.get("Encoding"))
    base: object = encoding
    differences: list[object] = []
    if isinstance(encoding, dict):
        base = resolve(encoding.get("BaseEncoding"))
        differences = _resolved_list(encoding.get("Differences"), resolve)
    builtin = None if base in _BASE_ENCODINGS else _type1_builtin_encoding(descriptor, resolve)
    names = builtin or list(_base_encoding(base if isinstance(base, str) else None, face))
    code = 0
    for item in differences:
        if isinstance(item, int) and not isinstance(item, bool):
            code = item
        elif isinstance(item, str):
            if 0 <= code < 256:
                names[code] = str(item)
            code += 1
    return names


_BASE_ENCODINGS = ("StandardEncoding", "WinAnsiEncoding", "MacRomanEncoding", "MacExpertEncoding")
_TYPE1_ENCODING_ENTRY = re.compile(rb"dup\s+(\d{1,3})\s*/([^\s/\[\]{}()<>%]+)\s+put")


def _type1_builtin_encoding(descriptor: dict[str, object], resolve: Resolve) -> list[str | None] | None:
    """The encoding array in the clear-text part of an embedded Type 1 font (TeX fonts rely on it), if any."""
    program = resolve(descriptor.get("FontFile"))
    if not isinstance(program, Stream):
        return None
    try:
        data = program.decoded()
    except ValidationError:
        return None
    clear = resolve(program.dictionary.get("Length1"))
    header = data[: clear if isinstance(clear, int) and 0 < clear <= len(data) else 65536]
    start = header.find(b"/Encoding")
    if start < 0 or header.startswith(b"StandardEncoding", start + 10):
        return None
    names: list[str | None] = [None] * 256
    for match in _TYPE1_ENCODING_ENTRY.finditer(header, start):
        code = int(match.group(1))
        if code < 256:
            names[code] = match.group(2).decode("latin-1")
    return names if any(names) else None


def _base_encoding(name: str | None, face: str | None) -> tuple[str | None, ...]:
    if name in _BASE_ENCODINGS:
        return _encoding_vector(str(name))
    if face in ("Symbol", "ZapfDingbats"):
        return _encoding_vector(f"{face}Encoding")
    return _encoding_vector("StandardEncoding")  # the built-in encoding of Latin fonts without /Encoding


@cache
def _encoding_vector(name: str) -> tuple[str | None, ...]:
    vector = tuple(pdfmetrics.getEncoding(name).vector)
    return vector + (None,) * (256 - len(vector))


def _simple_widths(
    font: dict[str, object],
    resolve: Resolve,
    descriptor: dict[str, object],
    face: str | None,
    names: list[str | None],
) -> list[float]:
    """Widths in glyph units for codes 0..255."""
    missing = _number(resolve(descriptor.get("MissingWidth")))
    widths: list[float | None] = [None] * 256
    listed = resolve(font.get("Widths"))
    if isinstance(listed, list):
        first = _number(resolve(font.get("FirstChar"))) or 0.0
        for index, value in enumerate(_resolved_list(listed, resolve)):
            code = int(first) + index
            if 0 <= code < 256:
                widths[code] = _number(value)
        fallback = missing or 0.0
    elif face is not None:
        metrics, _, _ = _face_metrics(face)
        for code, glyph_name in enumerate(names):
            if glyph_name is not None:
                widths[code] = metrics.get(glyph_name)
        fallback = missing or 0.0
    else:
        fallback = missing or _GUESSED_WIDTH
    return [fallback if width is None else width for width in widths]


_FAMILIES = {
    "Helvetica": "Helvetica",
    "Arial": "Helvetica",
    "ArialMT": "Helvetica",
    "Times": "Times",
    "TimesNewRoman": "Times",
    "TimesNewRomanPS": "Times",
    "TimesNewRomanPSMT": "Times",
    "Courier": "Courier",
    "CourierNew": "Courier",
    "CourierNewPS": "Courier",
    "CourierNewPSMT": "Courier",
}
_STYLES = {
    "Helvetica": ("Helvetica", "Helvetica-Bold", "Helvetica-Oblique", "Helvetica-BoldOblique"),
    "Times": ("Times-Roman", "Times-Bold", "Times-Italic", "Times-BoldItalic"),
    "Courier": ("Courier", "Courier-Bold", "Courier-Oblique", "Courier-BoldOblique"),
}


def _standard_face(base_font: str) -> str | None:
    """The standard 14 font a /BaseFont names (also the usual Arial/TimesNewRoman/CourierNew aliases), or None."""
    name = base_font[7:] if len(base_font) > 7 and base_font[6] == "+" else base_font
    if name in ("Symbol", "ZapfDingbats"):
        return name
    for separator in (",", "-"):
        if separator in name:
            family, style = name.split(separator, 1)
            break
    else:
        family, style = name, ""
    canonical = _FAMILIES.get(family)
    if canonical is None:
        return None
    bold = "Bold" in style
    italic = "Italic" in style or "Oblique" in style
    return _STYLES[canonical][bold + 2 * italic]


@cache
def _face_metrics(face: str) -> tuple[dict[str, float], float, float]:
    """(glyph name → width, ascent, descent) of a standard 14 font, in glyph units, from reportlab's AFM data."""
    typeface = pdfmetrics.getTypeFace(face)
    widths = {glyph: float(width) for glyph, width in typeface.glyphWidths.items()}
    return widths, float(typeface.ascent), float(typeface.descent)


# --- composite (Type0) fonts --------------------------------------------------------------------------------------


class _CidMetrics:
    """Widths (/W, /DW) and vertical metrics (/W2, /DW2) of a CIDFont, in glyph units."""

    def __init__(self, cid_font: dict[str, object], resolve: Resolve) -> None:
        default = _number(resolve(cid_font.get("DW")))
        self.default_width = 1000.0 if default is None else default
        self.expanded = 0  # CIDs written by expanding ranges, bounded by _MAX_WIDTH_ENTRIES
        self.widths: dict[int, float] = {}
        self.width_ranges: list[tuple[int, int, float]] = []
        self._read_widths(_resolved_list(cid_font.get("W"), resolve), resolve)
        dw2 = [_number(v) for v in _resolved_list(cid_font.get("DW2"), resolve)]
        dw2_ok = len(dw2) == 2 and dw2[0] is not None and dw2[1] is not None
        self.default_vertical = (dw2[0] or 0.0, dw2[1] or 0.0) if dw2_ok else (880.0, -1000.0)  # (vy, w1y)
        self.vertical: dict[int, tuple[float, float, float]] = {}  # cid → (w1y, vx, vy)
        self._read_vertical(_resolved_list(cid_font.get("W2"), resolve), resolve)

    def _read_widths(self, items: list[object], resolve: Resolve) -> None:
        i = 0
        while i + 1 < len(items):
            first, second = items[i], items[i + 1]
            if not isinstance(first, int):
                break
            if isinstance(second, list):
                for offset, value in enumerate(_resolved_list(second, resolve)):
                    width = _number(value)
                    if width is not None:
                        self.widths[first + offset] = width
                i += 2
            elif isinstance(second, int) and i + 2 < len(items):
                width = _number(items[i + 2])
                if width is not None and first <= second:
                    if second - first < _MAX_WIDTH_RANGE and self.expanded + second - first < _MAX_WIDTH_ENTRIES:
                        self.expanded += second - first + 1
                        self.widths.update(dict.fromkeys(range(first, second + 1), width))
                    else:
                        self.width_ranges.append((first, second, width))
                i += 3
            else:
                break

    def _read_vertical(self, items: list[object], resolve: Resolve) -> None:
        i = 0
        while i + 1 < len(items):
            first, second = items[i], items[i + 1]
            if not isinstance(first, int):
                break
            if isinstance(second, list):
                values = [_number(v) or 0.0 for v in _resolved_list(second, resolve)]
                for n in range(len(values) // 3):
                    self.vertical[first + n] = (values[3 * n], values[3 * n + 1], values[3 * n + 2])
                i += 2
            elif isinstance(second, int) and i + 4 < len(items):
                w1y, vx, vy = (_number(v) or 0.0 for v in items[i + 2 : i + 5])
                if 0 <= second - first < _MAX_WIDTH_RANGE and self.expanded + second - first < _MAX_WIDTH_ENTRIES:
                    self.expanded += second - first + 1
                    for cid in range(first, second + 1):
                        self.vertical[cid] = (w1y, vx, vy)
                i += 5
            else:
                break

    def explicit_width(self, cid: int) -> float | None:
        width = self.widths.get(cid)
        if width is None:
            for first, last, value in self.width_ranges:
                if first <= cid <= last:
                    return value
        return width

    def vertical_metrics(self, cid: int | None, width: float) -> tuple[float, float, float]:
        """(w1y, vx, vy) in glyph units."""
        if cid is not None and cid in self.vertical:
            return self.vertical[cid]
        vy, w1y = self.default_vertical
        return w1y, width / 2, vy


def _approximate_width(text: str | None) -> float:
    """Width of a character whose CID we cannot know without Adobe's CMap files: full-width CJK 1000, others 500."""
    if not text:
        return 1000.0
    return 1000.0 if unicodedata.east_asian_width(text[0]) in ("W", "F", "A") else 500.0


def _split_two_bytes(data: bytes) -> list[tuple[int, int]]:
    return [((data[i] << 8) | (data[i + 1] if i + 1 < len(data) else 0), 2) for i in range(0, len(data), 2)]


def _load_composite(font: dict[str, object], resolve: Resolve) -> Font | None:
    base_font = resolve(font.get("BaseFont"))
    name = str(base_font) if isinstance(base_font, str) else ""
    descendants = _resolved_list(font.get("DescendantFonts"), resolve)
    cid_font = _dict(resolve(descendants[0])) if descendants else {}
    descriptor = _dict(resolve(cid_font.get("FontDescriptor")))
    to_unicode = _to_unicode(font, resolve)
    predefined, embedded = _composite_encoding(font, resolve)
    if predefined is None and embedded is None:
        if to_unicode is None:
            return None  # an encoding we do not know and no ToUnicode: neither codes nor text can be read
        predefined = predefined_cmap("Identity-H")  # the usual case: two-byte codes
    split = _code_splitter(predefined, embedded)
    vertical = embedded.vertical if embedded is not None else bool(predefined and predefined.vertical)
    metrics = _CidMetrics(cid_font, resolve)
    approximate = embedded is None and predefined is not None and predefined.kind != "identity"

    def glyph(code: int, size: int) -> GlyphCode:
        text = _usable(to_unicode.to_unicode(code)) if to_unicode is not None else None
        cid = embedded.to_cid(code) if embedded is not None else None
        if predefined is not None:
            if cid is None:
                cid = predefined.to_cid(code, size)
            if text is None:
                text = predefined.to_unicode(code, size)
        width = metrics.explicit_width(cid) if cid is not None else None
        if width is None:
            width = _approximate_width(text) if approximate else metrics.default_width
        word_space = size == 1 and code == 32
        if not vertical:
            return GlyphCode(text or UNKNOWN_TEXT, width * 0.001, word_space)
        w1y, vx, vy = metrics.vertical_metrics(cid, width)
        return GlyphCode(text or UNKNOWN_TEXT, width * 0.001, word_space, w1y * 0.001, vx * 0.001, vy * 0.001)

    ascent, descent = _vertical_extent(descriptor, resolve, None, 0.001)
    return CompositeFont(name, ascent, descent, vertical, split, glyph)


def _composite_encoding(font: dict[str, object], resolve: Resolve) -> tuple[PredefinedCMap | None, CMap | None]:
    encoding = resolve(font.get("Encoding"))
    if isinstance(encoding, str):
        return predefined_cmap(str(encoding)), None
    if not isinstance(encoding, Stream):
        return None, None
    embedded = parse_cmap(encoding.decoded())
    if resolve(encoding.dictionary.get("WMode")) == 1:
        embedded.vertical = True
    parent_name = encoding.dictionary.get("UseCMap") or embedded.parent
    parent = predefined_cmap(str(parent_name)) if isinstance(parent_name, str) else None
    return parent, embedded


def _code_splitter(
    predefined: PredefinedCMap | None, embedded: CMap | None
) -> Callable[[bytes], list[tuple[int, int]]]:
    if embedded is not None and embedded.codespace.ranges:
        return embedded.codespace.split
    if predefined is not None:
        return predefined.split
    return _split_two_bytes


# --- glyph names --------------------------------------------------------------------------------------------------


def glyph_name_to_text(name: str) -> str | None:
    """Unicode text for a glyph name (Adobe Glyph List rules for the names found in practice), or None."""
    text = _GLYPH_LIST.get(name)
    if text is not None:
        return text
    base = name.split(".", 1)[0]
    if "_" in base:
        parts = [glyph_name_to_text(part) for part in base.split("_")]
        return "".join(p for p in parts if p) if all(parts) else None
    if base != name:
        return glyph_name_to_text(base) if base else None
    return _algorithmic_name(name)


def _algorithmic_name(name: str) -> str | None:
    if len(name) == 1 and name.isascii() and name.isalpha():
        return name
    hex_digits = "0123456789ABCDEFabcdef"
    if (
        name.startswith("uni")
        and len(name) >= 7
        and (len(name) - 3) % 4 == 0
        and all(c in hex_digits for c in name[3:])
    ):
        units = [int(name[i : i + 4], 16) for i in range(3, len(name), 4)]
        if all(not 0xD800 <= u <= 0xDFFF for u in units):
            return "".join(map(chr, units))
    if name.startswith("u") and 5 <= len(name) <= 7 and all(c in hex_digits for c in name[1:]):
        value = int(name[1:], 16)
        if value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF:
            return chr(value)
    return None


# Glyph names of the Latin (Standard, WinAnsi, MacRoman, standard 14 AFM), Symbol and Cyrillic (afii) repertoires,
# taken from the Adobe Glyph List; one-letter names, uniXXXX and uXXXX[XX[XX]] are handled by rule instead.
_GLYPH_DATA = """
AE:00C6 Aacute:00C1 Acircumflex:00C2 Adieresis:00C4 Agrave:00C0 Alpha:0391 Aring:00C5 Atilde:00C3 Beta:0392
Ccedilla:00C7 Chi:03A7 Delta:0394 Eacute:00C9 Ecircumflex:00CA Edieresis:00CB Egrave:00C8 Epsilon:0395 Eta:0397
Eth:00D0 Euro:20AC Gamma:0393 Iacute:00CD Icircumflex:00CE Idieresis:00CF Ifraktur:2111 Igrave:00CC Iota:0399
Kappa:039A Lambda:039B Lslash:0141 Mu:039C Ntilde:00D1 Nu:039D OE:0152 Oacute:00D3 Ocircumflex:00D4
Odieresis:00D6 Ograve:00D2 Omega:03A9 Omicron:039F Oslash:00D8 Otilde:00D5 Phi:03A6 Pi:03A0 Psi:03A8
Rfraktur:211C Rho:03A1 Scaron:0160 Sigma:03A3 Tau:03A4 Theta:0398 Thorn:00DE Uacute:00DA Ucircumflex:00DB
Udieresis:00DC Ugrave:00D9 Upsilon:03A5 Upsilon1:03D2 Xi:039E Yacute:00DD Ydieresis:0178 Zcaron:017D Zeta:0396
aacute:00E1 acircumflex:00E2 acute:00B4 adieresis:00E4 ae:00E6 afii00208:2015 afii10017:0410 afii10018:0411
afii10019:0412 afii10020:0413 afii10021:0414 afii10022:0415 afii10023:0401 afii10024:0416 afii10025:0417
afii10026:0418 afii10027:0419 afii10028:041A afii10029:041B afii10030:041C afii10031:041D afii10032:041E
afii10033:041F afii10034:0420 afii10035:0421 afii10036:0422 afii10037:0423 afii10038:0424 afii10039:0425
afii10040:0426 afii10041:0427 afii10042:0428 afii10043:0429 afii10044:042A afii10045:042B afii10046:042C
afii10047:042D afii10048:042E afii10049:042F afii10050:0490 afii10051:0402 afii10052:0403 afii10053:0404
afii10054:0405 afii10055:0406 afii10056:0407 afii10057:0408 afii10058:0409 afii10059:040A afii10060:040B
afii10061:040C afii10062:040E afii10065:0430 afii10066:0431 afii10067:0432 afii10068:0433 afii10069:0434
afii10070:0435 afii10071:0451 afii10072:0436 afii10073:0437 afii10074:0438 afii10075:0439 afii10076:043A
afii10077:043B afii10078:043C afii10079:043D afii10080:043E afii10081:043F afii10082:0440 afii10083:0441
afii10084:0442 afii10085:0443 afii10086:0444 afii10087:0445 afii10088:0446 afii10089:0447 afii10090:0448
afii10091:0449 afii10092:044A afii10093:044B afii10094:044C afii10095:044D afii10096:044E afii10097:044F
afii10098:0491 afii10099:0452 afii10100:0453 afii10101:0454 afii10102:0455 afii10103:0456 afii10104:0457
afii10105:0458 afii10106:0459 afii10107:045A afii10108:045B afii10109:045C afii10110:045E afii10145:040F
afii10146:0462 afii10147:0472 afii10148:0474 afii10193:045F afii10194:0463 afii10195:0473 afii10196:0475
afii10846:04D9 afii299:200E afii300:200F afii301:200D afii61352:2116 afii61573:202C afii61574:202D
afii61575:202E afii61664:200C agrave:00E0 aleph:2135 alpha:03B1 ampersand:0026 angle:2220 angleleft:2329
angleright:232A apple:F8FF approxequal:2248 aring:00E5 arrowboth:2194 arrowdblboth:21D4 arrowdbldown:21D3
arrowdblleft:21D0 arrowdblright:21D2 arrowdblup:21D1 arrowdown:2193 arrowhorizex:F8E7 arrowleft:2190
arrowright:2192 arrowup:2191 arrowvertex:F8E6 asciicircum:005E asciitilde:007E asterisk:002A asteriskmath:2217
at:0040 atilde:00E3 backslash:005C bar:007C beta:03B2 braceex:F8F4 braceleft:007B braceleftbt:F8F3
braceleftmid:F8F2 bracelefttp:F8F1 braceright:007D bracerightbt:F8FE bracerightmid:F8FD bracerighttp:F8FC
bracketleft:005B bracketleftbt:F8F0 bracketleftex:F8EF bracketlefttp:F8EE bracketright:005D bracketrightbt:F8FB
bracketrightex:F8FA bracketrighttp:F8F9 breve:02D8 brokenbar:00A6 bullet:2022 caron:02C7 carriagereturn:21B5
ccedilla:00E7 cedilla:00B8 cent:00A2 chi:03C7 circlemultiply:2297 circleplus:2295 circumflex:02C6 club:2663
colon:003A comma:002C congruent:2245 copyright:00A9 copyrightsans:F8E9 copyrightserif:F6D9 currency:00A4
dagger:2020 daggerdbl:2021 degree:00B0 delta:03B4 diamond:2666 dieresis:00A8 divide:00F7 dollar:0024
dotaccent:02D9 dotlessi:0131 dotlessj:F6BE dotmath:22C5 eacute:00E9 ecircumflex:00EA edieresis:00EB egrave:00E8
eight:0038 element:2208 ellipsis:2026 emdash:2014 emptyset:2205 endash:2013 epsilon:03B5 equal:003D
equivalence:2261 eta:03B7 eth:00F0 exclam:0021 exclamdown:00A1 existential:2203 ff:FB00 ffi:FB03 ffl:FB04
fi:FB01 five:0035 fl:FB02 florin:0192 four:0034 fraction:2044 gamma:03B3 germandbls:00DF gradient:2207
grave:0060 greater:003E greaterequal:2265 guillemotleft:00AB guillemotright:00BB guilsinglleft:2039
guilsinglright:203A heart:2665 hungarumlaut:02DD hyphen:002D iacute:00ED icircumflex:00EE idieresis:00EF
igrave:00EC infinity:221E integral:222B integralbt:2321 integralex:F8F5 integraltp:2320 intersection:2229
iota:03B9 kappa:03BA lambda:03BB less:003C lessequal:2264 logicaland:2227 logicalnot:00AC logicalor:2228
lozenge:25CA lslash:0142 macron:00AF minus:2212 minute:2032 mu:00B5 multiply:00D7 nbspace:00A0 nine:0039
nonbreakingspace:00A0 notelement:2209 notequal:2260 notsubset:2284 ntilde:00F1 nu:03BD numbersign:0023
oacute:00F3 ocircumflex:00F4 odieresis:00F6 oe:0153 ogonek:02DB ograve:00F2 omega:03C9 omega1:03D6 omicron:03BF
one:0031 onehalf:00BD onequarter:00BC onesuperior:00B9 ordfeminine:00AA ordmasculine:00BA oslash:00F8
otilde:00F5 paragraph:00B6 parenleft:0028 parenleftbt:F8ED parenleftex:F8EC parenlefttp:F8EB parenright:0029
parenrightbt:F8F8 parenrightex:F8F7 parenrighttp:F8F6 partialdiff:2202 percent:0025 period:002E
periodcentered:00B7 perpendicular:22A5 perthousand:2030 phi:03C6 phi1:03D5 pi:03C0 plus:002B plusminus:00B1
product:220F propersubset:2282 propersuperset:2283 proportional:221D psi:03C8 question:003F questiondown:00BF
quotedbl:0022 quotedblbase:201E quotedblleft:201C quotedblright:201D quoteleft:2018 quoteright:2019
quotesinglbase:201A quotesingle:0027 radical:221A radicalex:F8E5 reflexsubset:2286 reflexsuperset:2287
registered:00AE registersans:F8E8 registerserif:F6DA rho:03C1 ring:02DA scaron:0161 second:2033 section:00A7
semicolon:003B seven:0037 sfthyphen:00AD sigma:03C3 sigma1:03C2 similar:223C six:0036 slash:002F softhyphen:00AD
space:0020 spade:2660 sterling:00A3 suchthat:220B summation:2211 tau:03C4 therefore:2234 theta:03B8 theta1:03D1
thorn:00FE three:0033 threequarters:00BE threesuperior:00B3 tilde:02DC trademark:2122 trademarksans:F8EA
trademarkserif:F6DB two:0032 twosuperior:00B2 uacute:00FA ucircumflex:00FB udieresis:00FC ugrave:00F9
underscore:005F union:222A universal:2200 upsilon:03C5 weierstrass:2118 xi:03BE yacute:00FD ydieresis:00FF
yen:00A5 zcaron:017E zero:0030 zeta:03B6
"""
# The ZapfDingbats glyph names (a1 … a206), from Adobe's zapfdingbats.txt companion of the glyph list.
_DINGBATS_DATA = """
a1:2701 a2:2702 a3:2704 a4:260E a5:2706 a6:271D a7:271E a8:271F a9:2720 a10:2721 a11:261B a12:261E a13:270C
a14:270D a15:270E a16:270F a17:2711 a18:2712 a19:2713 a20:2714 a21:2715 a22:2716 a23:2717 a24:2718 a25:2719
a26:271A a27:271B a28:271C a29:2722 a30:2723 a31:2724 a32:2725 a33:2726 a34:2727 a35:2605 a36:2729 a37:272A
a38:272B a39:272C a40:272D a41:272E a42:272F a43:2730 a44:2731 a45:2732 a46:2733 a47:2734 a48:2735 a49:2736
a50:2737 a51:2738 a52:2739 a53:273A a54:273B a55:273C a56:273D a57:273E a58:273F a59:2740 a60:2741 a61:2742
a62:2743 a63:2744 a64:2745 a65:2746 a66:2747 a67:2748 a68:2749 a69:274A a70:274B a71:25CF a72:274D a73:25A0
a74:274F a75:2751 a76:25B2 a77:25BC a78:25C6 a79:2756 a81:25D7 a82:2758 a83:2759 a84:275A a85:276F a86:2771
a87:2772 a88:2773 a89:2768 a90:2769 a91:276C a92:276D a93:276A a94:276B a95:2774 a96:2775 a97:275B a98:275C
a99:275D a100:275E a101:2761 a102:2762 a103:2763 a104:2764 a105:2710 a106:2765 a107:2766 a108:2767 a109:2660
a110:2665 a111:2666 a112:2663 a117:2709 a118:2708 a119:2707 a120:2460 a121:2461 a122:2462 a123:2463 a124:2464
a125:2465 a126:2466 a127:2467 a128:2468 a129:2469 a130:2776 a131:2777 a132:2778 a133:2779 a134:277A a135:277B
a136:277C a137:277D a138:277E a139:277F a140:2780 a141:2781 a142:2782 a143:2783 a144:2784 a145:2785 a146:2786
a147:2787 a148:2788 a149:2789 a150:278A a151:278B a152:278C a153:278D a154:278E a155:278F a156:2790 a157:2791
a158:2792 a159:2793 a160:2794 a161:2192 a162:27A3 a163:2194 a164:2195 a165:2799 a166:279B a167:279C a168:279D
a169:279E a170:279F a171:27A0 a172:27A1 a173:27A2 a174:27A4 a175:27A5 a176:27A6 a177:27A7 a178:27A8 a179:27A9
a180:27AB a181:27AD a182:27AF a183:27B2 a184:27B3 a185:27B5 a186:27B8 a187:27BA a188:27BB a189:27BC a190:27BD
a191:27BE a192:279A a193:27AA a194:27B6 a195:27B9 a196:2798 a197:27B4 a198:27B7 a199:27AC a200:27AE a201:27B1
a202:2703 a203:2750 a204:2752 a205:276E a206:2770
"""
_GLYPH_LIST: dict[str, str] = {
    name: chr(int(value, 16)) for name, value in (entry.split(":") for entry in (_GLYPH_DATA + _DINGBATS_DATA).split())
}
