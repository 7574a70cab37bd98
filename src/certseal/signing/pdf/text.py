"""Where text sits on a PDF page, and where a keyword occurs (to place a seal or a signature next to it).

Three parts: a content stream lexer (ISO 32000-1 §7.8.2) yielding (operator, operands); an interpreter of the graphics
and text state operators that matter for positions (§8.4, §9.3, §9.4, Form XObjects §8.10) producing one Glyph per
shown character code with its box in default user space; and a keyword search over those glyphs in content order.

On malformed input: lexical garbage that leaves the rest of a stream unreadable (an unterminated string or inline
image; arrays or dictionaries nested deeper than 64) raises ValidationError for a page's own content, and ends the
Form XObject it occurs in (its glyphs so far are kept). Operators with missing or wrongly typed operands, unknown
operators, fonts that are missing or cannot be read, and missing resources are skipped: their text produces no
glyphs. Forms nested deeper than 12, forms that draw themselves, and forms drawn once a page has run 500,000 operators
are not followed.
"""

from __future__ import annotations

import re
import unicodedata
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from certseal.errors import ValidationError
from certseal.signing.pdf.fonts import Font, FontCache, GlyphCode
from certseal.signing.pdf.objects import Name, Ref, Stream
from certseal.signing.pdf.reader import Page, PdfDocument

__all__ = ["Glyph", "KeywordHit", "find_keyword", "iter_operations", "page_glyphs"]

Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
_MAX_NESTING = 64
_MAX_FORM_DEPTH = 12
_MAX_OPERATIONS = 500_000  # per page, forms included (a dense page has ~5,000): past it, forms are not followed

_WHITESPACE = b"\x00\t\n\x0c\r "
_TOKEN = re.compile(  # whitespace between tokens is skipped by finditer's search
    rb"([+-]?(?:\d+\.?\d*|\.\d+))(?![^\x00\t\n\x0c\r ()<>\[\]{}/%])"  # 1: number
    rb"|([^\x00\t\n\x0c\r ()<>\[\]{}/%]+)"  # 2: keyword (operator, true, false, null)
    rb"|/([^\x00\t\n\x0c\r ()<>\[\]{}/%]*)"  # 3: name
    rb"|\(((?:[^()\\]|\\.)*)\)"  # 4: literal string without nested parentheses
    rb"|(\()"  # 5: any other literal string, read by _literal_string
    rb"|(<<)|(>>)|<([^<>]*)>|(<)|(\[)|(\])"  # 6 << 7 >> 8 hex string 9 unterminated hex 10 [ 11 ]
    rb"|([{})>])|(%[^\r\n]*)",  # 12: stray delimiter, 13: comment, both ignored
    re.S,
)
_HEX_JUNK = re.compile(rb"[^0-9A-Fa-f]")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_LITERAL_TO_PAREN = re.compile(rb"(?:[^()\\]|\\.)*[()]", re.S)  # up to the next unescaped parenthesis
_LITERAL_ESCAPE = re.compile(rb"\\(\r\n|[0-7]{1,3}|.)", re.S)
_ESCAPES: dict[bytes, bytes] = {
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
    b"b": b"\b",
    b"f": b"\f",
    b"\r\n": b"",  # a backslash before an end of line continues the string on the next line
    b"\r": b"",
    b"\n": b"",
}
_ESCAPES.update(
    {f"{value:o}".zfill(width).encode(): bytes([value & 0xFF]) for width in (1, 2, 3) for value in range(8**width)}
)
_CONSTANTS: dict[bytes, object] = {b"true": True, b"false": False, b"null": None}


def _content_error(rule: str) -> ValidationError:
    return ValidationError("content stream", rule)


# --- lexer --------------------------------------------------------------------------------------------------------


def iter_operations(data: bytes) -> Iterator[tuple[str, list[object]]]:
    """(operator, operands) for each operator of a content stream; an inline image comes as ("BI", [its dict]).

    Operands use the object model of objects.py (int, float, bytes, Name, list, dict, bool, None).
    """
    return _operations(data, inline_images=True)


