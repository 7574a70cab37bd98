"""Reading OFD packages — ours and other producers' — into the model.

Tolerant where real files differ from the standard (element order, missing IDs, hexadecimal colours, case of paths,
absolute or relative locations, "g" delta shorthand), strict where a value the model needs is unusable: any broken
input raises ValidationError("ofd", …) naming the part, never another exception. Pages are parsed on first access,
so opening a long document and reading page 1 costs one page.
"""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Iterator
from datetime import date, datetime
from typing import TypedDict

from lxml import etree

from certseal.errors import ValidationError
from certseal.ofd.model import (
    Attachment,
    Box,
    Clip,
    ClipArea,
    Color,
    ColorSpace,
    CompositeGraphicUnit,
    CompositeObject,
    ContentObject,
    CustomTag,
    DocInfo,
    Document,
    DrawParam,
    Font,
    ImageObject,
    Layer,
    Matrix,
    MultiMedia,
    OutlineItem,
    Page,
    PageArea,
    PageBlock,
    PageList,
    PathObject,
    Resources,
    TemplatePage,
    TemplateRef,
    TextCode,
    TextObject,
    expand_deltas,
    parse_numbers,
)
from certseal.ofd.package import OfdPackage, normalize_name

_local_parser = threading.local()


def xml_parser() -> etree.XMLParser:
    """This thread's parser for untrusted OFD XML: no entity expansion, no DTD, no network, no huge trees."""
    parser: etree.XMLParser | None = getattr(_local_parser, "parser", None)
    if parser is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
        _local_parser.parser = parser
    return parser


def read_ofd(source: bytes | OfdPackage) -> Document:
    """The first document of an OFD file (or of an opened package); pages load lazily."""
    package = source if isinstance(source, OfdPackage) else OfdPackage.from_bytes(source)
    return _Reader(package).document()


def signature_count(package: OfdPackage, document: Document) -> int:
    """How many signatures the document's Signatures.xml lists (0 if none or unreadable)."""
    if not document.signatures_loc:
        return 0
    name = _locate(package, document.signatures_loc, "")
    if name is None:
        return 0
    try:
        root = parse_part(package, name)
    except ValidationError:
        return 0
    return len(_children(root, "Signature"))


# --- XML helpers ------------------------------------------------------------------------------------------------


def parse_part(package: OfdPackage, name: str) -> etree._Element:
    """A part of the package as XML; ValidationError("ofd", …) naming it when it is not well-formed."""
    try:
        root = etree.fromstring(package[name], xml_parser())
    except (etree.XMLSyntaxError, etree.ParserError, ValueError) as exc:
        raise ValidationError("ofd", f"{name} is not well-formed XML ({exc})") from exc
    if root is None:
        raise ValidationError("ofd", f"{name} is empty")
    return root


def _local(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _elements(element: etree._Element) -> Iterator[etree._Element]:
    return (child for child in element if isinstance(child.tag, str))


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in _elements(element) if _local(child) == name]


def _child(element: etree._Element, name: str) -> etree._Element | None:
    return next((child for child in _elements(element) if _local(child) == name), None)


def _child_text(element: etree._Element, name: str) -> str | None:
    child = _child(element, name)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _attr(element: etree._Element, name: str) -> str | None:
    value = element.get(name)
    return None if value is None else value.strip()


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except (ValueError, OverflowError):
        return None


def _float(value: str | None, default: float | None = None) -> float | None:
    if value is None or not value:
        return default
    try:
        return parse_numbers(value, "number")[0]
    except (ValidationError, IndexError):
        return default


def _bool(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.lower() in ("true", "1")


def _numbers(value: str | None) -> tuple[float, ...] | None:
    if value is None or not value:
        return None
    try:
        return parse_numbers(value, "array")
    except ValidationError:
        return None


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10].replace("/", "-"))
    except ValueError:
        return None


def _datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("/", "-").replace(" ", "T", 1))
    except ValueError:
        return None


