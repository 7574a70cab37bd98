"""Certificates behind a signature: chain to a trust anchor, revocation at the signing time, signature timestamps.

Chains go through the deployment's path validator (TrustService: our CAs, cross-certificates, imported anchors),
given to CertificateValidator by the service layer with our OCSP responders, at the time a proof of existence
allows: a valid signature timestamp's genTime, else the validation time — a signingTime the signer claims proves
nothing, so an expired certificate without a timestamp is OUT_OF_BOUNDS_NO_POE, as EU DSS reports it.

Revocation of every certificate of the path except the anchor, from these sources in order: revocation data in the
file (OCSP responses and CRLs from the PDF DSS, CMS RevocationInfoChoices, adbe-revocationInfoArchival), then our
own OCSP responder, in process, for certificates issued by a CA of this deployment.  Each OCSP response and CRL must
be signed by the issuer (or, for OCSP, a responder certificate the issuer gave id-kp-OCSPSigning) or it is ignored.
Revocation data in the file is taken as found (its production time is reported); the earliest revocation any
source reports decides.  The verdict (EU DSS, ETSI EN 319 102-1):
- revoked after a proven signing time (timestamp genTime before the revocation): PASSED, the revocation shown;
- revoked, and the signer's own signingTime is at or after the revocation: FAILED / REVOKED;
- revoked otherwise (no proof the signature existed before the revocation): INDETERMINATE / REVOKED_NO_POE
  (REVOKED_CA_NO_POE for a CA certificate of the path);
- no source knows the certificate: INDETERMINATE / TRY_LATER.

A signer certificate that is itself trusted (a directly trusted end-entity certificate, or an anchor validated
as such) ends its own chain: chain PASSED with a one-certificate path, checked for validity at the same time as any
other.  Its revocation is judged as above when a source knows it (an issuer found in the file or among our CAs, and
an OCSP response or CRL about it); otherwise it is reported as not checked, with a note, and is no finding — as in
EU DSS, a trusted certificate is not revocation-checked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import tsp, x509

from certseal.crypto.hashes import digest
from certseal.crypto.keys import PublicKey
from certseal.errors import CertsealError
from certseal.pki import ocsp
from certseal.pki.asn1 import scheme_of
from certseal.pki.der import tlv
from certseal.pki.names import name_to_text
from certseal.pki.path import Indication, PathResult, SubIndication
from certseal.signing import cms
from certseal.signing.verify.report import (
    ChainDetail,
    RevocationDetail,
    RevocationSource,
    RevocationStatus,
    SignerDetail,
    TimestampDetail,
)

_IMPRINT_HASHES = {"sha256", "sha384", "sha512", "sm3"}
_CERT_ID_HASHES = {h.name: h for h in ocsp.CERT_ID_HASHES.values()}
_REASON_TEXT = {"certificate_hold": "certificate on hold"}


OcspSender = Callable[[bytes], bytes]  # DER OCSPRequest -> DER OCSPResponse
# (leaf DER, extra certificates, time) -> a path to a trust anchor of the deployment, as TrustService.validate finds
PathValidator = Callable[[bytes, Sequence[bytes], datetime], PathResult]
# an issuer certificate -> (CA name, how to ask its OCSP responder) when the CA is ours (same name and key), else None
OwnResponders = Callable[[x509.Certificate], tuple[str, OcspSender] | None]


@dataclass(frozen=True)
class ValidationMaterial:
    """Certificates and revocation data a signed file carries for its own validation."""

    certificates: tuple[bytes, ...] = ()
    ocsp_responses: tuple[bytes, ...] = ()
    crls: tuple[bytes, ...] = ()

    def merged(self, other: ValidationMaterial) -> ValidationMaterial:
        return ValidationMaterial(
            _unique((*self.certificates, *other.certificates)),
            _unique((*self.ocsp_responses, *other.ocsp_responses)),
            _unique((*self.crls, *other.crls)),
        )

    @property
    def has_revocation_data(self) -> bool:
        return bool(self.ocsp_responses or self.crls)


def _unique(items: Iterable[bytes]) -> tuple[bytes, ...]:
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class Finding:
    """One reason a signature is not PASSED; the report shows the first FAILED one, else the first INDETERMINATE."""

    sub_indication: SubIndication
    reason: str

    @property
    def indication(self) -> Indication:
        return self.sub_indication.indication


@dataclass(frozen=True)
class SignerValidation:
    chain: ChainDetail
    revocation: RevocationDetail
    findings: tuple[Finding, ...]
    revocation_from_file: bool  # the leaf's status came from data in the file (PAdES B-LT)


@dataclass(frozen=True)
class TimestampCheck:
    detail: TimestampDetail
    proof_of_existence: datetime | None  # genTime, only when the token is valid and its imprint matches
    certificates: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class _Evidence:
    source: RevocationSource
    status: RevocationStatus
    revoked_at: datetime | None = None
    reason: str | None = None
    produced_at: datetime | None = None


@dataclass(frozen=True)
class _CertificateRevocation:
    certificate: x509.Certificate
    evidence: tuple[_Evidence, ...]
    consulted: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def decisive(self) -> _Evidence | None:
        """The earliest revocation any source reports, else the first source that knows the certificate."""
        revoked = [e for e in self.evidence if e.status is RevocationStatus.REVOKED and e.revoked_at is not None]
        if revoked:
            return min(revoked, key=lambda e: e.revoked_at or datetime.max.replace(tzinfo=UTC))
        return next((e for e in self.evidence if e.status is RevocationStatus.GOOD), None)


def _serial_hex(serial: int) -> str:
    text = format(serial, "X")
    return text if len(text) % 2 == 0 else "0" + text


def signer_detail(certificate_der: bytes, algorithm: str) -> SignerDetail:
    certificate = x509.Certificate.load(certificate_der)
    validity = certificate["tbs_certificate"]["validity"]
    return SignerDetail(
        subject=name_to_text(certificate.subject),
        issuer=name_to_text(certificate.issuer),
        serial=_serial_hex(certificate.serial_number),
        algorithm=algorithm,
        certificate_sha256=hashlib.sha256(certificate_der).hexdigest(),
        not_before=validity["not_before"].native,
        not_after=validity["not_after"].native,
    )


class CertificateValidator:
    """Validates signer and TSA certificates against this deployment's trust, at one validation time."""

    def __init__(
        self,
        validate_path: PathValidator,
        own_responders: OwnResponders,
        validation_time: datetime,
        known_cas: Sequence[bytes] = (),
    ) -> None:
        self._validate_path = validate_path
        self._own_responders = own_responders
        self.validation_time = validation_time
        self._known_cas = [x509.Certificate.load(der) for der in known_cas]  # to find an issuer without a path

    # --- signer certificates ------------------------------------------------------------------------------------

    def validate_signer(
        self,
        leaf_der: bytes,
        material: ValidationMaterial,
        proof_of_existence: datetime | None,
        claimed_time: datetime | None,
    ) -> SignerValidation:
        at = proof_of_existence or self.validation_time
        path = self._validate_path(leaf_der, material.certificates, at)
        chain = _chain_detail(path, at)
        findings: list[Finding] = []
        if not path.passed:
            assert path.sub_indication is not None
            findings.append(Finding(path.sub_indication, f"certificate chain: {path.message}"))
            leaf = x509.Certificate.load(leaf_der)
            issuer = self._issuer_among(leaf, material)
            checked = [self._revocation(leaf, issuer, material)] if issuer is not None else []
        elif _directly_trusted(path):
            return self._validate_trusted_signer(path.path[0], material, chain, proof_of_existence, claimed_time)
        else:
            checked = [self._revocation(c, path.path[i + 1], material) for i, c in enumerate(path.path[:-1])]
        for position, result in enumerate(checked):
            finding = _judge(result, position == 0, proof_of_existence, claimed_time)
            if finding is not None and path.passed:
                findings.append(finding)
        signing_time = proof_of_existence or claimed_time or self.validation_time
        detail = _revocation_detail(checked[0], signing_time) if checked else _no_revocation()
        from_file = bool(checked) and any(_from_file(e) for e in checked[0].evidence)
        return SignerValidation(chain, detail, tuple(findings), from_file)

    def _validate_trusted_signer(
        self,
        leaf: x509.Certificate,
        material: ValidationMaterial,
        chain: ChainDetail,
        proof_of_existence: datetime | None,
        claimed_time: datetime | None,
    ) -> SignerValidation:
        """A trusted signer certificate: its revocation decides only when some source knows it."""
        issuer = self._issuer_among(leaf, material)
        result = self._revocation(leaf, issuer, material) if issuer is not None else None
        if result is None or result.decisive is None:
            return SignerValidation(chain, _trusted_not_checked(result), (), False)
        finding = _judge(result, True, proof_of_existence, claimed_time)
        signing_time = proof_of_existence or claimed_time or self.validation_time
        from_file = any(_from_file(e) for e in result.evidence)
        return SignerValidation(
            chain, _revocation_detail(result, signing_time), (finding,) if finding else (), from_file
        )

    def _issuer_among(self, leaf: x509.Certificate, material: ValidationMaterial) -> x509.Certificate | None:
        """Without a valid path, an issuer by name whose key verifies the leaf (to show its revocation anyway)."""
        candidates = [x509.Certificate.load(der) for der in material.certificates]
        candidates += self._known_cas
        for candidate in candidates:
            if candidate.subject == leaf.issuer and _signed_by(leaf, candidate):
                return candidate
        return None

    # --- revocation -----------------------------------------------------------------------------------------------

    def _revocation(
        self, certificate: x509.Certificate, issuer: x509.Certificate, material: ValidationMaterial
    ) -> _CertificateRevocation:
        evidence: list[_Evidence] = []
        consulted: list[str] = []
        problems: list[str] = []
        for der in material.ocsp_responses:
            found = _ocsp_evidence(der, certificate, issuer, RevocationSource.EMBEDDED_OCSP, problems)
            if found is not None:
                evidence.append(found)
        if material.ocsp_responses:
            consulted.append(RevocationSource.EMBEDDED_OCSP.value)
        for der in material.crls:
            found = _crl_evidence(der, certificate, issuer, problems)
            if found is not None:
                evidence.append(found)
        if material.crls:
            consulted.append(RevocationSource.EMBEDDED_CRL.value)
        ours = self._own_responders(issuer)
        if ours is not None:
            consulted.append(RevocationSource.OUR_RESPONDER.value)
            answer = _ask_our_responder(ours, certificate, issuer, problems)
            if answer is not None:
                evidence.append(answer)
        return _CertificateRevocation(certificate, tuple(evidence), tuple(consulted), tuple(problems))

    # --- timestamps -------------------------------------------------------------------------------------------------

    def validate_timestamp(
        self, token_der: bytes, imprinted: bytes, material: ValidationMaterial, what: str = "the signature value"
    ) -> TimestampCheck:
        """Check an RFC 3161 token whose messageImprint must be the hash of `imprinted`: token signature, TSA
        certificate (id-kp-timeStamping) and its chain at genTime, and the TSA's revocation before genTime."""
        try:
            return self._validate_timestamp(token_der, imprinted, material, what)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            problem = f"the timestamp token is malformed ({exc})"
            return TimestampCheck(TimestampDetail(True, valid=False, problems=(problem,)), None)

    def _validate_timestamp(
        self, token_der: bytes, imprinted: bytes, material: ValidationMaterial, what: str
    ) -> TimestampCheck:
        problems: list[str] = []
        try:
            signed = cms.parse(token_der)
            tst = tsp.TSTInfo.load(signed.content or b"", strict=True)
            gen_time: datetime = tst["gen_time"].native
            imprint = tst["message_imprint"]
            hash_name = imprint["hash_algorithm"]["algorithm"].native
            hashed = bytes(imprint["hashed_message"].native)
        except (CertsealError, ValueError, TypeError, KeyError) as exc:
            message = getattr(exc, "message", str(exc))
            return TimestampCheck(
                TimestampDetail(True, valid=False, problems=(f"not a timestamp token: {message}",)), None
            )
        if hash_name not in _IMPRINT_HASHES:
            problems.append(f"messageImprint hash algorithm {hash_name} is not supported")
            matches = False
        else:
            matches = digest(hash_name, imprinted) == hashed
            if not matches:
                problems.append(f"the token's messageImprint is not the {hash_name} hash of {what}")
        if len(signed.signers) != 1:
            problems.append(f"a timestamp token has one SignerInfo, this one has {len(signed.signers)}")
            return TimestampCheck(TimestampDetail(True, gen_time, None, False, matches, tuple(problems)), None)
        view = signed.signers[0]
        tsa_der = view.signer_certificate
        if tsa_der is None:
            problems.append("the TSA certificate is not in the token")
            return TimestampCheck(TimestampDetail(True, gen_time, None, False, matches, tuple(problems)), None)
        tsa = x509.Certificate.load(tsa_der)
        check = cms.check_signer(view, content=signed.content, certificate=tsa_der)
        problems += [f"token: {p}" for p in check.problems]
        signature_ok = check.digest_matches and check.signature_valid and check.signing_certificate_matches is not False
        if tsa.extended_key_usage_value is None or "time_stamping" not in tsa.extended_key_usage_value.native:
            problems.append("the TSA certificate lacks the id-kp-timeStamping extended key usage")
            signature_ok = False
        trusted = self._tsa_trusted(tsa_der, (*signed.certificates, *material.certificates), gen_time, problems)
        if trusted:
            trusted = self._tsa_not_revoked(tsa, (*signed.certificates, *material.certificates), material, gen_time)
            if not trusted:
                problems.append("the TSA certificate was revoked before genTime")
        valid = bool(signature_ok and trusted)
        detail = TimestampDetail(True, gen_time, name_to_text(tsa.subject), valid, matches, tuple(problems))
        return TimestampCheck(detail, gen_time if valid and matches else None, tuple(signed.certificates))

    def _tsa_trusted(self, tsa_der: bytes, extra: Sequence[bytes], gen_time: datetime, problems: list[str]) -> bool:
        path = self._validate_path(tsa_der, extra, gen_time)
        if not path.passed:
            problems.append(f"TSA certificate chain: {path.sub_indication}: {path.message}")
        return path.passed

    def _tsa_not_revoked(
        self, tsa: x509.Certificate, extra: Sequence[bytes], material: ValidationMaterial, gen_time: datetime
    ) -> bool:
        issuer = self._issuer_among(tsa, ValidationMaterial(tuple(extra)))
        if issuer is None:
            return True  # the chain check passed through an anchor we cannot ask: nothing more to learn
        decisive = self._revocation(tsa, issuer, material).decisive
        return not (
            decisive is not None
            and decisive.status is RevocationStatus.REVOKED
            and decisive.revoked_at is not None
            and decisive.revoked_at <= gen_time
        )