def _operations(data: bytes, inline_images: bool) -> Iterator[tuple[str, list[object]]]:
    operands: list[object] = []
    containers: list[tuple[bool, list[object]]] = []  # (is a dictionary, items) of open arrays and dictionaries
    current = operands
    pos: int | None = 0
    while pos is not None:
        start, pos = pos, None
        for match in _TOKEN.finditer(data, start):
            kind = match.lastindex
            if kind == 1:
                number = match.group(1)
                current.append(float(number) if b"." in number else int(number))
            elif kind == 2:
                word = match.group(2)
                if word in _CONSTANTS:
                    current.append(_CONSTANTS[word])
                    continue
                if containers:  # an operator inside an array or dictionary: the container was garbage
                    containers.clear()
                    current = operands
                operator = word.decode("latin-1")
                if operator == "BI" and inline_images:
                    image, pos = _inline_image(data, match.end())
                    operands.clear()
                    yield "BI", [image]
                    break
                yield operator, operands
                operands = []
                current = operands
            elif kind == 3:
                raw = match.group(3)
                if b"#" in raw:
                    raw = _NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
                current.append(Name(raw.decode("latin-1")))
            elif kind == 4:
                body = match.group(4)
                current.append(_LITERAL_ESCAPE.sub(_unescape, body) if b"\\" in body else body)
            elif kind == 5:
                text, pos = _literal_string(data, match.end())
                current.append(text)
                break
            elif kind == 8:
                digits = _HEX_JUNK.sub(b"", match.group(8))
                current.append(bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode("ascii")))
            elif kind == 9:
                raise _content_error(f"unterminated hex string at offset {match.start()}")
            elif kind in (6, 10):
                if len(containers) >= _MAX_NESTING:
                    raise _content_error(f"arrays or dictionaries nested deeper than {_MAX_NESTING}")
                containers.append((kind == 6, []))
                current = containers[-1][1]
            elif kind in (7, 11):
                if containers and containers[-1][0] == (kind == 7):
                    is_dict, items = containers.pop()
                    current = containers[-1][1] if containers else operands
                    current.append(_pairs(items) if is_dict else items)
            # kinds 12 and 13: stray delimiters and comments, ignored
    # operands left over at the end (an unclosed array, say) belong to no operator and are dropped


def _pairs(items: list[object]) -> dict[str, object]:
    result: dict[str, object] = {}
    for index in range(0, len(items) - 1, 2):
        key = items[index]
        if isinstance(key, Name):
            result[key] = items[index + 1]
    return result


def _literal_string(data: bytes, pos: int) -> tuple[bytes, int]:
    """A literal string whose opening parenthesis ends just before `pos`: (value, position after it)."""
    start = pos
    nesting = 1
    while True:
        match = _LITERAL_TO_PAREN.match(data, pos)
        if match is None:
            raise _content_error(f"unterminated literal string at offset {start - 1}")
        pos = match.end()
        if data[pos - 1] == 0x28:
            nesting += 1
            continue
        nesting -= 1
        if nesting == 0:
            body = data[start : pos - 1]
            return (_LITERAL_ESCAPE.sub(_unescape, body) if b"\\" in body else body), pos


def _unescape(match: re.Match[bytes]) -> bytes:
    escape = match.group(1)
    return _ESCAPES.get(escape, escape)


def _inline_image(data: bytes, pos: int) -> tuple[dict[str, object], int]:
    """Read an inline image's dictionary after BI and skip its data: (dictionary, position after EI)."""
    start = data.find(b"ID", pos)
    while start >= 0 and not (
        data[start - 1 : start] in (b"", *(bytes([c]) for c in _WHITESPACE))
        and (start + 2 == len(data) or data[start + 2] in _WHITESPACE)
    ):
        start = data.find(b"ID", start + 1)
    if start < 0:
        raise _content_error(f"inline image at offset {pos} has no ID")
    entries: list[object] = []
    for _, operands in _operations(data[pos:start] + b" ID", inline_images=False):
        entries = operands
    image = _pairs(entries)
    body = start + 3  # ID and the single whitespace byte after it
    return image, _inline_image_end(data, body, image)


