"""OFD pages as SVG, at the original size: the viewBox is the page's physical box in mm.

Drawing order follows GB/T 33190: Background template pages, the page's layers (Background, Body, Foreground
layer types in that order, document order within), Foreground template pages, then annotations and seal stamps.
Text is one <text> per TextCode with per-glyph x/y from certseal.ofd.text (DeltaX/DeltaY, `g` shorthand, font
advances); the object's Boundary offset and CTM become one transform. Embedded fonts are CSS @font-face rules with
the font file as a data: URI, each distinct file once (FontFaces), with a CJK system-font fallback. Images are data:
URIs (PNG/JPEG as they are, other formats converted to PNG with Pillow). What cannot be drawn — a missing resource,
an unknown font, a broken image, an undecodable seal picture — is skipped with a RenderWarning, never an exception.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from certseal.errors import ValidationError
from certseal.ofd.model import (
    DEFAULT_LINE_WIDTH,
    Box,
    Clip,
    Color,
    ColorSpace,
    CompositeGraphicUnit,
    CompositeObject,
    ContentObject,
    Document,
    DrawParam,
    Font,
    GraphicUnit,
    ImageObject,
    Layer,
    Matrix,
    MultiMedia,
    Page,
    PageBlock,
    PathObject,
    TemplatePage,
    TextObject,
    parse_path,
)
from certseal.ofd.text import AdvanceEm, font_advances, glyph_origins

SVG_NS = "http://www.w3.org/2000/svg"
# Families tried for text whose font is not embedded or cannot be loaded (Debian: fonts-noto-cjk, fonts-wqy-zenhei).
SERIF_FALLBACK = ("Noto Serif CJK SC", "Noto Sans CJK SC", "WenQuanYi Zen Hei", "serif")
SANS_FALLBACK = ("Noto Sans CJK SC", "WenQuanYi Zen Hei", "Noto Serif CJK SC", "sans-serif")
MONO_FALLBACK = ("DejaVu Sans Mono", "Liberation Mono", "Noto Sans Mono CJK SC", "WenQuanYi Zen Hei Mono", "monospace")
_SANS_HINTS = ("黑", "hei", "sans", "arial", "helvetica", "雅黑", "yahei", "gothic", "等线")
_MONO_HINTS = ("courier", "mono", "consolas", "fixed")
_LAYER_ORDER = {"Background": 0, "Body": 1, "Foreground": 2}
MAX_IMAGE_PIXELS = 40_000_000  # larger pictures are not decoded (memory), they are skipped with a warning
_MAX_NESTING = 16  # PageBlocks/CompositeObjects deeper than this are not drawn (a cycle or a hostile file)
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_PATH_TOKENS = re.compile(r"(?:\s*(?:[SMLQBC]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))*\s*")
_SVG_PATH_OPS = {"S": "M", "B": "C", "C": "Z"}
_CAPS = {"butt": "butt", "round": "round", "square": "square"}
_JOINS = {"miter": "miter", "round": "round", "bevel": "bevel"}


class RenderWarning(UserWarning):
    """Part of a page could not be drawn and was skipped; the message names it and says why."""


def warn(message: str) -> None:
    warnings.warn(message, RenderWarning, stacklevel=3)


@dataclass(frozen=True, slots=True)
class Stamp:
    """A seal picture drawn over a page, as a GB/T 38540 signature's StampAnnot places it: `boundary` in page mm,
    `clip` (optional) in the stamp's own mm (origin at the boundary's top-left, as ofdrw writes riding seals), the
    picture as the SES_ESPictrueInfo gives it (type PNG, JPG, GIF, BMP, SVG or OFD, and its bytes)."""

    page_index: int
    boundary: Box
    picture_type: str
    picture: bytes
    clip: Box | None = None


@dataclass(frozen=True, slots=True)
class Annotation:
    """A page annotation (Annots/…/Annotation.xml): its appearance objects are drawn in `boundary` (page mm), whose
    top-left corner is their origin."""

    page_id: int
    type: str
    boundary: Box
    objects: tuple[ContentObject, ...] = ()
    id: int | None = None
    subtype: str | None = None
    visible: bool = True


# --- numbers, text and colours ------------------------------------------------------------------------------------


def num(value: float, places: int = 4) -> str:
    """A number for SVG: fixed point, no trailing zeros, no "-0"."""
    if not math.isfinite(value):
        return "0"
    if value == int(value) and abs(value) < 1e12:
        return str(int(value))
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "", "-") else text


def matrix(m: Matrix) -> str:
    if m.a == 1 and m.b == 0 and m.c == 0 and m.d == 1:
        return f"translate({num(m.e)} {num(m.f)})"
    return f"matrix({num(m.a, 6)} {num(m.b, 6)} {num(m.c, 6)} {num(m.d, 6)} {num(m.e)} {num(m.f)})"


def escape(text: str) -> str:
    """Character data or a double-quoted attribute value (characters XML 1.0 forbids are dropped)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return _XML_INVALID.sub("", text)