def _locate(package: OfdPackage, loc: str, *bases: str) -> str | None:
    """The package file a location names: absolute from the root, else relative to the first base where it exists
    (case differences tolerated)."""
    loc = loc.strip().replace("\\", "/")
    if not loc:
        return None
    if loc.startswith("/"):
        return package.find(loc)
    for base in bases:
        found = package.find(normalize_name(posixpath.join(base, loc)))
        if found is not None:
            return found
    return None


def _dir(name: str) -> str:
    return posixpath.dirname(name)


# --- the reader -------------------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, package: OfdPackage) -> None:
        self.package = package
        self.doc_dir = ""
        self.document_name = ""

    def document(self) -> Document:
        ofd_name = self.package.find("OFD.xml")
        if ofd_name is None:
            raise ValidationError("ofd", "OFD.xml is missing: not an OFD package")
        root = parse_part(self.package, ofd_name)
        if _local(root) != "OFD":
            raise ValidationError("ofd", f"OFD.xml: the root element is {_local(root)!r}, not OFD")
        body = _child(root, "DocBody")
        if body is None:
            raise ValidationError("ofd", "OFD.xml has no DocBody")
        doc_root = _child_text(body, "DocRoot")
        name = _locate(self.package, doc_root, "") if doc_root else None
        if name is None:
            raise ValidationError("ofd", f"OFD.xml: DocRoot {doc_root!r} names no file of the package")
        info_element = _child(body, "DocInfo")
        info = _doc_info(info_element) if info_element is not None else DocInfo(doc_id="")
        self.document_name = name
        self.doc_dir = _dir(name)
        return self._document(parse_part(self.package, name), info, _child_text(body, "Signatures"))

    def _document(self, root: etree._Element, info: DocInfo, signatures: str | None) -> Document:
        if _local(root) != "Document":
            raise ValidationError("ofd", f"{self.document_name}: the root element is not Document")
        common = _child(root, "CommonData")
        if common is None:
            raise ValidationError("ofd", f"{self.document_name} has no CommonData")
        area_element = _child(common, "PageArea")
        if area_element is None:
            raise ValidationError("ofd", f"{self.document_name}: CommonData has no PageArea")
        public = self._resource_files(_children(common, "PublicRes"))
        document_res = self._resource_files(_children(common, "DocumentRes"))
        pages_element = _child(root, "Pages")
        entries = [
            (_int(_attr(page, "ID")) or 0, _attr(page, "BaseLoc") or "")
            for page in (_children(pages_element, "Page") if pages_element is not None else [])
        ]
        outlines = _child(root, "Outlines")
        return Document(
            doc_info=info,
            page_area=_page_area(area_element, self.document_name),
            pages=PageList([page_id for page_id, _ in entries], lambda index: self._page(index, *entries[index])),
            max_unit_id=_int(_child_text(common, "MaxUnitID")) or 0,
            templates=tuple(self._template(t) for t in _children(common, "TemplatePage")),
            public_res=public,
            document_res=document_res,
            default_cs=_int(_child_text(common, "DefaultCS")),
            outlines=tuple(_outline(e) for e in _children(outlines, "OutlineElem")) if outlines is not None else (),
            attachments=self._attachments(_child_text(root, "Attachments")),
            custom_tags=self._custom_tags(_child_text(root, "CustomTags")),
            signatures_loc=signatures,
        )

    # --- pages ---

    def _page(self, index: int, page_id: int, loc: str) -> Page:
        name = _locate(self.package, loc, self.doc_dir)
        if name is None:
            raise ValidationError("ofd", f"page {index + 1}: {loc!r} names no file of the package")
        root = parse_part(self.package, name)
        where = name
        area = _child(root, "Area")
        resources = Resources()
        for res in _children(root, "PageRes"):
            if res.text:
                resources = _merge(resources, self._resources(res.text.strip(), (_dir(name), self.doc_dir)))
        return Page(
            id=page_id,
            layers=self._layers(root, where),
            area=_page_area(area, where) if area is not None else None,
            templates=tuple(
                TemplateRef(_int(_attr(t, "TemplateID")) or 0, _attr(t, "ZOrder") or "Background")
                for t in _children(root, "Template")
            ),
            resources=resources,
        )

    def _template(self, element: etree._Element) -> TemplatePage:
        template_id = _int(_attr(element, "ID")) or 0
        loc = _attr(element, "BaseLoc") or ""
        name = _locate(self.package, loc, self.doc_dir)
        layers: tuple[Layer, ...] = ()
        area = None
        if name is not None:
            root = parse_part(self.package, name)
            layers = self._layers(root, name)
            area_element = _child(root, "Area")
            area = _page_area(area_element, name) if area_element is not None else None
        return TemplatePage(template_id, layers, _attr(element, "Name"), _attr(element, "ZOrder"), area)

    def _layers(self, root: etree._Element, where: str) -> tuple[Layer, ...]:
        content = _child(root, "Content")
        if content is None:
            return ()
        return tuple(
            Layer(
                objects=_objects(layer, where),
                id=_int(_attr(layer, "ID")),
                type=_attr(layer, "Type") or "Body",
                draw_param=_int(_attr(layer, "DrawParam")),
            )
            for layer in _children(content, "Layer")
        )

    # --- resources ---

    def _resource_files(self, locations: list[etree._Element]) -> Resources:
        merged = Resources()
        for element in locations:
            if element.text and element.text.strip():
                merged = _merge(merged, self._resources(element.text.strip(), (self.doc_dir, "")))
        return merged

    def _resources(self, loc: str, bases: tuple[str, ...]) -> Resources:
        name = _locate(self.package, loc, *bases)
        if name is None:
            return Resources()
        root = parse_part(self.package, name)
        res_dir = normalize_name(posixpath.join(_dir(name), _attr(root, "BaseLoc") or ""))
        search = (res_dir, _dir(name), self.doc_dir, "")
        fonts: list[Font] = []
        media: list[MultiMedia] = []
        params: list[DrawParam] = []
        spaces: list[ColorSpace] = []
        units: list[CompositeGraphicUnit] = []
        for group in _elements(root):
            kind = _local(group)
            for item in _elements(group):
                item_id = _int(_attr(item, "ID"))
                if item_id is None:
                    continue
                if kind == "Fonts" and _local(item) == "Font":
                    fonts.append(self._font(item, item_id, search))
                elif kind == "MultiMedias" and _local(item) == "MultiMedia":
                    media.append(self._media(item, item_id, search))
                elif kind == "DrawParams" and _local(item) == "DrawParam":
                    params.append(_draw_param(item, item_id))
                elif kind == "ColorSpaces" and _local(item) == "ColorSpace":
                    spaces.append(_color_space(item, item_id))
                elif kind == "CompositeGraphicUnits" and _local(item) == "CompositeGraphicUnit":
                    units.append(_composite_unit(item, item_id, name))
        return Resources(tuple(fonts), tuple(media), tuple(params), tuple(spaces), tuple(units))

    def _file(self, loc: str | None, search: tuple[str, ...]) -> bytes | None:
        if not loc:
            return None
        name = _locate(self.package, loc, *search)
        return None if name is None else self.package[name]

    def _font(self, element: etree._Element, font_id: int, search: tuple[str, ...]) -> Font:
        return Font(
            id=font_id,
            name=_attr(element, "FontName") or "",
            family=_attr(element, "FamilyName"),
            charset=_attr(element, "Charset") or "unicode",
            italic=_bool(_attr(element, "Italic"), False),
            bold=_bool(_attr(element, "Bold"), False),
            serif=_bool(_attr(element, "Serif"), False),
            fixed_width=_bool(_attr(element, "FixedWidth"), False),
            data=self._file(_child_text(element, "FontFile"), search),
        )

    def _media(self, element: etree._Element, media_id: int, search: tuple[str, ...]) -> MultiMedia:
        data = self._file(_child_text(element, "MediaFile"), search)
        return MultiMedia(media_id, data or b"", _attr(element, "Type") or "Image", _attr(element, "Format"))

    # --- document-level parts ---

    def _attachments(self, loc: str | None) -> tuple[Attachment, ...]:
        name = _locate(self.package, loc, self.doc_dir) if loc else None
        if name is None:
            return ()
        root = parse_part(self.package, name)
        search = (_dir(name), self.doc_dir, "")
        items = []
        for element in _children(root, "Attachment"):
            items.append(
                Attachment(
                    name=_attr(element, "Name") or "",
                    data=self._file(_child_text(element, "FileLoc"), search) or b"",
                    format=_attr(element, "Format"),
                    id=_attr(element, "ID"),
                    creation_date=_datetime(_attr(element, "CreationDate")),
                    visible=_bool(_attr(element, "Visible"), True),
                    usage=_attr(element, "Usage"),
                )
            )
        return tuple(items)

    def _custom_tags(self, loc: str | None) -> tuple[CustomTag, ...]:
        name = _locate(self.package, loc, self.doc_dir) if loc else None
        if name is None:
            return ()
        root = parse_part(self.package, name)
        search = (_dir(name), self.doc_dir, "")
        tags = []
        for element in _children(root, "CustomTag"):
            namespace = _attr(element, "NameSpace") or _attr(element, "TypeID") or ""
            tags.append(CustomTag(namespace, self._file(_child_text(element, "FileLoc"), search) or b""))
        return tuple(tags)


