"""Writing OFD packages (GB/T 33190) from the model, and a small builder that lays out pages for e-licenses.

Every XML part is written with lxml in the ofd namespace, elements in the order of the XSD sequences, so our output
validates against the standard's schemas. Output is deterministic: the same Document gives the same bytes.
Package layout: OFD.xml, Doc_0/{Document,PublicRes,DocumentRes}.xml, Doc_0/Res/*, Doc_0/Tpls/Tpl_N/Content.xml,
Doc_0/Pages/Page_N/Content.xml, Doc_0/Attachs/, Doc_0/Tags/.
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from lxml import etree

from certseal.errors import ValidationError
from certseal.ofd import qr as qr_codes
from certseal.ofd.fonts import TrueTypeFont, find_cjk_font
from certseal.ofd.model import (
    PATH_ARITY,
    Attachment,
    Box,
    Clip,
    Color,
    ColorSpace,
    CompositeGraphicUnit,
    ContentObject,
    CustomTag,
    DocInfo,
    Document,
    DrawParam,
    Font,
    GraphicUnit,
    ImageObject,
    Layer,
    Matrix,
    MultiMedia,
    OutlineItem,
    Page,
    PageArea,
    PageBlock,
    PageList,
    PathCommand,
    PathObject,
    Resources,
    TemplatePage,
    TemplateRef,
    TextCode,
    TextObject,
    compress_deltas,
)
from certseal.ofd.package import OfdPackage
from certseal.ofd.reader import xml_parser

NS = "http://www.ofdspec.org/2016"
_NSMAP = {"ofd": NS}
DOC_DIR = "Doc_0"
RES_DIR = "Res"
_XS_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")  # xs:ID (an NCName), ASCII subset
_SAFE_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_MEDIA_EXTENSIONS = {
    "PNG": "png",
    "JPEG": "jpg",
    "JPG": "jpg",
    "BMP": "bmp",
    "GIF": "gif",
    "TIFF": "tif",
    "GBIG2": "jb2",
}


def num(value: float) -> str:
    """A number as written: at most 6 decimals, no trailing zeros, never "-0"."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _nums(values: Iterable[float]) -> str:
    return " ".join(num(v) for v in values)


def _box(box: Box) -> str:
    return _nums((box.x, box.y, box.width, box.height))


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _element(
    parent: etree._Element | None, tag: str, attrs: Iterable[tuple[str, str | None]] = (), text: str | None = None
) -> etree._Element:
    element = etree.Element(_q(tag), nsmap=_NSMAP) if parent is None else etree.SubElement(parent, _q(tag))
    try:
        for name, value in attrs:
            if value is not None:
                element.set(name, value)
        if text is not None:
            element.text = text
    except ValueError as exc:  # control characters and the like cannot be written in XML
        raise ValidationError("ofd", f"{tag}: a value is not allowed in XML ({exc})") from exc
    return element


def _opt(value: float | None) -> str | None:
    return None if value is None else num(value)


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# --- model → package ------------------------------------------------------------------------------------------


def write_ofd(document: Document) -> bytes:
    """The .ofd bytes of a document."""
    return write_package(document).to_bytes()


def write_package(document: Document) -> OfdPackage:
    """The package (name → bytes, in writing order) of a document."""
    return OfdPackage(_Writer(document).files())