def _css_string(name: str) -> str:
    """A CSS string that is safe inside XML character data and an HTML <style> element."""
    out = []
    for char in name:
        if char in "'\\<>&\"" or ord(char) < 0x20:
            out.append(f"\\{ord(char):x} ")
        else:
            out.append(char)
    return "'" + "".join(out) + "'"


def _rgb_components(values: Sequence[float], space: ColorSpace | None) -> tuple[float, float, float]:
    """RGB 0–255 from colour-space values (RGB, GRAY or CMYK at the space's bits per component)."""
    kind = (space.type if space else "RGB").upper()
    top = float((1 << (space.bits_per_component if space else 8)) - 1) or 255.0
    scaled = [min(max(v / top, 0.0), 1.0) for v in values]
    if kind == "GRAY" and scaled:
        return scaled[0] * 255, scaled[0] * 255, scaled[0] * 255
    if kind == "CMYK" and len(scaled) >= 4:
        c, m, y, k = scaled[:4]
        return 255 * (1 - c) * (1 - k), 255 * (1 - m) * (1 - k), 255 * (1 - y) * (1 - k)
    if len(scaled) >= 3:
        return scaled[0] * 255, scaled[1] * 255, scaled[2] * 255
    return 0.0, 0.0, 0.0


@dataclass(frozen=True, slots=True)
class Paint:
    """A resolved colour: CSS value and opacity (1 = opaque)."""

    css: str
    opacity: float = 1.0


BLACK_PAINT = Paint("#000")


def paint(color: Color, spaces: dict[int, ColorSpace], default_space: int | None) -> Paint:
    space = spaces.get(color.color_space if color.color_space is not None else default_space or -1)
    values: Sequence[float] | None = color.value
    if color.index is not None and space is not None and 0 <= color.index < len(space.palette):
        values = space.palette[color.index]
    if not values:
        return Paint("#000", _opacity(color.alpha))
    red, green, blue = _rgb_components(values, space)
    return Paint(f"#{round(red):02x}{round(green):02x}{round(blue):02x}", _opacity(color.alpha))


def _opacity(alpha: int | None) -> float:
    return 1.0 if alpha is None else min(max(alpha / 255.0, 0.0), 1.0)


# --- fonts --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FontCss:
    css_class: str
    class_rule: str
    face_family: str | None  # the @font-face family of the embedded file, None if not embedded or not loadable
    face_rule: str | None
    unusable: str | None  # why an embedded file cannot be used (for a warning)


_FONT_FORMATS = (
    (b"\x00\x01\x00\x00", "font/ttf", "truetype"),
    (b"true", "font/ttf", "truetype"),
    (b"OTTO", "font/otf", "opentype"),
    (b"wOFF", "font/woff", "woff"),
    (b"wOF2", "font/woff2", "woff2"),
    (b"ttcf", "font/collection", "collection"),
)


def _fallback_stack(font: Font | None) -> tuple[str, ...]:
    if font is None:
        return SERIF_FALLBACK
    names = f"{font.name} {font.family or ''}".lower()
    if font.fixed_width or any(hint in names for hint in _MONO_HINTS):
        return MONO_FALLBACK
    if any(hint in names for hint in _SANS_HINTS):
        return SANS_FALLBACK
    return SERIF_FALLBACK


