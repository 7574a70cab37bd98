"""A lean, lazy PDF reader (ISO 32000-1 §7): xref tables and streams, /Prev chains, hybrid files, object streams.

Only the cross-reference data is parsed up front; objects are parsed when first asked for and cached. Every defect
of the input surfaces as ValidationError("pdf", …). Where an xref entry's offset does not point at its object (the
one defect readers commonly forgive), the file is scanned once for `N G obj` headers and the object taken from there.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from certseal.errors import ValidationError
from certseal.signing.pdf.objects import Name, Ref, Stream

__all__ = ["Page", "PdfDocument", "malformed_pdf_guard", "parse_object"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

_WHITESPACE = b"\x00\t\n\x0c\r "
_DELIMITERS = b"()<>[]{}/%"
_SKIP = re.compile(rb"(?:[\x00\t\n\x0c\r ]+|%[^\r\n]*)*")
_TOKEN = re.compile(
    rb"(?:[\x00\t\n\x0c\r ]+|%[^\r\n]*)*"
    rb"(?:/(?P<name>[^\x00\t\n\x0c\r ()<>\[\]{}/%]*)"
    rb"|(?P<ref>(?P<num>\d+)[\x00\t\n\x0c\r ]+(?P<gen>\d+)[\x00\t\n\x0c\r ]+R(?=[\x00\t\n\x0c\r ()<>\[\]{}/%]|\Z))"
    rb"|(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))"
    rb"|(?P<open><<|\[)"
    rb"|(?P<close>>>|\])"
    rb"|(?P<other>))"
)
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_KEYWORD = re.compile(rb"[A-Za-z]+")
_HEX_JUNK = re.compile(rb"[^0-9A-Fa-f]")
_OBJ_HEADER = re.compile(rb"[\x00\t\n\x0c\r ]*(\d+)[\x00\t\n\x0c\r ]+(\d+)[\x00\t\n\x0c\r ]+obj")
_OBJ_SCAN = re.compile(rb"(?<![0-9])(\d+)[\x00\t\n\x0c\r ]+(\d+)[\x00\t\n\x0c\r ]+obj(?![A-Za-z])")
_XREF_SUBSECTION = re.compile(rb"(\d+)[ \t]+(\d+)[ \t]*(?:\r\n|\r|\n)?")
_XREF_ENTRY = re.compile(rb"[ ]*(\d{1,10})[ ]+(\d{1,5})[ ]+([nf])[\x00\t\n\x0c\r ]*")
_STARTXREF = re.compile(rb"startxref[\x00\t\n\x0c\r ]+(\d+)")
_EOF_MARK = re.compile(rb"%%EOF[ \t]*(?:\r\n|\r|\n)?")
_ESCAPES = {
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("("): b"(",
    ord(")"): b")",
    ord("\\"): b"\\",
}
_MAX_DEPTH = 200
_TAIL_WINDOW = 2048


def _fail(rule: str) -> ValidationError:
    return ValidationError("pdf", rule)


def malformed_pdf_guard(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """Turn any low-level slip on malformed input (index, value, zlib, recursion) into ValidationError."""

    @wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return method(*args, **kwargs)
        except ValidationError:
            raise
        except (IndexError, ValueError, KeyError, TypeError, AttributeError, zlib.error, RecursionError) as exc:
            raise _fail(f"malformed PDF ({type(exc).__name__}: {exc})") from exc

    return wrapper


def _dictionary(items: list[object]) -> dict[str, object]:
    if len(items) % 2:
        raise _fail("dictionary has a key without a value")
    keys = items[0::2]
    if not all(isinstance(key, Name) for key in keys):
        raise _fail("dictionary key is not a name")
    return dict(zip(keys, items[1::2], strict=True))  # type: ignore[arg-type]


class _Parser:
    """Recursive-descent parser for PDF objects over a byte buffer; `resolve_length` resolves /Length refs."""

    __slots__ = ("data", "pos", "resolve_length")

    def __init__(self, data: bytes, pos: int, resolve_length: Callable[[object], object] | None = None) -> None:
        self.data = data
        self.pos = pos
        self.resolve_length = resolve_length

    def skip(self) -> None:
        match = _SKIP.match(self.data, self.pos)
        if match is not None:
            self.pos = match.end()

    def value(self) -> object:
        """The next object; arrays and dictionaries are built iteratively from one token regex (the hot path)."""
        data = self.data
        pos = self.pos
        stack: list[tuple[bool, list[object]]] = []  # (is dictionary, items so far)
        while True:
            token = _TOKEN.match(data, pos)
            if token is None:
                raise _fail("unexpected end of file inside an object")
            kind = token.lastgroup
            pos = token.end()
            value: object
            if kind == "name":
                raw = token.group("name")
                if b"#" in raw:
                    raw = _NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
                value = Name(raw.decode("latin-1"))
            elif kind == "ref":
                value = Ref(int(token.group("num")), int(token.group("gen")))
            elif kind == "number":
                text = token.group("number")
                value = float(text) if b"." in text else int(text)
            elif kind == "open":
                if len(stack) >= _MAX_DEPTH:
                    raise _fail("objects nested too deeply")
                stack.append((token.group("open") == b"<<", []))
                continue
            elif kind == "close":
                if not stack:
                    raise _fail(f"unexpected {token.group('close')!r} at offset {token.start('close')}")
                is_dictionary, items = stack.pop()
                if is_dictionary != (token.group("close") == b">>"):
                    raise _fail(f"mismatched {token.group('close')!r} at offset {token.start('close')}")
                value = _dictionary(items) if is_dictionary else items
            else:
                self.pos = token.start("other")
                value = self._scalar()
                pos = self.pos
            if not stack:
                self.pos = pos
                return value
            stack[-1][1].append(value)

    def _scalar(self) -> object:
        """Strings and keywords: the tokens the token regex leaves to hand-written code."""
        data = self.data
        if self.pos >= len(data):
            raise _fail("unexpected end of file inside an object")
        c = data[self.pos]
        if c == 0x28:  # (
            return self.literal_string()
        if c == 0x3C:  # <
            return self.hex_string()
        keyword = _KEYWORD.match(data, self.pos)
        if keyword is not None:
            word = keyword.group()
            self.pos = keyword.end()
            if word == b"true":
                return True
            if word == b"false":
                return False
            if word == b"null":
                return None
            raise _fail(f"unexpected keyword {word[:20]!r} at offset {keyword.start()}")
        raise _fail(f"unexpected byte {bytes([c])!r} at offset {self.pos}")

    def hex_string(self) -> bytes:
        end = self.data.find(b">", self.pos)
        if end < 0:
            raise _fail("unterminated hex string")
        digits = _HEX_JUNK.sub(b"", self.data[self.pos + 1 : end])
        self.pos = end + 1
        if len(digits) % 2:
            digits += b"0"
        return bytes.fromhex(digits.decode("ascii"))

    def literal_string(self) -> bytes:
        data = self.data
        pos = self.pos + 1
        out = bytearray()
        nesting = 1
        length = len(data)
        while True:
            if pos >= length:
                raise _fail("unterminated literal string")
            c = data[pos]
            if c == 0x5C:  # backslash
                pos += 1
                if pos >= length:
                    raise _fail("unterminated literal string")
                e = data[pos]
                if e in _ESCAPES:
                    out += _ESCAPES[e]
                    pos += 1
                elif 0x30 <= e <= 0x37:
                    end = pos
                    while end < pos + 3 and end < length and 0x30 <= data[end] <= 0x37:
                        end += 1
                    out.append(int(data[pos:end], 8) & 0xFF)
                    pos = end
                elif e == 0x0D:  # line continuation
                    pos += 2 if data.startswith(b"\r\n", pos) else 1
                elif e == 0x0A:
                    pos += 1
                else:
                    out.append(e)
                    pos += 1
                continue
            if c == 0x28:
                nesting += 1
            elif c == 0x29:
                nesting -= 1
                if nesting == 0:
                    self.pos = pos + 1
                    return bytes(out)
            out.append(c)
            pos += 1

    def stream_after(self, dictionary: dict[str, object]) -> Stream | None:
        """If the keyword `stream` follows, read the stream data that belongs to `dictionary`."""
        self.skip()
        data = self.data
        if not data.startswith(b"stream", self.pos):
            return None
        start = self.pos + 6
        if data.startswith(b"\r\n", start):
            start += 2
        elif start < len(data) and data[start] in b"\r\n":
            start += 1
        length = dictionary.get("Length")
        if isinstance(length, Ref) and self.resolve_length is not None:
            length = self.resolve_length(length)
        end = -1
        if isinstance(length, int) and 0 <= length <= len(data) - start:
            after = _SKIP.match(data, start + length)
            if after is not None and data.startswith(b"endstream", after.end()):
                end = start + length
        if end < 0:  # /Length missing or wrong: take the data up to `endstream`, without the EOL before it
            found = data.find(b"endstream", start)
            if found < 0:
                raise _fail("stream without endstream")
            end = found
            if data[end - 1 : end] == b"\n":
                end -= 1
            if data[end - 1 : end] == b"\r":
                end -= 1
            end = max(end, start)
        self.pos = data.find(b"endstream", end) + 9
        return Stream(dictionary, data[start:end])


def parse_object(data: bytes, pos: int = 0) -> object:
    """Parse one direct object at `pos` (references stay Ref; streams are not read)."""
    return _Parser(data, pos).value()


class Page:
    """One page of the page tree, with attributes inherited from its ancestors already merged."""

    __slots__ = ("_document", "_inherited", "dictionary", "index", "ref")

    def __init__(
        self, document: PdfDocument, ref: Ref, dictionary: dict[str, object], index: int, inherited: dict[str, object]
    ) -> None:
        self._document = document
        self.ref = ref
        self.dictionary = dictionary
        self.index = index
        self._inherited = inherited

    def _attribute(self, key: str) -> object:
        value = self.dictionary.get(key, self._inherited.get(key))
        return self._document.resolve(value)

    def _box(self, key: str) -> tuple[float, float, float, float] | None:
        value = self._attribute(key)
        if not isinstance(value, list) or len(value) != 4:
            return None
        numbers = [self._document.resolve(v) for v in value]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
            raise _fail(f"page {self.index + 1} /{key} is not four numbers")
        x0, y0, x1, y1 = (float(v) for v in numbers)  # type: ignore[arg-type]
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    @malformed_pdf_guard
    def media_box(self) -> tuple[float, float, float, float]:
        """The (inherited) MediaBox, normalised to (x0, y0, x1, y1) with x0 < x1, y0 < y1; US Letter if absent."""
        return self._box("MediaBox") or (0.0, 0.0, 612.0, 792.0)

    @malformed_pdf_guard
    def crop_box(self) -> tuple[float, float, float, float]:
        """The (inherited) CropBox, defaulting to the MediaBox."""
        return self._box("CropBox") or self.media_box()

    @malformed_pdf_guard
    def rotation(self) -> int:
        """The (inherited) /Rotate in degrees clockwise: 0, 90, 180 or 270 (anything else counts as 0)."""
        value = self._attribute("Rotate")
        if isinstance(value, int) and not isinstance(value, bool) and value % 90 == 0:
            return value % 360
        return 0

    @malformed_pdf_guard
    def resources(self) -> dict[str, object]:
        value = self._attribute("Resources")
        return value if isinstance(value, dict) else {}

    @malformed_pdf_guard
    def contents(self) -> bytes:
        """The page's content streams, decoded and joined with a newline between them."""
        value = self._document.resolve(self.dictionary.get("Contents"))
        items = value if isinstance(value, list) else [value]
        parts: list[bytes] = []
        for item in items:
            stream = self._document.resolve(item)
            if isinstance(stream, Stream):
                parts.append(stream.decoded())
        return b"\n".join(parts)


