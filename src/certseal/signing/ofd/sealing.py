"""Sealing an OFD package per GB/T 33190 ch. 18 with a GB/T 38540 SES_Signature v4, and reading the signature parts.

One sealing adds one signature (ContinueSign, as ofdrw's OFDSigner does it):

1. OFD.xml gets DocBody/Signatures when it has none (before anything is digested, so OFD.xml is protected);
2. Signatures.xml gets a `Signature ID="sNNN" Type="Seal" BaseLoc="/Doc_0/Signs/Sign_N/Signature.xml"` entry and a
   new MaxSignId (IDs are `s001`-style, as ofdrw's StandFormatAtomicSignID, so they stay xs:ID-valid; StampAnnot IDs
   come from the same counter, so MaxSignId is the last StampAnnot's ID and never repeats a Signature ID);
3. Sign_N/Seal.esl is the SESeal;
4. every file of the package is digested with SM3 — earlier signatures' files and Seal.esl included — except
   Signatures.xml, which a later seal must be able to extend (§18: "当允许下次继续添加签名时，该文件不会被包含到
   本次签名的保护文件列表"), and this signature's own Signature.xml and SignedValue.dat;
5. Sign_N/Signature.xml: Provider, SignatureMethod 1.2.156.10197.1.501, SignatureDateTime (UTC, YYYYMMDDHHMMSSZ),
   References CheckMethod="1.2.156.10197.1.401" (absolute FileRef, base64 SM3), one StampAnnot per stamp (PageRef is
   the page's ID), Seal/BaseLoc;
6. Sign_N/SignedValue.dat = SES_Signature v4 over the bytes of Signature.xml, propertyInfo = its absolute path,
   optionally with an RFC 3161 timestamp of the signature value.

A document whose earlier signature protects Signatures.xml (signed "whole protected") is refused: a new seal would
break that signature.

Coordinates are millimetres from the top-left corner of the page, y downwards (the OFD page space); pages are
0-based here. Stamp placements: at a point (the seal's centre), centred on each occurrence of a keyword (one
StampAnnot per hit, one signature), or as a riding seal (骑缝章): one StampAnnot per page whose Boundary puts the whole
seal so that its i-th of n vertical slices lies on the page's right edge, and whose Clip (in the stamp's own
coordinates) shows only that slice — ofdrw's RidingStampPos with side Right, margin 0.
"""

from __future__ import annotations

import base64
import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from certseal import __version__
from certseal.crypto.algorithms import SM2_WITH_SM3_OID, SM3_OID
from certseal.crypto.hashes import sm3
from certseal.crypto.signer import Signer
from certseal.errors import ValidationError
from certseal.ofd.model import Box, Document
from certseal.ofd.package import OfdPackage, normalize_name
from certseal.ofd.reader import parse_part as parse_xml
from certseal.ofd.reader import read_ofd
from certseal.ofd.text import find_keyword
from certseal.ofd.writer import NS, num
from certseal.seals.ses import build_signature_v4

SIGNATURE_FILE = "Signature.xml"
SIGNED_VALUE_FILE = "SignedValue.dat"
SEAL_FILE = "Seal.esl"
SIGNATURES_FILE = "Signatures.xml"
MAX_STAMPS = 2000
_NSMAP = {"ofd": NS}
_ID_NUMBER = re.compile(r"(\d+)\s*$")
_SIGN_DIR = re.compile(r"^Sign_(\d+)$", re.IGNORECASE)

Timestamper = Callable[[bytes], bytes]  # the signature value -> an RFC 3161 token over it


@dataclass(frozen=True)
class Stamp:
    """One StampAnnot: the page (0-based), the seal's box on it (page mm, top-left origin) and, for a riding seal,
    the part of the seal shown (Clip, in the stamp's own mm: 0 0 is the seal picture's top-left corner)."""

    page: int
    boundary: Box
    clip: Box | None = None