@lru_cache(maxsize=512)
def _font_css(font: Font | None) -> _FontCss:
    families: list[str] = []
    face_family = face_rule = unusable = None
    if font is not None and font.data:
        kind = next(((mime, fmt) for magic, mime, fmt in _FONT_FORMATS if font.data.startswith(magic)), None)
        if kind is None:
            unusable = "the embedded file is not TrueType/OpenType/WOFF"
        else:
            face_family = "ofd-" + hashlib.sha256(font.data).hexdigest()[:16]
            data = base64.b64encode(font.data).decode("ascii")
            face_rule = (
                f"@font-face{{font-family:'{face_family}';src:url(data:{kind[0]};base64,{data}) "
                f"format('{kind[1]}');font-display:block}}"
            )
            families.append(_css_string(face_family))
    if font is not None:
        for name in dict.fromkeys(n for n in (font.name, font.family) if n):
            families.append(_css_string(name))
    families.extend(f if f in ("serif", "sans-serif", "monospace") else _css_string(f) for f in _fallback_stack(font))
    stack = ",".join(families)
    css_class = "f-" + hashlib.sha256(stack.encode()).hexdigest()[:12]
    return _FontCss(css_class, f".{css_class}{{font-family:{stack}}}", face_family, face_rule, unusable)


class FontFaces:
    """The CSS of the fonts a rendering uses: one @font-face per distinct embedded font file and one class per font
    (its family stack), so a font is embedded once however many pages, seals or documents use it."""

    def __init__(self) -> None:
        self._faces: dict[str, str] = {}
        self._classes: dict[str, str] = {}
        self._families: dict[str, str] = {}
        self._warned: set[int] = set()

    def css_class(self, font: Font | None) -> str:
        css = _font_css(font)
        if css.unusable and font is not None and font.id not in self._warned:
            self._warned.add(font.id)
            warn(f"font {font.id} ({font.name}): {css.unusable}; a system font is used instead")
        if css.face_family and css.face_rule:
            self._faces.setdefault(css.face_family, css.face_rule)
            if font is not None:
                self._families.setdefault(css.face_family, font.name)
        self._classes.setdefault(css.css_class, css.class_rule)
        return css.css_class

    @property
    def embedded_families(self) -> dict[str, str]:
        """@font-face family → the OFD FontName it embeds."""
        return dict(self._families)

    def css(self) -> str:
        return "".join(self._faces.values()) + "".join(self._classes.values())

    def merge(self, other: FontFaces) -> None:
        for family, rule in other._faces.items():
            self._faces.setdefault(family, rule)
        for name, rule in other._classes.items():
            self._classes.setdefault(name, rule)
        for family, font_name in other._families.items():
            self._families.setdefault(family, font_name)


# --- images -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Image:
    href: str | None
    problem: str | None = None


