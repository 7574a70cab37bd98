"""The page layout of a license face (正本 / 副本), shared by the PDF and OFD renderers.

`layout_license` turns a license type, its data and the issuance facts into `LicenseLayout`: pages of drawing items
(text lines, frames, rules, a QR code, pictures) in millimetres from the page's top-left corner, plus where the seal
goes and the GB/T 36901 core metadata. The backends (pdf.py, ofd.py) only paint the items, so both formats show the
same face. Text is measured with the CJK TrueType font both backends embed (`license_font`), wrapped to its column.

Faces follow the type's layout hints (`Face.items` of the type JSON): a landscape face is a certificate (title, QR
code top right, fields in two columns, 发证机关 and date bottom right under the seal; too long values are cut and
point to the 副本); a portrait face flows (title, a label/value grid, one table per list field, nested lists as
their own tables, the change history) over as many pages as needed, tables repeating their header row. Which
fields go to which column of a certificate face is not in the hints: `CERTIFICATE_COLUMNS` keeps that per type code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from certseal.errors import ConfigError, ValidationError
from certseal.licenses.identifiers import ELicenseIdentifier, parse_identifier
from certseal.licenses.schema import FieldKind, FieldSpec, LayoutItem, LicenseType
from certseal.ofd.fonts import CJK_FONT_CANDIDATES, TrueTypeFont

Copy = Literal["original", "duplicate"]
Colour = tuple[int, int, int]
Align = Literal["left", "center", "right"]

BLACK: Colour = (0, 0, 0)
GREY: Colour = (110, 110, 110)
FRAME: Colour = (150, 30, 30)
WATERMARK: Colour = (245, 200, 200)
SEAL_SIZE_MM = 42.0  # diameter of a state organ's round seal
EMPTY = "—"
PAGE_SIZES: dict[str, tuple[float, float]] = {
    "A4-portrait": (210.0, 297.0),
    "A4-landscape": (297.0, 210.0),
    "A3-landscape": (420.0, 297.0),
    "A5-landscape": (210.0, 148.0),
}
# Fields of a certificate face shown in its right column (the rest go left), per type code; not in the type hints.
CERTIFICATE_COLUMNS: dict[str, frozenset[str]] = {
    "drug-production": frozenset(
        {
            "license_number",
            "classification_code",
            "supervising_authority",
            "supervisors",
            "report_phone",
            "issuer",
            "valid_until",
        }
    ),
}
# Face fields of reference/domain.md §1 the type's layout hints leave out, added to the end of the scalar fields.
EXTRA_FACE_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("drug-production", "duplicate"): (
        "province",
        "supervising_authority",
        "supervisors",
        "report_phone",
        "issuer",
    ),
}
_TOKEN = re.compile(r"[A-Za-z0-9@._\-/:]+|\s+|.", re.DOTALL)
_NO_LINE_START = set("，。、；：？！）》」』】,.;:?!)")


# --- drawing items ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """One line of text; y is the baseline, x its start (or centre / end with align)."""

    x: float
    y: float
    text: str
    size: float
    align: Align = "left"
    colour: Colour = BLACK
    bold: bool = False


@dataclass(frozen=True, slots=True)
class Frame:
    x: float
    y: float
    width: float
    height: float
    line_width: float = 0.25
    colour: Colour = BLACK
    fill: Colour | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    x1: float
    y1: float
    x2: float
    y2: float
    line_width: float = 0.25
    colour: Colour = BLACK


@dataclass(frozen=True, slots=True)
class QrCode:
    """A QR code in the square (x, y, size), quiet zone included."""

    x: float
    y: float
    size: float
    payload: str


@dataclass(frozen=True, slots=True)
class Picture:
    """A PNG or JPEG image stretched over the box."""

    x: float
    y: float
    width: float
    height: float
    data: bytes


Item = Text | Frame | Rule | QrCode | Picture
_Page = tuple[float, float, list[Item]]  # width, height, items


@dataclass(frozen=True)
class PageLayout:
    width: float
    height: float
    items: tuple[Item, ...]


@dataclass(frozen=True)
class SealSpot:
    """Centre of the seal: page 1-based, x/y in mm from the page's top-left corner."""

    page: int
    x: float
    y: float
    size: float = SEAL_SIZE_MM