def _merge(first: Resources, second: Resources) -> Resources:
    return Resources(
        first.fonts + second.fonts,
        first.multimedias + second.multimedias,
        first.draw_params + second.draw_params,
        first.color_spaces + second.color_spaces,
        first.composite_units + second.composite_units,
    )


def _doc_info(element: etree._Element) -> DocInfo:
    keywords = _child(element, "Keywords")
    datas = _child(element, "CustomDatas")
    return DocInfo(
        doc_id=_child_text(element, "DocID") or "",
        title=_child_text(element, "Title"),
        author=_child_text(element, "Author"),
        subject=_child_text(element, "Subject"),
        abstract=_child_text(element, "Abstract"),
        creation_date=_date(_child_text(element, "CreationDate")),
        mod_date=_date(_child_text(element, "ModDate")),
        doc_usage=_child_text(element, "DocUsage"),
        keywords=tuple(k.text or "" for k in _children(keywords, "Keyword")) if keywords is not None else (),
        creator=_child_text(element, "Creator"),
        creator_version=_child_text(element, "CreatorVersion"),
        custom_datas=tuple(
            (_attr(d, "Name") or "", d.text or "")
            for d in (_children(datas, "CustomData") if datas is not None else [])
        ),
    )


def _box(element: etree._Element, name: str, where: str) -> Box:
    value = _attr(element, name)
    if value is None:
        raise ValidationError("ofd", f"{where}: {_local(element)} has no {name}")
    try:
        return Box.parse(value, name)
    except ValidationError as exc:
        raise ValidationError("ofd", f"{where}: {exc.rule}") from exc