@lru_cache(maxsize=128)
def _image_href(data: bytes) -> _Image:
    """A data: URI for an image file: PNG and JPEG as they are (after a decode check), other formats Pillow can read
    converted to PNG."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        return _Image(None, "the image file is missing or empty")
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = image.format
            if image.width * image.height > MAX_IMAGE_PIXELS:
                return _Image(None, f"{image.width}x{image.height} pixels is more than {MAX_IMAGE_PIXELS} pixels")
            image.load()  # a full decode: verify() does not find a truncated JPEG
            if fmt in ("PNG", "JPEG"):
                mime = "image/png" if fmt == "PNG" else "image/jpeg"
                return _Image(f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}")
            converted = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
            buffer = io.BytesIO()
            converted.save(buffer, "PNG")
    except UnidentifiedImageError:
        return _Image(None, "not an image format that can be decoded here (PNG, JPEG, GIF, BMP, TIFF…; not JBIG2)")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return _Image(None, f"the image cannot be decoded ({exc})")
    return _Image(f"data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}")


def image_href(data: bytes, what: str) -> str | None:
    """The data: URI of an image, or None (with a warning naming `what`) when it cannot be decoded."""
    image = _image_href(bytes(data))
    if image.href is None:
        warn(f"{what}: {image.problem}; not drawn")
    return image.href


# --- paths --------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def svg_path_data(data: str) -> str:
    """SVG path data for OFD AbbreviatedData (S/M move, L line, Q quadratic, B cubic, A elliptical arc, C close)."""
    if _PATH_TOKENS.fullmatch(data):  # the common case: no arcs, only known operators and plain numbers
        return " ".join(_SVG_PATH_OPS.get(token, token) for token in data.split())
    parts: list[str] = []
    for command in parse_path(data):
        args = command.args
        if command.op == "C":
            parts.append("Z")
        elif command.op == "B":
            parts.append("C " + " ".join(num(v) for v in args))
        elif command.op == "A":
            rx, ry, angle, large, sweep, x, y = args
            flags = f"{1 if large else 0} {1 if sweep else 0}"
            parts.append(f"A {num(abs(rx))} {num(abs(ry))} {num(angle)} {flags} {num(x)} {num(y)}")
        else:
            parts.append(command.op + " " + " ".join(num(v) for v in args))
    return " ".join(parts)


# --- the page renderer --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Resources:
    fonts: dict[int, Font] = field(default_factory=dict)
    media: dict[int, MultiMedia] = field(default_factory=dict)
    params: dict[int, DrawParam] = field(default_factory=dict)
    spaces: dict[int, ColorSpace] = field(default_factory=dict)
    units: dict[int, CompositeGraphicUnit] = field(default_factory=dict)


def _page_resources(document: Document, page: Page | None) -> _Resources:
    found = _Resources()
    pools = [page.resources] if page else []
    pools += [document.public_res, document.document_res]
    for res in reversed(pools):  # earlier pools win: the page's own resources, then PublicRes, then DocumentRes
        found.fonts.update((f.id, f) for f in res.fonts)
        found.media.update((m.id, m) for m in res.multimedias)
        found.params.update((p.id, p) for p in res.draw_params)
        found.spaces.update((s.id, s) for s in res.color_spaces)
        found.units.update((u.id, u) for u in res.composite_units)
    return found


class PageCanvas:
    """Writes one page's drawing as SVG elements (without the outer <svg>); ids of clip paths start with `prefix`."""

    def __init__(self, document: Document, page: Page | None, fonts: FontFaces, prefix: str) -> None:
        self.document = document
        self.page = page
        self.fonts = fonts
        self.prefix = prefix
        self.res = _page_resources(document, page)
        self.body: list[str] = []
        self.defs: list[str] = []
        self._ids = 0
        self._missing_fonts: set[int] = set()

    def new_id(self) -> str:
        self._ids += 1
        return f"{self.prefix}{self._ids}"

    # --- structure ---

    def layers(self, layers: Iterable[Layer]) -> None:
        for layer in sorted(layers, key=lambda item: _LAYER_ORDER.get(item.type, 1)):
            self.objects(layer.objects, self.params(layer.draw_param), 0)

    def template(self, template: TemplatePage | None, template_id: int) -> None:
        if template is None:
            warn(f"template page {template_id}: not in the document; not drawn")
            return
        self.layers(template.layers)

    def objects(self, objects: Iterable[ContentObject], inherited: tuple[DrawParam, ...], depth: int) -> None:
        if depth > _MAX_NESTING:
            warn(f"content nested more than {_MAX_NESTING} levels deep; the inner part is not drawn")
            return
        for obj in objects:
            if isinstance(obj, PageBlock):
                self.objects(obj.objects, inherited, depth + 1)
            elif obj.visible:
                self._clipped(obj, inherited, depth)

    def _clipped(self, obj: GraphicUnit, inherited: tuple[DrawParam, ...], depth: int) -> None:
        clip_ids = [self._clip_path(clip, obj.boundary) for clip in obj.clips]
        clip_ids = [c for c in clip_ids if c is not None]
        for clip_id in clip_ids:  # several Clips of one object intersect: one nested group each
            self.body.append(f'<g clip-path="url(#{clip_id})">')
        self._object(obj, inherited, depth)
        self.body.extend("</g>" for _ in clip_ids)

    def _object(self, obj: GraphicUnit, inherited: tuple[DrawParam, ...], depth: int) -> None:
        params = self.params(obj.draw_param) + inherited
        if isinstance(obj, TextObject):
            self.text(obj, params)
        elif isinstance(obj, PathObject):
            self.path(obj, params)
        elif isinstance(obj, ImageObject):
            self.image(obj)
        elif isinstance(obj, CompositeObject):
            self.composite(obj, params, depth)

    # --- draw parameters ---

    def params(self, param_id: int | None) -> tuple[DrawParam, ...]:
        """The DrawParam and those it is relative to, nearest first."""
        chain: list[DrawParam] = []
        while param_id is not None and len(chain) < _MAX_NESTING:
            param = self.res.params.get(param_id)
            if param is None or param in chain:
                break
            chain.append(param)
            param_id = param.relative
        return tuple(chain)

    def paint(self, own: Color | None, params: tuple[DrawParam, ...], attribute: str) -> Paint | None:
        color = own or next((getattr(p, attribute) for p in params if getattr(p, attribute) is not None), None)
        return None if color is None else paint(color, self.res.spaces, self.document.default_cs)

    def stroke_style(self, obj: GraphicUnit, params: tuple[DrawParam, ...]) -> str:
        def pick(name: str) -> object:
            own = getattr(obj, name)
            return (
                own
                if own is not None
                else next((getattr(p, name) for p in params if getattr(p, name) is not None), None)
            )

        width = pick("line_width")
        parts = [f' stroke-width="{num(width if isinstance(width, float) else DEFAULT_LINE_WIDTH)}"']
        cap, join = pick("cap"), pick("join")
        if isinstance(cap, str) and cap.lower() in _CAPS:
            parts.append(f' stroke-linecap="{_CAPS[cap.lower()]}"')
        if isinstance(join, str) and join.lower() in _JOINS:
            parts.append(f' stroke-linejoin="{_JOINS[join.lower()]}"')
        miter = pick("miter_limit")
        if isinstance(miter, float) and miter >= 1:
            parts.append(f' stroke-miterlimit="{num(miter)}"')
        dashes = pick("dash_pattern")
        if isinstance(dashes, tuple) and dashes and all(v >= 0 for v in dashes) and any(v > 0 for v in dashes):
            parts.append(f' stroke-dasharray="{" ".join(num(v) for v in dashes)}"')
            offset = pick("dash_offset")
            if isinstance(offset, float) and offset:
                parts.append(f' stroke-dashoffset="{num(offset)}"')
        return "".join(parts)

    # --- objects ---

    def text(self, obj: TextObject, params: tuple[DrawParam, ...]) -> None:
        font = self.res.fonts.get(obj.font_id)
        if font is None and obj.font_id not in self._missing_fonts:  # once per font, not per text object
            self._missing_fonts.add(obj.font_id)
            warn(f"TextObject {obj.id}: font {obj.font_id} is not among the resources; a system font is used")
        advances = font_advances(self.document, obj.font_id, self.page) if font is not None else None
        attrs = [f' class="{self.fonts.css_class(font)}" font-size="{num(obj.size)}"']
        attrs.append(self._text_paint(obj, params))
        if obj.weight != 400 or (font is not None and font.bold):
            attrs.append(f' font-weight="{obj.weight if obj.weight != 400 else 700}"')
        if obj.italic or (font is not None and font.italic):
            attrs.append(' font-style="italic"')
        if obj.char_direction in (90, 180, 270):
            attrs.append(f' rotate="{obj.char_direction}"')
        if obj.alpha is not None:
            attrs.append(f' opacity="{num(_opacity(obj.alpha), 3)}"')
        h_scale = obj.h_scale if obj.h_scale > 0 else 1.0
        to_page = obj.to_page()
        if h_scale != 1.0:
            to_page = Matrix(h_scale, 0.0, 0.0, 1.0, 0.0, 0.0).then(to_page)
        common = "".join(attrs) + f' transform="{matrix(to_page)}"'
        for xs, ys, chars in _runs(obj, advances):
            x_list = " ".join(num(x / h_scale) for x in xs)
            self.body.append(f'<text{common} x="{x_list}" y="{" ".join(num(y) for y in ys)}">{escape(chars)}</text>')

    def _text_paint(self, obj: TextObject, params: tuple[DrawParam, ...]) -> str:
        out = []
        fill = self.paint(obj.fill_color, params, "fill_color") or BLACK_PAINT
        if obj.fill:
            out.append(f' fill="{fill.css}"' + (f' fill-opacity="{num(fill.opacity, 3)}"' if fill.opacity < 1 else ""))
        else:
            out.append(' fill="none"')
        if obj.stroke:
            stroke = self.paint(obj.stroke_color, params, "stroke_color") or BLACK_PAINT
            out.append(f' stroke="{stroke.css}"' + self.stroke_style(obj, params))
            if stroke.opacity < 1:
                out.append(f' stroke-opacity="{num(stroke.opacity, 3)}"')
        return "".join(out)

    def path(self, obj: PathObject, params: tuple[DrawParam, ...]) -> None:
        data = svg_path_data(obj.abbreviated_data)
        if not data:
            return
        attrs = [f' d="{data}" transform="{matrix(obj.to_page())}"']
        fill = self.paint(obj.fill_color, params, "fill_color") if obj.fill else None
        if fill is None:
            attrs.append(' fill="none"')
        else:
            attrs.append(
                f' fill="{fill.css}"' + (f' fill-opacity="{num(fill.opacity, 3)}"' if fill.opacity < 1 else "")
            )
            if obj.rule.lower().replace("-", "") == "evenodd":
                attrs.append(' fill-rule="evenodd"')
        if obj.stroke:
            stroke = self.paint(obj.stroke_color, params, "stroke_color") or BLACK_PAINT
            attrs.append(f' stroke="{stroke.css}"' + self.stroke_style(obj, params))
            if stroke.opacity < 1:
                attrs.append(f' stroke-opacity="{num(stroke.opacity, 3)}"')
        elif fill is None:
            return  # neither stroked nor filled: nothing to see
        if obj.alpha is not None:
            attrs.append(f' opacity="{num(_opacity(obj.alpha), 3)}"')
        self.body.append(f"<path{''.join(attrs)}/>")

    def image(self, obj: ImageObject) -> None:
        media = self.res.media.get(obj.resource_id)
        if media is None:
            warn(f"ImageObject {obj.id}: resource {obj.resource_id} is not among the resources; not drawn")
            return
        href = image_href(media.data, f"ImageObject {obj.id} (resource {media.id}, {media.format or 'unknown format'})")
        if href is None:
            return
        ctm = obj.ctm or Matrix(obj.boundary.width, 0.0, 0.0, obj.boundary.height, 0.0, 0.0)
        to_page = ctm.then(Matrix.translation(obj.boundary.x, obj.boundary.y))
        opacity = f' opacity="{num(_opacity(obj.alpha), 3)}"' if obj.alpha is not None else ""
        self.body.append(
            f'<image width="1" height="1" preserveAspectRatio="none" transform="{matrix(to_page)}"{opacity} '
            f'href="{href}"/>'
        )

    def composite(self, obj: CompositeObject, params: tuple[DrawParam, ...], depth: int) -> None:
        unit = self.res.units.get(obj.resource_id)
        if unit is None:
            warn(f"CompositeObject {obj.id}: resource {obj.resource_id} is not among the resources; not drawn")
            return
        opacity = f' opacity="{num(_opacity(obj.alpha), 3)}"' if obj.alpha is not None else ""
        self.body.append(f'<g transform="{matrix(obj.to_page())}"{opacity}>')
        self.objects(unit.objects, params, depth + 1)
        self.body.append("</g>")

    # --- clips ---

    def _clip_path(self, clip: Clip, boundary: Box) -> str | None:
        """A <clipPath> for a Clip; its areas are relative to the clipped object's Boundary (GB/T 33190 8.4)."""
        shapes = []
        origin = Matrix.translation(boundary.x, boundary.y)
        for area in clip.areas:
            shape = area.shape
            to_page = shape.to_page()
            if area.ctm is not None:
                to_page = to_page.then(area.ctm)
            transform = matrix(to_page.then(origin))
            if isinstance(shape, PathObject):
                data = svg_path_data(shape.abbreviated_data)
                if data:
                    shapes.append(f'<path d="{data}" transform="{transform}"/>')
            else:
                for xs, ys, chars in _runs(shape, None):
                    x_list, y_list = " ".join(num(x) for x in xs), " ".join(num(y) for y in ys)
                    shapes.append(
                        f'<text transform="{transform}" font-size="{num(shape.size)}" x="{x_list}" y="{y_list}">'
                        f"{escape(chars)}</text>"
                    )
        if not shapes:
            return None
        clip_id = self.new_id()
        self.defs.append(f'<clipPath id="{clip_id}" clipPathUnits="userSpaceOnUse">{"".join(shapes)}</clipPath>')
        return clip_id

    def clip_rect(self, box: Box) -> str:
        clip_id = self.new_id()
        self.defs.append(
            f'<clipPath id="{clip_id}" clipPathUnits="userSpaceOnUse"><rect x="{num(box.x)}" y="{num(box.y)}" '
            f'width="{num(box.width)}" height="{num(box.height)}"/></clipPath>'
        )
        return clip_id