@dataclass(frozen=True)
class LicenseLayout:
    title: str
    pages: tuple[PageLayout, ...]
    seal: SealSpot
    metadata: tuple[tuple[str, str], ...]  # GB/T 36901 core metadata, in the standard's order


@dataclass(frozen=True)
class IssueFacts:
    """What the registry fixes at issuance, printed on every face."""

    identifier: ELicenseIdentifier
    number: str
    version: int
    qr_text: str
    issuer: str
    issue_date: date
    status_watermark: str | None = None
    change_history: tuple[Mapping[str, Any], ...] = ()
    photo: bytes | None = None
    emblem: bytes | None = None


# --- the font ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LicenseFont:
    """The embedded CJK font: file, subfont index and metrics."""

    path: str
    index: int
    metrics: TrueTypeFont

    def width(self, text: str, size: float) -> float:
        advance = self.metrics.advance_em
        return sum(advance(c) for c in text) * size


@cache
def license_font() -> LicenseFont:
    """The first TrueType CJK font of the usual locations (reportlab and the OFD subsetter need glyf outlines)."""
    for candidate in CJK_FONT_CANDIDATES:
        if Path(candidate).is_file():
            try:
                metrics = TrueTypeFont.from_file(candidate, 0)
            except ValidationError:
                continue
            if not metrics.missing("药品生产许可证"):
                return LicenseFont(candidate, 0, metrics)
    raise ConfigError("no TrueType CJK font for licenses: install fonts-wqy-zenhei (looked in the usual places)")


