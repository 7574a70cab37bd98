"""Verifying every signature of a PDF: ByteRange coverage, the CMS over it, and what changed after signing.

Per signature field with a value: the ByteRange must start at 0 and leave out exactly the /Contents string, ending
where a revision ends; the CMS (ETSI.CAdES.detached, or adbe.pkcs7.detached such as SM2 seals with GB/T 35275 CMS)
is judged by verify.cms.evaluate_signer over the digest of the signed ranges, with the certificates and revocation
data of the CMS and of the document's DSS; an ETSI.RFC3161 document timestamp is checked as a timestamp over its
ranges.

Changes after signing: every object written by the later revisions is compared with the signed revision. Permitted
(incremental updates that add signatures): new signature dictionaries and document timestamps, new signature fields
and their widgets (or an empty signature field being filled), the appearance objects those widgets draw, page
dictionaries whose only change is /Annots gaining signature widgets, /AcroForm gaining signature fields (/Fields,
/SigFlags, /DR, /DA), catalog changes limited to /AcroForm, /DSS, /Metadata, /Extensions and /Version, the DSS, its VRI
and streams, the /Info dictionary and XMP metadata. Anything else — page /Contents, new content streams, resources,
other annotations, deleted objects — is a content change.

Verdict for a content change: FAILED / FORMAT_FAILURE. EU DSS runs its PDF modification checks (page difference,
DocMDP, FieldMDP) in the Format Checking building block of ETSI EN 319 102-1, whose failure is TOTAL-FAILED /
FORMAT_FAILURE; HASH_FAILURE would be wrong (the signed bytes are intact) and the signature does not cover what a
reader now shows, which pdfsig reports as "not total document signed" and pyHanko as a modification level it does
not permit. A ByteRange that is malformed or stops short of its revision is FAILED / FORMAT_FAILURE too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from certseal.crypto.hashes import digest
from certseal.errors import ValidationError
from certseal.pki.path import Indication
from certseal.signing import cms
from certseal.signing.pdf.dss import dss
from certseal.signing.pdf.objects import Name, Ref, Stream
from certseal.signing.pdf.reader import PdfDocument
from certseal.signing.pdf.sealing import PdfSignature, signatures
from certseal.signing.verify.certificates import CertificateValidator, Finding, ValidationMaterial, signer_detail
from certseal.signing.verify.cms import (
    MALFORMED,
    SignerEvaluation,
    evaluate_signer,
    material_of,
    other_findings,
    passed_reason,
    unreadable_report,
    verdict,
)
from certseal.signing.verify.report import (
    Integrity,
    ModificationDetail,
    ModificationKind,
    ObjectChange,
    SignatureReport,
    SigningTime,
    SigningTimeSource,
    SubIndication,
)

PADES = "ETSI.CAdES.detached"
PKCS7_DETACHED = "adbe.pkcs7.detached"
DOCUMENT_TIMESTAMP = "ETSI.RFC3161"
_CMS_SUBFILTERS = {PADES, PKCS7_DETACHED}
_OBJECT_HEADER = re.compile(rb"(?<![0-9])(\d{1,10})[\x00\t\n\x0c\r ]+(\d{1,5})[\x00\t\n\x0c\r ]+obj(?![A-Za-z])")
_PDF_DATE = re.compile(r"^D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:([Zz+\-])(?:(\d{2})'?(\d{2})?'?)?)?")
_CATALOG_KEYS_PERMITTED = {"AcroForm", "DSS", "Metadata", "Extensions", "Version"}
_ACROFORM_KEYS_PERMITTED = {"Fields", "SigFlags", "DR", "DA", "NeedAppearances"}
_SIG_FIELD_KEYS_FILLED = {"V", "AP", "AS", "MK", "F", "P"}
_MAX_WALK = 100_000


def verify_pdf(data: bytes, validator: CertificateValidator) -> tuple[SignatureReport, ...]:
    """One report per signed signature field, in /Fields order."""
    document = PdfDocument(data)
    found = signatures(document)
    if not found:
        return ()
    store = dss(document)
    dss_material = ValidationMaterial(tuple(store.certificates), tuple(store.ocsp_responses), tuple(store.crls))
    analysis = _ModificationAnalysis(document)
    return tuple(_verify_signature(document, signature, validator, dss_material, analysis) for signature in found)


def _verify_signature(
    document: PdfDocument,
    signature: PdfSignature,
    validator: CertificateValidator,
    dss_material: ValidationMaterial,
    analysis: _ModificationAnalysis,
) -> SignatureReport:
    subfilter = signature.subfilter or ""
    location = _location(signature, document)
    if subfilter not in _CMS_SUBFILTERS and subfilter != DOCUMENT_TIMESTAMP:
        report = unreadable_report(signature.field_name, f"PDF ({subfilter or 'no SubFilter'})", "")
        return _with(report, reason=f"SubFilter {subfilter or '(none)'} is not supported", location=location)
    byte_range_valid = _byte_range_valid(document.data, signature)
    modifications = analysis.after(signature.revision_end) if signature.covers_revision else None
    try:
        signed = cms.parse(signature.contents)
        if subfilter == DOCUMENT_TIMESTAMP:
            return _document_timestamp(document, signature, validator, dss_material, location, modifications)
        view = signed.signers[0]
        material = material_of(signature.contents, signed).merged(dss_material)
        evaluation = evaluate_signer(
            view,
            validator,
            material,
            content_digest=digest(view.digest_algorithm, signature.signed_data(document.data)),
            claimed_time=_pdf_date(signature.signing_time) or view.signing_time,
        )
    except ValidationError as exc:
        return _with(unreadable_report(signature.field_name, "PDF", exc.message), location=location)
    except MALFORMED as exc:
        return _with(unreadable_report(signature.field_name, "PDF", f"malformed DER ({exc})"), location=location)
    findings = [
        *_structure_findings(signature, byte_range_valid, len(signed.signers)),
        *evaluation.findings,
        *_modification_findings(modifications),
    ]
    level = _level(evaluation, dss_material)
    return _report(signature, view, evaluation, findings, level, byte_range_valid, modifications, location)


def _structure_findings(signature: PdfSignature, byte_range_valid: bool, signer_count: int) -> Iterator[Finding]:
    if not byte_range_valid:
        yield Finding(
            SubIndication.FORMAT_FAILURE, "the /ByteRange does not start at 0 and leave out exactly the /Contents"
        )
    elif not signature.covers_revision:
        yield Finding(SubIndication.FORMAT_FAILURE, "the /ByteRange does not reach the end of a revision")
    if signer_count != 1:
        yield Finding(SubIndication.FORMAT_FAILURE, f"a PDF signature holds one SignerInfo, this one {signer_count}")


def _modification_findings(modifications: ModificationDetail | None) -> Iterator[Finding]:
    if modifications is not None and modifications.kind is ModificationKind.CONTENT_CHANGED:
        changed = ", ".join(f"{c.number} {c.generation} ({c.type})" for c in modifications.changes if not c.permitted)
        yield Finding(
            SubIndication.FORMAT_FAILURE,
            f"the document was changed after signing, beyond adding signatures: objects {changed}",
        )


def _level(evaluation: SignerEvaluation, dss_material: ValidationMaterial) -> str | None:
    if not evaluation.cades:
        return None
    if not evaluation.timestamped:
        return "B-B"
    return "B-LT" if evaluation.revocation_from_file and dss_material.has_revocation_data else "B-T"


def _format(subfilter: str, view: cms.SignerView, level: str | None) -> str:
    if subfilter == PADES:
        return f"PAdES-{level}" if level else "PAdES"
    return "PDF-SM2" if view.scheme.value == "sm2-sm3" else "PDF-PKCS7"


def _report(
    signature: PdfSignature,
    view: cms.SignerView,
    evaluation: SignerEvaluation,
    findings: list[Finding],
    level: str | None,
    byte_range_valid: bool,
    modifications: ModificationDetail | None,
    location: dict[str, object],
) -> SignatureReport:
    indication, sub_indication, reason = verdict(findings)
    integrity = evaluation.integrity
    return SignatureReport(
        id=signature.field_name,
        format=_format(signature.subfilter or "", view, level),
        indication=indication,
        sub_indication=sub_indication,
        reason=reason or _passed(evaluation, modifications),
        integrity=Integrity(
            integrity.digest_matches,
            integrity.signature_valid,
            integrity.signing_certificate_matches,
            byte_range_valid,
            signature.covers_revision,
            integrity.problems,
        ),
        signer=evaluation.signer,
        chain=evaluation.chain,
        revocation=evaluation.revocation,
        timestamp=evaluation.timestamp,
        signing_time=evaluation.signing_time,
        modifications=modifications,
        level=level,
        warnings=evaluation.warnings + other_findings(findings, sub_indication),
        location=location,
    )


def _passed(evaluation: SignerEvaluation, modifications: ModificationDetail | None) -> str:
    reason = passed_reason(evaluation)
    if modifications is not None and modifications.kind is ModificationKind.PERMITTED:
        reason += "; later revisions only add signatures or validation data"
    return reason


def _location(signature: PdfSignature, document: PdfDocument) -> dict[str, object]:
    widget = next((w for w in signature.widgets if w.page is not None), None)
    return {
        "sub_filter": signature.subfilter,
        "revision": document.revisions.index(signature.revision_end) + 1
        if signature.revision_end in document.revisions
        else None,
        "revisions": len(document.revisions),
        "covers_whole_document": signature.covers_document,
        "page": widget.page + 1 if widget is not None and widget.page is not None else None,
        "rect": list(widget.rect) if widget is not None else None,
        "widgets": len(signature.widgets),
        "signer_name": signature.name,
        "reason": signature.reason,
        "location": signature.location,
    }


def _with(report: SignatureReport, *, reason: str | None = None, location: dict[str, object]) -> SignatureReport:
    return SignatureReport(
        id=report.id,
        format=report.format,
        indication=report.indication,
        sub_indication=report.sub_indication,
        reason=reason or report.reason,
        integrity=report.integrity,
        location=location,
    )


def _byte_range_valid(data: bytes, signature: PdfSignature) -> bool:
    """[0, a, b, c]: the gap a..b is exactly the /Contents hex string, and b + c stays within the file."""
    ranges = signature.byte_range
    if len(ranges) != 4 or ranges[0] != 0 or min(ranges) < 0:
        return False
    gap_start, gap_end, end = ranges[1], ranges[2], ranges[2] + ranges[3]
    if not (0 < gap_start < gap_end <= end <= len(data)):
        return False
    if data[gap_start : gap_start + 1] != b"<" or data[gap_end - 1 : gap_end] != b">":
        return False
    try:
        return bytes.fromhex(data[gap_start + 1 : gap_end - 1].decode("ascii")) == signature.contents_raw
    except (ValueError, UnicodeDecodeError):
        return False


def _pdf_date(text: str | None) -> datetime | None:
    """A PDF date (D:YYYYMMDDHHmmSSOHH'mm) as an aware datetime; None if absent or unreadable."""
    if not text:
        return None
    match = _PDF_DATE.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, sign, tz_hour, tz_minute = match.groups()
    offset = timedelta(hours=int(tz_hour or 0), minutes=int(tz_minute or 0))
    zone = UTC if sign in (None, "Z", "z") else timezone(offset if sign == "+" else -offset)
    try:
        moment = datetime(
            int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=zone
        )
    except ValueError:
        return None
    return moment.astimezone(UTC)


# --- document timestamps (PAdES B-LTA) ------------------------------------------------------------------------------


def _document_timestamp(
    document: PdfDocument,
    signature: PdfSignature,
    validator: CertificateValidator,
    dss_material: ValidationMaterial,
    location: dict[str, object],
    modifications: ModificationDetail | None,
) -> SignatureReport:
    byte_range_valid = _byte_range_valid(document.data, signature)
    check = validator.validate_timestamp(
        signature.contents, signature.signed_data(document.data), dss_material, "the signed byte range"
    )
    detail = check.detail
    findings = [*_structure_findings(signature, byte_range_valid, 1), *_modification_findings(modifications)]
    if not detail.imprint_matches:
        findings.append(Finding(SubIndication.HASH_FAILURE, "the document timestamp's imprint differs from the data"))
    elif check.proof_of_existence is None:
        findings.append(
            Finding(
                SubIndication.SIG_CRYPTO_FAILURE, f"the document timestamp is invalid: {'; '.join(detail.problems)}"
            )
        )
    indication, sub_indication, reason = verdict(findings)
    tsa = cms.parse(signature.contents).signers[0].signer_certificate
    return SignatureReport(
        id=signature.field_name,
        format="PAdES-DocTimeStamp",
        indication=indication,
        sub_indication=sub_indication,
        reason=reason or f"document timestamp by {detail.tsa_subject!r}, intact and trusted",
        integrity=Integrity(
            detail.imprint_matches, detail.valid, None, byte_range_valid, signature.covers_revision, detail.problems
        ),
        signer=signer_detail(tsa, "timestamp") if tsa is not None else None,
        timestamp=detail,
        signing_time=SigningTime(detail.gen_time, SigningTimeSource.TIMESTAMP) if detail.gen_time else None,
        modifications=modifications,
        location=location,
        warnings=other_findings(findings, sub_indication),
    )


# --- modification analysis -----------------------------------------------------------------------------------------


@dataclass
class _Context:
    """What the newest revision says about the objects that may legitimately change."""

    catalog_num: int | None
    info_num: int | None
    acroform_num: int | None
    fields_num: int | None
    pages: set[int]
    annots_arrays: set[int]
    page_contents: set[int]
    dss_objects: set[int]
    metadata_num: int | None


class _ModificationAnalysis:
    """Compares the revision each signature covers with the document as it is now."""

    def __init__(self, document: PdfDocument) -> None:
        self._document = document
        self._context: _Context | None = None

    def after(self, revision_end: int) -> ModificationDetail:
        data = self._document.data
        later = [end for end in self._document.revisions if end > revision_end]
        if not data[revision_end:].strip(b"\x00\t\n\x0c\r "):
            return ModificationDetail(ModificationKind.NONE)
        try:
            signed = PdfDocument(data[:revision_end])
        except ValidationError as exc:
            change = ObjectChange(0, 0, "revision", "unreadable", False, exc.message)
            return ModificationDetail(ModificationKind.CONTENT_CHANGED, len(later), (change,))
        changes = self._changes(signed, revision_end)
        if any(not c.permitted for c in changes):
            kind = ModificationKind.CONTENT_CHANGED
        else:
            kind = ModificationKind.PERMITTED
        return ModificationDetail(kind, len(later), tuple(changes))

    def _changes(self, signed: PdfDocument, revision_end: int) -> list[ObjectChange]:
        current = self._document
        context = _Judging(self._context_of(), signed, current)
        written: list[tuple[int, int, object, object]] = []
        for number, generation in sorted(_written_objects(current, revision_end).items()):
            new = current.get(Ref(number, generation))
            old = signed.get(Ref(number)) if number < signed.next_object_number() else None
            if not _bookkeeping(new) and old != new:
                written.append((number, generation, old, new))
        for number, _, old, new in written:  # signature widgets first: their appearances are judged by them
            if _is_signature_field(new, current):
                context.signature_field(number, old, new)
        changes = []
        for number, generation, old, new in written:
            change = "added" if old is None else "changed"
            permitted, note = context.judge(number, old, new, change)
            changes.append(
                ObjectChange(number, generation, _describe(number, new, context.newest), change, permitted, note)
            )
        present = set(current.object_numbers())
        for number in signed.object_numbers():
            if number not in present:
                old = signed.get(Ref(number))
                changes.append(ObjectChange(number, 0, _describe(number, old, context.newest), "deleted", False))
        return changes

    def _context_of(self) -> _Context:
        if self._context is None:
            self._context = _build_context(self._document)
        return self._context


def _bookkeeping(value: object) -> bool:
    """Cross-reference streams and object streams: containers, judged by the objects they hold."""
    return isinstance(value, Stream) and value.dictionary.get("Type") in ("XRef", "ObjStm")


def _written_objects(document: PdfDocument, revision_end: int) -> dict[int, int]:
    """Numbers (and generations) of the objects the revisions after `revision_end` write, object streams included."""
    data = document.data
    written: dict[int, int] = {}
    for match in _OBJECT_HEADER.finditer(data, revision_end):
        written[int(match.group(1))] = int(match.group(2))
    for number in list(written):
        value = document.get(Ref(number, written[number]))
        if isinstance(value, Stream) and value.dictionary.get("Type") == "ObjStm":
            for contained in _object_stream_numbers(value):
                written.setdefault(contained, 0)
    return written


def _object_stream_numbers(stream: Stream) -> list[int]:
    count = stream.dictionary.get("N")
    first = stream.dictionary.get("First")
    if not isinstance(count, int) or not isinstance(first, int):
        return []
    header = stream.decoded()[:first].split()
    return [int(header[i]) for i in range(0, min(len(header), 2 * count), 2) if header[i].isdigit()]


def _build_context(document: PdfDocument) -> _Context:
    trailer = document.trailer
    root, info = trailer.get("Root"), trailer.get("Info")
    catalog = document.catalog()
    acroform_ref = catalog.get("AcroForm")
    acroform = document.resolve(acroform_ref)
    fields_ref = acroform.get("Fields") if isinstance(acroform, dict) else None
    pages = document.pages()
    annots = {ref.num for p in pages if isinstance(ref := p.dictionary.get("Annots"), Ref)}
    contents: set[int] = set()
    for page in pages:
        contents |= _refs_in(page.dictionary.get("Contents"), document)
    metadata = catalog.get("Metadata")
    return _Context(
        catalog_num=root.num if isinstance(root, Ref) else None,
        info_num=info.num if isinstance(info, Ref) else None,
        acroform_num=acroform_ref.num if isinstance(acroform_ref, Ref) else None,
        fields_num=fields_ref.num if isinstance(fields_ref, Ref) else None,
        pages={p.ref.num for p in pages},
        annots_arrays=annots,
        page_contents=contents,
        dss_objects=_reachable(document, [catalog.get("DSS")]),
        metadata_num=metadata.num if isinstance(metadata, Ref) else None,
    )


def _refs_in(value: object, document: PdfDocument) -> set[int]:
    """Objects a /Contents value names: one stream, or an array (itself maybe indirect) of streams."""
    found: set[int] = set()
    if isinstance(value, Ref):
        found.add(value.num)
        value = document.get(value)
    if isinstance(value, list):
        found |= {item.num for item in value if isinstance(item, Ref)}
    return found


def _reachable(document: PdfDocument, roots: Iterable[object]) -> set[int]:
    """Object numbers reachable from `roots` through references (dictionaries, arrays, stream dictionaries)."""
    seen: set[int] = set()
    pending = list(roots)
    while pending and len(seen) < _MAX_WALK:
        value = pending.pop()
        if isinstance(value, Ref):
            if value.num in seen:
                continue
            seen.add(value.num)
            pending.append(document.get(value))
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, Stream):
            pending.extend(value.dictionary.values())
    return seen