def _inline_image_end(data: bytes, body: int, image: dict[str, object]) -> int:
    length = image.get("L", image.get("Length"))
    if isinstance(length, int) and not isinstance(length, bool) and length >= 0:
        after = body + length
        while after < len(data) and data[after] in _WHITESPACE:
            after += 1
        if data.startswith(b"EI", after):
            return after + 2
    first: int | None = None  # the first EI between whitespace, if none is followed by what looks like operators
    search = body
    while (found := data.find(b"EI", search)) >= 0:
        after = found + 2
        if (found == body or data[found - 1] in _WHITESPACE) and (after == len(data) or data[after] in _WHITESPACE):
            if _looks_like_operators(data[after : after + 48]):
                return after
            first = after if first is None else first
        search = found + 1
    if first is None:
        raise _content_error(f"inline image at offset {body} has no EI")
    return first


def _looks_like_operators(tail: bytes) -> bool:
    """Whether bytes after a candidate EI read as content (printable ASCII), not as more binary image data."""
    return all(32 <= b < 127 or b in _WHITESPACE for b in tail)


# --- interpreter --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Glyph:
    """One shown character code: its Unicode text and its box (x0, y0, x1, y1) in default user space, in points."""

    text: str
    bbox: tuple[float, float, float, float]


def _multiply(m: Matrix, n: Matrix) -> Matrix:
    """m × n: first m, then n (PDF's row-vector convention)."""
    a1, b1, c1, d1, e1, f1 = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a1 * a2 + b1 * c2,
        a1 * b2 + b1 * d2,
        c1 * a2 + d1 * c2,
        c1 * b2 + d1 * d2,
        e1 * a2 + f1 * c2 + e2,
        e1 * b2 + f1 * d2 + f2,
    )


def _numbers(operands: list[object], count: int) -> list[float] | None:
    """The last `count` operands as floats, or None if there are fewer or they are not all numbers."""
    if len(operands) < count:
        return None
    values = operands[len(operands) - count :]
    for value in values:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
    return [float(v) for v in values]  # type: ignore[arg-type]


@dataclass
class _TextState:
    font: Font | None = None
    size: float = 0.0
    char_spacing: float = 0.0
    word_spacing: float = 0.0
    scale: float = 1.0  # Tz / 100
    leading: float = 0.0
    rise: float = 0.0


@dataclass
class _State:
    ctm: Matrix = _IDENTITY
    text: _TextState = field(default_factory=_TextState)

    def copy(self) -> _State:
        text = self.text
        return _State(
            self.ctm,
            _TextState(text.font, text.size, text.char_spacing, text.word_spacing, text.scale, text.leading, text.rise),
        )