def _runs(obj: TextObject, advances: AdvanceEm | None) -> Iterator[tuple[list[float], list[float], str]]:
    """Per TextCode: glyph x list, y list and the characters (object coordinates)."""
    glyphs = list(glyph_origins(obj, advances))
    at = 0
    for code in obj.text_codes:
        count = len(code.text)
        chunk = glyphs[at : at + count]
        at += count
        if chunk:
            yield [g[1] for g in chunk], [g[2] for g in chunk], "".join(g[0] for g in chunk)


# --- pages, annotations and stamps --------------------------------------------------------------------------------


def page_box(document: Document, index: int) -> Box:
    return document.page_size(load_page(document, index))


def load_page(document: Document, index: int) -> Page:
    if not 0 <= index < len(document.pages):
        raise ValidationError("page", f"page {index + 1} does not exist (the document has {len(document.pages)} pages)")
    return document.pages[index]


def draw_page(
    canvas: PageCanvas,
    page: Page,
    stamps: Sequence[Stamp],
    annotations: Sequence[Annotation],
    index: int,
) -> None:
    """Everything of a page onto the canvas, bottom to top."""
    document = canvas.document
    refs = page.templates
    for ref in refs:
        if ref.z_order != "Foreground":
            canvas.template(document.template(ref.template_id), ref.template_id)
    canvas.layers(page.layers)
    for ref in refs:
        if ref.z_order == "Foreground":
            canvas.template(document.template(ref.template_id), ref.template_id)
    for annotation in annotations:
        if annotation.page_id == page.id and annotation.visible:
            draw_annotation(canvas, annotation)
    for stamp in stamps:
        if stamp.page_index == index:
            draw_stamp(canvas, stamp)


