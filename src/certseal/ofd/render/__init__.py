"""Rendering OFD documents: SVG per page (svg.py), one HTML document of all pages (html.py), PNG via Chromium (png.py).

This module also reads from a package what is drawn over the pages: annotations (Annots) and the seal pictures of
GB/T 38540 signatures — StampAnnot positions from Signature.xml, the picture from the SES_Signature's seal (or
Seal.esl). It only parses them: nothing here verifies a signature, and a part that cannot be read is skipped with a
RenderWarning.
"""

from __future__ import annotations

import posixpath

from lxml import etree

from certseal.errors import ValidationError
from certseal.ofd.model import Box, Document
from certseal.ofd.package import OfdPackage
from certseal.ofd.reader import xml_parser
from certseal.ofd.render.html import render_html
from certseal.ofd.render.png import Rasterizer, render_png
from certseal.ofd.render.svg import Annotation, FontFaces, RenderWarning, Stamp, render_page, warn

__all__ = [
    "Annotation",
    "FontFaces",
    "Rasterizer",
    "RenderWarning",
    "Stamp",
    "page_annotations",
    "render_html",
    "render_page",
    "render_png",
    "stamps_from_signatures",
]


# --- small XML helpers (namespace-agnostic: producers differ) -----------------------------------------------------


def _xml(package: OfdPackage, name: str | None, what: str) -> etree._Element | None:
    if name is None:
        warn(f"{what}: the file is not in the package")
        return None
    try:
        return etree.fromstring(package[name], xml_parser())
    except (etree.XMLSyntaxError, ValueError, KeyError, ValidationError) as exc:
        warn(f"{what} ({name}): not readable XML ({exc})")
        return None


def _local(element: etree._Element) -> str:
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in element if _local(child) == name]


def _child(element: etree._Element, name: str) -> etree._Element | None:
    return next(iter(_children(element, name)), None)


def _child_text(element: etree._Element, name: str) -> str | None:
    child = _child(element, name)
    return child.text.strip() if child is not None and child.text and child.text.strip() else None


def _resolve(package: OfdPackage, loc: str | None, base_dir: str) -> str | None:
    """A location as producers write it: absolute from the package root, else relative to `base_dir` (or the root)."""
    if not loc or not loc.strip():
        return None
    loc = loc.strip().replace("\\", "/")
    if loc.startswith("/"):
        return package.find(loc)
    return package.find(posixpath.join(base_dir, loc)) or package.find(loc)


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except (ValueError, OverflowError):
        return None


def _box(value: str | None, what: str) -> Box | None:
    if value is None:
        return None
    try:
        return Box.parse(value, what)
    except ValidationError as exc:
        warn(exc.message)
        return None


def _document_xml(package: OfdPackage) -> str | None:
    ofd = _xml(package, package.find("OFD.xml"), "OFD.xml")
    body = _child(ofd, "DocBody") if ofd is not None else None
    return _resolve(package, _child_text(body, "DocRoot"), "") if body is not None else None


# --- annotations --------------------------------------------------------------------------------------------------


def page_annotations(package: OfdPackage) -> tuple[Annotation, ...]:
    """Every annotation of the first document (Document.xml → Annotations → per-page Annotation.xml)."""
    document_name = _document_xml(package)
    root = _xml(package, document_name, "Document.xml") if document_name else None
    loc = _child_text(root, "Annotations") if root is not None else None
    if document_name is None or loc is None:
        return ()
    doc_dir = posixpath.dirname(document_name)
    index_name = _resolve(package, loc, doc_dir)
    index = _xml(package, index_name, "Annotations")
    if index is None or index_name is None:
        return ()
    found: list[Annotation] = []
    for entry in _children(index, "Page"):
        page_id = _int(entry.get("PageID"))
        file_name = _resolve(package, _child_text(entry, "FileLoc"), posixpath.dirname(index_name))
        page_root = _xml(package, file_name, f"annotations of page {page_id}")
        if page_id is None or page_root is None or file_name is None:
            continue
        found.extend(a for a in (_annotation(e, page_id, file_name) for e in _children(page_root, "Annot")) if a)
    return tuple(found)