def _is_signature_field(value: object, document: PdfDocument) -> bool:
    if not isinstance(value, dict):
        return False
    if value.get("FT") == "Sig":
        return True
    parent = document.resolve(value.get("Parent")) if isinstance(value.get("Parent"), Ref) else None
    return isinstance(parent, dict) and parent.get("FT") == "Sig"


class _Judging:
    """Judges the objects one signature's later revisions wrote, against the revision it signed."""

    def __init__(self, newest: _Context, signed: PdfDocument, current: PdfDocument) -> None:
        self.newest = newest
        self.signed = signed
        self.current = current
        self.widgets: dict[int, tuple[bool, str]] = {}  # signature fields and widgets written: (permitted, why)
        self._appearances: set[int] | None = None

    def signature_field(self, number: int, old: object, new: object) -> None:
        if old is None:
            self.widgets[number] = (True, "new signature field or widget")
            return
        if not isinstance(old, dict) or not isinstance(new, dict):
            self.widgets[number] = (False, "replaced by a signature field")
            return
        changed = {k for k in set(old) | set(new) if old.get(k) != new.get(k)}
        if changed <= _SIG_FIELD_KEYS_FILLED and old.get("V") is None:
            self.widgets[number] = (True, "an empty signature field was signed")
        else:
            self.widgets[number] = (False, f"an existing signature field changed ({', '.join(sorted(changed))})")

    def judge(self, number: int, old: object, new: object, change: str) -> tuple[bool, str]:
        """(permitted, why) for one object written after the signed revision."""
        context = self.newest
        if number == context.catalog_num:
            return self._catalog_ok(old, new)
        if number in context.dss_objects:
            return True, "document security store"
        if number == context.info_num:
            return True, "document information"
        if number == context.metadata_num or (isinstance(new, Stream) and new.dictionary.get("Type") == "Metadata"):
            return True, "XMP metadata"
        if isinstance(new, dict) and new.get("Type") in ("Sig", "DocTimeStamp"):
            if change == "added":
                return True, "signature value"
            return False, "an existing signature value was rewritten"
        if number in self.widgets:
            return self.widgets[number]
        if number in context.pages:
            return self._page_ok(old, new)
        if number in context.annots_arrays:
            return self._growth_ok(old, new, "page annotations")
        if number == context.acroform_num:
            return self._acroform_ok(old, new)
        if number == context.fields_num:
            return self._growth_ok(old, new, "form fields")
        if change == "added" and number in self._appearance_objects():
            return True, "signature appearance"
        if number in context.page_contents:
            return False, "page content"
        return False, ""

    def _catalog_ok(self, old: object, new: object) -> tuple[bool, str]:
        permitted, note = _dictionary_change_ok(old, new, _CATALOG_KEYS_PERMITTED, "catalog")
        if not permitted or not isinstance(old, dict) or not isinstance(new, dict):
            return permitted, note
        old_form, new_form = old.get("AcroForm"), new.get("AcroForm")
        if old_form != new_form and isinstance(new_form, dict):  # a direct AcroForm dictionary changed inside
            form_ok, form_note = self._acroform_ok(old_form, new_form)
            if not form_ok:
                return form_ok, form_note
        return permitted, note

    def _page_ok(self, old: object, new: object) -> tuple[bool, str]:
        permitted, note = _dictionary_change_ok(old, new, {"Annots"}, "page")
        if not permitted:
            return permitted, note
        assert isinstance(old, dict) and isinstance(new, dict)
        return self._growth_ok(self.signed.resolve(old.get("Annots")), new.get("Annots"), "page annotations")

    def _acroform_ok(self, old: object, new: object) -> tuple[bool, str]:
        before = old if isinstance(old, dict) else {}
        permitted, note = _dictionary_change_ok(before, new, _ACROFORM_KEYS_PERMITTED, "AcroForm")
        if not permitted or not isinstance(new, dict):
            return permitted, note
        return self._growth_ok(self.signed.resolve(before.get("Fields")), new.get("Fields"), "form fields")

    def _growth_ok(self, old: object, new: object, what: str) -> tuple[bool, str]:
        """An array (annotations or fields) that kept its items and only gained permitted signature fields."""
        new = self.current.resolve(new)
        old_items = old if isinstance(old, list) else []
        if not isinstance(new, list):
            return False, f"{what} removed"
        missing = [item for item in old_items if item not in new]
        if missing:
            return False, f"{what}: {len(missing)} removed"
        added = [item for item in new if item not in old_items]
        foreign = [item for item in added if not self._permitted_field(item)]
        if foreign:
            return False, f"{what}: {len(foreign)} added that are not new signature fields"
        return True, f"{what}: {len(added)} signature field(s) added"

    def _permitted_field(self, item: object) -> bool:
        if isinstance(item, Ref) and item.num in self.widgets:
            return self.widgets[item.num][0]
        return False

    def _appearance_objects(self) -> set[int]:
        """Objects drawn by the appearance streams of the permitted signature widgets."""
        if self._appearances is None:
            roots: list[object] = []
            for number, (permitted, _) in self.widgets.items():
                widget = self.current.get(Ref(number))
                if permitted and isinstance(widget, dict):
                    roots.append(widget.get("AP"))
            self._appearances = _reachable(self.current, roots)
        return self._appearances