class _Writer:
    """Serialises one Document; objects read without an ID get fresh IDs above every ID in use."""

    def __init__(self, document: Document) -> None:
        self.doc = document
        self.pages = list(document.pages)
        self.next_id = max(document.max_unit_id, _highest_id(document, self.pages)) + 1
        self.out: dict[str, bytes] = {}

    def files(self) -> dict[str, bytes]:
        doc = self.doc
        res_files: dict[str, bytes] = {}
        public = self._resources(doc.public_res, res_files) if doc.public_res else None
        document_res = self._resources(doc.document_res, res_files) if doc.document_res else None
        templates = [self._page_xml(t.layers, t.area, (), False) for t in doc.templates]
        page_res = [self._resources(p.resources, res_files, "../../Res") if p.resources else None for p in self.pages]
        pages = [
            self._page_xml(p.layers, p.area, p.templates, r is not None)
            for p, r in zip(self.pages, page_res, strict=True)
        ]
        attachments = self._attachments() if doc.attachments else None
        tags = self._custom_tags() if doc.custom_tags else None
        # Document.xml last, once every object has its ID (MaxUnitID).
        self.out["OFD.xml"] = self._ofd_xml()
        self.out[f"{DOC_DIR}/Document.xml"] = self._document_xml(public is not None, document_res is not None)
        if public is not None:
            self.out[f"{DOC_DIR}/PublicRes.xml"] = public
        if document_res is not None:
            self.out[f"{DOC_DIR}/DocumentRes.xml"] = document_res
        self.out.update(res_files)
        for index, content in enumerate(templates):
            self.out[f"{DOC_DIR}/Tpls/Tpl_{index}/Content.xml"] = content
        for index, content in enumerate(pages):
            self.out[f"{DOC_DIR}/Pages/Page_{index}/Content.xml"] = content
            res = page_res[index]
            if res is not None:
                self.out[f"{DOC_DIR}/Pages/Page_{index}/PageRes.xml"] = res
        if attachments is not None:
            self.out.update(attachments)
        if tags is not None:
            self.out.update(tags)
        return self.out

    def _id(self, given: int | None) -> str:
        if given is not None:
            return str(given)
        self.next_id += 1
        return str(self.next_id - 1)

    # --- OFD.xml and Document.xml ---

    def _ofd_xml(self) -> bytes:
        root = _element(None, "OFD", [("Version", "1.0"), ("DocType", "OFD")])
        body = _element(root, "DocBody")
        _doc_info(body, self.doc.doc_info)
        _element(body, "DocRoot", text=f"{DOC_DIR}/Document.xml")
        if self.doc.signatures_loc:
            _element(body, "Signatures", text=self.doc.signatures_loc)
        return _serialize(root)

    def _document_xml(self, has_public: bool, has_document_res: bool) -> bytes:
        doc = self.doc
        root = _element(None, "Document")
        common = _element(root, "CommonData")
        _element(common, "MaxUnitID", text=str(max(doc.max_unit_id, self.next_id - 1)))
        _page_area(common, "PageArea", doc.page_area)
        if has_public:
            _element(common, "PublicRes", text="PublicRes.xml")
        if has_document_res:
            _element(common, "DocumentRes", text="DocumentRes.xml")
        for index, template in enumerate(doc.templates):
            attrs = [("ID", str(template.id)), ("Name", template.name), ("ZOrder", template.z_order)]
            _element(common, "TemplatePage", [*attrs, ("BaseLoc", f"Tpls/Tpl_{index}/Content.xml")])
        if doc.default_cs is not None:
            _element(common, "DefaultCS", text=str(doc.default_cs))
        pages = _element(root, "Pages")
        for index, page_id in enumerate(doc.pages.ids):
            _element(pages, "Page", [("ID", str(page_id)), ("BaseLoc", f"Pages/Page_{index}/Content.xml")])
        if doc.outlines:
            outlines = _element(root, "Outlines")
            for item in doc.outlines:
                _outline(outlines, item)
        if doc.custom_tags:
            _element(root, "CustomTags", text="Tags/CustomTags.xml")
        if doc.attachments:
            _element(root, "Attachments", text="Attachs/Attachments.xml")
        return _serialize(root)

    # --- resources ---

    def _resources(self, res: Resources, files: dict[str, bytes], base_loc: str = RES_DIR) -> bytes:
        """A resource file; the files it names go to Doc_0/Res, which `base_loc` reaches from where it is stored."""
        root = _element(None, "Res", [("BaseLoc", base_loc)])
        if res.color_spaces:
            parent = _element(root, "ColorSpaces")
            for space in res.color_spaces:
                _color_space(parent, space)
        if res.draw_params:
            parent = _element(root, "DrawParams")
            for param in res.draw_params:
                _draw_param(parent, param)
        if res.fonts:
            parent = _element(root, "Fonts")
            for font in res.fonts:
                self._font(parent, font, files)
        if res.multimedias:
            parent = _element(root, "MultiMedias")
            for media in res.multimedias:
                attrs = [("ID", str(media.id)), ("Type", media.type), ("Format", media.format)]
                element = _element(parent, "MultiMedia", attrs)
                name = f"media_{media.id}.{_MEDIA_EXTENSIONS.get((media.format or '').upper(), 'bin')}"
                _element(element, "MediaFile", text=name)
                files[f"{DOC_DIR}/{RES_DIR}/{name}"] = media.data
        if res.composite_units:
            parent = _element(root, "CompositeGraphicUnits")
            for unit in res.composite_units:
                attrs = [("ID", str(unit.id)), ("Width", num(unit.width)), ("Height", num(unit.height))]
                element = _element(parent, "CompositeGraphicUnit", attrs)
                self._objects(_element(element, "Content"), unit.objects)
        return _serialize(root)

    def _font(self, parent: etree._Element, font: Font, files: dict[str, bytes]) -> None:
        flags = (("Italic", font.italic), ("Bold", font.bold), ("Serif", font.serif), ("FixedWidth", font.fixed_width))
        attrs: list[tuple[str, str | None]] = [
            ("ID", str(font.id)),
            ("FontName", font.name),
            ("FamilyName", font.family),
        ]
        attrs.append(("Charset", None if font.charset == "unicode" else font.charset))
        attrs.extend((name, "true") for name, value in flags if value)
        element = _element(parent, "Font", attrs)
        if font.data is not None:
            name = f"font_{font.id}.{'otf' if font.data[:4] == b'OTTO' else 'ttf'}"
            _element(element, "FontFile", text=name)
            files[f"{DOC_DIR}/{RES_DIR}/{name}"] = font.data

    # --- pages and content ---

    def _page_xml(
        self, layers: Sequence[Layer], area: PageArea | None, templates: Sequence[TemplateRef], has_res: bool
    ) -> bytes:
        root = _element(None, "Page")
        for ref in templates:
            _element(root, "Template", [("TemplateID", str(ref.template_id)), ("ZOrder", ref.z_order)])
        if has_res:
            _element(root, "PageRes", text="PageRes.xml")
        if area is not None:
            _page_area(root, "Area", area)
        if layers:
            content = _element(root, "Content")
            for layer in layers:
                attrs = [("ID", self._id(layer.id)), ("Type", None if layer.type == "Body" else layer.type)]
                element = _element(content, "Layer", [*attrs, ("DrawParam", _ref(layer.draw_param))])
                self._objects(element, layer.objects)
        return _serialize(root)

    def _objects(self, parent: etree._Element, objects: Sequence[ContentObject]) -> None:
        for obj in objects:
            if isinstance(obj, PageBlock):
                self._objects(_element(parent, "PageBlock", [("ID", self._id(obj.id))]), obj.objects)
            elif isinstance(obj, TextObject):
                self._text(parent, "TextObject", obj, with_id=True)
            elif isinstance(obj, PathObject):
                self._path(parent, "PathObject", obj, with_id=True)
            elif isinstance(obj, ImageObject):
                element = self._unit(parent, "ImageObject", obj, with_id=True)
                element.set("ResourceID", str(obj.resource_id))
                for name, value in (("Substitution", obj.substitution), ("ImageMask", obj.image_mask)):
                    if value is not None:
                        element.set(name, str(value))
            else:
                self._unit(parent, "CompositeObject", obj, with_id=True).set("ResourceID", str(obj.resource_id))

    def _unit(self, parent: etree._Element, tag: str, unit: GraphicUnit, with_id: bool) -> etree._Element:
        attrs: list[tuple[str, str | None]] = [("ID", self._id(unit.id) if with_id else None)]
        attrs += [
            ("Boundary", _box(unit.boundary)),
            ("Name", unit.name),
            ("Visible", None if unit.visible else "false"),
            ("CTM", _nums(unit.ctm.values()) if unit.ctm else None),
            ("DrawParam", _ref(unit.draw_param)),
            ("LineWidth", _opt(unit.line_width)),
            ("Cap", unit.cap),
            ("Join", unit.join),
            ("MiterLimit", _opt(unit.miter_limit)),
            ("DashOffset", _opt(unit.dash_offset)),
            ("DashPattern", None if unit.dash_pattern is None else _nums(unit.dash_pattern)),
            ("Alpha", None if unit.alpha is None else str(unit.alpha)),
        ]
        element = _element(parent, tag, attrs)
        if unit.clips:
            clips = _element(element, "Clips")
            for clip in unit.clips:
                self._clip(clips, clip)
        return element

    def _clip(self, parent: etree._Element, clip: Clip) -> None:
        element = _element(parent, "Clip")
        for area in clip.areas:
            ctm = _nums(area.ctm.values()) if area.ctm else None
            area_element = _element(element, "Area", [("DrawParam", _ref(area.draw_param)), ("CTM", ctm)])
            if isinstance(area.shape, PathObject):
                self._path(area_element, "Path", area.shape, with_id=False)
            else:
                self._text(area_element, "Text", area.shape, with_id=False)

    def _text(self, parent: etree._Element, tag: str, obj: TextObject, with_id: bool) -> None:
        element = self._unit(parent, tag, obj, with_id)
        extra: list[tuple[str, str | None]] = [
            ("Font", str(obj.font_id)),
            ("Size", num(obj.size)),
            ("Stroke", "true" if obj.stroke else None),
            ("Fill", None if obj.fill else "false"),
            ("HScale", None if obj.h_scale == 1.0 else num(obj.h_scale)),
            ("ReadDirection", None if obj.read_direction == 0 else str(obj.read_direction)),
            ("CharDirection", None if obj.char_direction == 0 else str(obj.char_direction)),
            ("Weight", None if obj.weight == 400 else str(obj.weight)),
            ("Italic", "true" if obj.italic else None),
        ]
        for name, value in extra:
            if value is not None:
                element.set(name, value)
        _color(element, "FillColor", obj.fill_color)
        _color(element, "StrokeColor", obj.stroke_color)
        for code in obj.text_codes:
            attrs = [
                ("X", num(code.x)),
                ("Y", num(code.y)),
                ("DeltaX", compress_deltas(code.delta_x, num) if code.delta_x else None),
                ("DeltaY", compress_deltas(code.delta_y, num) if code.delta_y else None),
            ]
            _element(element, "TextCode", attrs, text=code.text)

    def _path(self, parent: etree._Element, tag: str, obj: PathObject, with_id: bool) -> None:
        element = self._unit(parent, tag, obj, with_id)
        extra = (
            ("Stroke", None if obj.stroke else "false"),
            ("Fill", "true" if obj.fill else None),
            ("Rule", None if obj.rule == "NonZero" else obj.rule),
        )
        for name, value in extra:
            if value is not None:
                element.set(name, value)
        _color(element, "StrokeColor", obj.stroke_color)
        _color(element, "FillColor", obj.fill_color)
        _element(element, "AbbreviatedData", text=obj.abbreviated_data)

    # --- attachments and custom tags ---

    def _attachments(self) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        root = _element(None, "Attachments")
        used: set[str] = set()
        for index, item in enumerate(self.doc.attachments, start=1):
            name = _attachment_file_name(item, index, used)
            attrs = [
                ("ID", item.id if item.id and _XS_ID.fullmatch(item.id) else f"att{index}"),
                ("Name", item.name),
                ("Format", item.format),
                ("CreationDate", item.creation_date.isoformat() if item.creation_date else None),
                ("Size", num(round(len(item.data) / 1024, 4))),
                ("Visible", None if item.visible else "false"),
                ("Usage", item.usage),
            ]
            _element(_element(root, "Attachment", attrs), "FileLoc", text=name)
            files[f"{DOC_DIR}/Attachs/{name}"] = item.data
        return {f"{DOC_DIR}/Attachs/Attachments.xml": _serialize(root), **files}

    def _custom_tags(self) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        root = _element(None, "CustomTags")
        for index, tag in enumerate(self.doc.custom_tags):
            name = f"Tag_{index}.xml"
            _element(_element(root, "CustomTag", [("NameSpace", tag.namespace)]), "FileLoc", text=name)
            files[f"{DOC_DIR}/Tags/{name}"] = tag.data
        return {f"{DOC_DIR}/Tags/CustomTags.xml": _serialize(root), **files}


