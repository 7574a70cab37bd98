"""The OFD (GB/T 33190-2016) document model: immutable, typed values with every coordinate in mm, as in the file.

A Document is what the writer serialises and what the reader returns (for our own files and other producers').
Optional attributes that the file may leave out are None here ("not given": the renderer applies the standard's
default or the DrawParam it inherits), so a document read back equals the one written. Pages are a PageList, a
Sequence that the reader fills lazily: page IDs are known without parsing any page.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import ClassVar, overload

from certseal.errors import ValidationError

# Defaults of GB/T 33190 for attributes left out (CT_GraphicUnit, CT_DrawParam, CT_Text).
DEFAULT_LINE_WIDTH = 0.353
DEFAULT_MITER_LIMIT = 4.234


# --- geometry -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Box:
    """ST_Box: x, y of the top-left corner, width and height (mm; y grows downwards)."""

    x: float
    y: float
    width: float
    height: float

    @classmethod
    def parse(cls, text: str, what: str = "Boundary") -> Box:
        values = parse_numbers(text, what)
        if len(values) != 4:
            raise ValidationError("ofd", f"{what} must be 4 numbers (x y width height), got {text!r}")
        return cls(*values)

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    def union(self, other: Box) -> Box:
        x, y = min(self.x, other.x), min(self.y, other.y)
        return Box(x, y, max(self.right, other.right) - x, max(self.bottom, other.bottom) - y)

    def moved(self, dx: float, dy: float) -> Box:
        return Box(self.x + dx, self.y + dy, self.width, self.height)

    def contains(self, x: float, y: float) -> bool:
        return self.x <= x <= self.right and self.y <= y <= self.bottom

    @staticmethod
    def around(points: Iterable[tuple[float, float]]) -> Box:
        xs, ys = zip(*points, strict=True)
        return Box(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


@dataclass(frozen=True, slots=True)
class Matrix:
    """ST_Array CTM "a b c d e f": x' = a·x + c·y + e, y' = b·x + d·y + f."""

    a: float = 1.0
    b: float = 0.0
    c: float = 0.0
    d: float = 1.0
    e: float = 0.0
    f: float = 0.0

    IDENTITY: ClassVar[Matrix]

    @classmethod
    def parse(cls, text: str) -> Matrix:
        values = parse_numbers(text, "CTM")
        if len(values) != 6:
            raise ValidationError("ofd", f"CTM must be 6 numbers, got {text!r}")
        return cls(*values)

    @classmethod
    def translation(cls, dx: float, dy: float) -> Matrix:
        return cls(1.0, 0.0, 0.0, 1.0, dx, dy)

    def apply(self, x: float, y: float) -> tuple[float, float]:
        return self.a * x + self.c * y + self.e, self.b * x + self.d * y + self.f

    def then(self, outer: Matrix) -> Matrix:
        """This transform followed by `outer` (points go through self first)."""
        return Matrix(
            self.a * outer.a + self.b * outer.c,
            self.a * outer.b + self.b * outer.d,
            self.c * outer.a + self.d * outer.c,
            self.c * outer.b + self.d * outer.d,
            self.e * outer.a + self.f * outer.c + outer.e,
            self.e * outer.b + self.f * outer.d + outer.f,
        )

    def box(self, box: Box) -> Box:
        """The axis-aligned box around `box` transformed."""
        corners = ((box.x, box.y), (box.right, box.y), (box.x, box.bottom), (box.right, box.bottom))
        return Box.around(self.apply(x, y) for x, y in corners)

    def values(self) -> tuple[float, float, float, float, float, float]:
        return self.a, self.b, self.c, self.d, self.e, self.f


Matrix.IDENTITY = Matrix()

_NUMBER = re.compile(r"#[0-9A-Fa-f]+|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def parse_numbers(text: str, what: str) -> tuple[float, ...]:
    """Numbers of an ST_Array/ST_Box/ST_Pos (space or comma separated; "#ee" hexadecimal colour values too)."""
    values: list[float] = []
    for token in text.replace(",", " ").split():
        if not _NUMBER.fullmatch(token):
            raise ValidationError("ofd", f"{what}: {token!r} is not a number")
        values.append(float(int(token[1:], 16)) if token.startswith("#") else float(token))
    if any(math.isnan(v) or math.isinf(v) for v in values):
        raise ValidationError("ofd", f"{what}: numbers must be finite")
    return tuple(values)


def expand_deltas(text: str, count: int) -> tuple[float, ...]:
    """Resolve a DeltaX/DeltaY value: "g N v" stands for N times v; the list is cut or padded (with the last value)
    to `count` entries, one per gap between glyphs."""
    tokens = text.replace(",", " ").split()
    values: list[float] = []
    at = 0
    while at < len(tokens) and len(values) < count:
        if tokens[at] == "g":
            if at + 2 >= len(tokens):
                raise ValidationError("ofd", f"DeltaX/DeltaY: 'g' needs a count and a value in {text!r}")
            repeat = parse_numbers(tokens[at + 1], "DeltaX/DeltaY count")[0]
            value = parse_numbers(tokens[at + 2], "DeltaX/DeltaY")[0]
            if repeat < 0 or repeat != int(repeat) or repeat > 1_000_000:
                raise ValidationError("ofd", f"DeltaX/DeltaY: bad 'g' count in {text!r}")
            values.extend([value] * min(int(repeat), count - len(values)))
            at += 3
        else:
            values.extend(parse_numbers(tokens[at], "DeltaX/DeltaY"))
            at += 1
    if not values:
        return ()
    if len(values) < count:
        values.extend([values[-1]] * (count - len(values)))
    return tuple(values[:count])


def compress_deltas(values: Sequence[float], format_number: Callable[[float], str]) -> str:
    """The shortest usual spelling of a delta list: runs of 3 or more equal values as "g N v"."""
    parts: list[str] = []
    at = 0
    while at < len(values):
        end = at
        while end < len(values) and values[end] == values[at]:
            end += 1
        run = end - at
        text = format_number(values[at])
        parts.extend([f"g {run} {text}"] if run >= 3 else [text] * run)
        at = end
    return " ".join(parts)


# --- paths ----------------------------------------------------------------------------------------------------

PATH_ARITY = {"S": 2, "M": 2, "L": 2, "Q": 4, "B": 6, "A": 7, "C": 0}  # numbers after each operator


@dataclass(frozen=True, slots=True)
class PathCommand:
    """One AbbreviatedData command: S/M (move), L (line), Q (quadratic), B (cubic), A (arc), C (close)."""

    op: str
    args: tuple[float, ...] = ()

    def points(self) -> tuple[tuple[float, float], ...]:
        """The points of the command (for an arc: its end point)."""
        if self.op == "A":
            return ((self.args[5], self.args[6]),)
        return tuple((self.args[i], self.args[i + 1]) for i in range(0, len(self.args), 2))


def parse_path(data: str) -> tuple[PathCommand, ...]:
    """Parse AbbreviatedData; unknown operators and incomplete commands at the end are dropped."""
    tokens = data.split()
    commands: list[PathCommand] = []
    at = 0
    while at < len(tokens):
        op = tokens[at]
        arity = PATH_ARITY.get(op)
        if arity is None:
            at += 1
            continue
        raw = tokens[at + 1 : at + 1 + arity]
        if len(raw) < arity:
            break
        commands.append(PathCommand("M" if op == "S" else op, parse_numbers(" ".join(raw), "AbbreviatedData")))
        at += 1 + arity
    return tuple(commands)


# --- colours and graphic objects --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Color:
    """CT_Color: component values in the colour space (RGB 0–255 by default) or a palette index."""

    value: tuple[float, ...] | None = None
    color_space: int | None = None
    index: int | None = None
    alpha: int | None = None

    @classmethod
    def rgb(cls, red: int, green: int, blue: int) -> Color:
        return cls(value=(float(red), float(green), float(blue)))


BLACK = Color.rgb(0, 0, 0)


@dataclass(frozen=True, slots=True)
class TextCode:
    """A run of text: the first glyph at (x, y) in the object's space, then DeltaX/DeltaY between glyphs (resolved;
    empty = not given, the font's advances apply)."""

    text: str
    x: float
    y: float
    delta_x: tuple[float, ...] = ()
    delta_y: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphicUnit:
    """CT_GraphicUnit, the common part of every content object. `ctm` maps the object's own coordinates into its
    Boundary, whose top-left corner is the origin."""

    id: int | None = None
    boundary: Box
    name: str | None = None
    visible: bool = True
    ctm: Matrix | None = None
    draw_param: int | None = None
    line_width: float | None = None
    cap: str | None = None
    join: str | None = None
    miter_limit: float | None = None
    dash_offset: float | None = None
    dash_pattern: tuple[float, ...] | None = None
    alpha: int | None = None
    clips: tuple[Clip, ...] = ()

    def to_page(self) -> Matrix:
        """The transform from the object's coordinates to its parent's (page) coordinates."""
        offset = Matrix.translation(self.boundary.x, self.boundary.y)
        return self.ctm.then(offset) if self.ctm else offset