# --- verdicts -----------------------------------------------------------------------------------------------------


def _directly_trusted(path: PathResult) -> bool:
    """The path is the certificate alone: it is itself a trusted certificate."""
    return path.passed and len(path.path) == 1


def chain_phrase(chain: ChainDetail | None) -> str | None:
    """How the signer's certificate is trusted, as a PASSED reason says it (None without a valid chain)."""
    if chain is None or chain.indication is not Indication.PASSED or not chain.anchor:
        return None
    if len(chain.subjects) == 1:
        return "whose certificate is itself trusted (a directly trusted certificate)"
    return f"whose certificate chains to the trust anchor {chain.anchor!r}"


def _chain_detail(path: PathResult, at: datetime) -> ChainDetail:
    subjects = path.subjects
    message = path.message
    if _directly_trusted(path):
        message = "the certificate is itself trusted (a directly trusted certificate): no chain is needed"
    return ChainDetail(path.indication, path.sub_indication, message, subjects, subjects[-1] if subjects else None, at)


def _judge(
    result: _CertificateRevocation, is_leaf: bool, proof_of_existence: datetime | None, claimed: datetime | None
) -> Finding | None:
    who = "the signing certificate" if is_leaf else f"CA certificate {name_to_text(result.certificate.subject)!r}"
    decisive = result.decisive
    if decisive is None:
        sources = ", ".join(result.consulted) or "none in the file, and it is not issued by a CA of this deployment"
        return Finding(SubIndication.TRY_LATER, f"no revocation information for {who} (sources: {sources})")
    if decisive.status is not RevocationStatus.REVOKED or decisive.revoked_at is None:
        return None
    revoked_at = decisive.revoked_at
    when = f"{who} was revoked on {revoked_at:%Y-%m-%d %H:%M:%S}Z ({_reason_text(decisive.reason)})"
    if proof_of_existence is not None and proof_of_existence < revoked_at:
        return None
    if is_leaf and claimed is not None and claimed >= revoked_at:
        return Finding(SubIndication.REVOKED, f"{when}, before the signing time the signature itself claims")
    kind = SubIndication.REVOKED_NO_POE if is_leaf else SubIndication.REVOKED_CA_NO_POE
    if proof_of_existence is not None:
        return Finding(kind, f"{when}; the signature timestamp ({proof_of_existence:%Y-%m-%d %H:%M:%S}Z) is later")
    return Finding(kind, f"{when}; no timestamp proves the signature existed before that")