def _ref(value: int | None) -> str | None:
    return None if value is None else str(value)


def _attachment_file_name(item: Attachment, index: int, used: set[str]) -> str:
    name = item.name if _SAFE_FILE_NAME.fullmatch(item.name) else ""
    if not name or name.lower() in used or name.lower() == "attachments.xml":
        suffix = f".{item.format}" if item.format and _SAFE_FILE_NAME.fullmatch(item.format) else ""
        name = f"Attach_{index}{suffix}"
    used.add(name.lower())
    return name


def _doc_info(parent: etree._Element, info: DocInfo) -> None:
    element = _element(parent, "DocInfo")
    _element(element, "DocID", text=info.doc_id)
    texts = (("Title", info.title), ("Author", info.author), ("Subject", info.subject), ("Abstract", info.abstract))
    for tag, value in texts:
        if value is not None:
            _element(element, tag, text=value)
    for tag, day in (("CreationDate", info.creation_date), ("ModDate", info.mod_date)):
        if day is not None:
            _element(element, tag, text=day.isoformat())
    if info.doc_usage is not None:
        _element(element, "DocUsage", text=info.doc_usage)
    if info.keywords:
        keywords = _element(element, "Keywords")
        for keyword in info.keywords:
            _element(keywords, "Keyword", text=keyword)
    for tag, value in (("Creator", info.creator), ("CreatorVersion", info.creator_version)):
        if value is not None:
            _element(element, tag, text=value)
    if info.custom_datas:
        datas = _element(element, "CustomDatas")
        for name, value in info.custom_datas:
            _element(datas, "CustomData", [("Name", name)], text=value)


