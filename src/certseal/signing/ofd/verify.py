"""Verifying every signature of an OFD (GB/T 33190 ch. 18) from any producer: GB/T 38540 v4 and GM/T 0031 v1 seals.

Per Signature of Signatures.xml (found through OFD.xml, else by its name, so a damaged OFD.xml is still judged):

1. Signature.xml must be readable, and SignedValue name a file;
2. every Reference: the file exists and its digest is CheckValue. CheckMethod as written by producers: the SM3 OID
   1.2.156.10197.1.401 or "SM3", SHA1 (or its OID), SHA256, MD5 (also when absent: the schema's default). Any other
   method (e.g. iOFD's 1.2.156.10197.1.401.2) cannot be checked: FAILED / FORMAT_FAILURE naming it;
3. SignedValue.dat is an SES_Signature (seals/ses.py): the signer's SM2 signature over TBS_Sign, dataHash = SM3 of
   the bytes of Signature.xml (the protected data), the signer's certificate in the seal's certificate list, the
   seal maker's signature over the seal, the signing time inside the seal's validity; propertyInfo should name this
   Signature.xml (a warning otherwise);
4. the timestamp of the signature value, if any, and the signer's certificate chain and revocation at the signing
   time, through signing/verify/certificates.py — the same rules and verdicts as PDF and CMS;
5. the seal maker's certificate chain is checked and reported, as a warning only: seal makers are often provincial
   seal systems whose roots a deployment does not hold, and the signer (whose chain decides) is bound to the seal
   by the maker's signature and the seal's certificate list;
6. files of the package the signature does not protect are listed: those of later signatures (permitted, as
   ContinueSign allows), Signatures.xml itself, and any other file (a warning naming it).

Verdicts (EU DSS vocabulary): a changed or missing protected file, or dataHash not matching Signature.xml:
FAILED / HASH_FAILURE naming the file; a wrong SM2 signature (signer or seal maker): FAILED / SIG_CRYPTO_FAILURE;
unreadable structures or unknown digest methods: FAILED / FORMAT_FAILURE; the signer not in the seal's list, or a
signing time outside the seal's validity: INDETERMINATE / SIG_CONSTRAINTS_FAILURE; then chain and revocation.
Deviations from the standard's encoding (NONSTANDARD_*) are warnings, and named in the reason when they explain it.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from certseal.crypto.hashes import digest
from certseal.errors import ValidationError
from certseal.ofd.model import Box
from certseal.ofd.package import OfdPackage
from certseal.ofd.reader import read_ofd
from certseal.seals.ses import Problem, ProblemCode, SignatureCheck, SignatureView, parse_signature, verify_signature
from certseal.signing.ofd.sealing import (
    SIGNATURES_FILE,
    SignatureEntry,
    SignatureInfo,
    SignatureList,
    read_doc_body,
    read_signature_list,
    read_signature_xml,
    resolve_loc,
)
from certseal.signing.verify.certificates import (
    CertificateValidator,
    Finding,
    ValidationMaterial,
    chain_phrase,
    signer_detail,
)
from certseal.signing.verify.cms import MALFORMED, other_findings, verdict
from certseal.signing.verify.report import (
    NO_REVOCATION,
    NO_TIMESTAMP,
    ChainDetail,
    Indication,
    Integrity,
    ModificationDetail,
    ModificationKind,
    SignatureReport,
    SigningTime,
    SigningTimeSource,
    SubIndication,
    TimestampDetail,
)

_MD5 = "md5"
# CheckMethod as written in the wild -> hash name (crypto.hashes.digest); compared case-insensitively
_CHECK_METHODS = {
    "1.2.156.10197.1.401": "sm3",
    "sm3": "sm3",
    "sha1": "sha1",
    "sha-1": "sha1",
    "1.3.14.3.2.26": "sha1",
    "sha256": "sha256",
    "sha-256": "sha256",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "md5": _MD5,
    "1.2.840.113549.2.5": _MD5,
}
_SES_FINDINGS: dict[ProblemCode, SubIndication] = {
    ProblemCode.SIGNATURE_INVALID: SubIndication.SIG_CRYPTO_FAILURE,
    ProblemCode.SEAL_SIGNATURE_INVALID: SubIndication.SIG_CRYPTO_FAILURE,
    ProblemCode.DATA_HASH_MISMATCH: SubIndication.HASH_FAILURE,
    ProblemCode.SIGNATURE_ALGORITHM_UNSUPPORTED: SubIndication.FORMAT_FAILURE,
    ProblemCode.SEAL_ALGORITHM_UNSUPPORTED: SubIndication.FORMAT_FAILURE,
    ProblemCode.SEAL_MAKER_CERTIFICATE_UNREADABLE: SubIndication.FORMAT_FAILURE,
    ProblemCode.SEAL_VALIDITY_INVERTED: SubIndication.FORMAT_FAILURE,
    ProblemCode.SIGNING_TIME_UNREADABLE: SubIndication.FORMAT_FAILURE,
    ProblemCode.SIGNER_CERTIFICATE_UNREADABLE: SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
    ProblemCode.SIGNER_NOT_IN_SEAL_CERT_LIST: SubIndication.SIG_CONSTRAINTS_FAILURE,
    ProblemCode.SEAL_NOT_YET_VALID_AT_SIGNING: SubIndication.SIG_CONSTRAINTS_FAILURE,
    ProblemCode.SEAL_EXPIRED_AT_SIGNING: SubIndication.SIG_CONSTRAINTS_FAILURE,
}
# a deviation that explains a problem is named in its reason
_EXPLAINED_BY = {
    ProblemCode.SIGNER_NOT_IN_SEAL_CERT_LIST: (
        ProblemCode.NONSTANDARD_CERT_LIST,
        ProblemCode.NONSTANDARD_CERT_LIST_TYPE,
    ),
    ProblemCode.SIGNING_TIME_UNREADABLE: (ProblemCode.NONSTANDARD_TIME_INFO,),
    ProblemCode.SIGNATURE_INVALID: (ProblemCode.NONSTANDARD_RAW_SIGNATURE,),
}


def verify_ofd(data: bytes | OfdPackage, validator: CertificateValidator) -> tuple[SignatureReport, ...]:
    """One report per Signature entry of the document's Signatures.xml, in its order."""
    package = data if isinstance(data, OfdPackage) else OfdPackage.from_bytes(data)
    listing = _signature_list(package)
    if listing is None:
        return ()
    pages = _page_numbers(package)
    files_of: list[set[str]] = []  # each signature's own files
    infos: list[SignatureInfo | ValidationError | None] = []
    for entry in listing.entries:
        info = _read_info(package, entry)
        infos.append(info)
        files_of.append(_own_files(entry, info if isinstance(info, SignatureInfo) else None))
    reports = []
    for index, (entry, info) in enumerate(zip(listing.entries, infos, strict=True)):
        later: set[str] = set().union(*files_of[index + 1 :])
        others: set[str] = set().union(*(files for i, files in enumerate(files_of) if i != index))
        context = _Context(package, listing, validator, pages, later, others)
        reports.append(_verify_entry(context, entry, info))
    return tuple(reports)