def _reason_text(reason: str | None) -> str:
    if reason is None:
        return "no reason given"
    return _REASON_TEXT.get(reason, reason.replace("_", " "))


def _revocation_detail(result: _CertificateRevocation, signing_time: datetime) -> RevocationDetail:
    decisive = result.decisive
    if decisive is None:
        return RevocationDetail(
            RevocationStatus.UNKNOWN,
            RevocationStatus.UNKNOWN,
            RevocationSource.NONE,
            sources_consulted=result.consulted,
            problems=result.problems,
        )
    source = next((e for e in result.evidence if e.status is not RevocationStatus.UNKNOWN), decisive)
    if decisive.status is RevocationStatus.REVOKED:
        assert decisive.revoked_at is not None
        at_signing = RevocationStatus.REVOKED if decisive.revoked_at <= signing_time else RevocationStatus.GOOD
        return RevocationDetail(
            at_signing,
            RevocationStatus.REVOKED,
            decisive.source,
            decisive.revoked_at,
            decisive.reason,
            decisive.produced_at,
            result.consulted,
            result.problems,
        )
    return RevocationDetail(
        RevocationStatus.GOOD,
        RevocationStatus.GOOD,
        source.source,
        produced_at=source.produced_at,
        sources_consulted=result.consulted,
        problems=result.problems,
    )


