"""Verifying CMS SignedData (RFC 5652, CAdES, GB/T 35275), attached or with detached content.

`evaluate_signer` is the one judgement of a SignerInfo — integrity, signing certificate, timestamps, chain and
revocation — shared by CMS files and the CMS inside PDF signatures; `verdict` turns its findings into the EU DSS
indication: the first FAILED finding wins, else the first INDETERMINATE one, else PASSED.

Findings, in the order they are looked for (ETSI EN 319 102-1 building blocks):
- unreadable or inconsistent structure (content-type attribute missing or different): FAILED / FORMAT_FAILURE;
- no signer certificate in the CMS or the file: INDETERMINATE / NO_SIGNING_CERTIFICATE_FOUND;
- detached content not given: INDETERMINATE / SIGNED_DATA_NOT_FOUND;
- message digest differs: FAILED / HASH_FAILURE; signature value wrong: FAILED / SIG_CRYPTO_FAILURE;
- signing-certificate-v2 names another certificate: INDETERMINATE / NO_SIGNING_CERTIFICATE_FOUND;
- a signature timestamp that does not verify: INDETERMINATE / SIG_CONSTRAINTS_FAILURE (the file claims a
  proof of existence it does not hold — stricter than ignoring the token, so a forged token never goes unnoticed);
- chain and revocation (certificates.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from asn1crypto import cms as asn1_cms
from asn1crypto import core, x509
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp

from certseal.crypto.algorithms import SignatureScheme
from certseal.errors import ValidationError
from certseal.signing import cms
from certseal.signing.verify.certificates import (
    CertificateValidator,
    Finding,
    TimestampCheck,
    ValidationMaterial,
    chain_phrase,
    signer_detail,
)
from certseal.signing.verify.report import (
    NO_REVOCATION,
    NO_TIMESTAMP,
    ChainDetail,
    Indication,
    Integrity,
    RevocationDetail,
    RevocationSource,
    RevocationStatus,
    SignatureReport,
    SignerDetail,
    SigningTime,
    SigningTimeSource,
    SubIndication,
    TimestampDetail,
)

ADOBE_REVOCATION_INFO = "1.2.840.113583.1.1.8"  # adbe-revocationInfoArchival signed attribute
OCSP_RESPONSE_FORMAT = "1.3.6.1.5.5.7.16.2"  # id-ri-ocsp-response in RevocationInfoChoices
# what asn1crypto and the parsers raise on damaged DER they read lazily: a malformed signature, not a crash
MALFORMED = (ValueError, TypeError, KeyError, AttributeError, IndexError)
_FAMILY = {
    SignatureScheme.RSA_PKCS1_SHA256: "rsa-pkcs1",
    SignatureScheme.RSA_PSS_SHA256: "rsa-pss",
    SignatureScheme.ECDSA_SHA256: "ecdsa",
    SignatureScheme.SM2_SM3: "sm2",
}


class _Crls(core.SequenceOf):  # type: ignore[misc]
    _child_spec = asn1_crl.CertificateList


class _OcspResponses(core.SequenceOf):  # type: ignore[misc]
    _child_spec = asn1_ocsp.OCSPResponse


class RevocationInfoArchival(core.Sequence):  # type: ignore[misc]
    """Adobe's adbe-revocationInfoArchival (ISO 32000-1 §12.8.3.3.2)."""

    _fields: ClassVar[list[tuple[str, type, dict[str, object]]]] = [
        ("crl", _Crls, {"explicit": 0, "optional": True}),
        ("ocsp", _OcspResponses, {"explicit": 1, "optional": True}),
        ("other_rev_info", core.Any, {"explicit": 2, "optional": True}),
    ]


@dataclass(frozen=True)
class SignerEvaluation:
    integrity: Integrity
    signer: SignerDetail | None
    chain: ChainDetail | None
    revocation: RevocationDetail
    timestamp: TimestampDetail
    signing_time: SigningTime
    findings: tuple[Finding, ...]
    revocation_from_file: bool
    cades: bool  # carries a signing-certificate(-v2) attribute that matches: CAdES / PAdES baseline B-B
    timestamped: bool  # a valid signature timestamp: B-T
    warnings: tuple[str, ...] = ()