def _page_area(element: etree._Element, where: str) -> PageArea:
    def box(tag: str) -> Box | None:
        text = _child_text(element, tag)
        if text is None:
            return None
        try:
            return Box.parse(text, tag)
        except ValidationError as exc:
            raise ValidationError("ofd", f"{where}: {exc.rule}") from exc

    physical = box("PhysicalBox")
    if physical is None:
        raise ValidationError("ofd", f"{where}: a page area has no PhysicalBox")
    return PageArea(physical, box("ApplicationBox"), box("ContentBox"), box("BleedBox"))


def _color(element: etree._Element | None) -> Color | None:
    if element is None:
        return None
    return Color(
        value=_numbers(_attr(element, "Value")),
        color_space=_int(_attr(element, "ColorSpace")),
        index=_int(_attr(element, "Index")),
        alpha=_int(_attr(element, "Alpha")),
    )


def _ctm(element: etree._Element, where: str) -> Matrix | None:
    value = _attr(element, "CTM")
    if value is None or not value:
        return None
    try:
        return Matrix.parse(value)
    except ValidationError as exc:
        raise ValidationError("ofd", f"{where}: {exc.rule}") from exc


class _UnitFields(TypedDict):
    id: int | None
    boundary: Box
    name: str | None
    visible: bool
    ctm: Matrix | None
    draw_param: int | None
    line_width: float | None
    cap: str | None
    join: str | None
    miter_limit: float | None
    dash_offset: float | None
    dash_pattern: tuple[float, ...] | None
    alpha: int | None
    clips: tuple[Clip, ...]