@dataclass(frozen=True, slots=True, kw_only=True)
class TextObject(GraphicUnit):
    font_id: int
    size: float
    text_codes: tuple[TextCode, ...] = ()
    fill_color: Color | None = None
    stroke_color: Color | None = None
    fill: bool = True
    stroke: bool = False
    h_scale: float = 1.0
    read_direction: int = 0
    char_direction: int = 0
    weight: int = 400
    italic: bool = False

    @property
    def text(self) -> str:
        return "".join(code.text for code in self.text_codes)


@dataclass(frozen=True, slots=True, kw_only=True)
class PathObject(GraphicUnit):
    abbreviated_data: str
    stroke: bool = True
    fill: bool = False
    rule: str = "NonZero"
    stroke_color: Color | None = None
    fill_color: Color | None = None

    def commands(self) -> tuple[PathCommand, ...]:
        return parse_path(self.abbreviated_data)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageObject(GraphicUnit):
    """An image: the unit square of the image maps through the CTM (usually "w 0 0 h 0 0") into the Boundary."""

    resource_id: int
    substitution: int | None = None
    image_mask: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CompositeObject(GraphicUnit):
    """A CompositeGraphicUnit resource drawn in the Boundary."""

    resource_id: int


@dataclass(frozen=True, slots=True)
class PageBlock:
    """A group of content objects (no transform of its own)."""

    objects: tuple[ContentObject, ...] = ()
    id: int | None = None