@dataclass(frozen=True)
class Provider:
    """Signature.xml's Provider: who made the signature."""

    name: str = "certseal"
    version: str = __version__
    company: str = "certseal"


@dataclass(frozen=True)
class SealedOfd:
    """The package with one more signature, and what that signature is."""

    package: OfdPackage
    signature_id: str
    signature_name: str  # package path of Signature.xml, "Doc_0/Signs/Sign_0/Signature.xml"
    signature_xml: bytes
    signed_value: bytes  # DER SES_Signature
    protected: tuple[str, ...]  # package paths digested into References
    signed_at: datetime

    def to_bytes(self) -> bytes:
        return self.package.to_bytes()


# --- the signature parts as read (ours and other producers') -----------------------------------------------------


@dataclass(frozen=True)
class SignatureEntry:
    """One Signature of Signatures.xml; `name` is the package file BaseLoc resolves to (None when missing)."""

    id: str
    type: str
    base_loc: str
    name: str | None


@dataclass(frozen=True)
class SignatureList:
    name: str  # package path of Signatures.xml
    max_sign_id: str | None
    entries: tuple[SignatureEntry, ...]


@dataclass(frozen=True)
class ReferenceEntry:
    file_ref: str
    name: str | None  # the package file FileRef resolves to, None when it names no file
    check_value: bytes | None  # None when CheckValue is not base64


@dataclass(frozen=True)
class StampAnnotEntry:
    id: str | None
    page_ref: int | None
    boundary: Box | None
    clip: Box | None


@dataclass(frozen=True)
class SignatureInfo:
    """What a Signature.xml says (tolerant: Provider as attributes or as child elements, any order)."""

    name: str
    provider: str | None
    provider_version: str | None
    provider_company: str | None
    signature_method: str | None
    signature_date_time: str | None
    check_method: str | None  # None when the attribute is absent (the schema's default is MD5)
    references: tuple[ReferenceEntry, ...]
    stamps: tuple[StampAnnotEntry, ...]
    seal_loc: str | None
    seal_name: str | None
    signed_value_loc: str | None
    signed_value_name: str | None


def _local(element: etree._Element) -> str:
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in element if _local(child) == name]


def _child(element: etree._Element, name: str) -> etree._Element | None:
    return next((child for child in element if _local(child) == name), None)


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def resolve_loc(package: OfdPackage, loc: str | None, *bases: str) -> str | None:
    """The package file an ST_Loc names: absolute from the root, else relative to the first base (then the root)
    where it exists; producers differ in case, so a case-insensitive match is accepted."""
    if loc is None or not loc.strip():
        return None
    loc = loc.strip().replace("\\", "/")
    if loc.startswith("/"):
        return package.find(loc)
    for base in (*bases, ""):
        found = package.find(normalize_name(posixpath.join(base, loc)))
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class DocBody:
    """The first DocBody of OFD.xml: where its Document.xml and Signatures.xml are."""

    document_name: str | None
    signatures_loc: str | None


def read_doc_body(package: OfdPackage) -> DocBody:
    ofd_name = package.find("OFD.xml")
    if ofd_name is None:
        raise ValidationError("ofd", "OFD.xml is missing: not an OFD package")
    root = parse_xml(package, ofd_name)
    body = _child(root, "DocBody")
    if body is None:
        raise ValidationError("ofd", "OFD.xml has no DocBody")
    return DocBody(resolve_loc(package, _text(_child(body, "DocRoot"))), _text(_child(body, "Signatures")))


def read_signature_list(package: OfdPackage, name: str) -> SignatureList:
    root = parse_xml(package, name)
    base = posixpath.dirname(name)
    entries = tuple(
        SignatureEntry(
            id=(element.get("ID") or "").strip(),
            type=(element.get("Type") or "Seal").strip(),
            base_loc=(element.get("BaseLoc") or "").strip(),
            name=resolve_loc(package, element.get("BaseLoc"), base),
        )
        for element in _children(root, "Signature")
    )
    return SignatureList(name, _text(_child(root, "MaxSignId")), entries)


