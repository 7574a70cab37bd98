"""Visible seals on PDFs: one signature field per seal, widgets drawing the seal image, the CMS in /Contents.

`seal()` appends one incremental update (earlier signatures stay valid) holding the signature dictionary, the field,
one widget per placement and their appearances; the ByteRange digest is handed to a SignatureProducer, which returns
the CMS (PAdES: ETSI.CAdES.detached; SM2 seals: adbe.pkcs7.detached with a GB/T 35275 CMS). `signatures()` reads the
signature fields back for verification.

Coordinates: a Placement's rect is in points in the page's default user space, measured from the bottom-left corner
of the page's MediaBox (unrotated axes). The helpers `placement_at` and `riding_placements` take coordinates on the
page as displayed (after /Rotate), which are the same as a Placement's for unrotated pages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from certseal.crypto import hashes
from certseal.errors import CryptoError, ValidationError
from certseal.signing.pdf.appearance import (
    SealImage,
    empty_form_xobject,
    encode_image,
    form_xobject,
    image_xobjects,
)
from certseal.signing.pdf.objects import Name, Ref
from certseal.signing.pdf.reader import Page, PdfDocument, malformed_pdf_guard
from certseal.signing.pdf.serialize import pdf_date, pdf_text, serialize
from certseal.signing.pdf.writer import IncrementalUpdate

__all__ = [
    "PdfSignature",
    "Placement",
    "SealImage",
    "SignatureProducer",
    "SignatureWidget",
    "placement_at",
    "riding_placements",
    "seal",
    "signatures",
]

_BYTE_RANGE_WIDTH = 48  # "[0 a b c]" padded with spaces; room for files up to ~10^13 bytes
_HASHLIB = frozenset({"sha256", "sha384", "sha512"})
_SUBFILTERS = frozenset({"ETSI.CAdES.detached", "adbe.pkcs7.detached"})


@dataclass(frozen=True)
class Placement:
    """One widget of a seal.

    page: 0-based page index. rect: (x0, y0, x1, y1) in points in the page's default user space, measured from the
    bottom-left corner of the page's MediaBox, axes not rotated by /Rotate. slice: the horizontal part of the seal
    image shown, as fractions (start, end) of its width (riding seals); None shows the whole image.
    """

    page: int
    rect: tuple[float, float, float, float]
    slice: tuple[float, float] | None = None


class SignatureProducer(Protocol):
    """Makes the CMS for a PDF signature from the digest of its ByteRange."""

    @property
    def digest_algorithm(self) -> str:
        """ "sha256" (PAdES) or "sm3" (SM2 seals): the hash the PDF code applies to the ByteRange."""
        ...

    @property
    def subfilter(self) -> str:
        """ "ETSI.CAdES.detached" or "adbe.pkcs7.detached"."""
        ...

    @property
    def reserved_size(self) -> int:
        """Bytes reserved for the DER CMS (it is hex-encoded, so twice that many in the file)."""
        ...

    def __call__(self, digest: bytes) -> bytes: ...


# --- sealing -------------------------------------------------------------------------------------------------------


def seal(
    pdf: bytes,
    placements: Sequence[Placement],
    image: SealImage,
    producer: SignatureProducer,
    field_name: str | None = None,
    *,
    reason: str | None = None,
    location: str | None = None,
    contact: str | None = None,
    name: str | None = None,
    signing_time: datetime | None = None,
) -> bytes:
    """Sign `pdf` with one new signature field whose widgets show `image` at `placements`; returns the new file.

    No placements gives an invisible signature (a zero-size widget on the first page). Raises ValidationError for
    a malformed PDF or bad placements, CryptoError when the CMS does not fit in producer.reserved_size.
    """
    _check_producer(producer)
    texts = _SignatureTexts(name, reason, location, contact)
    update, sig_ref, contents_at = _prepare(pdf, placements, image, producer, field_name, texts, signing_time)
    return _sign(pdf, update, sig_ref, contents_at, producer)


@dataclass(frozen=True)
class _SignatureTexts:
    name: str | None
    reason: str | None
    location: str | None
    contact: str | None


@malformed_pdf_guard
def _prepare(
    pdf: bytes,
    placements: Sequence[Placement],
    image: SealImage,
    producer: SignatureProducer,
    field_name: str | None,
    texts: _SignatureTexts,
    signing_time: datetime | None,
) -> tuple[IncrementalUpdate, Ref, int]:
    """The update with every object of the seal; the signature's /Contents is still a placeholder."""
    document = PdfDocument(pdf)
    page_count = document.page_count()
    for placement in placements:
        _check_placement(placement, page_count)
    pages = {index: document.page(index) for index in {p.page for p in placements} | {0}}
    update = IncrementalUpdate(document)
    acroform = _AcroForm.read(document)
    name_of_field = _field_name(field_name, acroform.field_names(document))
    sig_ref = update.allocate()
    field_ref = update.allocate()
    widgets = _add_widgets(update, pages, placements, image)
    field: dict[str, object] = {Name("FT"): Name("Sig"), Name("T"): name_of_field, Name("V"): sig_ref}
    if len(widgets) == 1:
        field.update(widgets[0][1])
        annotations = [(widgets[0][0], field_ref)]
    else:
        # Each kid also carries /FT and /V: kids without /T are representations of the same field (ISO 32000-1
        # §12.7.3.1), and poppler (pdfsig) reads /V from each kid rather than inheriting it from the parent.
        shared: dict[str, object] = {Name("Parent"): field_ref, Name("FT"): Name("Sig"), Name("V"): sig_ref}
        annotations = [(page, update.add({**entries, **shared})) for page, entries in widgets]
        field[Name("Kids")] = [ref for _, ref in annotations]
    update.put(field_ref, field)
    _add_annotations(update, document, pages, annotations)
    acroform.add_field(update, document, field_ref)
    body, contents_at = _signature_body(producer, signing_time, texts)
    update.put_raw(sig_ref, body)
    return update, sig_ref, contents_at