@dataclass(frozen=True)
class _Context:
    package: OfdPackage
    listing: SignatureList
    validator: CertificateValidator
    pages: dict[int, int] | None  # page ID -> 1-based page number; None when Document.xml cannot be read
    later_files: set[str]  # files of the signatures listed after this one
    other_signature_files: set[str]  # files of every other signature


def _signature_list(package: OfdPackage) -> SignatureList | None:
    """Signatures.xml through OFD.xml's DocBody/Signatures; by name when OFD.xml cannot be read (it is a protected
    file: its own Reference then fails, which is the right report). An unreadable OFD.xml without any
    Signatures.xml is no OFD at all: ValidationError."""
    by_name = sorted(n for n in package.names() if posixpath.basename(n).lower() == SIGNATURES_FILE.lower())
    try:
        body = read_doc_body(package)
    except ValidationError:
        if not by_name:
            raise
        return read_signature_list(package, by_name[0])
    if not body.signatures_loc:
        return None
    name = resolve_loc(package, body.signatures_loc)
    if name is None:
        raise ValidationError("ofd", f"OFD.xml: Signatures {body.signatures_loc!r} names no file of the package")
    return read_signature_list(package, name)


def _page_numbers(package: OfdPackage) -> dict[int, int] | None:
    try:
        return {page_id: number for number, page_id in enumerate(read_ofd(package).page_ids, start=1)}
    except ValidationError:
        return None


def _read_info(package: OfdPackage, entry: SignatureEntry) -> SignatureInfo | ValidationError | None:
    if entry.name is None:
        return None
    try:
        return read_signature_xml(package, entry.name)
    except ValidationError as exc:
        return exc