class _Interpreter:
    """Runs content streams, appending a Glyph for each shown code to `glyphs`."""

    def __init__(self, resolve: Callable[[object], object], fonts: FontCache) -> None:
        self.resolve = resolve
        self.fonts = fonts
        self.glyphs: list[Glyph] = []
        self.state = _State()
        self.stack: list[_State] = []
        self.tm: Matrix = _IDENTITY
        self.tlm: Matrix = _IDENTITY
        self.resources: dict[str, object] = {}
        self.active_forms: set[object] = set()
        self.form_operations: dict[object, list[tuple[str, list[object]]]] = {}  # each form is lexed once
        self.depth = 0
        self.operations = 0  # operators run so far, forms included; bounds the work of forms drawn over and over
        self.handlers: dict[str, Callable[[list[object]], None]] = {
            "q": self._save,
            "Q": self._restore,
            "cm": self._concat,
            "BT": self._begin_text,
            "Tf": self._set_font,
            "Tc": self._set_char_spacing,
            "Tw": self._set_word_spacing,
            "Tz": self._set_scale,
            "TL": self._set_leading,
            "Ts": self._set_rise,
            "Td": self._move,
            "TD": self._move_set_leading,
            "Tm": self._set_matrix,
            "T*": self._next_line,
            "Tj": self._show_string,
            "'": self._next_line_show,
            '"': self._spacing_next_line_show,
            "TJ": self._show_array,
            "Do": self._draw_xobject,
        }

    def run(self, operations: Iterable[tuple[str, list[object]]], resources: dict[str, object]) -> None:
        saved = self.resources
        self.resources = resources
        handlers = self.handlers
        try:
            for operator, operands in operations:
                self.operations += 1
                handler = handlers.get(operator)
                if handler is not None:
                    handler(operands)
        finally:
            self.resources = saved

    # graphics state

    def _save(self, _: list[object]) -> None:
        self.stack.append(self.state.copy())

    def _restore(self, _: list[object]) -> None:
        if self.stack:
            self.state = self.stack.pop()

    def _concat(self, operands: list[object]) -> None:
        values = _numbers(operands, 6)
        if values is not None:
            self.state.ctm = _multiply(tuple(values), self.state.ctm)  # type: ignore[arg-type]

    # text state

    def _begin_text(self, _: list[object]) -> None:
        self.tm = self.tlm = _IDENTITY

    def _set_font(self, operands: list[object]) -> None:
        if len(operands) < 2 or not isinstance(operands[-2], Name):
            return
        size = _numbers(operands, 1)
        if size is None:
            return
        self.state.text.font = self._font(operands[-2])
        self.state.text.size = size[0]

    def _font(self, name: Name) -> Font | None:
        fonts = self.resolve(self.resources.get("Font"))
        if not isinstance(fonts, dict) or name not in fonts:
            return None
        return self.fonts.get(fonts[name], self.resolve)

    def _set_char_spacing(self, operands: list[object]) -> None:
        values = _numbers(operands, 1)
        if values is not None:
            self.state.text.char_spacing = values[0]

    def _set_word_spacing(self, operands: list[object]) -> None:
        values = _numbers(operands, 1)
        if values is not None:
            self.state.text.word_spacing = values[0]

    def _set_scale(self, operands: list[object]) -> None:
        values = _numbers(operands, 1)
        if values is not None:
            self.state.text.scale = values[0] / 100.0

    def _set_leading(self, operands: list[object]) -> None:
        values = _numbers(operands, 1)
        if values is not None:
            self.state.text.leading = values[0]

    def _set_rise(self, operands: list[object]) -> None:
        values = _numbers(operands, 1)
        if values is not None:
            self.state.text.rise = values[0]

    # text positioning

    def _translate_line(self, tx: float, ty: float) -> None:
        self.tlm = self.tm = _multiply((1.0, 0.0, 0.0, 1.0, tx, ty), self.tlm)

    def _move(self, operands: list[object]) -> None:
        values = _numbers(operands, 2)
        if values is not None:
            self._translate_line(values[0], values[1])

    def _move_set_leading(self, operands: list[object]) -> None:
        values = _numbers(operands, 2)
        if values is not None:
            self.state.text.leading = -values[1]
            self._translate_line(values[0], values[1])

    def _set_matrix(self, operands: list[object]) -> None:
        values = _numbers(operands, 6)
        if values is not None:
            self.tm = self.tlm = tuple(values)  # type: ignore[assignment]

    def _next_line(self, _: list[object]) -> None:
        self._translate_line(0.0, -self.state.text.leading)

    # text showing

    def _show_string(self, operands: list[object]) -> None:
        if operands and isinstance(operands[-1], bytes):
            self._show(operands[-1])

    def _next_line_show(self, operands: list[object]) -> None:
        self._next_line(operands)
        self._show_string(operands)

    def _spacing_next_line_show(self, operands: list[object]) -> None:
        values = _numbers(operands[:-1], 2)
        if values is None or not isinstance(operands[-1], bytes):
            return
        self.state.text.word_spacing, self.state.text.char_spacing = values
        self._next_line_show(operands)

    def _show_array(self, operands: list[object]) -> None:
        if not operands or not isinstance(operands[-1], list):
            return
        text = self.state.text
        vertical = text.font is not None and text.font.vertical
        for item in operands[-1]:
            if isinstance(item, bytes):
                self._show(item)
            elif isinstance(item, int | float) and not isinstance(item, bool):
                shift = -item / 1000.0 * text.size
                if vertical:
                    self._advance(0.0, shift)
                else:
                    self._advance(shift * text.scale, 0.0)

    def _advance(self, tx: float, ty: float) -> None:
        a, b, c, d, e, f = self.tm
        self.tm = (a, b, c, d, tx * a + ty * c + e, tx * b + ty * d + f)

    def _show(self, string: bytes) -> None:
        text = self.state.text
        font = text.font
        if font is None:
            return
        codes = font.decode(string)
        trm = _multiply(self.tm, self.state.ctm)
        if font.vertical:
            tx, ty = 0.0, self._show_vertical(codes, font, trm)
        elif trm[1] == 0.0 and trm[2] == 0.0:
            tx, ty = self._show_upright(codes, font, trm), 0.0
        else:
            tx, ty = self._show_turned(codes, font, trm), 0.0
        self._advance(tx, ty)

    def _show_upright(self, codes: list[GlyphCode], font: Font, trm: Matrix) -> float:
        """Horizontal text whose rendering matrix neither rotates nor skews (the common case, kept fast)."""
        text = self.state.text
        a, _, _, d, e, f = trm
        size, scale = text.size, text.scale
        spacing, word_spacing = text.char_spacing, text.word_spacing
        v0, v1 = d * (font.descent * size + text.rise) + f, d * (font.ascent * size + text.rise) + f
        if v0 > v1:
            v0, v1 = v1, v0
        width_factor = size * scale
        append = self.glyphs.append
        tx = 0.0
        for glyph_text, width, word_space, _, _, _ in codes:
            advance = width * width_factor
            u0, u1 = a * tx + e, a * (tx + advance) + e
            append(Glyph(glyph_text, (u0, v0, u1, v1) if u0 <= u1 else (u1, v0, u0, v1)))
            tx += advance + (spacing + word_spacing if word_space else spacing) * scale
        return tx

    def _show_turned(self, codes: list[GlyphCode], font: Font, trm: Matrix) -> float:
        """Horizontal text under rotation or skew: each glyph's box is the bounding box of its four corners."""
        text = self.state.text
        size, scale = text.size, text.scale
        bottom, top = font.descent * size + text.rise, font.ascent * size + text.rise
        tx = 0.0
        for code in codes:
            advance = code.width * size * scale
            self.glyphs.append(Glyph(code.text, _box(trm, tx, tx + advance, bottom, top)))
            tx += advance + (text.char_spacing + (text.word_spacing if code.word_space else 0.0)) * scale
        return tx

    def _show_vertical(self, codes: list[GlyphCode], font: Font, trm: Matrix) -> float:
        """Vertical writing: glyphs hang from their vertical origin (position vector v) and advance by w1y."""
        text = self.state.text
        size, scale = text.size, text.scale
        ty = 0.0
        for code in codes:
            x0 = -code.origin_x * size * scale
            x1 = x0 + code.width * size * scale
            y0 = ty + (font.descent - code.origin_y) * size + text.rise
            y1 = ty + (font.ascent - code.origin_y) * size + text.rise
            self.glyphs.append(Glyph(code.text, _box(trm, x0, x1, y0, y1)))
            ty += code.advance_y * size + text.char_spacing + (text.word_spacing if code.word_space else 0.0)
        return ty

    # external objects

    def _draw_xobject(self, operands: list[object]) -> None:
        if not operands or not isinstance(operands[-1], Name) or self.depth >= _MAX_FORM_DEPTH:
            return
        xobjects = self.resolve(self.resources.get("XObject"))
        if not isinstance(xobjects, dict):
            return
        reference = xobjects.get(operands[-1])
        form = self.resolve(reference)
        if not isinstance(form, Stream) or self.resolve(form.dictionary.get("Subtype")) != "Form":
            return  # images and missing objects have no text
        key = reference if isinstance(reference, Ref) else id(form)
        if key in self.active_forms or self.operations > _MAX_OPERATIONS:
            return  # a form that draws itself, or a page that has drawn forms far too often
        operations = self.form_operations.get(key)
        if operations is None:
            operations = self.form_operations[key] = _lex_leniently(form)
        self._run_form(form, operations, key)

    def _run_form(self, form: Stream, operations: list[tuple[str, list[object]]], key: object) -> None:
        matrix = _numbers([self.resolve(v) for v in _as_list(self.resolve(form.dictionary.get("Matrix")))], 6)
        own = self.resolve(form.dictionary.get("Resources"))
        resources = own if isinstance(own, dict) else self.resources
        saved_state, saved_stack, saved_tm, saved_tlm = self.state, self.stack, self.tm, self.tlm
        self.state = saved_state.copy()
        self.stack = []
        if matrix is not None:
            self.state.ctm = _multiply(tuple(matrix), self.state.ctm)  # type: ignore[arg-type]
        self.active_forms.add(key)
        self.depth += 1
        try:
            self.run(operations, resources)
        finally:
            self.depth -= 1
            self.active_forms.discard(key)
            self.state, self.stack, self.tm, self.tlm = saved_state, saved_stack, saved_tm, saved_tlm