def _check_producer(producer: SignatureProducer) -> None:
    if producer.subfilter not in _SUBFILTERS:
        raise ValidationError("subfilter", f"must be one of {sorted(_SUBFILTERS)}, not {producer.subfilter!r}")
    if producer.digest_algorithm not in _HASHLIB | {"sm3"}:
        raise ValidationError("digest_algorithm", f"{producer.digest_algorithm!r} is not supported")
    if not isinstance(producer.reserved_size, int) or not 0 < producer.reserved_size <= 1 << 20:
        raise ValidationError("reserved_size", "must be a positive number of bytes up to 1 MiB")


def _check_placement(placement: Placement, page_count: int) -> None:
    if not 0 <= placement.page < page_count:
        raise ValidationError("placement", f"page {placement.page} is outside 0..{page_count - 1}")
    x0, y0, x1, y1 = placement.rect
    if not (x0 < x1 and y0 < y1):
        raise ValidationError("placement", "rect must be (x0, y0, x1, y1) with x0 < x1 and y0 < y1")


def _field_name(requested: str | None, taken: set[str]) -> str:
    if requested is not None:
        if not requested or "." in requested:
            raise ValidationError("field_name", "must be non-empty and contain no '.'")
        if requested in taken:
            raise ValidationError("field_name", f"a form field named {requested!r} exists already")
        return requested
    number = 1
    while f"Signature{number}" in taken:
        number += 1
    return f"Signature{number}"


_Widget = tuple[int, dict[str, object]]  # page index, widget annotation entries (without /Parent)


def _add_widgets(
    update: IncrementalUpdate, pages: dict[int, Page], placements: Sequence[Placement], image: SealImage
) -> list[_Widget]:
    if not placements:
        form = update.add_raw(empty_form_xobject())
        return [(0, _widget_entries(pages[0].ref, (0.0, 0.0, 0.0, 0.0), form))]
    encoded = encode_image(image.png)
    image_ref = update.allocate()
    mask_ref = update.allocate() if encoded.alpha is not None else None
    image_body, mask_body = image_xobjects(encoded, mask_ref.num if mask_ref is not None else None)
    update.put_raw(image_ref, image_body)
    if mask_ref is not None and mask_body is not None:
        update.put_raw(mask_ref, mask_body)
    widgets: list[_Widget] = []
    for placement in placements:
        page = pages[placement.page]
        rotation = page.rotation()
        mx0, my0, _, _ = page.media_box()
        x0, y0, x1, y1 = placement.rect
        width, height = (y1 - y0, x1 - x0) if rotation in (90, 270) else (x1 - x0, y1 - y0)
        form = update.add_raw(form_xobject(width, height, image_ref.num, placement.slice, rotation))
        rect = (mx0 + x0, my0 + y0, mx0 + x1, my0 + y1)
        widgets.append((placement.page, _widget_entries(page.ref, rect, form)))
    return widgets