def _page_area(parent: etree._Element, tag: str, area: PageArea) -> None:
    element = _element(parent, tag)
    _element(element, "PhysicalBox", text=_box(area.physical_box))
    for name, box in (
        ("ApplicationBox", area.application_box),
        ("ContentBox", area.content_box),
        ("BleedBox", area.bleed_box),
    ):
        if box is not None:
            _element(element, name, text=_box(box))


def _color(parent: etree._Element, tag: str, color: Color | None) -> None:
    if color is None:
        return
    attrs = [
        ("Value", None if color.value is None else _nums(color.value)),
        ("Index", None if color.index is None else str(color.index)),
        ("ColorSpace", _ref(color.color_space)),
        ("Alpha", None if color.alpha is None else str(color.alpha)),
    ]
    _element(parent, tag, attrs)


def _color_space(parent: etree._Element, space: ColorSpace) -> None:
    attrs: list[tuple[str, str | None]] = [("ID", str(space.id)), ("Type", space.type)]
    attrs.append(("BitsPerComponent", None if space.bits_per_component == 8 else str(space.bits_per_component)))
    element = _element(parent, "ColorSpace", attrs)
    if space.palette:
        palette = _element(element, "Palette")
        for entry in space.palette:
            _element(palette, "CV", text=_nums(entry))


