"""The verification report model: verdict rules, stable JSON, the HTML page (parsed by lxml), and the small pure
judgements behind a verdict (finding order, revocation against proof of existence, PDF dates)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import core, x509
from cryptography import x509 as crypto_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from lxml import html as lxml_html

from certseal.pki.der import tlv
from certseal.signing import cms
from certseal.signing.pdf.objects import Stream
from certseal.signing.verify.certificates import Finding, _CertificateRevocation, _Evidence, _judge
from certseal.signing.verify.cms import ADOBE_REVOCATION_INFO, material_of, verdict
from certseal.signing.verify.html import render_html
from certseal.signing.verify.pdf import _object_stream_numbers, _pdf_date
from certseal.signing.verify.report import (
    ChainDetail,
    FileKind,
    Indication,
    Integrity,
    ModificationDetail,
    ModificationKind,
    ObjectChange,
    RevocationDetail,
    RevocationSource,
    RevocationStatus,
    SignatureReport,
    SignerDetail,
    SigningTime,
    SigningTimeSource,
    SubIndication,
    TimestampDetail,
    VerificationReport,
)
from tests.pdfdocs import TestProducer, identity

T0 = datetime(2025, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


def _signature(indication: Indication, sub: SubIndication | None = None, reason: str = "ok") -> SignatureReport:
    return SignatureReport(
        id="Seal1",
        format="PAdES-B-T",
        indication=indication,
        sub_indication=sub,
        reason=reason,
        integrity=Integrity(True, True, True, True, True),
        signer=SignerDetail("CN=Seal", "CN=Root", "0A1B", "ecdsa-sha256", "ab" * 32, T0, T0 + timedelta(days=365)),
        chain=ChainDetail(Indication.PASSED, None, "valid path", ("CN=Seal", "CN=Root"), "CN=Root", T0),
        revocation=RevocationDetail(
            RevocationStatus.GOOD, RevocationStatus.REVOKED, RevocationSource.OUR_RESPONDER, T0 + timedelta(days=1)
        ),
        timestamp=TimestampDetail(True, T0, "CN=TSA", True, True),
        signing_time=SigningTime(T0, SigningTimeSource.TIMESTAMP),
        modifications=ModificationDetail(
            ModificationKind.PERMITTED, 1, (ObjectChange(14, 0, "Sig", "added", True, "signature value"),)
        ),
        level="B-T",
    )


def _report(*signatures: SignatureReport) -> VerificationReport:
    return VerificationReport(FileKind.PDF, "license.pdf", T0, signatures)


def test_overall_verdict_needs_every_signature_passed_and_at_least_one() -> None:
    passed, failed = _signature(Indication.PASSED), _signature(Indication.FAILED, SubIndication.HASH_FAILURE)
    unsure = _signature(Indication.INDETERMINATE, SubIndication.TRY_LATER)
    assert _report(passed, passed).indication is Indication.PASSED and _report(passed).passed
    assert _report(passed, unsure).indication is Indication.INDETERMINATE
    assert _report(unsure, failed, passed).indication is Indication.FAILED
    empty = _report()
    assert empty.indication is Indication.FAILED and not empty.passed and "no signature" in empty.summary


def test_json_has_stable_keys_and_iso_utc_times() -> None:
    first = json.loads(_report(_signature(Indication.PASSED)).to_json())
    minimal = SignatureReport("s", "CMS", Indication.FAILED, SubIndication.FORMAT_FAILURE, "bad", Integrity(None, None))
    second = json.loads(_report(minimal).to_json())
    assert list(first) == list(second)
    assert list(first["signatures"][0]) == list(second["signatures"][0])
    signature = first["signatures"][0]
    assert first["validation_time"] == "2025-03-01T08:30:15Z"
    assert signature["signing_time"] == {"time": "2025-03-01T08:30:15Z", "source": "timestamp", "claimed": False}
    assert signature["revocation"]["status_now"] == "revoked" and signature["revocation"]["revoked_at"].endswith("Z")
    assert second["signatures"][0]["signer"] is None and second["signatures"][0]["revocation"]["source"] == "none"
    shanghai = VerificationReport(FileKind.CMS, None, T0.astimezone(timezone(timedelta(hours=8))), ())
    assert json.loads(shanghai.to_json())["validation_time"] == "2025-03-01T08:30:15Z"


def test_html_is_well_formed_and_escapes_everything() -> None:
    hostile = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    signature = _signature(Indication.FAILED, SubIndication.FORMAT_FAILURE, reason=hostile)
    report = VerificationReport(FileKind.PDF, f"{hostile}.pdf", T0, (signature,))
    page = render_html(report)
    tree = lxml_html.document_fromstring(page)
    assert tree.xpath("//script") == [] and tree.xpath("//img") == []
    text = tree.text_content()
    assert hostile in text and "FAILED" in text and "FORMAT_FAILURE" in text and "B-T" in text
    assert tree.findtext(".//title") == f"Verification report: {hostile}.pdf"


def test_verdict_takes_the_first_failed_then_the_first_indeterminate() -> None:
    chain = Finding(SubIndication.NO_CERTIFICATE_CHAIN_FOUND, "no chain")
    hashed = Finding(SubIndication.HASH_FAILURE, "changed")
    crypto = Finding(SubIndication.SIG_CRYPTO_FAILURE, "bad signature")
    assert verdict([]) == (Indication.PASSED, None, None)
    assert verdict([chain]) == (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND, "no chain")
    assert verdict([chain, hashed, crypto]) == (Indication.FAILED, SubIndication.HASH_FAILURE, "changed")
    assert SubIndication.REVOKED.indication is Indication.FAILED
    assert SubIndication.REVOKED_NO_POE.indication is Indication.INDETERMINATE
    assert SubIndication.FORMAT_FAILURE.indication is Indication.FAILED


def _certificate() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = crypto_x509.Name([crypto_x509.NameAttribute(NameOID.COMMON_NAME, "Intermediate CA")])
    built = crypto_x509.CertificateBuilder(name, name, key.public_key(), 1, T0, T0 + timedelta(days=1)).sign(
        key, hashes.SHA256()
    )
    return x509.Certificate.load(built.public_bytes(Encoding.DER))


def _revocation(status: RevocationStatus, revoked_at: datetime | None = None) -> _CertificateRevocation:
    certificate = _certificate()
    evidence = (_Evidence(RevocationSource.OUR_RESPONDER, status, revoked_at, "key_compromise", T0),)
    return _CertificateRevocation(certificate, evidence, ("our responder",), ())


REVOKED_AT = T0 + timedelta(hours=1)


@pytest.mark.parametrize(
    ("proof", "claimed", "leaf", "expected"),
    [
        (T0, None, True, None),  # timestamp before the revocation: PASSED, the revocation only shown
        (T0, T0, True, None),
        (REVOKED_AT + timedelta(seconds=1), REVOKED_AT + timedelta(seconds=1), True, SubIndication.REVOKED),
        (REVOKED_AT + timedelta(seconds=1), None, True, SubIndication.REVOKED_NO_POE),
        (None, T0, True, SubIndication.REVOKED_NO_POE),  # a claimed time before the revocation proves nothing
        (None, REVOKED_AT, True, SubIndication.REVOKED),  # the signer itself claims to have signed after it
        (None, None, False, SubIndication.REVOKED_CA_NO_POE),
        (REVOKED_AT, None, True, SubIndication.REVOKED_NO_POE),  # the same second is not before
    ],
)
def test_revocation_is_judged_against_the_proof_of_existence(
    proof: datetime | None, claimed: datetime | None, leaf: bool, expected: SubIndication | None
) -> None:
    finding = _judge(_revocation(RevocationStatus.REVOKED, REVOKED_AT), leaf, proof, claimed)
    assert (finding.sub_indication if finding else None) is expected


def test_good_or_missing_revocation_information() -> None:
    assert _judge(_revocation(RevocationStatus.GOOD), True, None, None) is None
    unknown = _judge(_revocation(RevocationStatus.UNKNOWN), True, None, None)
    assert unknown is not None and unknown.sub_indication is SubIndication.TRY_LATER


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("D:20250301083015Z", datetime(2025, 3, 1, 8, 30, 15, tzinfo=UTC)),
        ("D:20250301163015+08'00'", datetime(2025, 3, 1, 8, 30, 15, tzinfo=UTC)),
        ("D:20250301033015-05'00", datetime(2025, 3, 1, 8, 30, 15, tzinfo=UTC)),
        ("D:2025", datetime(2025, 1, 1, tzinfo=UTC)),
        ("D:20251301000000Z", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_pdf_dates(text: str | None, expected: datetime | None) -> None:
    assert _pdf_date(text) == expected


def test_object_stream_header_lists_its_objects() -> None:
    stream = Stream({"Type": "ObjStm", "N": 3, "First": 18}, b"")
    stream._decoded = b"12 0 13 5 40 9    <<>> [1] (x)"  # header "obj offset" pairs, then the objects
    assert _object_stream_numbers(stream) == [12, 13, 40]
    assert _object_stream_numbers(Stream({"Type": "ObjStm"}, b"")) == []


def test_adobe_revocation_archival_attribute_is_read() -> None:
    """adbe-revocationInfoArchival (a signed attribute Adobe writes in adbe.pkcs7.detached) yields CRLs and OCSP."""
    der = TestProducer(identity("ec"))(bytes(32))
    signed = cms.parse(der)
    view = signed.signers[0]
    assert view.signed_attributes_der is not None
    response = tlv(0x30, b"\x0a\x01\x01")  # OCSPResponse{malformedRequest}: carried through, judged later
    archival = tlv(0x30, tlv(0xA1, tlv(0x30, response)))  # RevocationInfoArchival{ocsp [1] {response}}
    oid = core.ObjectIdentifier(ADOBE_REVOCATION_INFO).dump()
    attribute = tlv(0x30, oid + tlv(0x31, archival))  # by hand: pyHanko, once imported, gives asn1crypto its own spec
    attributes = tlv(0x31, asn1_cms.CMSAttributes.load(view.signed_attributes_der).contents + attribute)
    changed = replace(view, signed_attributes_der=attributes)
    material = material_of(der, replace(signed, signers=[changed]))
    assert material.ocsp_responses == (response,) and material.crls == ()
    assert material_of(der, signed).ocsp_responses == ()