def _widget_entries(page: Ref, rect: tuple[float, float, float, float], form: Ref) -> dict[str, object]:
    return {
        Name("Type"): Name("Annot"),
        Name("Subtype"): Name("Widget"),
        Name("Rect"): [round(v, 4) for v in rect],
        Name("F"): 4,
        Name("P"): page,
        Name("AP"): {Name("N"): form},
    }


def _add_annotations(
    update: IncrementalUpdate, document: PdfDocument, pages: dict[int, Page], annotations: list[tuple[int, Ref]]
) -> None:
    """Append the widgets to their pages' /Annots (a new version of the array object or of the page)."""
    by_page: dict[int, list[Ref]] = {}
    for page_index, ref in annotations:
        by_page.setdefault(page_index, []).append(ref)
    for page_index, refs in by_page.items():
        page = pages[page_index]
        annots = page.dictionary.get("Annots")
        if isinstance(annots, Ref):
            existing = document.resolve(annots)
            update.put(annots, [*(existing if isinstance(existing, list) else []), *refs])
        else:
            new_page = dict(page.dictionary)
            new_page[Name("Annots")] = [*(annots if isinstance(annots, list) else []), *refs]
            update.put(page.ref, new_page)


@dataclass
class _AcroForm:
    """The document's interactive form as found: where it lives decides what the update rewrites."""

    catalog_ref: Ref
    catalog: dict[str, object]
    ref: Ref | None  # the AcroForm object, if indirect
    dictionary: dict[str, object] | None

    @classmethod
    def read(cls, document: PdfDocument) -> _AcroForm:
        catalog_ref = document.trailer["Root"]
        assert isinstance(catalog_ref, Ref)
        catalog = document.catalog()
        value = catalog.get("AcroForm")
        resolved = document.resolve(value)
        dictionary = resolved if isinstance(resolved, dict) else None
        ref = value if isinstance(value, Ref) and dictionary is not None else None
        return cls(catalog_ref, catalog, ref, dictionary)

    def fields(self, document: PdfDocument) -> list[object]:
        value = document.resolve(self.dictionary.get("Fields")) if self.dictionary is not None else None
        return list(value) if isinstance(value, list) else []

    def field_names(self, document: PdfDocument) -> set[str]:
        return {name for name, _ in _walk_fields(document, self.fields(document))}

    def add_field(self, update: IncrementalUpdate, document: PdfDocument, field_ref: Ref) -> None:
        form = dict(self.dictionary or {})
        fields_value = form.get("Fields")
        if isinstance(fields_value, Ref) and isinstance(document.resolve(fields_value), list):
            update.put(fields_value, [*self.fields(document), field_ref])
        else:
            form[Name("Fields")] = [*self.fields(document), field_ref]
        flags = form.get("SigFlags")
        form[Name("SigFlags")] = (flags if isinstance(flags, int) else 0) | 3
        if form == self.dictionary:
            return
        if self.ref is not None:
            update.put(self.ref, form)
            return
        catalog = dict(self.catalog)
        catalog[Name("AcroForm")] = form if self.dictionary is not None else update.add(form)
        update.put(self.catalog_ref, catalog)