def _draw_param(parent: etree._Element, param: DrawParam) -> None:
    attrs = [
        ("ID", str(param.id)),
        ("Relative", _ref(param.relative)),
        ("LineWidth", _opt(param.line_width)),
        ("Join", param.join),
        ("Cap", param.cap),
        ("DashOffset", _opt(param.dash_offset)),
        ("DashPattern", None if param.dash_pattern is None else _nums(param.dash_pattern)),
        ("MiterLimit", _opt(param.miter_limit)),
    ]
    element = _element(parent, "DrawParam", attrs)
    _color(element, "FillColor", param.fill_color)
    _color(element, "StrokeColor", param.stroke_color)


def _outline(parent: etree._Element, item: OutlineItem) -> None:
    element = _element(parent, "OutlineElem", [("Title", item.title), ("Expanded", None if item.expanded else "false")])
    if item.page_id is not None:
        action = _element(_element(element, "Actions"), "Action", [("Event", "CLICK")])
        dest = [("Type", "XYZ"), ("PageID", str(item.page_id)), ("Left", _opt(item.left)), ("Top", _opt(item.top))]
        _element(_element(action, "Goto"), "Dest", dest)
    for child in item.children:
        _outline(element, child)


def _highest_id(document: Document, pages: Sequence[Page]) -> int:
    found = [0, *document.pages.ids, *(t.id for t in document.templates)]
    for res in (document.public_res, document.document_res, *(p.resources for p in pages)):
        groups: Sequence[Sequence[Font | MultiMedia | DrawParam | ColorSpace | CompositeGraphicUnit]] = (
            res.fonts,
            res.multimedias,
            res.draw_params,
            res.color_spaces,
            res.composite_units,
        )
        found.extend(item.id for group in groups for item in group)
        for unit in res.composite_units:
            found.extend(_object_ids(unit.objects))
    for layers in [p.layers for p in pages] + [t.layers for t in document.templates]:
        for layer in layers:
            found.extend([layer.id or 0, *_object_ids(layer.objects)])
    return max(found)


def _object_ids(objects: Iterable[ContentObject]) -> list[int]:
    ids: list[int] = []
    for obj in objects:
        ids.append(obj.id or 0)
        if isinstance(obj, PageBlock):
            ids.extend(_object_ids(obj.objects))
    return ids


# --- the builder ----------------------------------------------------------------------------------------------

Colour = tuple[int, int, int]
Align = Literal["left", "center", "right"]
ZOrder = Literal["Background", "Foreground"]
BoxLike = Box | tuple[float, float, float, float]


def _mm(value: float) -> float:
    """Builder coordinates are kept to 0.1 µm, so a document read back equals the one built."""
    rounded = round(value, 4)
    return 0.0 if rounded == 0 else rounded


def _as_box(box: BoxLike) -> Box:
    b = box if isinstance(box, Box) else Box(*box)
    if b.width <= 0 or b.height <= 0:
        raise ValidationError("boundary", "width and height must be positive")
    return Box(_mm(b.x), _mm(b.y), _mm(b.width), _mm(b.height))


def _rgb(colour: Colour) -> Color:
    if len(colour) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in colour):
        raise ValidationError("colour", f"must be three integers 0–255 (red, green, blue), got {colour!r}")
    return Color.rgb(*colour)


@dataclass(frozen=True)
class FontHandle:
    """A font registered with a builder: its resource ID and metrics."""

    id: int
    font: TrueTypeFont


@dataclass
class _Surface:
    """A page or template page being drawn."""

    id: int
    layer_id: int
    objects: list[ContentObject]
    templates: tuple[TemplateRef, ...] = ()
    area: PageArea | None = None
    name: str | None = None
    z_order: str | None = None


@dataclass
class _OutlineNode:
    title: str
    page_id: int
    top: float | None
    children: list[_OutlineNode]

    def freeze(self) -> OutlineItem:
        return OutlineItem(self.title, self.page_id, None, self.top, True, tuple(c.freeze() for c in self.children))