def _no_revocation() -> RevocationDetail:
    problem = "not checked: no issuer certificate was found for the signing certificate"
    return RevocationDetail(
        RevocationStatus.UNKNOWN, RevocationStatus.UNKNOWN, RevocationSource.NONE, problems=(problem,)
    )


def _trusted_not_checked(result: _CertificateRevocation | None) -> RevocationDetail:
    note = (
        "not checked: the certificate is directly trusted and no CRL or OCSP source knows it "
        "(as in EU DSS, a trusted certificate is not revocation-checked)"
    )
    consulted, problems = (result.consulted, result.problems) if result is not None else ((), ())
    return RevocationDetail(
        RevocationStatus.UNKNOWN,
        RevocationStatus.UNKNOWN,
        RevocationSource.NONE,
        sources_consulted=consulted,
        problems=(note, *problems),
    )


def _from_file(evidence: _Evidence) -> bool:
    return evidence.source in (RevocationSource.EMBEDDED_OCSP, RevocationSource.EMBEDDED_CRL)


# --- OCSP responses and CRLs ----------------------------------------------------------------------------------------


def _ask_our_responder(
    responder: tuple[str, OcspSender], certificate: x509.Certificate, issuer: x509.Certificate, problems: list[str]
) -> _Evidence | None:
    name, send = responder
    cert_id = ocsp.IssuerHashes.of(issuer.dump()).cert_id(certificate.serial_number, _CERT_ID_HASHES["sha256"])
    request = tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, cert_id))))  # OCSPRequest{TBSRequest{requestList{Request}}}
    try:
        response = send(request)
    except CertsealError as exc:
        problems.append(f"our OCSP responder for {name!r} did not answer: {exc.message}")
        return None
    found = _ocsp_evidence(response, certificate, issuer, RevocationSource.OUR_RESPONDER, problems)
    if found is not None and found.status is RevocationStatus.UNKNOWN:
        return None
    return found


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    return _verifies(issuer, certificate.signature, certificate["tbs_certificate"].dump(), certificate)