def _own_files(entry: SignatureEntry, info: SignatureInfo | None) -> set[str]:
    """The files a signature consists of: Signature.xml, SignedValue.dat, Seal.esl (by location and by directory)."""
    files = {entry.name} if entry.name else set()
    if info is not None:
        files |= {name for name in (info.signed_value_name, info.seal_name) if name}
    return files


# --- one signature -------------------------------------------------------------------------------------------------


@dataclass
class _Findings:
    items: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, sub_indication: SubIndication, reason: str) -> None:
        self.items.append(Finding(sub_indication, reason))


def _verify_entry(
    context: _Context, entry: SignatureEntry, info: SignatureInfo | ValidationError | None
) -> SignatureReport:
    signature_id = entry.id or entry.base_loc or "signature"
    location: dict[str, object] = {"type": entry.type, "base_loc": entry.base_loc}
    if info is None:
        return _broken(signature_id, f"Signature {signature_id}: BaseLoc {entry.base_loc!r} names no file", location)
    if isinstance(info, ValidationError):
        return _broken(signature_id, info.message, location)
    location.update(_describe_info(context, info))
    value_name = info.signed_value_name
    if value_name is None:
        return _broken(signature_id, f"{info.name}: SignedValue {info.signed_value_loc!r} names no file", location)
    findings = _Findings()
    digests_ok = _check_references(context, info, findings)
    signature_xml = context.package[info.name]
    try:
        view = parse_signature(context.package[value_name])
        check = verify_signature(view, signature_xml)
    except ValidationError as exc:
        return _unreadable_value(signature_id, entry, value_name, exc.message, findings, digests_ok, location)
    except MALFORMED as exc:
        return _unreadable_value(
            signature_id, entry, value_name, f"malformed DER ({exc})", findings, digests_ok, location
        )
    return _judge(context, entry, info, view, check, findings, digests_ok, location)


def _broken(signature_id: str, reason: str, location: dict[str, object]) -> SignatureReport:
    return SignatureReport(
        id=signature_id,
        format="OFD",
        indication=Indication.FAILED,
        sub_indication=SubIndication.FORMAT_FAILURE,
        reason=reason,
        integrity=Integrity(None, None, problems=(reason,)),
        location=location,
    )


def _unreadable_value(
    signature_id: str,
    entry: SignatureEntry,
    value_name: str,
    message: str,
    findings: _Findings,
    digests_ok: bool | None,
    location: dict[str, object],
) -> SignatureReport:
    kind = "a bare signature value (Type=Sign)" if entry.type == "Sign" else "not an SES_Signature"
    findings.add(SubIndication.FORMAT_FAILURE, f"{value_name} is {kind}: {message}")
    indication, sub_indication, reason = verdict(findings.items)
    return SignatureReport(
        id=signature_id,
        format=f"OFD-{entry.type}",
        indication=indication,
        sub_indication=sub_indication,
        reason=reason or message,
        integrity=Integrity(digests_ok, None, problems=tuple(f.reason for f in findings.items)),
        warnings=(*findings.warnings, *other_findings(findings.items, sub_indication)),
        location=location,
    )


def _check_references(context: _Context, info: SignatureInfo, findings: _Findings) -> bool | None:
    """Each protected file against its CheckValue; True when all match, None when they cannot be checked."""
    method = info.check_method
    hash_name = _CHECK_METHODS.get((method or "MD5").strip().lower())
    if not info.references:
        findings.add(SubIndication.FORMAT_FAILURE, f"{info.name}: References lists no file: nothing is protected")
        return None
    if hash_name is None:
        findings.add(
            SubIndication.FORMAT_FAILURE,
            f"References CheckMethod {method!r} is not a digest method of GB/T 33190 / GB/T 38540 (SM3 "
            f"1.2.156.10197.1.401, SHA1, SHA256, MD5): a non-standard method, so the {len(info.references)} "
            "protected files cannot be checked",
        )
        return None
    if hash_name == _MD5:
        findings.warnings.append("References CheckMethod is MD5 (the schema's default), a broken digest")
    changed, missing, unreadable = [], [], []
    for reference in info.references:
        if reference.name is None:
            missing.append(reference.file_ref)
        elif reference.check_value is None:
            unreadable.append(reference.file_ref)
        elif digest(hash_name, context.package[reference.name]) != reference.check_value:
            changed.append(reference.file_ref)
    if changed or missing:
        parts = []
        if changed:
            parts.append(f"changed after signing: {', '.join(changed)}")
        if missing:
            parts.append(f"missing: {', '.join(missing)}")
        findings.add(SubIndication.HASH_FAILURE, f"protected files {'; '.join(parts)} ({hash_name.upper()} digest)")
    if unreadable:
        findings.add(SubIndication.FORMAT_FAILURE, f"CheckValue is not base64 for {', '.join(unreadable)}")
    if info.name in {r.name for r in info.references}:
        findings.warnings.append(f"References list {info.name} itself, which cannot be digested before it is written")
    return not (changed or missing or unreadable)