class DocumentBuilder:
    """Lays out an OFD document in page millimetres (origin top-left, y down) and builds it.

    Text is set in embedded subset TrueType fonts (by default `font_path`, else the system CJK font: see
    fonts.find_cjk_font); (x, y) of `text` is the baseline start, or its centre/end with align="center"/"right".
    Drawing goes to the current surface: the last page() or template(); drawing before either starts page 1.
    """

    def __init__(
        self,
        page_size_mm: tuple[float, float] = (210.0, 297.0),
        *,
        doc_id: str | None = None,
        title: str | None = None,
        author: str | None = None,
        subject: str | None = None,
        creator: str | None = "certseal",
        creator_version: str | None = None,
        creation_date: date | None = None,
        font_path: str | Path | None = None,
    ) -> None:
        width, height = page_size_mm
        if width <= 0 or height <= 0:
            raise ValidationError("page_size_mm", "width and height must be positive")
        self._page_area = PageArea(Box(0.0, 0.0, _mm(width), _mm(height)))
        self._info = DocInfo(
            doc_id=doc_id or uuid.uuid4().hex,
            title=title,
            author=author,
            subject=subject,
            creation_date=creation_date or datetime.now(UTC).date(),
            creator=creator,
            creator_version=creator_version,
        )
        self._font_path = font_path
        self._last_id = 0
        self._pages: list[_Surface] = []
        self._templates: list[_Surface] = []
        self._current: _Surface | None = None
        self._fonts: list[FontHandle] = []
        self._default_font: FontHandle | None = None
        self._chars: dict[int, set[str]] = {}
        self._media: dict[str, MultiMedia] = {}
        self._outlines: list[_OutlineNode] = []
        self._outline_nodes: list[_OutlineNode] = []
        self._attachments: list[Attachment] = []
        self._tags: list[CustomTag] = []
        self._custom_datas: list[tuple[str, str]] = []

    def _new_id(self) -> int:
        self._last_id += 1
        return self._last_id

    # --- document structure ---

    def page(self, *, templates: Sequence[int] = (), size_mm: tuple[float, float] | None = None) -> int:
        """Start a new page (drawn on by the calls that follow); returns its page ID."""
        known = {t.id: t for t in self._templates}
        refs = []
        for template_id in templates:
            if template_id not in known:
                raise ValidationError("templates", f"no template page with ID {template_id}")
            refs.append(TemplateRef(template_id, known[template_id].z_order or "Background"))
        area = None
        if size_mm is not None:
            area = PageArea(_as_box((0.0, 0.0, size_mm[0], size_mm[1])))
        surface = _Surface(self._new_id(), self._new_id(), [], tuple(refs), area)
        self._pages.append(surface)
        self._current = surface
        return surface.id

    def template(self, name: str | None = None, z_order: ZOrder = "Background") -> int:
        """Start a template page (drawn on by the calls that follow); pages use it via page(templates=[id])."""
        if z_order not in ("Background", "Foreground"):
            raise ValidationError("z_order", "must be Background or Foreground")
        surface = _Surface(self._new_id(), self._new_id(), [], name=name, z_order=z_order)
        self._templates.append(surface)
        self._current = surface
        return surface.id

    def _surface(self) -> _Surface:
        if self._current is None:
            self.page()
            return self._pages[-1]
        return self._current

    @property
    def page_ids(self) -> tuple[int, ...]:
        return tuple(p.id for p in self._pages)

    # --- fonts and text ---

    def font(self, path: str | Path | None = None, index: int = 0) -> FontHandle:
        """Register a TrueType font (path, or the CJK font found on the system); it is embedded as a subset."""
        font = TrueTypeFont.from_file(path, index) if path else find_cjk_font(self._font_path)
        for handle in self._fonts:
            if handle.font is font:
                return handle
        handle = FontHandle(self._new_id(), font)
        self._fonts.append(handle)
        return handle

    def _font_or_default(self, font: FontHandle | None) -> FontHandle:
        if font is not None:
            return font
        if self._default_font is None:
            self._default_font = self.font()
        return self._default_font

    def text_width(self, text: str, size_mm: float, font: FontHandle | None = None) -> float:
        """The advance width of `text` in mm."""
        handle = self._font_or_default(font)
        return sum(handle.font.advance_em(c) for c in text) * size_mm

    def text(
        self,
        x_mm: float,
        y_mm: float,
        text: str,
        font: FontHandle | None = None,
        size_mm: float = 3.5,
        *,
        colour: Colour = (0, 0, 0),
        align: Align = "left",
        weight: int = 400,
    ) -> TextObject:
        """One line of text with its baseline at y_mm; glyph spacing (DeltaX) from the font's advance widths."""
        if not text or "\n" in text:
            raise ValidationError("text", "must be one non-empty line")
        if size_mm <= 0:
            raise ValidationError("size_mm", "must be positive")
        if align not in ("left", "center", "right"):
            raise ValidationError("align", "must be left, center or right")
        if weight not in range(0, 1001, 100):
            raise ValidationError("weight", "must be a multiple of 100 from 0 to 1000")
        surface = self._surface()
        handle = self._font_or_default(font)
        missing = handle.font.missing(text)
        if missing:
            shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing[:5])
            raise ValidationError("text", f"the font {handle.font.family} has no glyph for {shown}")
        advances = [_mm(handle.font.advance_em(c) * size_mm) for c in text]
        width = sum(advances)
        start = x_mm - {"left": 0.0, "center": width / 2, "right": width}[align]
        ascent = handle.font.ascent / handle.font.units_per_em * size_mm
        descent = handle.font.descent / handle.font.units_per_em * size_mm
        boundary = Box(_mm(start), _mm(y_mm - ascent), _mm(max(width, 0.0001)), _mm(ascent + descent))
        code = TextCode(text, 0.0, _mm(ascent), tuple(advances[:-1]))
        obj = TextObject(
            id=self._new_id(),
            boundary=boundary,
            font_id=handle.id,
            size=_mm(size_mm),
            text_codes=(code,),
            fill_color=_rgb(colour),
            weight=weight,
        )
        self._chars.setdefault(handle.id, set()).update(text)
        surface.objects.append(obj)
        return obj

    # --- vector graphics ---

    def path(
        self,
        commands: Sequence[PathCommand],
        *,
        stroke: Colour | None = (0, 0, 0),
        fill: Colour | None = None,
        line_width: float = 0.353,
        dash_pattern: Sequence[float] | None = None,
    ) -> PathObject:
        """A path given in page mm (PathCommand M/L/Q/B/A/C); its Boundary is the box around it."""
        if not commands or commands[0].op != "M":
            raise ValidationError("path", "must start with a move (M)")
        for command in commands:
            if command.op == "S" or PATH_ARITY.get(command.op) != len(command.args):
                raise ValidationError(
                    "path", f"{command.op} {command.args}: not an operator M/L/Q/B/A/C with its numbers"
                )
        if stroke is None and fill is None:
            raise ValidationError("path", "needs a stroke or a fill colour")
        if line_width <= 0:
            raise ValidationError("line_width", "must be positive")
        surface = self._surface()
        points = [p for command in commands for p in command.points()]
        points += [_arc_extent(c) for c in commands if c.op == "A"] + [
            _arc_extent(c, -1) for c in commands if c.op == "A"
        ]
        pad = line_width / 2 if stroke is not None else 0.0
        around = Box.around(points)
        boundary = Box(
            _mm(around.x - pad), _mm(around.y - pad), _mm(around.width + 2 * pad), _mm(around.height + 2 * pad)
        )
        data = " ".join(_command_text(c, boundary.x, boundary.y) for c in commands)
        obj = PathObject(
            id=self._new_id(),
            boundary=boundary,
            abbreviated_data=data,
            line_width=_mm(line_width) if stroke is not None else None,
            dash_pattern=tuple(_mm(v) for v in dash_pattern) if dash_pattern else None,
            stroke=stroke is not None,
            fill=fill is not None,
            stroke_color=_rgb(stroke) if stroke is not None else None,
            fill_color=_rgb(fill) if fill is not None else None,
        )
        surface.objects.append(obj)
        return obj

    def rect(
        self,
        x_mm: float,
        y_mm: float,
        width_mm: float,
        height_mm: float,
        *,
        stroke: Colour | None = (0, 0, 0),
        fill: Colour | None = None,
        line_width: float = 0.353,
    ) -> PathObject:
        box = _as_box((x_mm, y_mm, width_mm, height_mm))
        corners = ((box.x, box.y), (box.right, box.y), (box.right, box.bottom), (box.x, box.bottom))
        commands = [PathCommand("M", corners[0]), *(PathCommand("L", c) for c in corners[1:]), PathCommand("C")]
        return self.path(commands, stroke=stroke, fill=fill, line_width=line_width)

    def line(
        self,
        x1_mm: float,
        y1_mm: float,
        x2_mm: float,
        y2_mm: float,
        *,
        colour: Colour = (0, 0, 0),
        line_width: float = 0.353,
    ) -> PathObject:
        commands = [PathCommand("M", (x1_mm, y1_mm)), PathCommand("L", (x2_mm, y2_mm))]
        return self.path(commands, stroke=colour, line_width=line_width)

    def qr(
        self, payload: str | bytes, boundary: BoxLike, *, error: str = "m", colour: Colour = (0, 0, 0)
    ) -> PathObject:
        """A QR code as one filled vector path in the square at the top-left of `boundary` (quiet zone included)."""
        surface = self._surface()
        box = _as_box(boundary)
        size = min(box.width, box.height)
        data = qr_codes.qr_path_data(payload, size, error=error)
        obj = PathObject(
            id=self._new_id(),
            boundary=Box(box.x, box.y, size, size),
            abbreviated_data=data,
            stroke=False,
            fill=True,
            fill_color=_rgb(colour),
        )
        surface.objects.append(obj)
        return obj

    # --- images ---

    def image(self, data: bytes, boundary: BoxLike) -> ImageObject:
        """A PNG or JPEG image stretched over `boundary`; identical images share one resource."""
        surface = self._surface()
        box = _as_box(boundary)
        media = self._media_for(data)
        obj = ImageObject(
            id=self._new_id(),
            boundary=box,
            ctm=Matrix(box.width, 0.0, 0.0, box.height, 0.0, 0.0),
            resource_id=media.id,
        )
        surface.objects.append(obj)
        return obj

    def _media_for(self, data: bytes) -> MultiMedia:
        digest = hashlib.sha256(data).hexdigest()
        if digest not in self._media:
            self._media[digest] = MultiMedia(self._new_id(), bytes(data), "Image", _image_format(data))
        return self._media[digest]

    # --- document-level parts ---

    def outline(
        self, title: str, *, page_id: int | None = None, top_mm: float | None = None, parent: int | None = None
    ) -> int:
        """An outline entry going to a page (default: the current page); returns a handle for children."""
        target = page_id if page_id is not None else (self._pages[-1].id if self._pages else None)
        if target is None or target not in self.page_ids:
            raise ValidationError("outline", "needs an existing page (call page() first or pass page_id)")
        node = _OutlineNode(title, target, None if top_mm is None else _mm(top_mm), [])
        if parent is None:
            self._outlines.append(node)
        else:
            if not 0 <= parent < len(self._outline_nodes):
                raise ValidationError("parent", f"no outline entry {parent}")
            self._outline_nodes[parent].children.append(node)
        self._outline_nodes.append(node)
        return len(self._outline_nodes) - 1

    def attach(self, name: str, data: bytes, *, format: str | None = None, visible: bool = True) -> Attachment:
        """Attach a file (kept byte for byte in Attachs/)."""
        if not name.strip():
            raise ValidationError("name", "an attachment needs a name")
        fmt = format or (name.rsplit(".", 1)[1].lower() if "." in name else None)
        item = Attachment(name, bytes(data), fmt, f"att{len(self._attachments) + 1}", None, visible)
        self._attachments.append(item)
        return item

    def custom_tags(self, xml: bytes, namespace: str | None = None) -> CustomTag:
        """Add a custom tag file: well-formed XML whose root namespace (or `namespace`) names it."""
        try:
            root = etree.parse(io.BytesIO(xml), xml_parser()).getroot()
        except etree.XMLSyntaxError as exc:
            raise ValidationError("custom_tags", f"not well-formed XML ({exc})") from exc
        tag = CustomTag(namespace or etree.QName(root).namespace or "", bytes(xml))
        self._tags.append(tag)
        return tag

    def custom_data(self, name: str, value: str) -> None:
        """A DocInfo CustomData entry (e-license metadata: license number, holder, issuer…)."""
        self._custom_datas.append((name, value))

    # --- result ---

    def document(self) -> Document:
        fonts = tuple(
            Font(h.id, h.font.family, h.font.family, data=h.font.subset(self._chars[h.id]))
            for h in self._fonts
            if self._chars.get(h.id)
        )
        if not self._pages:
            self.page()
        pages = [Page(s.id, (Layer(tuple(s.objects), s.layer_id),), s.area, s.templates) for s in self._pages]
        templates = tuple(
            TemplatePage(s.id, (Layer(tuple(s.objects), s.layer_id),), s.name, s.z_order, s.area)
            for s in self._templates
        )
        return Document(
            doc_info=replace(self._info, custom_datas=tuple(self._custom_datas)),
            page_area=self._page_area,
            pages=PageList.of(pages),
            max_unit_id=self._last_id,
            templates=templates,
            public_res=Resources(fonts=fonts),
            document_res=Resources(multimedias=tuple(self._media.values())),
            outlines=tuple(node.freeze() for node in self._outlines),
            attachments=tuple(self._attachments),
            custom_tags=tuple(self._tags),
        )

    def build(self) -> bytes:
        """The .ofd file."""
        return write_ofd(self.document())


def _image_format(data: bytes) -> str:
    from PIL import Image, UnidentifiedImageError

    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        fmt = "PNG"
    elif data.startswith(b"\xff\xd8\xff"):
        fmt = "JPEG"
    else:
        raise ValidationError("image", "must be PNG or JPEG")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValidationError("image", f"is not a readable {fmt} ({exc})") from exc
    return fmt


def _command_text(command: PathCommand, dx: float, dy: float) -> str:
    if command.op == "A":
        rx, ry, angle, large, sweep, x, y = command.args
        return f"A {_nums((rx, ry, angle, large, sweep, _mm(x - dx), _mm(y - dy)))}"
    shifted = [_mm(v - (dx if i % 2 == 0 else dy)) for i, v in enumerate(command.args)]
    return " ".join([command.op, *(num(v) for v in shifted)])


def _arc_extent(command: PathCommand, sign: int = 1) -> tuple[float, float]:
    """A corner of the box the arc can reach (end point ± radii), so the Boundary holds the whole arc."""
    rx, ry, _angle, _large, _sweep, x, y = command.args
    reach = max(rx, ry)
    return x + sign * 2 * reach, y + sign * 2 * reach