def verdict(findings: Sequence[Finding]) -> tuple[Indication, SubIndication | None, str | None]:
    """The first FAILED finding, else the first INDETERMINATE one, else PASSED (reason None)."""
    for wanted in (Indication.FAILED, Indication.INDETERMINATE):
        for finding in findings:
            if finding.indication is wanted:
                return wanted, finding.sub_indication, finding.reason
    return Indication.PASSED, None, None


def passed_reason(evaluation: SignerEvaluation) -> str:
    parts = ["the signed data and the signature are intact"]
    if evaluation.signer is not None:
        parts.append(f"signed by {evaluation.signer.subject!r}")
    trust = chain_phrase(evaluation.chain)
    if trust is not None:
        parts.append(trust)
    revocation = evaluation.revocation
    if revocation.status_now is RevocationStatus.REVOKED and revocation.revoked_at is not None:
        parts.append(
            f"and was not revoked at the signing time (revoked later, on {revocation.revoked_at:%Y-%m-%d %H:%M:%S}Z)"
        )
    elif revocation.source is RevocationSource.NONE:
        parts.append("and its revocation was not checked (trusted directly, known to no CRL or OCSP source)")
    else:
        parts.append(f"and is not revoked ({revocation.source.value})")
    return ", ".join(parts)


def algorithm_name(view: cms.SignerView) -> str:
    return f"{_FAMILY[view.scheme]}-{view.signature_hash}"


# --- one SignerInfo -------------------------------------------------------------------------------------------------


def evaluate_signer(
    view: cms.SignerView,
    validator: CertificateValidator,
    material: ValidationMaterial,
    *,
    content: bytes | None = None,
    content_digest: bytes | None = None,
    claimed_time: datetime | None = None,
) -> SignerEvaluation:
    """Judge one SignerInfo over `content` (or its digest); `material` = certificates and revocation data of the
    file; `claimed_time` = what the signer says (signingTime attribute, PDF /M)."""
    findings: list[Finding] = []
    warnings: list[str] = []
    findings += _format_findings(view)
    certificate = view.signer_certificate or _certificate_by_sid(view, material.certificates)
    has_content = content is not None or content_digest is not None or view.content is not None
    check = cms.check_signer(view, content=content, content_digest=content_digest, certificate=certificate)
    integrity = Integrity(
        digest_matches=check.digest_matches if has_content else None,
        signature_valid=check.signature_valid if certificate is not None else None,
        signing_certificate_matches=check.signing_certificate_matches,
        problems=tuple(check.problems),
    )
    claimed = claimed_time or view.signing_time
    if certificate is None:
        findings.append(
            Finding(
                SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                "the signer's certificate is neither in the CMS nor in the file",
            )
        )
        return SignerEvaluation(
            integrity, None, None, NO_REVOCATION, NO_TIMESTAMP, _signing_time(None, claimed, validator),
            tuple(findings), False, False, False,
        )  # fmt: skip
    findings += _integrity_findings(check, has_content)
    stamps = [validator.validate_timestamp(token, view.signature, material) for token in view.timestamp_tokens]
    timestamp, proof = _best_timestamp(stamps)
    for stamp in stamps:
        if stamp.proof_of_existence is None:
            problems = "; ".join(stamp.detail.problems) or "it does not verify"
            findings.append(
                Finding(SubIndication.SIG_CONSTRAINTS_FAILURE, f"the signature timestamp is invalid: {problems}")
            )
    extra = ValidationMaterial(tuple(der for stamp in stamps for der in stamp.certificates))
    signer = validator.validate_signer(certificate, material.merged(extra), proof, claimed)
    findings += signer.findings
    if proof is not None and claimed is not None and claimed > proof:
        warnings.append(
            f"the claimed signing time {claimed:%Y-%m-%d %H:%M:%S}Z is after the timestamp ({proof:%Y-%m-%d %H:%M:%S}Z)"
        )
    return SignerEvaluation(
        integrity=integrity,
        signer=signer_detail(certificate, algorithm_name(view)),
        chain=signer.chain,
        revocation=signer.revocation,
        timestamp=timestamp,
        signing_time=_signing_time(proof, claimed, validator),
        findings=tuple(findings),
        revocation_from_file=signer.revocation_from_file,
        cades=check.signing_certificate_matches is True,
        timestamped=proof is not None,
        warnings=tuple(warnings),
    )