def _judge(
    context: _Context,
    entry: SignatureEntry,
    info: SignatureInfo,
    view: SignatureView,
    check: SignatureCheck,
    findings: _Findings,
    digests_ok: bool | None,
    location: dict[str, object],
) -> SignatureReport:
    deviations = {d.code: d for d in check.deviations}
    for problem in check.problems:
        findings.add(_SES_FINDINGS.get(problem.code, SubIndication.FORMAT_FAILURE), _ses_reason(problem, deviations))
    findings.warnings.extend(f"{d.code.value}: {d.message}" for d in check.deviations)
    expected = "/" + info.name
    if view.property_info.strip().lower() not in (expected.lower(), info.name.lower()):
        findings.warnings.append(f"propertyInfo {view.property_info!r} does not name this signature's {expected}")
    if info.signature_method and info.signature_method != view.signature_algorithm:
        findings.warnings.append(
            f"SignatureMethod {info.signature_method} differs from the SES_Signature's {view.signature_algorithm}"
        )
    validator = context.validator
    material = ValidationMaterial()
    timestamp, proof = _timestamp(validator, view, material, findings)
    signer, chain, revocation = None, None, NO_REVOCATION
    if check.signer_subject is not None:
        try:
            validation = validator.validate_signer(view.signer_certificate, material, proof, view.time)
            signer = signer_detail(view.signer_certificate, "sm2-sm3")
        except (ValidationError, *MALFORMED) as exc:
            message = (exc.message if isinstance(exc, ValidationError) else str(exc)).splitlines()[0]
            findings.add(
                SubIndication.NO_CERTIFICATE_CHAIN_FOUND, f"the signer's certificate cannot be validated: {message}"
            )
        else:
            findings.items.extend(validation.findings)
            chain, revocation = validation.chain, validation.revocation
    location["seal"] = _seal_view(view, check, _maker_chain(validator, view, proof, findings))
    modifications = _unprotected(context, entry, info, findings)
    indication, sub_indication, reason = verdict(findings.items)
    integrity = Integrity(
        digest_matches=None if digests_ok is None else bool(digests_ok and check.data_hash_valid),
        signature_valid=check.signature_valid and check.seal.signature_valid,
        problems=tuple(f.reason for f in findings.items if f.indication is Indication.FAILED),
    )
    return SignatureReport(
        id=entry.id or info.name,
        format=f"OFD-SES-v{view.version}",
        indication=indication,
        sub_indication=sub_indication,
        reason=reason or _passed_reason(view, check, chain),
        integrity=integrity,
        signer=signer,
        chain=chain,
        revocation=revocation,
        timestamp=timestamp,
        signing_time=_signing_time(proof, view, validator),
        modifications=modifications,
        warnings=(*findings.warnings, *other_findings(findings.items, sub_indication)),
        location=location,
    )


def _ses_reason(problem: Problem, deviations: dict[ProblemCode, Problem]) -> str:
    why = [deviations[code].message for code in _EXPLAINED_BY.get(problem.code, ()) if code in deviations]
    prefix = "SES_Signature: "
    if problem.code is ProblemCode.DATA_HASH_MISMATCH:
        prefix = "Signature.xml changed after signing: "
    return prefix + problem.message + (f" (non-standard: {'; '.join(why)})" if why else "")


def _timestamp(
    validator: CertificateValidator, view: SignatureView, material: ValidationMaterial, findings: _Findings
) -> tuple[TimestampDetail, datetime | None]:
    if view.timestamp is None:
        return NO_TIMESTAMP, None
    stamp = validator.validate_timestamp(view.timestamp, view.signature, material)
    if stamp.proof_of_existence is None:
        problems = "; ".join(stamp.detail.problems) or "it does not verify"
        findings.add(SubIndication.SIG_CONSTRAINTS_FAILURE, f"the signature timestamp is invalid: {problems}")
    return stamp.detail, stamp.proof_of_existence