def wrap(font: LicenseFont, text: str, size: float, width: float) -> list[str]:
    """Lines of `text` no wider than `width` (CJK breaks anywhere, Latin words and numbers stay whole unless longer
    than a line; closing punctuation never starts a line)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, used = "", 0.0
        for token in _TOKEN.findall(paragraph):
            token_width = font.width(token, size)
            if used + token_width <= width or not line or (token in _NO_LINE_START):
                if token_width > width and not line:
                    lines.extend(_hard_break(font, token, size, width)[:-1])
                    line = _hard_break(font, token, size, width)[-1]
                    used = font.width(line, size)
                    continue
                line, used = line + token, used + token_width
                continue
            lines.append(line.rstrip())
            token = token.lstrip()
            if font.width(token, size) > width:
                parts = _hard_break(font, token, size, width)
                lines.extend(parts[:-1])
                token = parts[-1]
            line, used = token, font.width(token, size)
        lines.append(line.rstrip())
    return [line for line in lines if line] or [""]


def _hard_break(font: LicenseFont, text: str, size: float, width: float) -> list[str]:
    parts, line = [], ""
    for char in text:
        if line and font.width(line + char, size) > width:
            parts.append(line)
            line = ""
        line += char
    parts.append(line)
    return parts


# --- values -----------------------------------------------------------------------------------------------------


def format_date(value: date) -> str:
    return f"{value.year}年{value.month:02d}月{value.day:02d}日"


def format_value(value: Any, spec: FieldSpec | None = None) -> str:
    """A value as printed: dates in Chinese form, lists joined, nothing as a dash."""
    if value is None or value == "" or value == []:
        return EMPTY
    if isinstance(value, datetime):
        return format_date(value.date())
    if isinstance(value, date):
        return format_date(value)
    if isinstance(value, str) and spec is not None and spec.kind is FieldKind.DATE:
        try:
            return format_date(date.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, Mapping):
        return "；".join(format_value(v) for v in value.values())
    if isinstance(value, list | tuple):
        return "\n".join(
            f"{i}. {_inline(v, spec)}" if len(value) > 1 else _inline(v, spec) for i, v in enumerate(value, 1)
        )
    return str(value)


def _inline(value: Any, spec: FieldSpec | None) -> str:
    if isinstance(value, Mapping):
        items = {s.key: s for s in (spec.items or [])} if spec is not None else {}
        shown = [format_value(v, items.get(k)) for k, v in value.items() if not isinstance(v, list | tuple)]
        return "：".join(s for s in shown if s != EMPTY)
    return format_value(value)


# --- the layout -------------------------------------------------------------------------------------------------


@dataclass
class _Face:
    """The resolved face: title, label, items with their field specs, and the printed values."""

    license_type: LicenseType
    copy: Copy
    title: str
    label: str
    page: tuple[float, float]
    items: list[tuple[LayoutItem, FieldSpec | None]]
    data: Mapping[str, Any]
    facts: IssueFacts
    font: LicenseFont = field(default_factory=license_font)

    def label_of(self, item: LayoutItem, spec: FieldSpec | None) -> str:
        return item.label or (spec.label if spec is not None else item.field or "")

    def value_of(self, key: str) -> Any:
        document = self.license_type.document
        if key == document.number.field:
            return self.facts.number
        if key == document.dates.issued_on:
            return self.facts.issue_date
        if key == _issuing_authority_field(self.license_type):
            return self.facts.issuer
        return self.data.get(key)

    def has_element(self, name: str) -> bool:
        return any(item.element == name for item, _ in self.items)


def layout_license(license_type: LicenseType, data: Mapping[str, Any], copy: Copy, facts: IssueFacts) -> LicenseLayout:
    """The pages of one face of a license."""
    if copy not in license_type.document.layouts:
        sides = " and ".join(license_type.document.layouts)
        raise ValidationError("copy", f"{license_type.name} has only the {sides} face, not {copy!r}")
    face_spec = license_type.document.layouts[copy]
    if face_spec.page not in PAGE_SIZES:
        raise ValidationError("layout.page", f"unknown page {face_spec.page!r}")
    items: list[tuple[LayoutItem, FieldSpec | None]] = []
    for item in face_spec.items:
        spec = license_type.field(item.field) if item.field is not None else None
        items.append((item, spec))
    shown = {item.field for item, _ in items}
    for key in EXTRA_FACE_FIELDS.get((license_type.code, copy), ()):
        if key not in shown:
            items.append((LayoutItem(field=key), license_type.field(key)))
    face = _Face(license_type, copy, face_spec.title, face_spec.label, PAGE_SIZES[face_spec.page], items, data, facts)
    width, height = face.page
    pages, seal = _certificate(face) if width > height else _flowing(face)
    if facts.status_watermark:  # painted first, so it lies under the face
        pages = [(w, h, [*_watermark(w, h, facts.status_watermark), *page]) for w, h, page in pages]
    _check_glyphs(face, pages)
    return LicenseLayout(
        title=face.title,
        pages=tuple(PageLayout(w, h, tuple(page)) for w, h, page in pages),
        seal=seal,
        metadata=core_metadata(license_type, data, facts),
    )


def _watermark(width: float, height: float, text: str) -> list[Item]:
    size = min(40.0, 0.8 * width / max(len(text), 1))
    return [Text(width / 2, height / 2 + size / 3, text, size, "center", WATERMARK, bold=True)]


def _check_glyphs(face: _Face, pages: Sequence[tuple[float, float, list[Item]]]) -> None:
    missing = {
        c for _, _, items in pages for i in items if isinstance(i, Text) for c in face.font.metrics.missing(i.text)
    }
    if missing:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in sorted(missing)[:5])
        raise ValidationError("data", f"the license font has no glyph for {shown}")


def _issuing_authority_field(license_type: LicenseType) -> str | None:
    for spec in license_type.fields:
        if spec.label == "发证机关":
            return spec.key
    return None


def _holder_code_type(license_type: LicenseType) -> str:
    return str(license_type.document.holder.code_type.value)


def core_metadata(license_type: LicenseType, data: Mapping[str, Any], facts: IssueFacts) -> tuple[tuple[str, str], ...]:
    """GB/T 36901 core metadata of this license version (names as in the standard)."""
    document = license_type.document
    valid_from = data.get(document.dates.valid_from) if document.dates.valid_from else None
    valid_until = data.get(document.dates.valid_until)

    def text(value: Any) -> str:
        return value.isoformat() if isinstance(value, date) else ("" if value is None else str(value))

    return (
        ("证照标识", str(facts.identifier)),
        ("证照名称", license_type.name),
        ("证照类型代码", facts.identifier.type_code),
        ("证照编号", facts.number),
        ("颁发机构", facts.issuer),
        ("颁发机构代码", facts.identifier.issuer_code),
        ("颁发日期", facts.issue_date.isoformat()),
        ("持证主体", text(data.get(document.holder.name_field))),
        ("持证主体代码", text(data.get(document.holder.code_field))),
        ("持证主体代码类型", _holder_code_type(license_type)),
        ("有效期起始", text(valid_from or facts.issue_date)),
        ("有效期截止", text(valid_until)),
    )


def issue_facts(
    *,
    identifier: str | ELicenseIdentifier,
    number: str,
    version: int,
    qr_text: str,
    issuer: str,
    issue_date: date,
    status_watermark: str | None = None,
    change_history: Sequence[Mapping[str, Any]] = (),
    photo: bytes | None = None,
    emblem: bytes | None = None,
) -> IssueFacts:
    """Check the issuance facts (identifier check character, non-empty number, issuer and QR text)."""
    parsed = parse_identifier(identifier) if isinstance(identifier, str) else identifier
    for name, value in (("number", number), ("qr_text", qr_text), ("issuer", issuer)):
        if not value or not value.strip():
            raise ValidationError(name, "must not be empty")
    if not 0 <= version <= 999:
        raise ValidationError("version", f"must be 0–999, got {version}")
    if parsed.version != version:
        raise ValidationError("version", f"is {version} but the identifier says {parsed.version:03d}")
    if status_watermark is not None and not status_watermark.strip():
        raise ValidationError("status_watermark", "must be None or a non-empty text")
    return IssueFacts(
        parsed, number, version, qr_text, issuer, issue_date, status_watermark, tuple(change_history), photo, emblem
    )


# --- certificate faces (landscape, one page) --------------------------------------------------------------------


def _certificate(face: _Face) -> tuple[list[_Page], SealSpot]:
    width, height = face.page
    k = height / 210.0  # geometry is drawn for A4 landscape and scaled to the face's page
    items: list[Item] = [
        Frame(6, 6, width - 12, height - 12, 1.2 * k, FRAME),
        Frame(9, 9, width - 18, height - 18, 0.3, FRAME),
    ]
    if face.facts.emblem is not None:
        items.append(Picture(width / 2 - 11 * k, 13 * k, 22 * k, 22 * k, face.facts.emblem))
    items.append(Text(width / 2, 50 * k, face.title, 10.0 * k, "center", bold=True))
    items.append(Text(width / 2, 58 * k, f"（{face.label}）", 4.5 * k, "center"))
    qr_size = 32.0 * k
    if face.has_element("qr_code"):
        items.append(QrCode(width - 14 - qr_size, 13, qr_size, face.facts.qr_text))
        items.append(Text(width - 14 - qr_size / 2, 13 + qr_size + 3.5 * k, "扫码查验", 2.8 * k, "center", GREY))
    issuer_key = _issuing_authority_field(face.license_type)
    date_key = face.license_type.document.dates.issued_on
    fields = [(i, s) for i, s in face.items if i.field is not None and i.field not in (issuer_key, date_key)]
    right_keys = CERTIFICATE_COLUMNS.get(face.license_type.code)
    if right_keys is None:  # nothing in the table for this type: the second half of the fields goes right
        right_keys = frozenset(i.field or "" for i, _ in fields[(len(fields) + 1) // 2 :])
    left = [(i, s) for i, s in fields if i.field not in right_keys]
    right = [(i, s) for i, s in fields if i.field in right_keys]
    top, left_x, size = 70.0 * k, 20.0, max(3.6 * k, 3.0)
    if face.has_element("photo"):
        items.extend(_photo(face, left_x, top - 4 * k, k))
        left_x += 40 * k
    issuer_top = height - 48 * k
    mid = left_x + (width - 14 - left_x) * 0.55
    if right:
        items.extend(_columned(face, left, left_x, mid - 6, top, height - 20 * k, size))
        items.extend(_columned(face, right, mid, width - 16, top, issuer_top - 8 * k, size))
    else:
        items.extend(_columned(face, left, left_x, width - 16, top, issuer_top - 2 * k, size))
    centre = (mid + width - 16) / 2
    items.append(Text(centre, issuer_top + 10 * k, f"发证机关：{face.facts.issuer}", 4.0 * k, "center"))
    issued = f"发证日期：{format_date(face.facts.issue_date)}"
    items.append(Text(centre, issuer_top + 19 * k, issued, 4.0 * k, "center"))
    items.append(_footer(face, width, height - 11.5, 2.4 * max(k, 0.9)))
    return [(width, height, items)], SealSpot(1, centre, issuer_top + 13 * k)


def _photo(face: _Face, x: float, y: float, k: float = 1.0) -> list[Item]:
    w, h = 30 * k, 40 * k
    if face.facts.photo is not None:
        return [Picture(x, y, w, h, face.facts.photo), Frame(x, y, w, h, 0.2, GREY)]
    return [Frame(x, y, w, h, 0.2, GREY), Text(x + w / 2, y + h / 2 + 1.5, "照片", 4.0 * k, "center", GREY)]


def _columned(
    face: _Face,
    fields: Sequence[tuple[LayoutItem, FieldSpec | None]],
    x0: float,
    x1: float,
    top: float,
    bottom: float,
    size: float,
) -> list[Item]:
    """label：value rows, values wrapped beside the label; what does not fit is cut, ending in a pointer."""
    font = face.font
    labels = [face.label_of(i, s) + "：" for i, s in fields]
    label_width = max((font.width(label, size) for label in labels), default=0.0)
    value_x = x0 + label_width + 1.0
    line_height = size * 1.5
    items: list[Item] = []
    y = top
    for (item, spec), label in zip(fields, labels, strict=True):
        value = format_value(face.value_of(item.field or ""), spec)
        lines = wrap(font, value, size, x1 - value_x)
        room = int((bottom - y) // line_height)
        if room <= 0:
            break
        if len(lines) > room:
            pointer = "（详见副本）" if "duplicate" in face.license_type.document.layouts else "……"
            lines = lines[:room]
            lines[-1] = _fit(font, lines[-1], pointer, size, x1 - value_x)
        items.append(Text(x0, y, label, size, bold=True))
        for line in lines:
            if line:
                items.append(Text(value_x, y, line, size))
            y += line_height
        y += size * 0.4
    return items


def _fit(font: LicenseFont, line: str, tail: str, size: float, width: float) -> str:
    while line and font.width(line + tail, size) > width:
        line = line[:-1]
    return line + tail


def _footer(face: _Face, width: float, y: float, size: float = 2.4) -> Text:
    facts = face.facts
    return Text(width / 2, y, f"证照标识：{facts.identifier}；版本：{facts.version:03d}", size, "center", GREY)


# --- flowing faces (portrait, paginated) ------------------------------------------------------------------------


@dataclass
class _Column:
    label: str
    spec: FieldSpec | None
    key: str
    share: float


class _Flow:
    """Places blocks top to bottom, starting a new page (with a continuation header) when one does not fit."""

    def __init__(self, face: _Face) -> None:
        self.face = face
        self.width, self.height = face.page
        self.x0, self.x1 = 15.0, self.width - 15.0
        self.bottom = self.height - 20.0
        self.pages: list[list[Item]] = []
        self.y = 0.0
        self.size = 3.3
        self.line_height = self.size * 1.45
        self.pad = 1.4

    def new_page(self, continued: str | None = None) -> None:
        items: list[Item] = [Frame(10, 10, self.width - 20, self.height - 20, 0.3, FRAME)]
        self.pages.append(items)
        self.y = 24.0
        if len(self.pages) > 1:
            face = self.face
            items.append(Text(self.x0, 18, f"{face.title}（{face.label}）编号：{face.facts.number}", 3.0, "left", GREY))
            if continued:
                self.heading(f"{continued}（续）")

    @property
    def items(self) -> list[Item]:
        return self.pages[-1]

    def capacity(self) -> int:
        """Lines of one cell on an empty continuation page (header row and heading deducted)."""
        return int((self.bottom - 24.0 - 10 - 3 * self.line_height - 4 * self.pad) // self.line_height)

    def room(self, height: float) -> bool:
        return self.y + height <= self.bottom

    def heading(self, text: str) -> None:
        if not self.room(12 + self.line_height * 2):
            self.new_page()
        self.y += 7
        self.items.append(Text(self.x0, self.y, text, 4.0, bold=True))
        self.y += 3

    def grid(self, rows: Sequence[tuple[str, str]]) -> None:
        widest = max((self.face.font.width(label, self.size) for label, _ in rows), default=20.0)
        label_width = widest + 2 * self.pad + 0.5
        self.table(None, [("", label_width), ("", self.x1 - self.x0 - label_width)], [list(r) for r in rows], False)

    def table(
        self,
        title: str | None,
        columns: Sequence[tuple[str, float]],
        rows: Sequence[Sequence[str]],
        header: bool = True,
    ) -> None:
        """Rows of wrapped cells with borders; the header row is repeated on every page the table runs onto."""
        widths = [w for _, w in columns]
        if title is not None:
            self.heading(title)
        head = self._cells([c for c, _ in columns], widths) if header else None
        if head is not None:
            self._row(head, widths, bold=True, title=title)
        for row in rows:
            cells = self._cells(list(row), widths)
            while cells:
                fit = int((self.bottom - self.y - 2 * self.pad) // self.line_height)
                tallest = max(len(c) for c in cells)
                if tallest > fit and (fit < 3 or tallest <= self.capacity()):
                    self.new_page(title)
                    if head is not None:
                        self._row(head, widths, bold=True, title=title)
                    fit = int((self.bottom - self.y - 2 * self.pad) // self.line_height)
                part = [c[:fit] for c in cells]
                self._row(part, widths, bold=False, title=title)
                cells = [c[fit:] for c in cells] if tallest > fit else []
                if cells and not any(cells):
                    cells = []

    def _cells(self, texts: Sequence[str], widths: Sequence[float]) -> list[list[str]]:
        return [wrap(self.face.font, t, self.size, w - 2 * self.pad) for t, w in zip(texts, widths, strict=True)]

    def _row(self, cells: Sequence[Sequence[str]], widths: Sequence[float], *, bold: bool, title: str | None) -> None:
        height = max(len(c) for c in cells) * self.line_height + 2 * self.pad
        if not self.room(height):
            self.new_page(title)
        x = self.x0
        for lines, width in zip(cells, widths, strict=True):
            fill = (246, 240, 240) if bold else None
            self.items.append(Frame(x, self.y, width, height, 0.2, BLACK, fill))
            baseline = self.y + self.pad + self.size * 0.95
            for line in lines:
                if line:
                    self.items.append(Text(x + self.pad, baseline, line, self.size, bold=bold))
                baseline += self.line_height
            x += width
        self.y += height


def _flowing(face: _Face) -> tuple[list[_Page], SealSpot]:
    flow = _Flow(face)
    flow.new_page()
    width = flow.width
    items = flow.items
    items.append(Text(width / 2, 30, face.title, 8.0, "center", bold=True))
    items.append(Text(width / 2, 38, f"（{face.label}）", 4.0, "center"))
    if face.has_element("qr_code"):
        items.append(QrCode(width - 15 - 26, 12, 26, face.facts.qr_text))
        items.append(Text(width - 15 - 13, 41, "扫码查验", 2.6, "center", GREY))
    if face.has_element("photo"):
        items.extend(_photo(face, flow.x0, 14))
    flow.y = 46.0 if not face.has_element("photo") else 58.0
    issuer_key = _issuing_authority_field(face.license_type)
    date_key = face.license_type.document.dates.issued_on
    scalars = [
        (face.label_of(i, s), format_value(face.value_of(i.field or ""), s))
        for i, s in face.items
        if i.field is not None and i.field not in (issuer_key, date_key) and not _is_table(i, s)
    ]
    flow.grid(scalars)
    seal = _issuer_block(flow)
    for item, spec in face.items:
        if item.field is not None and spec is not None and _is_table(item, spec):
            for title, columns, rows in _tables(face, item, spec):
                flow.table(title, columns, rows)
        elif item.element == "change_history":
            title, columns, rows = _change_history(face, flow.x1 - flow.x0)
            flow.table(title, columns, rows)
    total = len(flow.pages)
    for number, page in enumerate(flow.pages, 1):
        page.append(_footer(face, width, flow.height - 14))
        page.append(Text(width / 2, flow.height - 11, f"第{number}页，共{total}页", 2.6, "center", GREY))
    return [(flow.width, flow.height, page) for page in flow.pages], seal


def _issuer_block(flow: _Flow) -> SealSpot:
    face = flow.face
    if not flow.room(34):
        flow.new_page()
    centre = flow.x1 - 45
    flow.y += 12
    flow.items.append(Text(centre, flow.y, f"发证机关：{face.facts.issuer}", 3.8, "center"))
    flow.items.append(Text(centre, flow.y + 8, f"发证日期：{format_date(face.facts.issue_date)}", 3.8, "center"))
    seal = SealSpot(len(flow.pages), centre, flow.y + 3)
    flow.y += 22
    return seal


def _is_table(item: LayoutItem, spec: FieldSpec | None) -> bool:
    return spec is not None and spec.kind is FieldKind.LIST and bool(spec.items)


_Table = tuple[str, list[tuple[str, float]], list[list[str]]]


def _tables(face: _Face, item: LayoutItem, spec: FieldSpec) -> list[_Table]:
    """One table of the list's scalar columns, then one per nested list (rows carry their parent's first column)."""
    value = face.value_of(spec.key)
    rows = [r for r in value if isinstance(r, Mapping)] if isinstance(value, list | tuple) else []
    return _nested_tables(face, face.label_of(item, spec), item, spec, rows, [])


def _nested_tables(
    face: _Face,
    title: str,
    item: LayoutItem,
    spec: FieldSpec,
    rows: Sequence[Mapping[str, Any]],
    context: list[tuple[str, Callable[[int], str]]],
) -> list[_Table]:
    columns = _columns(item, spec)
    scalar = [c for c in columns if not (c.spec is not None and c.spec.kind is FieldKind.LIST and c.spec.items)]
    nested = [c for c in columns if c not in scalar]
    total_width = 180.0 if face.page[0] < face.page[1] else face.page[0] - 30
    out_rows: list[list[str]] = []
    for row in rows:
        out_rows.append([format_value(row.get(c.key), c.spec) for c in scalar])
    head = [("序号", 1.0)] + [(c.label, c.share) for c in scalar]
    tables: list[_Table] = [
        (title, _widths(face, head, total_width), [[str(n), *r] for n, r in enumerate(out_rows, 1)])
    ]
    if not rows:
        tables[0] = (title, tables[0][1], [[EMPTY] * len(head)])
    for column in nested:
        assert column.spec is not None
        sub_item = _sub_item(item, column.key)
        parent_label = f"{scalar[0].label}序号" if scalar else "序号"
        flat: list[list[str]] = []
        for n, row in enumerate(rows, 1):
            parent = str(n)
            for child in row.get(column.key) or []:
                if isinstance(child, Mapping):
                    flat.extend([parent, *cells] for cells in _flatten(child, sub_item, column.spec))
        if flat:
            head = [(parent_label, 1.0), *_flat_head(sub_item, column.spec)]
            tables.append((f"{title} — {column.label}", _widths(face, head, total_width), flat))
    return tables


def _flatten(row: Mapping[str, Any], item: LayoutItem, spec: FieldSpec) -> list[list[str]]:
    """A nested object as rows: its scalar cells, then for each child of its (first) nested list the child's cells."""
    columns = _columns(item, spec)
    scalar = [c for c in columns if not (c.spec is not None and c.spec.kind is FieldKind.LIST)]
    nested = [c for c in columns if c not in scalar]
    own = [format_value(row.get(c.key), c.spec) for c in scalar]
    if not nested:
        return [own]
    column = nested[0]
    assert column.spec is not None
    sub_item = _sub_item(item, column.key)
    children = [c for c in row.get(column.key) or [] if isinstance(c, Mapping)]
    if not children:
        return [own + [EMPTY] * len(_flat_head(sub_item, column.spec))]
    rows: list[list[str]] = []
    for child in children:
        rows.extend(own + cells for cells in _flatten(child, sub_item, column.spec))
    return rows