def draw_annotation(canvas: PageCanvas, annotation: Annotation) -> None:
    if not annotation.objects:
        return
    box = annotation.boundary
    clip_id = canvas.clip_rect(box)
    canvas.body.append(f'<g clip-path="url(#{clip_id})"><g transform="translate({num(box.x)} {num(box.y)})">')
    canvas.objects(annotation.objects, (), 1)
    canvas.body.append("</g></g>")


def draw_stamp(canvas: PageCanvas, stamp: Stamp) -> None:
    """A seal picture scaled into its boundary, clipped to the stamp's Clip when given."""
    box = stamp.boundary
    if box.width <= 0 or box.height <= 0:
        warn(f"stamp on page {stamp.page_index + 1}: empty boundary; not drawn")
        return
    kind = stamp.picture_type.strip().upper()
    if kind == "OFD":
        inner = _stamp_ofd(canvas, stamp)
    elif kind == "SVG":
        inner = _stamp_image(stamp, "data:image/svg+xml;base64," + base64.b64encode(stamp.picture).decode("ascii"))
    else:
        href = image_href(stamp.picture, f"stamp on page {stamp.page_index + 1} ({kind or 'no'} picture)")
        inner = _stamp_image(stamp, href) if href else None
    if inner is None:
        return
    if stamp.clip is not None:
        clip = stamp.clip.moved(box.x, box.y)
        canvas.body.append(f'<g clip-path="url(#{canvas.clip_rect(clip)})">{inner}</g>')
    else:
        canvas.body.append(inner)