def read_signature_xml(package: OfdPackage, name: str) -> SignatureInfo:
    """Signature.xml at `name`; ValidationError("ofd", …) when it is not XML or has no SignedInfo."""
    root = parse_xml(package, name)
    info = _child(root, "SignedInfo")
    if _local(root) != "Signature" or info is None:
        raise ValidationError("ofd", f"{name} is not a Signature with SignedInfo")
    base = posixpath.dirname(name)
    provider = _child(info, "Provider")
    references = _child(info, "References")
    seal = _child(info, "Seal")
    seal_loc = _text(_child(seal, "BaseLoc")) if seal is not None else None
    value_loc = _text(_child(root, "SignedValue"))
    return SignatureInfo(
        name=name,
        provider=_provider_field(provider, "ProviderName"),
        provider_version=_provider_field(provider, "Version"),
        provider_company=_provider_field(provider, "Company"),
        signature_method=_text(_child(info, "SignatureMethod")),
        signature_date_time=_text(_child(info, "SignatureDateTime")),
        check_method=_check_method(references),
        references=tuple(_reference(package, r, base) for r in _children(references, "Reference"))
        if references is not None
        else (),
        stamps=tuple(_stamp_annot(a) for a in _children(info, "StampAnnot")),
        seal_loc=seal_loc,
        seal_name=resolve_loc(package, seal_loc, base),
        signed_value_loc=value_loc,
        signed_value_name=resolve_loc(package, value_loc, base),
    )


def _check_method(references: etree._Element | None) -> str | None:
    value = references.get("CheckMethod") if references is not None else None
    if value is None or not value.strip():
        return None
    return value.strip()


def _provider_field(provider: etree._Element | None, name: str) -> str | None:
    if provider is None:
        return None
    value = provider.get(name)
    return value.strip() if value is not None else _text(_child(provider, name))


def _reference(package: OfdPackage, element: etree._Element, base: str) -> ReferenceEntry:
    file_ref = (element.get("FileRef") or "").strip()
    text = _text(_child(element, "CheckValue"))
    try:
        value = base64.b64decode("".join((text or "").split()), validate=True) if text else None
    except ValueError:
        value = None
    return ReferenceEntry(file_ref, resolve_loc(package, file_ref, base), value)


def _stamp_annot(element: etree._Element) -> StampAnnotEntry:
    def box(name: str) -> Box | None:
        value = element.get(name)
        if value is None:
            return None
        try:
            return Box.parse(value, name)
        except ValidationError:
            return None

    page = (element.get("PageRef") or "").strip()
    return StampAnnotEntry(element.get("ID"), int(page) if page.isdigit() else None, box("Boundary"), box("Clip"))


# --- placements ---------------------------------------------------------------------------------------------------


def _checked_size(size_mm: tuple[float, float]) -> tuple[float, float]:
    width, height = size_mm
    if not (width > 0 and height > 0):
        raise ValidationError("size_mm", f"the seal's width and height must be positive, not {width:g} × {height:g}")
    return float(width), float(height)


def stamp_at(document: Document, page: int, x: float, y: float, size_mm: tuple[float, float]) -> Stamp:
    """The seal centred on (x, y) of page `page` (0-based), mm from the page's top-left corner."""
    width, height = _checked_size(size_mm)
    count = len(document.pages)
    if not 0 <= page < count:
        raise ValidationError("page", f"must be between 1 and {count} (the document's pages), not {page + 1}")
    box = document.page_size(document.pages[page])
    if not 0 <= x <= box.width:
        raise ValidationError("x", f"must be between 0 and {box.width:g} mm (the page's width), not {x:g}")
    if not 0 <= y <= box.height:
        raise ValidationError("y", f"must be between 0 and {box.height:g} mm (the page's height), not {y:g}")
    return Stamp(page, Box(x - width / 2, y - height / 2, width, height))