_INHERITABLE = ("Resources", "MediaBox", "CropBox", "Rotate")


class PdfDocument:
    """A parsed PDF: cross-reference data up front, objects on demand.

    data: the file. trailer: the newest trailer (the xref stream's dictionary when the newest section is a stream).
    startxref: offset of the newest xref section; xref_is_stream: whether that section is an xref stream.
    revisions: offsets just past each %%EOF that closes a trailer (and the end-of-line after it), oldest first; the
    last one is len(data) for a file that ends there.
    """

    @malformed_pdf_guard
    def __init__(self, data: bytes) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise _fail("document is not bytes")
        self.data = bytes(data)
        header = self.data.find(b"%PDF-", 0, 1024)
        if header < 0:
            raise _fail("no %PDF- header in the first 1024 bytes")
        self._header_offset = header  # some files carry junk before the header; offsets may be relative to it
        self._entries: dict[int, tuple[int, int, int]] = {}  # num -> (kind, offset | stream num, gen | index)
        self._cache: dict[int, object] = {}
        self._object_streams: dict[int, tuple[bytes, list[int], int]] = {}
        self._scanned: dict[int, int] | None = None
        self._pages: list[Page] | None = None
        self._resolving: set[int] = set()
        self.startxref = self._find_startxref()
        self.xref_is_stream = False
        self.trailer: dict[str, object] = {}
        self._read_xref_chain()
        self.revisions = self._find_revisions()

    # --- cross-reference data -------------------------------------------------------------------------------------

    def _find_startxref(self) -> int:
        tail_start = max(0, len(self.data) - _TAIL_WINDOW)
        matches = list(_STARTXREF.finditer(self.data, tail_start))
        if not matches:
            raise _fail("no startxref near the end of the file (truncated?)")
        offset = int(matches[-1].group(1))
        if offset >= len(self.data):
            raise _fail(f"startxref offset {offset} is beyond the end of the file")
        return offset

    def _read_xref_chain(self) -> None:
        seen: set[int] = set()
        offset: int | None = self.startxref
        newest = True
        while offset is not None:
            if offset in seen:
                raise _fail(f"cycle in the /Prev chain of xref sections at offset {offset}")
            seen.add(offset)
            trailer, is_stream = self._read_xref_section(offset)
            if newest:
                self.trailer = trailer
                self.xref_is_stream = is_stream
                newest = False
            hybrid = trailer.get("XRefStm")
            if not is_stream and isinstance(hybrid, int) and hybrid not in seen:
                seen.add(hybrid)
                self._read_xref_section(hybrid)
            previous = trailer.get("Prev")
            offset = previous if isinstance(previous, int) and not isinstance(previous, bool) else None
        if not isinstance(self.trailer.get("Root"), Ref):
            raise _fail("trailer has no /Root reference")

    def _read_xref_section(self, offset: int) -> tuple[dict[str, object], bool]:
        """The section at `offset` (or at `offset` past junk before %PDF-, where some writers count from)."""
        data = self.data
        for candidate in dict.fromkeys((offset, offset + self._header_offset)):
            position = _SKIP.match(data, candidate)
            start = position.end() if position is not None else candidate
            if data.startswith(b"xref", start):
                return self._read_xref_table(start + 4), False
            header = _OBJ_HEADER.match(data, candidate)
            if header is not None:
                return self._read_xref_stream_object(header.end(), candidate), True
        raise _fail(f"no xref table or xref stream at offset {offset}")

    def _read_xref_stream_object(self, body: int, offset: int) -> dict[str, object]:
        parser = _Parser(self.data, body, self._resolve_length)
        dictionary = parser.value()
        if not isinstance(dictionary, dict) or dictionary.get("Type") != "XRef":
            raise _fail(f"object at offset {offset} is not an xref stream")
        stream = parser.stream_after(dictionary)
        if stream is None:
            raise _fail(f"xref stream at offset {offset} has no stream data")
        self._read_xref_stream(stream)
        return dictionary

    def _read_xref_table(self, pos: int) -> dict[str, object]:
        data = self.data
        entries = self._entries
        while True:
            skip = _SKIP.match(data, pos)
            pos = skip.end() if skip is not None else pos
            if data.startswith(b"trailer", pos):
                break
            subsection = _XREF_SUBSECTION.match(data, pos)
            if subsection is None:
                raise _fail(f"broken xref table at offset {pos}")
            first, count = int(subsection.group(1)), int(subsection.group(2))
            pos = subsection.end()
            for number in range(first, first + count):
                entry = _XREF_ENTRY.match(data, pos)
                if entry is None:
                    raise _fail(f"broken xref entry at offset {pos}")
                pos = entry.end()
                if number not in entries:
                    kind = 1 if entry.group(3) == b"n" else 0
                    entries[number] = (kind, int(entry.group(1)), int(entry.group(2)))
        parser = _Parser(data, pos + 7)
        trailer = parser.value()
        if not isinstance(trailer, dict):
            raise _fail("trailer is not a dictionary")
        return trailer

    def _read_xref_stream(self, stream: Stream) -> None:
        widths = stream.dictionary.get("W")
        size = stream.dictionary.get("Size")
        if not isinstance(widths, list) or len(widths) != 3 or not all(isinstance(w, int) for w in widths):
            raise _fail("xref stream /W is not three integers")
        if not isinstance(size, int):
            raise _fail("xref stream has no /Size")
        w0, w1, w2 = (int(w) for w in widths)
        if min(w0, w1, w2) < 0 or w0 + w1 + w2 == 0:
            raise _fail("xref stream /W widths are invalid")
        index = stream.dictionary.get("Index", [0, size])
        if not isinstance(index, list) or len(index) % 2 or not all(isinstance(i, int) for i in index):
            raise _fail("xref stream /Index is not pairs of integers")
        rows = stream.decoded()
        row_length = w0 + w1 + w2
        entries = self._entries
        pos = 0
        for pair in range(0, len(index), 2):
            first, count = int(index[pair]), int(index[pair + 1])
            for number in range(first, first + count):
                if pos + row_length > len(rows):
                    raise _fail("xref stream is shorter than its /Index says")
                kind = int.from_bytes(rows[pos : pos + w0], "big") if w0 else 1
                field2 = int.from_bytes(rows[pos + w0 : pos + w0 + w1], "big")
                field3 = int.from_bytes(rows[pos + w0 + w1 : pos + row_length], "big")
                pos += row_length
                if number not in entries and kind in (0, 1, 2):
                    entries[number] = (kind, field2, field3)

    def _find_revisions(self) -> list[int]:
        ends: list[int] = []
        for match in _EOF_MARK.finditer(self.data):
            # only a %%EOF that closes a trailer section (startxref shortly before it), not one inside stream data
            if self.data.rfind(b"startxref", max(0, match.start() - 64), match.start()) >= 0:
                ends.append(match.end())
        if not ends:
            ends.append(len(self.data))
        return ends

    # --- objects --------------------------------------------------------------------------------------------------

    def _resolve_length(self, value: object) -> object:
        return self.resolve(value)

    @malformed_pdf_guard
    def get(self, ref: Ref) -> object:
        """The object `ref` points to (None for a free or missing object, as ISO 32000 says)."""
        number = ref.num
        if number in self._cache:
            return self._cache[number]
        if number in self._resolving:
            raise _fail(f"object {number} refers to itself while being parsed")
        self._resolving.add(number)
        try:
            value = self._load(number)
        finally:
            self._resolving.discard(number)
        self._cache[number] = value
        return value

    def _load(self, number: int) -> object:
        entry = self._entries.get(number)
        if entry is None or entry[0] == 0:
            return None
        kind, first, second = entry
        if kind == 2:
            return self._load_compressed(number, first, second)
        return self._load_at(number, first)

    def _load_at(self, number: int, offset: int) -> object:
        data = self.data
        header = _OBJ_HEADER.match(data, offset) if 0 <= offset < len(data) else None
        if header is None or int(header.group(1)) != number:
            located = self._scan_for(number)
            if located is None:
                raise _fail(f"object {number} is not at its xref offset {offset} nor anywhere in the file")
            header = _OBJ_HEADER.match(data, located)
            assert header is not None
        parser = _Parser(data, header.end(), self._resolve_length)
        value = parser.value()
        if isinstance(value, dict):
            stream = parser.stream_after(value)
            if stream is not None:
                return stream
        return value

    def _scan_for(self, number: int) -> int | None:
        """Offset of the last `number G obj` header in the file (fallback for wrong xref offsets)."""
        if self._scanned is None:
            self._scanned = {int(m.group(1)): m.start() for m in _OBJ_SCAN.finditer(self.data)}
        return self._scanned.get(number)

    def _load_compressed(self, number: int, stream_number: int, index: int) -> object:
        if stream_number == number:
            raise _fail(f"object stream {number} contains itself")
        cached = self._object_streams.get(stream_number)
        if cached is None:
            cached = self._parse_object_stream(stream_number)
            self._object_streams[stream_number] = cached
        body, offsets, first = cached
        if not 0 <= index < len(offsets):
            raise _fail(f"object {number} index {index} is outside object stream {stream_number}")
        return _Parser(body, first + offsets[index], self._resolve_length).value()

    def _parse_object_stream(self, stream_number: int) -> tuple[bytes, list[int], int]:
        stream = self.get(Ref(stream_number))
        if not isinstance(stream, Stream) or stream.dictionary.get("Type") != "ObjStm":
            raise _fail(f"object {stream_number} is not an object stream")
        count, first = stream.dictionary.get("N"), stream.dictionary.get("First")
        if not isinstance(count, int) or not isinstance(first, int) or count < 0 or first < 0:
            raise _fail(f"object stream {stream_number} has a bad /N or /First")
        body = stream.decoded()
        parser = _Parser(body, 0)
        offsets: list[int] = []
        for _ in range(count):
            parser.value()  # object number; the index in the xref entry already identifies the object
            offset = parser.value()
            if not isinstance(offset, int):
                raise _fail(f"object stream {stream_number} has a bad offset table")
            offsets.append(offset)
        return body, offsets, first

    @malformed_pdf_guard
    def resolve(self, obj: object) -> object:
        """Follow Ref chains to a direct object (None for a missing object)."""
        seen: set[int] = set()
        while isinstance(obj, Ref):
            if obj.num in seen:
                raise _fail(f"reference cycle through object {obj.num}")
            seen.add(obj.num)
            obj = self.get(obj)
        return obj

    @malformed_pdf_guard
    def catalog(self) -> dict[str, object]:
        root = self.resolve(self.trailer.get("Root"))
        if not isinstance(root, dict):
            raise _fail("/Root is not a dictionary")
        return root

    def next_object_number(self) -> int:
        """The trailer's /Size (one more than the highest object number in use)."""
        size = self.trailer.get("Size")
        highest = max(self._entries, default=0) + 1
        return max(size if isinstance(size, int) else 0, highest)

    def object_numbers(self) -> list[int]:
        """Numbers of the objects in use (not free) in the newest cross-reference data."""
        return sorted(n for n, entry in self._entries.items() if entry[0] != 0)

    # --- page tree ------------------------------------------------------------------------------------------------

    @malformed_pdf_guard
    def pages(self) -> list[Page]:
        """The pages in document order; a cyclic or malformed page tree raises ValidationError."""
        if self._pages is None:
            root = self.catalog().get("Pages")
            if not isinstance(root, Ref):
                raise _fail("catalog /Pages is not an indirect reference")
            pages: list[Page] = []
            self._walk(root, {}, pages, set(), 0)
            self._pages = pages
        return list(self._pages)

    @malformed_pdf_guard
    def page_count(self) -> int:
        """The number of pages (the root /Count when plausible, else by walking the tree)."""
        if self._pages is None:
            root = self.resolve(self.catalog().get("Pages"))
            count = root.get("Count") if isinstance(root, dict) else None
            if isinstance(count, int) and not isinstance(count, bool) and 0 < count <= len(self.data):
                return count
        return len(self.pages())

    @malformed_pdf_guard
    def page(self, index: int) -> Page:
        """Page `index` (0-based), found by descending with /Count without parsing the other pages' subtrees."""
        if self._pages is None:
            found = self._descend(index)
            if found is not None:
                return found
        pages = self.pages()
        if not 0 <= index < len(pages):
            raise _fail(f"page index {index} is outside 0..{len(pages) - 1}")
        return pages[index]

    def _descend(self, index: int) -> Page | None:
        """Page `index` by /Count descent; None if the tree's counts do not lead to it (then walk the tree)."""
        node_ref = self.catalog().get("Pages")
        inherited: dict[str, object] = {}
        seen: set[int] = set()
        before = 0  # pages in the subtrees skipped so far
        while isinstance(node_ref, Ref) and node_ref.num not in seen and len(seen) <= _MAX_DEPTH:
            seen.add(node_ref.num)
            node = self.get(node_ref)
            if not isinstance(node, dict) or node.get("Type") != "Pages":
                return None
            inherited = {**inherited, **{k: node[k] for k in _INHERITABLE if k in node}}
            kids = self.resolve(node.get("Kids"))
            if not isinstance(kids, list):
                return None
            node_ref = None
            for kid in kids:
                kid_node = self.get(kid) if isinstance(kid, Ref) else None
                if not isinstance(kid, Ref) or not isinstance(kid_node, dict):
                    return None
                count = kid_node.get("Count") if kid_node.get("Type") == "Pages" else 1
                if not isinstance(count, int) or count < 0:
                    return None
                if index < before + count:
                    if kid_node.get("Type") != "Pages":
                        return Page(self, kid, kid_node, index, inherited)
                    node_ref = kid
                    break
                before += count
        return None

    def _walk(self, ref: Ref, inherited: dict[str, object], out: list[Page], seen: set[int], depth: int) -> None:
        if ref.num in seen or depth > _MAX_DEPTH:
            raise _fail(f"cycle in the page tree at object {ref.num}")
        seen.add(ref.num)
        node = self.get(ref)
        if not isinstance(node, dict):
            raise _fail(f"page tree node {ref.num} is not a dictionary")
        kids = self.resolve(node.get("Kids"))
        if node.get("Type") == "Page" or (node.get("Type") != "Pages" and not isinstance(kids, list)):
            out.append(Page(self, ref, node, len(out), inherited))
            return
        if not isinstance(kids, list):
            raise _fail(f"page tree node {ref.num} has no /Kids array")
        passed = dict(inherited)
        for key in _INHERITABLE:
            if key in node:
                passed[key] = node[key]
        for kid in kids:
            if not isinstance(kid, Ref):
                raise _fail(f"page tree node {ref.num} has a kid that is not a reference")
            self._walk(kid, passed, out, seen, depth + 1)