def _flat_head(item: LayoutItem, spec: FieldSpec) -> list[tuple[str, float]]:
    columns = _columns(item, spec)
    scalar = [c for c in columns if not (c.spec is not None and c.spec.kind is FieldKind.LIST)]
    nested = [c for c in columns if c not in scalar]
    head = [(c.label, c.share) for c in scalar]
    if nested and nested[0].spec is not None:
        head += _flat_head(_sub_item(item, nested[0].key), nested[0].spec)
    return head


def _sub_item(item: LayoutItem, key: str) -> LayoutItem:
    for column in item.columns or []:
        if isinstance(column, LayoutItem) and column.field == key:
            return column
    return LayoutItem(field=key)


def _columns(item: LayoutItem, spec: FieldSpec) -> list[_Column]:
    by_key = {s.key: s for s in spec.items or []}
    names: list[tuple[str, str | None]] = []
    for column in item.columns or [s.key for s in spec.items or []]:
        if isinstance(column, LayoutItem):
            names.append((column.field or "", column.label))
        else:
            names.append((column, None))
    out = []
    for key, label in names:
        sub = by_key.get(key)
        share = 3.0 if sub is not None and sub.kind in (FieldKind.ADDRESS, FieldKind.TEXT) else 1.6
        if sub is not None and sub.kind is FieldKind.DATE:
            share = 1.8
        out.append(_Column(label or (sub.label if sub else key), sub, key, share))
    return out


def _widths(face: _Face, head: Sequence[tuple[str, float]], total: float) -> list[tuple[str, float]]:
    """Column widths in proportion to their shares, each at least as wide as its label."""
    minimum = [face.font.width(label, 3.3) + 3.0 for label, _ in head]
    shares = sum(share for _, share in head)
    widths = [max(total * share / shares, m) for (_, share), m in zip(head, minimum, strict=True)]
    scale = total / sum(widths)
    return [(label, w * scale) for (label, _), w in zip(head, widths, strict=True)]


def _change_history(face: _Face, total: float) -> _Table:
    head = [("变更日期", 1.2), ("变更事项", 1.4), ("变更前", 2.2), ("变更后", 2.2)]
    rows = [
        [
            format_value(_as_date(record.get("date"))),
            format_value(record.get("item")),
            format_value(record.get("before")),
            format_value(record.get("after")),
        ]
        for record in face.facts.change_history
    ]
    return "变更记录", _widths(face, head, total), rows or [["无", EMPTY, EMPTY, EMPTY]]


def _as_date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value