def keyword_stamps(
    document: Document, keyword: str, size_mm: tuple[float, float], pages: Iterable[int] | None = None
) -> list[Stamp]:
    """The seal centred on every occurrence of `keyword` (on `pages`, 0-based, or every page)."""
    width, height = _checked_size(size_mm)
    wanted = keyword.strip()
    if not wanted:
        raise ValidationError("keyword", "must not be empty")
    chosen = None
    if pages is not None:
        chosen = list(pages)
        for page in chosen:
            if not 0 <= page < len(document.pages):
                raise ValidationError("pages", f"must be between 1 and {len(document.pages)}, not {page + 1}")
    hits = find_keyword(document, wanted, chosen)
    if not hits:
        raise ValidationError("keyword", f"{wanted!r} does not occur in the document's text")
    if len(hits) > MAX_STAMPS:
        raise ValidationError("keyword", f"occurs {len(hits)} times; at most {MAX_STAMPS} stamps per seal")
    return [
        Stamp(page, Box(box.x + box.width / 2 - width / 2, box.y + box.height / 2 - height / 2, width, height))
        for page, box in hits
    ]


def riding_stamps(document: Document, size_mm: tuple[float, float], y: float | None = None) -> list[Stamp]:
    """A riding seal on the right edges: page i of n shows slice i of the seal (width / n mm wide) at its right
    edge; `y` is the seal's centre in mm from the top (default: the middle of each page)."""
    width, height = _checked_size(size_mm)
    count = len(document.pages)
    if count > MAX_STAMPS:
        raise ValidationError("placement", f"a riding seal spans at most {MAX_STAMPS} pages, this document has {count}")
    slice_width = width / count
    stamps = []
    for index, page in enumerate(document.pages):
        box = document.page_size(page)
        centre = box.height / 2 if y is None else y
        if not 0 <= centre <= box.height:
            raise ValidationError("y", f"must be between 0 and {box.height:g} mm (page {index + 1}'s height)")
        boundary = Box(box.width - slice_width * (index + 1), centre - height / 2, width, height)
        stamps.append(Stamp(index, boundary, Box(index * slice_width, 0, slice_width, height)))
    return stamps


# --- sealing ------------------------------------------------------------------------------------------------------