def _unit_fields(element: etree._Element, where: str, with_id: bool = True) -> _UnitFields:
    return {
        "id": _int(_attr(element, "ID")) if with_id else None,
        "boundary": _box(element, "Boundary", where),
        "name": _attr(element, "Name"),
        "visible": _bool(_attr(element, "Visible"), True),
        "ctm": _ctm(element, where),
        "draw_param": _int(_attr(element, "DrawParam")),
        "line_width": _float(_attr(element, "LineWidth")),
        "cap": _attr(element, "Cap"),
        "join": _attr(element, "Join"),
        "miter_limit": _float(_attr(element, "MiterLimit")),
        "dash_offset": _float(_attr(element, "DashOffset")),
        "dash_pattern": _numbers(_attr(element, "DashPattern")),
        "alpha": _int(_attr(element, "Alpha")),
        "clips": _clips(element, where),
    }


def _clips(element: etree._Element, where: str) -> tuple[Clip, ...]:
    clips = _child(element, "Clips")
    if clips is None:
        return ()
    result = []
    for clip in _children(clips, "Clip"):
        areas = []
        for area in _children(clip, "Area"):
            path, text = _child(area, "Path"), _child(area, "Text")
            shape: PathObject | TextObject
            if path is not None:
                shape = _path(path, where, with_id=False)
            elif text is not None:
                shape = _text(text, where, with_id=False)
            else:
                continue
            areas.append(ClipArea(shape, _ctm(area, where), _int(_attr(area, "DrawParam"))))
        result.append(Clip(tuple(areas)))
    return tuple(result)


def _text(element: etree._Element, where: str, with_id: bool = True) -> TextObject:
    font = _int(_attr(element, "Font"))
    size = _float(_attr(element, "Size"))
    if font is None or size is None:
        raise ValidationError("ofd", f"{where}: a TextObject needs Font and Size")
    codes: list[TextCode] = []
    x = y = 0.0
    for code in _children(element, "TextCode"):
        text = code.text or ""
        x = _float(_attr(code, "X"), x) or 0.0  # X/Y left out: the previous TextCode's value (GB/T 33190 11.2)
        y = _float(_attr(code, "Y"), y) or 0.0
        gaps = max(len(text) - 1, 0)
        delta_x = _deltas(_attr(code, "DeltaX"), gaps, where)
        delta_y = _deltas(_attr(code, "DeltaY"), gaps, where)
        codes.append(TextCode(text, x, y, delta_x, delta_y))
    return TextObject(
        **_unit_fields(element, where, with_id),
        font_id=font,
        size=size,
        text_codes=tuple(codes),
        fill_color=_color(_child(element, "FillColor")),
        stroke_color=_color(_child(element, "StrokeColor")),
        fill=_bool(_attr(element, "Fill"), True),
        stroke=_bool(_attr(element, "Stroke"), False),
        h_scale=_float(_attr(element, "HScale"), 1.0) or 1.0,
        read_direction=_int(_attr(element, "ReadDirection")) or 0,
        char_direction=_int(_attr(element, "CharDirection")) or 0,
        weight=_int(_attr(element, "Weight")) or 400,
        italic=_bool(_attr(element, "Italic"), False),
    )


def _deltas(value: str | None, gaps: int, where: str) -> tuple[float, ...]:
    if not value:
        return ()
    try:
        return expand_deltas(value, gaps)
    except ValidationError as exc:
        raise ValidationError("ofd", f"{where}: {exc.rule}") from exc