def _lex_leniently(form: Stream) -> list[tuple[str, list[object]]]:
    """A form's operations up to the first unreadable part: garbage ends the form, what it showed before stays."""
    operations: list[tuple[str, list[object]]] = []
    try:
        operations.extend(iter_operations(form.decoded()))
    except ValidationError:
        pass
    return operations


def _box(m: Matrix, x0: float, x1: float, y0: float, y1: float) -> tuple[float, float, float, float]:
    """Bounding box of the text-space rectangle [x0, x1] × [y0, y1] mapped by m."""
    a, b, c, d, e, f = m
    xs = (a * x0 + c * y0, a * x1 + c * y0, a * x0 + c * y1, a * x1 + c * y1)
    ys = (b * x0 + d * y0, b * x1 + d * y0, b * x0 + d * y1, b * x1 + d * y1)
    return (min(xs) + e, min(ys) + f, max(xs) + e, max(ys) + f)


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


# --- public API ---------------------------------------------------------------------------------------------------

_FONT_CACHES: weakref.WeakKeyDictionary[PdfDocument, FontCache] = weakref.WeakKeyDictionary()


def _font_cache(doc: PdfDocument) -> FontCache:
    cache = _FONT_CACHES.get(doc)
    if cache is None:
        cache = _FONT_CACHES[doc] = FontCache()
    return cache