def _stamp_image(stamp: Stamp, href: str) -> str:
    # An SVG picture goes in as an image, not inline: scripts and external loads in a seal picture then never run.
    box = stamp.boundary
    return (
        f'<image x="{num(box.x)}" y="{num(box.y)}" width="{num(box.width)}" height="{num(box.height)}" '
        f'preserveAspectRatio="none" href="{href}"/>'
    )


def _stamp_ofd(canvas: PageCanvas, stamp: Stamp) -> str | None:
    """A one-page OFD seal picture (tax e-invoice seals) drawn as a nested <svg> scaled into the boundary."""
    nested = _nested_ofd(bytes(stamp.picture), canvas.new_id() + "-")
    if isinstance(nested, str):
        warn(f"stamp on page {stamp.page_index + 1}: the OFD seal picture cannot be drawn ({nested})")
        return None
    view, fonts, defs, body = nested
    canvas.fonts.merge(fonts)
    box = stamp.boundary
    return (
        f'<svg x="{num(box.x)}" y="{num(box.y)}" width="{num(box.width)}" height="{num(box.height)}" '
        f'viewBox="{num(view.x)} {num(view.y)} {num(view.width)} {num(view.height)}" preserveAspectRatio="none" '
        f'overflow="hidden">{defs}{body}</svg>'
    )