def _maker_chain(
    validator: CertificateValidator, view: SignatureView, proof: datetime | None, findings: _Findings
) -> str:
    """The seal maker's chain at the signing time, reported and warned about, never deciding the verdict."""
    maker = view.seal.maker_certificate
    try:
        result = validator.validate_signer(maker, ValidationMaterial(), proof, view.time)
    except (ValidationError, *MALFORMED) as exc:
        message = (exc.message if isinstance(exc, ValidationError) else str(exc)).splitlines()[0]
        findings.warnings.append(f"seal maker certificate: cannot be checked ({message})")
        return "unreadable"
    for finding in result.findings:
        findings.warnings.append(f"seal maker certificate: {finding.sub_indication.value}: {finding.reason}")
    return result.chain.indication.value if not result.findings else result.findings[0].sub_indication.value


def _signing_time(proof: datetime | None, view: SignatureView, validator: CertificateValidator) -> SigningTime:
    if proof is not None:
        return SigningTime(proof, SigningTimeSource.TIMESTAMP)
    if view.time is not None:
        return SigningTime(view.time, SigningTimeSource.CLAIMED)
    return SigningTime(validator.validation_time, SigningTimeSource.VALIDATION_TIME)


def _unprotected(
    context: _Context, entry: SignatureEntry, info: SignatureInfo, findings: _Findings
) -> ModificationDetail:
    """Files this signature does not protect: later signatures' (permitted), Signatures.xml, and any other."""
    protected = {r.name for r in info.references if r.name}
    own = _own_files(entry, info)
    rest = [n for n in context.package.names() if n not in protected and n not in own and n != context.listing.name]
    later = [n for n in rest if n in context.later_files or _in_dir_of(n, context.later_files)]
    foreign = [n for n in rest if n not in later and n not in context.other_signature_files]
    if foreign:
        findings.warnings.append(f"files not protected by this signature: {', '.join(foreign)}")
    later_count = sum(1 for e in context.listing.entries if e.name in context.later_files)
    kind = ModificationKind.PERMITTED if later else ModificationKind.NONE
    return ModificationDetail(kind, revisions_after=later_count)


def _in_dir_of(name: str, files: Iterable[str]) -> bool:
    folder = posixpath.dirname(name)
    return any(posixpath.dirname(other) == folder for other in files)


# --- report details ------------------------------------------------------------------------------------------------


def _describe_info(context: _Context, info: SignatureInfo) -> dict[str, object]:
    return {
        "signature": info.name,
        "provider": info.provider,
        "provider_version": info.provider_version,
        "provider_company": info.provider_company,
        "signature_method": info.signature_method,
        "signature_date_time": info.signature_date_time,
        "check_method": info.check_method,
        "protected_files": [r.file_ref for r in info.references],
        "stamps": [
            {
                "id": stamp.id,
                "page_id": stamp.page_ref,
                "page": context.pages.get(stamp.page_ref) if context.pages and stamp.page_ref is not None else None,
                "boundary": _box(stamp.boundary),
                "clip": _box(stamp.clip),
            }
            for stamp in info.stamps
        ],
    }


def _box(box: Box | None) -> list[float] | None:
    return [box.x, box.y, box.width, box.height] if box is not None else None


def _seal_view(view: SignatureView, check: SignatureCheck, maker_chain: str) -> dict[str, object]:
    seal = view.seal
    return {
        "version": seal.version,
        "name": seal.name,
        "es_id": seal.es_id,
        "vid": seal.header.vid,
        "type": seal.seal_type,
        "valid_start": seal.valid_start.isoformat(),
        "valid_end": seal.valid_end.isoformat(),
        "picture_type": seal.picture.type,
        "picture_size_mm": [seal.picture.width_mm, seal.picture.height_mm],
        "maker": check.seal.maker_subject,
        "maker_certificate_sha256": hashlib.sha256(seal.maker_certificate).hexdigest(),
        "maker_chain": maker_chain,
        "signature_valid": check.seal.signature_valid,
    }


def _passed_reason(view: SignatureView, check: SignatureCheck, chain: ChainDetail | None) -> str:
    parts = [
        "the protected files, Signature.xml and the SES signature are intact",
        f"seal {view.seal.name!r} (maker {check.seal.maker_subject!r}) was valid at the signing time",
        f"signed by {check.signer_subject!r}",
    ]
    trust = chain_phrase(chain)
    if trust is not None:
        parts.append(trust)
    return ", ".join(parts)


__all__ = ["verify_ofd"]