ContentObject = TextObject | PathObject | ImageObject | CompositeObject | PageBlock


@dataclass(frozen=True, slots=True)
class ClipArea:
    """One clip area: a path or text (without ID) in the clipped object's space, with its own CTM."""

    shape: PathObject | TextObject
    ctm: Matrix | None = None
    draw_param: int | None = None


@dataclass(frozen=True, slots=True)
class Clip:
    """A clip region: the union of its areas; several Clips of one object intersect."""

    areas: tuple[ClipArea, ...]


# --- pages ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layer:
    objects: tuple[ContentObject, ...] = ()
    id: int | None = None
    type: str = "Body"
    draw_param: int | None = None


@dataclass(frozen=True, slots=True)
class PageArea:
    physical_box: Box
    application_box: Box | None = None
    content_box: Box | None = None
    bleed_box: Box | None = None


@dataclass(frozen=True, slots=True)
class TemplateRef:
    template_id: int
    z_order: str = "Background"


@dataclass(frozen=True, slots=True)
class Resources:
    """One resource file's content (PublicRes, DocumentRes or a page's PageRes)."""

    fonts: tuple[Font, ...] = ()
    multimedias: tuple[MultiMedia, ...] = ()
    draw_params: tuple[DrawParam, ...] = ()
    color_spaces: tuple[ColorSpace, ...] = ()
    composite_units: tuple[CompositeGraphicUnit, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.fonts or self.multimedias or self.draw_params or self.color_spaces or self.composite_units)


@dataclass(frozen=True, slots=True)
class Page:
    """A page: its ID (referenced by outlines, annotations and seals), own area if it differs from the document's,
    template pages and layers of content."""

    id: int
    layers: tuple[Layer, ...] = ()
    area: PageArea | None = None
    templates: tuple[TemplateRef, ...] = ()
    resources: Resources = field(default_factory=Resources)


@dataclass(frozen=True, slots=True)
class TemplatePage:
    """A template page (Tpls/Tpl_N/Content.xml): content shared by the pages that reference it."""

    id: int
    layers: tuple[Layer, ...] = ()
    name: str | None = None
    z_order: str | None = None
    area: PageArea | None = None


class PageList(Sequence[Page]):
    """The pages of a document, loaded on first access (the reader passes a loader; the builder, pages)."""

    def __init__(self, ids: Sequence[int], load: Callable[[int], Page]) -> None:
        self._ids = tuple(ids)
        self._load = load
        self._cache: dict[int, Page] = {}

    @classmethod
    def of(cls, pages: Iterable[Page]) -> PageList:
        loaded = tuple(pages)
        return cls([p.id for p in loaded], loaded.__getitem__)

    @property
    def ids(self) -> tuple[int, ...]:
        """Page IDs in page order, without loading any page."""
        return self._ids

    @property
    def loaded_count(self) -> int:
        return len(self._cache)

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> Page: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Page]: ...

    def __getitem__(self, index: int | slice) -> Page | Sequence[Page]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"page index {index} out of range (the document has {len(self)} pages)")
        page = self._cache.get(index)
        if page is None:
            page = self._cache[index] = self._load(index)
        return page

    def __iter__(self) -> Iterator[Page]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PageList(ids={self._ids!r}, loaded={sorted(self._cache)!r})"


# --- resources ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Font:
    """CT_Font; `data` is the embedded font file (FontFile), None when the font is only named."""

    id: int
    name: str
    family: str | None = None
    charset: str = "unicode"
    italic: bool = False
    bold: bool = False
    serif: bool = False
    fixed_width: bool = False
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class MultiMedia:
    """CT_MultiMedia (images: Format PNG, JPEG, GBIG2, …); `data` is the media file (empty if the file is missing)."""

    id: int
    data: bytes
    type: str = "Image"
    format: str | None = None