def _nested_ofd(picture: bytes, prefix: str) -> tuple[Box, FontFaces, str, str] | str:
    from certseal.ofd.reader import read_ofd

    try:
        document = read_ofd(picture)
        if not len(document.pages):
            return "it has no page"
        page = document.pages[0]
        canvas = PageCanvas(document, page, FontFaces(), prefix)
        draw_page(canvas, page, (), (), 0)
    except ValidationError as exc:
        return exc.message
    defs = f"<defs>{''.join(canvas.defs)}</defs>" if canvas.defs else ""
    return document.page_size(page), canvas.fonts, defs, "".join(canvas.body)


def svg_open(box: Box) -> str:
    return (
        f'<svg xmlns="{SVG_NS}" version="1.1" width="{num(box.width)}mm" height="{num(box.height)}mm" '
        f'viewBox="{num(box.x)} {num(box.y)} {num(box.width)} {num(box.height)}" xml:space="preserve" '
        f'style="white-space:pre">'
    )


def page_background(box: Box) -> str:
    return f'<rect x="{num(box.x)}" y="{num(box.y)}" width="{num(box.width)}" height="{num(box.height)}" fill="#fff"/>'


def render_page_parts(
    document: Document,
    index: int,
    *,
    stamps: Sequence[Stamp] = (),
    annotations: Sequence[Annotation] = (),
    fonts: FontFaces,
    prefix: str,
) -> tuple[Box, str]:
    """(page box, the page's <svg> element without a <style>); the fonts it uses are added to `fonts`."""
    page = load_page(document, index)
    box = document.page_size(page)
    canvas = PageCanvas(document, page, fonts, prefix)
    draw_page(canvas, page, stamps, annotations, index)
    defs = f"<defs>{''.join(canvas.defs)}</defs>" if canvas.defs else ""
    return box, f"{svg_open(box)}{defs}{page_background(box)}{''.join(canvas.body)}</svg>"


def render_page(
    document: Document,
    index: int,
    *,
    stamps: Sequence[Stamp] = (),
    annotations: Sequence[Annotation] = (),
) -> str:
    """Page `index` (0-based) as a standalone SVG document: fonts embedded in its <style>, width/height in mm.
    Stamps whose page_index is `index` and annotations whose page_id is this page's are drawn on top."""
    fonts = FontFaces()
    _box, element = render_page_parts(
        document, index, stamps=stamps, annotations=annotations, fonts=fonts, prefix=f"p{index + 1}-"
    )
    css = fonts.css()
    if css:
        head = element.index(">") + 1
        element = f"{element[:head]}<style>{css}</style>{element[head:]}"
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{element}\n'