def _signature_body(
    producer: SignatureProducer, signing_time: datetime | None, texts: _SignatureTexts
) -> tuple[bytes, int]:
    """The signature dictionary with placeholders, and the offset of its /Contents '<' within it."""
    parts = [
        b"<</Type/Sig/Filter/Adobe.PPKLite/SubFilter",
        serialize(Name(producer.subfilter)),
        b"/M",
        pdf_date(signing_time),
    ]
    entries = (
        ("Name", texts.name),
        ("Reason", texts.reason),
        ("Location", texts.location),
        ("ContactInfo", texts.contact),
    )
    for key, value in entries:
        if value:
            parts += [b"/", key.encode(), pdf_text(value)]
    parts.append(b"/ByteRange" + b"[0 0 0 0]".ljust(_BYTE_RANGE_WIDTH) + b"/Contents")
    head = b"".join(parts)
    return head + b"<" + b"0" * (2 * producer.reserved_size) + b">>>", len(head)


def _sign(pdf: bytes, update: IncrementalUpdate, sig_ref: Ref, contents_at: int, producer: SignatureProducer) -> bytes:
    section = update.build()
    data = bytearray(section.data)
    body_at = section.offsets[sig_ref.num] + len(b"%d %d obj\n" % (sig_ref.num, sig_ref.gen))
    start = body_at + contents_at  # the '<' of /Contents, within the update
    end = start + 2 * producer.reserved_size + 2
    base = len(pdf)
    byte_range = b"[0 %d %d %d]" % (base + start, base + end, len(data) - end)
    range_at = start - len(b"/Contents") - _BYTE_RANGE_WIDTH
    data[range_at : range_at + _BYTE_RANGE_WIDTH] = byte_range.ljust(_BYTE_RANGE_WIDTH)
    view = memoryview(data)
    if producer.digest_algorithm in _HASHLIB:
        hasher = hashlib.new(producer.digest_algorithm, pdf)
        hasher.update(view[:start])
        hasher.update(view[end:])
        digest = hasher.digest()
    else:
        digest = hashes.digest(producer.digest_algorithm, b"".join((pdf, view[:start], view[end:])))
    view.release()
    cms = producer(digest)
    if len(cms) > producer.reserved_size:
        raise CryptoError(
            f"the CMS signature is {len(cms)} bytes but only {producer.reserved_size} bytes were reserved for it"
        )
    data[start + 1 : start + 1 + 2 * len(cms)] = cms.hex().upper().encode("ascii")
    return pdf + data


# --- placement helpers ---------------------------------------------------------------------------------------------


def _displayed_size(page: Page, box: tuple[float, float, float, float]) -> tuple[float, float]:
    width, height = box[2] - box[0], box[3] - box[1]
    return (height, width) if page.rotation() in (90, 270) else (width, height)


def _to_placement_rect(
    page: Page, box: tuple[float, float, float, float], u0: float, v0: float, u1: float, v1: float
) -> tuple[float, float, float, float]:
    """A rectangle in displayed coordinates relative to `box` → a Placement rect (user axes, from MediaBox corner)."""
    width, height = box[2] - box[0], box[3] - box[1]
    rotation = page.rotation()

    def to_user(u: float, v: float) -> tuple[float, float]:
        if rotation == 90:
            return width - v, u
        if rotation == 180:
            return width - u, height - v
        if rotation == 270:
            return v, height - u
        return u, v

    (xa, ya), (xb, yb) = to_user(u0, v0), to_user(u1, v1)
    media = page.media_box()
    dx, dy = box[0] - media[0], box[1] - media[1]
    return (min(xa, xb) + dx, min(ya, yb) + dy, max(xa, xb) + dx, max(ya, yb) + dy)


@malformed_pdf_guard
def placement_at(document: PdfDocument, page: int, x: float, y: float, image: SealImage) -> Placement:
    """The seal with its CENTRE at (x, y): points from the bottom-left corner of the displayed page's MediaBox."""
    count = document.page_count()
    if not 0 <= page < count:
        raise ValidationError("page", f"page {page} is outside 0..{count - 1}")
    target = document.page(page)
    half_w, half_h = image.width_pt / 2, image.height_pt / 2
    rect = _to_placement_rect(target, target.media_box(), x - half_w, y - half_h, x + half_w, y + half_h)
    return Placement(page, rect)