def _path(element: etree._Element, where: str, with_id: bool = True) -> PathObject:
    return PathObject(
        **_unit_fields(element, where, with_id),
        abbreviated_data=" ".join((_child_text(element, "AbbreviatedData") or "").split()),
        stroke=_bool(_attr(element, "Stroke"), True),
        fill=_bool(_attr(element, "Fill"), False),
        rule=_attr(element, "Rule") or "NonZero",
        stroke_color=_color(_child(element, "StrokeColor")),
        fill_color=_color(_child(element, "FillColor")),
    )


def _resource_ref(element: etree._Element, where: str) -> int:
    value = _int(_attr(element, "ResourceID"))
    if value is None:
        raise ValidationError("ofd", f"{where}: {_local(element)} has no ResourceID")
    return value


def read_content_objects(element: etree._Element, where: str) -> tuple[ContentObject, ...]:
    """Content objects (Text/Path/Image/Composite/PageBlock) under an element, e.g. an Annot's Appearance."""
    return _objects(element, where)


def _objects(parent: etree._Element, where: str) -> tuple[ContentObject, ...]:
    objects: list[ContentObject] = []
    for element in _elements(parent):
        kind = _local(element)
        if kind == "TextObject":
            objects.append(_text(element, where))
        elif kind == "PathObject":
            objects.append(_path(element, where))
        elif kind == "ImageObject":
            objects.append(
                ImageObject(
                    **_unit_fields(element, where),
                    resource_id=_resource_ref(element, where),
                    substitution=_int(_attr(element, "Substitution")),
                    image_mask=_int(_attr(element, "ImageMask")),
                )
            )
        elif kind == "CompositeObject":
            objects.append(
                CompositeObject(
                    **_unit_fields(element, where),
                    resource_id=_resource_ref(element, where),
                )
            )
        elif kind == "PageBlock":
            objects.append(PageBlock(_objects(element, where), _int(_attr(element, "ID"))))
    return tuple(objects)


def _draw_param(element: etree._Element, param_id: int) -> DrawParam:
    return DrawParam(
        id=param_id,
        relative=_int(_attr(element, "Relative")),
        line_width=_float(_attr(element, "LineWidth")),
        join=_attr(element, "Join"),
        cap=_attr(element, "Cap"),
        dash_offset=_float(_attr(element, "DashOffset")),
        dash_pattern=_numbers(_attr(element, "DashPattern")),
        miter_limit=_float(_attr(element, "MiterLimit")),
        fill_color=_color(_child(element, "FillColor")),
        stroke_color=_color(_child(element, "StrokeColor")),
    )


def _color_space(element: etree._Element, space_id: int) -> ColorSpace:
    palette = _child(element, "Palette")
    entries = tuple(_numbers(cv.text) or () for cv in _children(palette, "CV")) if palette is not None else ()
    return ColorSpace(space_id, _attr(element, "Type") or "RGB", _int(_attr(element, "BitsPerComponent")) or 8, entries)


def _composite_unit(element: etree._Element, unit_id: int, where: str) -> CompositeGraphicUnit:
    content = _child(element, "Content")
    return CompositeGraphicUnit(
        unit_id,
        _float(_attr(element, "Width"), 0.0) or 0.0,
        _float(_attr(element, "Height"), 0.0) or 0.0,
        _objects(content, where) if content is not None else (),
    )


def _outline(element: etree._Element) -> OutlineItem:
    page_id = left = top = None
    actions = _child(element, "Actions")
    for action in _children(actions, "Action") if actions is not None else []:
        goto = _child(action, "Goto")
        dest = _child(goto, "Dest") if goto is not None else None
        if dest is not None:
            page_id = _int(_attr(dest, "PageID"))
            left, top = _float(_attr(dest, "Left")), _float(_attr(dest, "Top"))
            break
    return OutlineItem(
        title=_attr(element, "Title") or "",
        page_id=page_id,
        left=left,
        top=top,
        expanded=_bool(_attr(element, "Expanded"), True),
        children=tuple(_outline(child) for child in _children(element, "OutlineElem")),
    )