def _annotation(element: etree._Element, page_id: int, where: str) -> Annotation | None:
    from certseal.ofd.reader import read_content_objects

    appearance = _child(element, "Appearance")
    if appearance is None:
        return None
    boundary = _box(appearance.get("Boundary"), f"{where}: Annot {element.get('ID')} Appearance Boundary")
    if boundary is None:
        return None
    try:
        objects = read_content_objects(appearance, where)
    except ValidationError as exc:
        warn(f"{where}: Annot {element.get('ID')}: {exc.message}; not drawn")
        return None
    return Annotation(
        page_id=page_id,
        type=element.get("Type") or "",
        boundary=boundary,
        objects=objects,
        id=_int(element.get("ID")),
        subtype=element.get("Subtype"),
        visible=(element.get("Visible") or "true").lower() not in ("false", "0"),
    )


# --- seal stamps of signatures -------------------------------------------------------------------------------------


def stamps_from_signatures(package: OfdPackage, document: Document) -> list[Stamp]:
    """The seal pictures of the document's signatures where their StampAnnots put them (one Stamp per StampAnnot;
    a riding seal gives one per page, each with its Clip). Signatures without a readable seal picture are skipped."""
    if not document.signatures_loc:
        return []
    index_name = _resolve(package, document.signatures_loc, "")
    index = _xml(package, index_name, "Signatures.xml")
    if index is None or index_name is None:
        return []
    pages = {page_id: at for at, page_id in enumerate(document.page_ids)}
    stamps: list[Stamp] = []
    for entry in _children(index, "Signature"):
        name = _resolve(package, entry.get("BaseLoc"), posixpath.dirname(index_name))
        root = _xml(package, name, f"signature {entry.get('ID')}")
        info = _child(root, "SignedInfo") if root is not None else None
        if name is None or root is None or info is None:
            continue
        annots = _children(info, "StampAnnot")
        if not annots:
            continue
        picture = _seal_picture(package, root, info, posixpath.dirname(name))
        if picture is None:
            continue
        kind, data = picture
        for annot in annots:
            stamp = _stamp(annot, pages, kind, data, name)
            if stamp is not None:
                stamps.append(stamp)
    return stamps


def _stamp(annot: etree._Element, pages: dict[int, int], kind: str, data: bytes, where: str) -> Stamp | None:
    page_ref = _int(annot.get("PageRef"))
    page_index = pages.get(page_ref) if page_ref is not None else None
    if page_index is None:
        warn(f"{where}: StampAnnot {annot.get('ID')} refers to page ID {annot.get('PageRef')}, not in the document")
        return None
    boundary = _box(annot.get("Boundary"), f"{where}: StampAnnot Boundary")
    if boundary is None:
        return None
    clip = _box(annot.get("Clip"), f"{where}: StampAnnot Clip") if annot.get("Clip") else None
    return Stamp(page_index, boundary, kind, data, clip)


def _seal_picture(
    package: OfdPackage, root: etree._Element, info: etree._Element, base_dir: str
) -> tuple[str, bytes] | None:
    """(type, bytes) of the seal picture: from SignedValue.dat's SES_Signature, else from the Seal file."""
    from certseal.seals.ses import parse_seal, parse_signature

    value_name = _resolve(package, _child_text(root, "SignedValue"), base_dir)
    problems = []
    if value_name is not None:
        try:
            picture = parse_signature(package[value_name]).seal.picture
            return picture.type.upper(), picture.data
        except ValidationError as exc:
            problems.append(exc.message)
    seal = _child(info, "Seal")
    seal_name = _resolve(package, _child_text(seal, "BaseLoc"), base_dir) if seal is not None else None
    if seal_name is not None:
        try:
            picture = parse_seal(package[seal_name]).picture
            return picture.type.upper(), picture.data
        except ValidationError as exc:
            problems.append(exc.message)
    warn(f"{value_name or 'a signature'}: no seal picture ({'; '.join(problems) or 'no SignedValue or Seal file'})")
    return None