@malformed_pdf_guard
def riding_placements(document: PdfDocument, image: SealImage, y: float | None = None) -> list[Placement]:
    """A riding seal (骑缝章): the image cut into N vertical slices for N pages, slice i at page i's right edge.

    `y` is the seal's CENTRE in points from the bottom of each displayed page (CropBox), as for placement_at;
    None centres it vertically.
    """
    pages = document.pages()
    count = len(pages)
    slice_width = image.width_pt / count
    placements: list[Placement] = []
    for index, page in enumerate(pages):
        box = page.crop_box()
        width, height = _displayed_size(page, box)
        bottom = (height if y is None else 2 * y) / 2 - image.height_pt / 2
        rect = _to_placement_rect(page, box, width - slice_width, bottom, width, bottom + image.height_pt)
        placements.append(Placement(index, rect, (index / count, (index + 1) / count)))
    return placements


# --- reading signatures back ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureWidget:
    page: int | None  # 0-based page index, None when the widget is on no page of the tree
    rect: tuple[float, float, float, float]


@dataclass(frozen=True)
class PdfSignature:
    """A signature field's value as found in the file, for verification."""

    field_name: str
    filter: str | None
    subfilter: str | None
    byte_range: tuple[int, ...]
    contents: bytes  # the DER CMS (zero padding stripped by its DER length)
    contents_raw: bytes  # the whole /Contents string (with padding): what VRI keys hash
    signing_time: str | None  # /M as written (D:YYYYMMDDHHmmSS…)
    name: str | None
    reason: str | None
    location: str | None
    contact_info: str | None
    revision_end: int  # byte offset where the signed revision ends
    covers_revision: bool  # ByteRange = the whole revision except exactly the /Contents string
    covers_document: bool  # covers_revision and the revision is the whole file (nothing appended since)
    widgets: tuple[SignatureWidget, ...]

    def signed_data(self, data: bytes) -> bytes:
        """The bytes the signature covers (the ByteRange ranges joined)."""
        ranges = self.byte_range
        return b"".join(data[ranges[i] : ranges[i] + ranges[i + 1]] for i in range(0, len(ranges) - 1, 2))


@malformed_pdf_guard
def signatures(document: PdfDocument) -> list[PdfSignature]:
    """The signed signature fields of the document, in /Fields order."""
    acroform = _AcroForm.read(document)
    page_numbers = {page.ref.num: page.index for page in document.pages()}
    found: list[PdfSignature] = []
    for full_name, field in _walk_fields(document, acroform.fields(document)):
        if _inherited(document, field, "FT") != "Sig":
            continue
        value = document.resolve(field.get("V"))
        if isinstance(value, dict) and isinstance(value.get("Contents"), bytes):
            found.append(_signature(document, full_name, field, value, page_numbers))
    return found


def _walk_fields(document: PdfDocument, fields: list[object]) -> list[tuple[str, dict[str, object]]]:
    """(fully qualified name, field dictionary) of every terminal field, cycle-safe."""
    out: list[tuple[str, dict[str, object]]] = []
    seen: set[int] = set()

    def walk(items: list[object], prefix: str, depth: int) -> None:
        for item in items:
            if isinstance(item, Ref):
                if item.num in seen or depth > 50:
                    continue
                seen.add(item.num)
            field = document.resolve(item)
            if not isinstance(field, dict):
                continue
            partial = field.get("T")
            name = prefix if not isinstance(partial, bytes) else _join(prefix, _text(partial))
            named_kids = _named_kids(document, field)
            if named_kids:
                walk(named_kids, name, depth + 1)
            else:
                out.append((name, field))

    walk(fields, "", 0)
    return out


def _named_kids(document: PdfDocument, field: dict[str, object]) -> list[object]:
    """Kids that are fields themselves (have /T); kids without /T are the field's widgets."""
    kids = document.resolve(field.get("Kids"))
    if not isinstance(kids, list):
        return []
    return [kid for kid in kids if isinstance(resolved := document.resolve(kid), dict) and "T" in resolved]


def _join(prefix: str, part: str) -> str:
    return f"{prefix}.{part}" if prefix else part