def _dictionary_change_ok(old: object, new: object, allowed: set[str], what: str) -> tuple[bool, str]:
    if not isinstance(old, dict) or not isinstance(new, dict):
        return False, f"{what} replaced"
    changed = {k for k in set(old) | set(new) if old.get(k) != new.get(k)}
    extra = changed - allowed
    if extra:
        return False, f"{what} entries changed: {', '.join(sorted(extra))}"
    return True, f"{what}: {', '.join(sorted(changed))}"


def _describe(number: int, value: object, context: _Context) -> str:
    """A short type for the report: Catalog, AcroForm, Page, Sig, Annot/Widget, XObject/Image, page content stream…"""
    named = {context.catalog_num: "Catalog", context.acroform_num: "AcroForm", context.info_num: "Info"}
    if number in named:
        return named[number]
    if number in context.page_contents:
        return "page content stream"
    dictionary = value.dictionary if isinstance(value, Stream) else value
    if isinstance(dictionary, dict):
        kinds = [str(dictionary[key]) for key in ("Type", "Subtype") if isinstance(dictionary.get(key), Name)]
        if kinds:
            return "/".join(kinds)
        if isinstance(dictionary.get("FT"), Name):
            return f"{dictionary['FT']} field"
        return "stream" if isinstance(value, Stream) else "dictionary"
    if isinstance(value, list):
        return "array"
    return type(value).__name__ if value is not None else "null"


__all__ = ["Indication", "verify_pdf"]