def _format_findings(view: cms.SignerView) -> list[Finding]:
    findings = [Finding(SubIndication.FORMAT_FAILURE, problem) for problem in view.problems]
    if view.signed_attributes_der is not None:
        if view.content_type_attribute is None:
            findings.append(Finding(SubIndication.FORMAT_FAILURE, "the signed attributes lack content-type"))
        elif view.content_type_attribute != view.content_type:
            findings.append(
                Finding(SubIndication.FORMAT_FAILURE, "the content-type attribute differs from the eContentType")
            )
    return findings


def _integrity_findings(check: cms.SignerCheck, has_content: bool) -> list[Finding]:
    findings = []
    if not has_content:
        findings.append(
            Finding(SubIndication.SIGNED_DATA_NOT_FOUND, "detached signature: the signed content was not given")
        )
    elif not check.digest_matches:
        findings.append(Finding(SubIndication.HASH_FAILURE, "the signed data has changed: its digest differs"))
    if not check.signature_valid:
        detail = "; ".join(p for p in check.problems if "signature" in p) or "it does not verify with the signer's key"
        findings.append(Finding(SubIndication.SIG_CRYPTO_FAILURE, f"the signature value is wrong: {detail}"))
    if check.signing_certificate_matches is False:
        findings.append(
            Finding(
                SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                "the signing-certificate-v2 attribute names another certificate than the signer's",
            )
        )
    return findings


def _best_timestamp(stamps: Sequence[TimestampCheck]) -> tuple[TimestampDetail, datetime | None]:
    valid = [s for s in stamps if s.proof_of_existence is not None]
    if valid:
        earliest = min(valid, key=lambda s: s.proof_of_existence or datetime.max)
        return earliest.detail, earliest.proof_of_existence
    return (stamps[0].detail, None) if stamps else (NO_TIMESTAMP, None)


def _signing_time(proof: datetime | None, claimed: datetime | None, validator: CertificateValidator) -> SigningTime:
    if proof is not None:
        return SigningTime(proof, SigningTimeSource.TIMESTAMP)
    if claimed is not None:
        return SigningTime(claimed, SigningTimeSource.CLAIMED)
    return SigningTime(validator.validation_time, SigningTimeSource.VALIDATION_TIME)


def _certificate_by_sid(view: cms.SignerView, certificates: Sequence[bytes]) -> bytes | None:
    for der in certificates:
        certificate = x509.Certificate.load(der)
        if view.sid_key_identifier is not None:
            if certificate.key_identifier == view.sid_key_identifier:
                return der
        elif view.sid_issuer is not None and certificate.serial_number == view.sid_serial:
            if certificate.issuer == x509.Name.load(view.sid_issuer):
                return der
    return None


# --- validation material inside a CMS -------------------------------------------------------------------------------


def material_of(cms_der: bytes, signed: cms.SignedCms) -> ValidationMaterial:
    """Certificates, CRLs and OCSP responses of the SignedData (RevocationInfoChoices) and of each SignerInfo's
    adbe-revocationInfoArchival attribute."""
    ocsp_responses: list[bytes] = []
    crls = list(signed.crls)
    try:
        info = asn1_cms.ContentInfo.load(cms_der)
        for choice in info["content"]["crls"] or []:
            if choice.name == "other" and choice.chosen["other_rev_info_format"].dotted == OCSP_RESPONSE_FORMAT:
                ocsp_responses.append(choice.chosen["other_rev_info"].dump())
    except (ValueError, TypeError, KeyError):
        pass  # parse() read this CMS already; a malformed extra is simply not used
    for view in signed.signers:
        archived = _archived_revocation(view)
        crls += archived.crls
        ocsp_responses += archived.ocsp_responses
    return ValidationMaterial(tuple(signed.certificates), tuple(ocsp_responses), tuple(crls))