def _verifies(key_holder: x509.Certificate, signature: bytes, signed: bytes, structure: object) -> bool:
    try:
        algorithm = structure["signature_algorithm"]  # type: ignore[index]
        PublicKey(key_holder.public_key.dump()).verify(signature, signed, scheme_of(algorithm))
    except (CertsealError, ValueError, KeyError, TypeError):
        return False
    return True


def _cert_id_matches(cert_id: asn1_ocsp.CertId, certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    hash_algorithm = _CERT_ID_HASHES.get(cert_id["hash_algorithm"]["algorithm"].native)
    if hash_algorithm is None or cert_id["serial_number"].native != certificate.serial_number:
        return False
    name_hash = hash_algorithm.digest(issuer.subject.dump())
    key_hash = hash_algorithm.digest(issuer["tbs_certificate"]["subject_public_key_info"]["public_key"].contents[1:])
    return bool(cert_id["issuer_name_hash"].native == name_hash and cert_id["issuer_key_hash"].native == key_hash)


def _ocsp_evidence(
    der: bytes,
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    source: RevocationSource,
    problems: list[str],
) -> _Evidence | None:
    """What a DER OCSPResponse says about `certificate`, if it concerns it and `issuer` (or its responder) signed it."""
    try:
        response = asn1_ocsp.OCSPResponse.load(der)
        if response["response_status"].native != "successful":
            if source is RevocationSource.OUR_RESPONDER:
                problems.append(f"{source.value} answered {response['response_status'].native}")
            return None
        basic = response.basic_ocsp_response
        data = basic["tbs_response_data"]
        single = next((s for s in data["responses"] if _cert_id_matches(s["cert_id"], certificate, issuer)), None)
        if single is None:
            return None
        produced_at: datetime = data["produced_at"].native
        if not _ocsp_signed_by_issuer(basic, issuer, produced_at):
            problems.append(f"{source.value}: an OCSP response not signed by the issuer or its responder was ignored")
            return None
        status = single["cert_status"]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        problems.append(f"{source.value}: an unreadable OCSP response was ignored ({exc})")
        return None
    if status.name == "revoked":
        info = status.chosen
        reason = info["revocation_reason"].native
        return _Evidence(source, RevocationStatus.REVOKED, info["revocation_time"].native, reason, produced_at)
    kind = RevocationStatus.GOOD if status.name == "good" else RevocationStatus.UNKNOWN
    return _Evidence(source, kind, produced_at=single["this_update"].native)


def _ocsp_signed_by_issuer(basic: asn1_ocsp.BasicOCSPResponse, issuer: x509.Certificate, at: datetime) -> bool:
    """RFC 6960 4.2.2.2: the issuer itself, or a certificate it issued with id-kp-OCSPSigning, signed the response."""
    responder_id = basic["tbs_response_data"]["responder_id"]
    candidates = [issuer]
    for embedded in basic["certs"] or []:
        usage = embedded.extended_key_usage_value
        if (
            embedded.issuer == issuer.subject
            and usage is not None
            and "ocsp_signing" in usage.native
            and _within_validity(embedded, at)
            and _signed_by(embedded, issuer)
        ):
            candidates.append(embedded)
    signed = basic["tbs_response_data"].dump()
    for candidate in candidates:
        if not _responder_is(responder_id, candidate):
            continue
        if _verifies(candidate, basic["signature"].native, signed, basic):
            return True
    return False


def _responder_is(responder_id: asn1_ocsp.ResponderId, certificate: x509.Certificate) -> bool:
    if responder_id.name == "by_key":
        key_bits = certificate["tbs_certificate"]["subject_public_key_info"]["public_key"].contents[1:]
        return bool(responder_id.chosen.native == hashlib.sha1(key_bits, usedforsecurity=False).digest())
    return bool(responder_id.chosen == certificate.subject)


def _within_validity(certificate: x509.Certificate, at: datetime) -> bool:
    validity = certificate["tbs_certificate"]["validity"]
    return bool(validity["not_before"].native <= at <= validity["not_after"].native)


def _crl_evidence(
    der: bytes, certificate: x509.Certificate, issuer: x509.Certificate, problems: list[str]
) -> _Evidence | None:
    """What a full CRL signed by `issuer` says about `certificate` (delta CRLs are not used alone)."""
    try:
        parsed = asn1_crl.CertificateList.load(der)
        tbs = parsed["tbs_cert_list"]
        if tbs["issuer"] != issuer.subject or certificate.issuer != issuer.subject:
            return None
        if parsed.delta_crl_indicator_value is not None:
            return None
        if not _verifies(issuer, parsed.signature, tbs.dump(), parsed):
            problems.append("embedded CRL: a CRL whose signature does not verify with the issuer key was ignored")
            return None
        this_update: datetime = tbs["this_update"].native
        for entry in tbs["revoked_certificates"]:
            if entry["user_certificate"].native == certificate.serial_number:
                reason = entry.crl_reason_value.native if entry.crl_reason_value is not None else None
                revoked_at = entry["revocation_date"].native
                return _Evidence(
                    RevocationSource.EMBEDDED_CRL, RevocationStatus.REVOKED, revoked_at, reason, this_update
                )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        problems.append(f"embedded CRL: an unreadable CRL was ignored ({exc})")
        return None
    return _Evidence(RevocationSource.EMBEDDED_CRL, RevocationStatus.GOOD, produced_at=this_update)