def page_glyphs(doc: PdfDocument, page: Page) -> list[Glyph]:
    """The glyphs shown on `page`, in content order, Form XObjects followed; boxes in default user space."""
    interpreter = _Interpreter(doc.resolve, _font_cache(doc))
    interpreter.run(iter_operations(page.contents()), page.resources())
    return interpreter.glyphs


@dataclass(frozen=True, slots=True)
class KeywordHit:
    """One occurrence of a keyword: 0-based page index, union of its glyph boxes, and that box's centre."""

    page: int
    bbox: tuple[float, float, float, float]
    centre: tuple[float, float]


@lru_cache(maxsize=8192)
def _normalise(text: str) -> str:
    """NFKC without whitespace: how glyph text and keywords are compared."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if not ch.isspace())


def _searchable(glyphs: list[Glyph]) -> tuple[str, list[int]]:
    """The page's normalised text and, for each of its characters, the index of the glyph it came from."""
    texts = [_normalise(glyph.text) for glyph in glyphs]
    owners: list[int] = []
    for index, text in enumerate(texts):
        if len(text) == 1:
            owners.append(index)
        elif text:
            owners.extend([index] * len(text))
    return "".join(texts), owners


def _union(boxes: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    return (
        min(box[0] for box in boxes),
        min(box[1] for box in boxes),
        max(box[2] for box in boxes),
        max(box[3] for box in boxes),
    )


def _page_indices(count: int, pages: Sequence[int] | None) -> list[int]:
    if pages is None:
        return list(range(count))
    for index in pages:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
            raise ValidationError("pages", f"page index {index!r} is not between 0 and {count - 1}")
    return sorted(set(pages))


def find_keyword(doc: PdfDocument, keyword: str, pages: Sequence[int] | None = None) -> list[KeywordHit]:
    """Every occurrence of `keyword` on every page (or on `pages`, 0-based indices), in page and content order.

    Text is compared after NFKC with whitespace removed, so a keyword split across strings, text objects or lines
    is found; occurrences do not overlap.
    """
    needle = _normalise(keyword)
    if not needle:
        raise ValidationError("keyword", "must contain at least one character that is not whitespace")
    all_pages = doc.pages()
    hits: list[KeywordHit] = []
    for index in _page_indices(len(all_pages), pages):
        glyphs = page_glyphs(doc, all_pages[index])
        text, owners = _searchable(glyphs)
        start = text.find(needle)
        while start >= 0:
            stop = start + len(needle)
            box = _union([glyphs[i].bbox for i in sorted(set(owners[start:stop]))])
            hits.append(KeywordHit(index, box, ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)))
            start = text.find(needle, stop)
    return hits