@dataclass(frozen=True, slots=True)
class DrawParam:
    id: int
    relative: int | None = None
    line_width: float | None = None
    join: str | None = None
    cap: str | None = None
    dash_offset: float | None = None
    dash_pattern: tuple[float, ...] | None = None
    miter_limit: float | None = None
    fill_color: Color | None = None
    stroke_color: Color | None = None


@dataclass(frozen=True, slots=True)
class ColorSpace:
    id: int
    type: str = "RGB"
    bits_per_component: int = 8
    palette: tuple[tuple[float, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class CompositeGraphicUnit:
    """CT_VectorG: reusable vector content of the given size, drawn by CompositeObjects."""

    id: int
    width: float
    height: float
    objects: tuple[ContentObject, ...] = ()


# --- document-level parts ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutlineItem:
    """An outline (bookmark tree) entry that goes to a page (by page ID) and optionally a position on it."""

    title: str
    page_id: int | None = None
    left: float | None = None
    top: float | None = None
    expanded: bool = True
    children: tuple[OutlineItem, ...] = ()


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attached file (Attachs/Attachments.xml). `id` is an xs:ID (e.g. "att1")."""

    name: str
    data: bytes
    format: str | None = None
    id: str | None = None
    creation_date: datetime | None = None
    visible: bool = True
    usage: str | None = None


@dataclass(frozen=True, slots=True)
class CustomTag:
    """A custom tag file (Tags/): structured XML in its own namespace, e.g. e-invoice or e-license data."""

    namespace: str
    data: bytes


@dataclass(frozen=True, slots=True)
class DocInfo:
    doc_id: str
    title: str | None = None
    author: str | None = None
    subject: str | None = None
    abstract: str | None = None
    creation_date: date | None = None
    mod_date: date | None = None
    doc_usage: str | None = None
    keywords: tuple[str, ...] = ()
    creator: str | None = None
    creator_version: str | None = None
    custom_datas: tuple[tuple[str, str], ...] = ()  # (Name, value), e-license metadata goes here

    def custom_data(self, name: str) -> str | None:
        return next((value for key, value in self.custom_datas if key == name), None)


@dataclass(frozen=True, slots=True)
class Document:
    """One OFD document (DocBody): metadata, page area, pages, templates, resources and document-level parts.
    IDs of pages, templates, resources and objects share one space, bounded by `max_unit_id`."""

    doc_info: DocInfo
    page_area: PageArea
    pages: PageList
    max_unit_id: int = 0
    templates: tuple[TemplatePage, ...] = ()
    public_res: Resources = field(default_factory=Resources)
    document_res: Resources = field(default_factory=Resources)
    default_cs: int | None = None
    outlines: tuple[OutlineItem, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    custom_tags: tuple[CustomTag, ...] = ()
    signatures_loc: str | None = None  # DocBody/Signatures as written in OFD.xml (the signing code owns it)

    @property
    def page_ids(self) -> tuple[int, ...]:
        return self.pages.ids

    def page_size(self, page: Page) -> Box:
        """The page's physical box (its own Area, else the document's PageArea)."""
        return (page.area or self.page_area).physical_box

    def _all_resources(self) -> tuple[Resources, ...]:
        return self.public_res, self.document_res

    def font(self, font_id: int, page: Page | None = None) -> Font | None:
        pools = (page.resources, *self._all_resources()) if page else self._all_resources()
        return next((f for res in pools for f in res.fonts if f.id == font_id), None)

    def multimedia(self, resource_id: int, page: Page | None = None) -> MultiMedia | None:
        pools = (page.resources, *self._all_resources()) if page else self._all_resources()
        return next((m for res in pools for m in res.multimedias if m.id == resource_id), None)

    def draw_param(self, param_id: int, page: Page | None = None) -> DrawParam | None:
        pools = (page.resources, *self._all_resources()) if page else self._all_resources()
        return next((d for res in pools for d in res.draw_params if d.id == param_id), None)

    def composite_unit(self, unit_id: int, page: Page | None = None) -> CompositeGraphicUnit | None:
        pools = (page.resources, *self._all_resources()) if page else self._all_resources()
        return next((u for res in pools for u in res.composite_units if u.id == unit_id), None)

    def template(self, template_id: int) -> TemplatePage | None:
        return next((t for t in self.templates if t.id == template_id), None)


def iter_objects(objects: Iterable[ContentObject]) -> Iterator[TextObject | PathObject | ImageObject | CompositeObject]:
    """Every drawable object in document order, descending into PageBlocks."""
    for obj in objects:
        if isinstance(obj, PageBlock):
            yield from iter_objects(obj.objects)
        else:
            yield obj


def page_objects(page: Page | TemplatePage) -> Iterator[TextObject | PathObject | ImageObject | CompositeObject]:
    for layer in page.layers:
        yield from iter_objects(layer.objects)