def _inherited(document: PdfDocument, field: dict[str, object], key: str) -> object:
    seen: set[int] = set()
    node: object = field
    while isinstance(node, dict):
        if key in node:
            return document.resolve(node[key])
        parent = node.get("Parent")
        if not isinstance(parent, Ref) or parent.num in seen:
            return None
        seen.add(parent.num)
        node = document.resolve(parent)
    return None


def _text(raw: bytes) -> str:
    if raw.startswith(b"\xfe\xff"):
        return raw[2:].decode("utf-16-be", errors="replace")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace")
    return raw.decode("latin-1")


def _optional_text(value: object) -> str | None:
    return _text(value) if isinstance(value, bytes) else None


def _der_length(data: bytes) -> int:
    """Length of the DER element at the start of `data` (tag, length and content), or len(data) if unparsable."""
    if len(data) < 2 or data[0] != 0x30:
        return len(data)
    first = data[1]
    if first < 0x80:
        return min(len(data), 2 + first)
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return len(data)
    return min(len(data), 2 + count + int.from_bytes(data[2 : 2 + count], "big"))


def _signature(
    document: PdfDocument,
    full_name: str,
    field: dict[str, object],
    value: dict[str, object],
    page_numbers: dict[int, int],
) -> PdfSignature:
    raw = value["Contents"]
    assert isinstance(raw, bytes)
    ranges_value = document.resolve(value.get("ByteRange"))
    ranges = tuple(v for v in ranges_value if isinstance(v, int)) if isinstance(ranges_value, list) else ()
    end = ranges[-2] + ranges[-1] if len(ranges) >= 2 else 0
    covers = _covers_revision(document, ranges, raw)
    filter_value, subfilter = value.get("Filter"), value.get("SubFilter")
    return PdfSignature(
        field_name=full_name,
        filter=str(filter_value) if isinstance(filter_value, Name) else None,
        subfilter=str(subfilter) if isinstance(subfilter, Name) else None,
        byte_range=ranges,
        contents=raw[: _der_length(raw)],
        contents_raw=raw,
        signing_time=_optional_text(value.get("M")),
        name=_optional_text(value.get("Name")),
        reason=_optional_text(value.get("Reason")),
        location=_optional_text(value.get("Location")),
        contact_info=_optional_text(value.get("ContactInfo")),
        revision_end=end,
        covers_revision=covers,
        covers_document=covers and end == len(document.data),
        widgets=_widgets(document, field, page_numbers),
    )


def _covers_revision(document: PdfDocument, ranges: tuple[int, ...], contents: bytes) -> bool:
    data = document.data
    if len(ranges) != 4 or ranges[0] != 0 or min(ranges) < 0:
        return False
    gap_start, gap_end = ranges[1], ranges[2]
    end = ranges[2] + ranges[3]
    if not (0 < gap_start < gap_end <= end <= len(data)):
        return False
    if data[gap_start : gap_start + 1] != b"<" or data[gap_end - 1 : gap_end] != b">":
        return False
    try:
        if bytes.fromhex(data[gap_start + 1 : gap_end - 1].decode("ascii")) != contents:
            return False
    except (ValueError, UnicodeDecodeError):
        return False
    return end in document.revisions or data[max(0, end - 5) : end] == b"%%EOF"


def _widgets(
    document: PdfDocument, field: dict[str, object], page_numbers: dict[int, int]
) -> tuple[SignatureWidget, ...]:
    kids = document.resolve(field.get("Kids"))
    annotations = [document.resolve(k) for k in kids] if isinstance(kids, list) else [field]
    widgets: list[SignatureWidget] = []
    for annotation in annotations:
        if not isinstance(annotation, dict):
            continue
        rect_value = document.resolve(annotation.get("Rect"))
        numbers = [document.resolve(v) for v in rect_value] if isinstance(rect_value, list) else []
        if len(numbers) != 4 or not all(isinstance(v, int | float) for v in numbers):
            continue
        x0, y0, x1, y1 = (float(v) for v in numbers)  # type: ignore[arg-type]
        page_ref = annotation.get("P")
        page = page_numbers.get(page_ref.num) if isinstance(page_ref, Ref) else None
        widgets.append(SignatureWidget(page, (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))))
    return tuple(widgets)