def seal_ofd(
    source: bytes | OfdPackage,
    signer: Signer,
    seal_der: bytes,
    stamps: Sequence[Stamp],
    *,
    time: datetime | None = None,
    timestamper: Timestamper | None = None,
    provider: Provider | None = None,
    write_seal_file: bool = True,
) -> SealedOfd:
    """Add one GB/T 38540 seal signature to an OFD (see the module docstring for every step).

    `signer` is SM2 with the certificate the seal `seal_der` (a v4 SESeal) lists; `stamps` place the seal picture.
    ValidationError for an unreadable package, a stamp off the document's pages, or a document whose earlier
    signatures forbid another one."""
    package = OfdPackage.from_bytes(source) if isinstance(source, bytes) else source.copy()
    page_ids = read_ofd(package).page_ids
    if not stamps:
        raise ValidationError("placement", "a seal needs at least one stamp on a page")
    if len(stamps) > MAX_STAMPS:
        raise ValidationError("placement", f"at most {MAX_STAMPS} stamps per seal, not {len(stamps)}")
    for stamp in stamps:
        if not 0 <= stamp.page < len(page_ids):
            raise ValidationError("page", f"must be between 1 and {len(page_ids)}, not {stamp.page + 1}")
    moment = (time or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    signatures_name = _ensure_signatures_entry(package)
    existing = read_signature_list(package, signatures_name) if signatures_name in package else None
    if existing is not None:
        _check_continuable(package, existing)
    numbers = _IdCounter(_used_numbers(package, existing))
    signature_id = numbers.next()
    stamp_ids = [numbers.next() for _ in stamps]
    sign_dir = _new_sign_dir(package, posixpath.dirname(signatures_name))
    signature_name = f"{sign_dir}/{SIGNATURE_FILE}"
    package.put(signatures_name, _signatures_xml(package, existing, signature_id, signature_name, stamp_ids[-1]))
    seal_name = f"{sign_dir}/{SEAL_FILE}" if write_seal_file else None
    if seal_name is not None:
        package.put(seal_name, seal_der)
    protected = tuple(name for name in package.names() if name != signatures_name)
    signature_xml = _signature_xml(
        package,
        provider or Provider(),
        moment,
        protected,
        [(stamp_id, page_ids[s.page], s) for stamp_id, s in zip(stamp_ids, stamps, strict=True)],
        seal_name,
        f"{sign_dir}/{SIGNED_VALUE_FILE}",
    )
    signed_value = build_signature_v4(
        signer, seal_der, signature_xml, "/" + signature_name, time=moment, timestamper=timestamper
    )
    package.put(signature_name, signature_xml)
    package.put(f"{sign_dir}/{SIGNED_VALUE_FILE}", signed_value)
    return SealedOfd(package, signature_id, signature_name, signature_xml, signed_value, protected, moment)


def _ensure_signatures_entry(package: OfdPackage) -> str:
    """The package path of Signatures.xml; OFD.xml gains DocBody/Signatures (Doc_N/Signs/Signatures.xml) if needed."""
    body = read_doc_body(package)
    if body.signatures_loc:
        found = resolve_loc(package, body.signatures_loc)
        return found or normalize_name(body.signatures_loc)
    if body.document_name is None:
        raise ValidationError("ofd", "OFD.xml: DocRoot names no file of the package")
    name = normalize_name(posixpath.join(posixpath.dirname(body.document_name), "Signs", SIGNATURES_FILE))
    ofd_name = package.find("OFD.xml") or "OFD.xml"
    root = parse_xml(package, ofd_name)
    doc_body = _child(root, "DocBody")
    assert doc_body is not None
    versions = _child(doc_body, "Versions")
    after = versions if versions is not None else _child(doc_body, "DocRoot")
    entry = etree.Element(f"{{{NS}}}Signatures", nsmap=_NSMAP)
    entry.text = name
    if after is not None:
        entry.tail = after.tail
        after.addnext(entry)
    else:
        doc_body.append(entry)
    package.put(ofd_name, _serialize(root))
    return name


def _check_continuable(package: OfdPackage, existing: SignatureList) -> None:
    """Refuse when an earlier signature protects Signatures.xml: adding an entry would break it."""
    for entry in existing.entries:
        if entry.name is None:
            continue
        try:
            info = read_signature_xml(package, entry.name)
        except ValidationError:
            continue  # the verifier reports it; it protects nothing we could break
        if any(ref.name == existing.name for ref in info.references):
            raise ValidationError(
                "ofd",
                f"signature {entry.id or entry.name} protects {existing.name} (signed without allowing further "
                "signatures): another seal would break it",
            )


def _used_numbers(package: OfdPackage, existing: SignatureList | None) -> set[int]:
    """Every number used by MaxSignId, Signature IDs and the earlier signatures' StampAnnot IDs."""
    if existing is None:
        return set()
    labels: list[str | None] = [existing.max_sign_id, *(e.id for e in existing.entries)]
    for entry in existing.entries:
        if entry.name is None:
            continue
        try:
            labels.extend(stamp.id for stamp in read_signature_xml(package, entry.name).stamps)
        except ValidationError:
            continue
    found = set()
    for label in labels:
        match = _ID_NUMBER.search(label or "")
        if match is not None and len(match.group(1)) < 10:
            found.add(int(match.group(1)))
    return found


class _IdCounter:
    def __init__(self, used: set[int]) -> None:
        self._last = max(used, default=0)

    def next(self) -> str:
        self._last += 1
        return f"s{self._last:03d}"


def _new_sign_dir(package: OfdPackage, list_dir: str) -> str:
    """Signs/Sign_N beside Signatures.xml (in a Signs directory), with the first N no file of the package uses."""
    signs_dir = list_dir if posixpath.basename(list_dir).lower() == "signs" else posixpath.join(list_dir, "Signs")
    used = set()
    for name in package.names():
        parent = posixpath.dirname(name)
        if posixpath.dirname(parent).lower() == signs_dir.lower():
            match = _SIGN_DIR.match(posixpath.basename(parent))
            if match is not None:
                used.add(int(match.group(1)))
    index = next(i for i in range(len(used) + 1) if i not in used)
    return normalize_name(posixpath.join(signs_dir, f"Sign_{index}"))


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _element(parent: etree._Element | None, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    qualified = f"{{{NS}}}{tag}"
    element = etree.Element(qualified, nsmap=_NSMAP) if parent is None else etree.SubElement(parent, qualified)
    for name, value in attrs.items():
        element.set(name, value)
    if text is not None:
        element.text = text
    return element


def _signatures_xml(
    package: OfdPackage, existing: SignatureList | None, signature_id: str, signature_name: str, max_id: str
) -> bytes:
    """Signatures.xml with one more Signature entry (MaxSignId first, as the schema orders it)."""
    if existing is None:
        root = _element(None, "Signatures")
    else:
        root = parse_xml(package, existing.name)
        for old in _children(root, "MaxSignId"):
            root.remove(old)
    max_sign_id = etree.Element(f"{{{NS}}}MaxSignId")
    max_sign_id.text = max_id
    root.insert(0, max_sign_id)
    _element(root, "Signature", ID=signature_id, Type="Seal", BaseLoc="/" + signature_name)
    return _serialize(root)


def _signature_xml(
    package: OfdPackage,
    provider: Provider,
    moment: datetime,
    protected: Sequence[str],
    stamps: Sequence[tuple[str, int, Stamp]],
    seal_name: str | None,
    signed_value_name: str,
) -> bytes:
    root = _element(None, "Signature")
    info = _element(root, "SignedInfo")
    _element(info, "Provider", ProviderName=provider.name, Version=provider.version, Company=provider.company)
    _element(info, "SignatureMethod", SM2_WITH_SM3_OID)
    _element(info, "SignatureDateTime", moment.strftime("%Y%m%d%H%M%SZ"))
    references = _element(info, "References", CheckMethod=SM3_OID)
    for name in protected:
        reference = _element(references, "Reference", FileRef="/" + name)
        _element(reference, "CheckValue", base64.b64encode(sm3(package[name])).decode("ascii"))
    for stamp_id, page_id, stamp in stamps:
        annot = _element(info, "StampAnnot", ID=stamp_id, PageRef=str(page_id), Boundary=_box(stamp.boundary))
        if stamp.clip is not None:
            annot.set("Clip", _box(stamp.clip))
    if seal_name is not None:
        _element(_element(info, "Seal"), "BaseLoc", "/" + seal_name)
    _element(root, "SignedValue", "/" + signed_value_name)
    return _serialize(root)


def _box(box: Box) -> str:
    return " ".join(num(value) for value in (box.x, box.y, box.width, box.height))


__all__ = [
    "DocBody",
    "Provider",
    "ReferenceEntry",
    "SealedOfd",
    "SignatureEntry",
    "SignatureInfo",
    "SignatureList",
    "Stamp",
    "StampAnnotEntry",
    "Timestamper",
    "keyword_stamps",
    "parse_xml",
    "read_doc_body",
    "read_signature_list",
    "read_signature_xml",
    "resolve_loc",
    "riding_stamps",
    "seal_ofd",
    "stamp_at",
]