def _archived_revocation(view: cms.SignerView) -> ValidationMaterial:
    if view.signed_attributes_der is None:
        return ValidationMaterial()
    try:
        attributes = asn1_cms.CMSAttributes.load(view.signed_attributes_der)
        for attribute in attributes:
            if attribute["type"].dotted != ADOBE_REVOCATION_INFO:
                continue
            archival = RevocationInfoArchival.load(attribute["values"][0].dump())
            crls = tuple(c.dump() for c in archival["crl"]) if archival["crl"].native is not None else ()
            responses = tuple(o.dump() for o in archival["ocsp"]) if archival["ocsp"].native is not None else ()
            return ValidationMaterial((), responses, crls)
    except (ValueError, TypeError, KeyError):
        return ValidationMaterial()
    return ValidationMaterial()


# --- a CMS file -------------------------------------------------------------------------------------------------------


def verify_cms(
    cms_der: bytes, validator: CertificateValidator, detached_content: bytes | None = None
) -> tuple[SignatureReport, ...]:
    """One report per SignerInfo of a DER ContentInfo(SignedData); `detached_content` for detached signatures."""
    try:
        signed = cms.parse(cms_der)
    except ValidationError as exc:
        return (unreadable_report("signer-1", "CMS", exc.message),)
    except MALFORMED as exc:
        return (unreadable_report("signer-1", "CMS", f"malformed DER ({exc})"),)
    if signed.content is not None and detached_content is not None and signed.content != detached_content:
        raise ValidationError("content", "the CMS carries its content already, and it differs from the one given")
    material = material_of(cms_der, signed)
    content = detached_content if signed.content is None else None
    reports = []
    for view in signed.signers:
        signature_id = f"signer-{view.index + 1}"
        try:
            evaluation = evaluate_signer(view, validator, material, content=content)
        except MALFORMED as exc:
            reports.append(unreadable_report(signature_id, "CMS", f"malformed DER ({exc})"))
            continue
        reports.append(_cms_report(signature_id, evaluation))
    return tuple(reports)


def _cms_report(signature_id: str, evaluation: SignerEvaluation) -> SignatureReport:
    indication, sub_indication, reason = verdict(evaluation.findings)
    level = None
    if evaluation.cades:
        level = "B-T" if evaluation.timestamped else "B-B"
    return SignatureReport(
        id=signature_id,
        format=f"CAdES-{level}" if level else "CMS",
        indication=indication,
        sub_indication=sub_indication,
        reason=reason or passed_reason(evaluation),
        integrity=evaluation.integrity,
        signer=evaluation.signer,
        chain=evaluation.chain,
        revocation=evaluation.revocation,
        timestamp=evaluation.timestamp,
        signing_time=evaluation.signing_time,
        level=level,
        warnings=evaluation.warnings + other_findings(evaluation.findings, sub_indication),
    )


def other_findings(findings: Sequence[Finding], shown: SubIndication | None) -> tuple[str, ...]:
    """The findings not given as the reason, so a reader sees every problem, not only the first."""
    seen = False
    others = []
    for finding in findings:
        if finding.sub_indication is shown and not seen:
            seen = True
            continue
        others.append(f"{finding.sub_indication.value}: {finding.reason}")
    return tuple(others)


def unreadable_report(signature_id: str, format_name: str, message: str) -> SignatureReport:
    """A signature whose CMS cannot be read at all: FAILED / FORMAT_FAILURE."""
    return SignatureReport(
        id=signature_id,
        format=format_name,
        indication=Indication.FAILED,
        sub_indication=SubIndication.FORMAT_FAILURE,
        reason=f"the CMS cannot be read: {message}",
        integrity=Integrity(None, None, problems=(message,)),
    )


__all__ = [
    "MALFORMED",
    "RevocationInfoArchival",
    "SignerEvaluation",
    "evaluate_signer",
    "material_of",
    "other_findings",
    "passed_reason",
    "unreadable_report",
    "verdict",
    "verify_cms",
]
