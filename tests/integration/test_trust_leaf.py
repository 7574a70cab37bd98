"""Directly trusted end-entity certificates (`TrustService.import_anchor(..., leaf=True)`, `certseal trust import
--leaf`): listed with their kind, audited, removable; they end their own chain and nobody else's.

The OpenSSL CLI is the outside judge of the path semantics: `openssl verify -partial_chain -CAfile LEAF LEAF` is
what "a trusted certificate ends its own chain" means there, and OpenSSL refuses to let a non-CA trusted certificate
issue another one, as we do.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import pem, x509
from sqlalchemy import select

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.keys import PrivateKey
from certseal.crypto.tokens.software import SoftwareSigner
from certseal.errors import AlreadyExists, NotFound, ValidationError
from certseal.pki import certificates as certs
from certseal.pki.names import build_name, parse_dn
from certseal.pki.path import Indication, SubIndication
from certseal.pki.profiles import profile
from certseal.services.ca import CaService, RevocationReason
from certseal.services.platform import Platform
from certseal.services.trust import AnchorKind, TrustService
from certseal.services.verification import VerificationService
from certseal.signing.verify.certificates import ValidationMaterial
from certseal.signing.verify.report import RevocationSource, RevocationStatus
from certseal.store.models import AuditEvent
from tests.conftest import ACTOR
from tests.integration.test_cli import Deployment

NOW = datetime.now(UTC)


@dataclass(frozen=True)
class Party:
    key: PrivateKey
    certificate: bytes

    @property
    def name(self) -> x509.Name:
        return x509.Certificate.load(self.certificate).subject

    def issuer(self) -> certs.Issuer:
        signer = SoftwareSigner("party", self.key, self.key.algorithm.default_scheme)
        return certs.Issuer(self.name, x509.Certificate.load(self.certificate).key_identifier, signer)


class OutsidePki:
    """An external CA (whose certificate we never import) with end-entity certificates under it."""

    def __init__(self) -> None:
        self.ca = self._party("CN=Tax Test CA,O=Elsewhere,C=CN", None, profile("root-ca"))
        self.signer = self.leaf("CN=Seal Holder,O=Elsewhere,C=CN")

    def leaf(self, dn: str, kind: str = "person", start: datetime = NOW - timedelta(days=1), days: int = 365) -> Party:
        return self._party(dn, self.ca, profile(kind), start, days)

    @staticmethod
    def _party(
        dn: str,
        issuer: Party | None,
        kind: certs.CertificateProfile,
        start: datetime = NOW - timedelta(days=1),
        days: int = 365,
    ) -> Party:
        key = PrivateKey.generate(KeyAlgorithm.P256)
        subject = certs.Subject(build_name(parse_dn(dn)), key.public_key)
        validity = certs.Validity.starting(start, days)
        if issuer is None:
            own = certs.self_signed_issuer(subject, SoftwareSigner("ca", key, key.algorithm.default_scheme))
            return Party(key, certs.issue(own, subject, kind, validity, certs.new_serial()))
        return Party(key, certs.issue(issuer.issuer(), subject, kind, validity, certs.new_serial()))


def openssl_verify(tmp: Path, trusted: bytes, target: bytes, at: datetime | None = None) -> bool:
    (tmp / "trusted.pem").write_bytes(pem.armor("CERTIFICATE", trusted))
    (tmp / "target.pem").write_bytes(pem.armor("CERTIFICATE", target))
    when = ["-attime", str(int(at.timestamp()))] if at else []
    args = ["openssl", "verify", "-partial_chain", *when, "-CAfile", "trusted.pem", "target.pem"]
    return subprocess.run(args, cwd=tmp, capture_output=True, timeout=60).returncode == 0


def audit(platform: Platform, name: str) -> list[tuple[str, dict[str, object]]]:
    with platform.db.reading() as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.entity == "trust_anchor", AuditEvent.entity_id == name)
        )
        return [(r.action, json.loads(r.after or r.before or "{}")) for r in rows]


def test_a_trusted_leaf_ends_its_own_chain_and_is_listed_audited_and_removable(
    platform: Platform, tmp_path: Path
) -> None:
    trust, outside = TrustService(platform), OutsidePki()
    leaf = outside.signer.certificate
    assert trust.validate(leaf).sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    info = trust.import_anchor("seal-holder", pem.armor("CERTIFICATE", leaf), ACTOR, leaf=True)
    assert (info.kind, info.source, info.subject) == (AnchorKind.LEAF, "imported", "C=CN, O=Elsewhere, CN=Seal Holder")
    assert [(a.name, a.kind) for a in trust.anchors()] == [("seal-holder", AnchorKind.LEAF)]
    assert audit(platform, "seal-holder") == [
        (
            "import",
            {
                "subject": info.subject,
                "sha256": info.sha256,
                "not_after": info.not_after.isoformat(),
                "kind": "leaf",
            },
        )
    ]
    result = trust.validate(leaf)
    assert result.passed and result.subjects == (info.subject,)
    assert openssl_verify(tmp_path, leaf, leaf)
    assert not trust.validate(leaf, anchors=[]).passed  # only the anchors named count
    removed = trust.remove_anchor("seal-holder", ACTOR)
    assert removed.kind is AnchorKind.LEAF and trust.anchors() == []
    assert audit(platform, "seal-holder")[-1] == (
        "remove",
        {"subject": info.subject, "sha256": info.sha256, "kind": "leaf"},
    )
    assert trust.validate(leaf).sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND


def test_a_trusted_leaf_never_lets_another_certificate_chain_through_it(platform: Platform, tmp_path: Path) -> None:
    trust, outside = TrustService(platform), OutsidePki()
    trust.import_anchor("seal-holder", outside.signer.certificate, ACTOR, leaf=True)
    # a certificate the leaf's key signed, naming the leaf as its issuer: the leaf is not a CA
    child_key = PrivateKey.generate(KeyAlgorithm.P256)
    child_subject = certs.Subject(build_name(parse_dn("CN=Impostor,O=Elsewhere,C=CN")), child_key.public_key)
    validity = certs.Validity.starting(NOW - timedelta(days=1), 30)
    child = certs.issue(outside.signer.issuer(), child_subject, profile("person"), validity, certs.new_serial())
    assert x509.Certificate.load(child).issuer == outside.signer.name
    refused = trust.validate(child)
    assert (refused.indication, refused.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
    )
    assert not openssl_verify(tmp_path, outside.signer.certificate, child)
    # a sibling issued by the same outside CA is not trusted either: trust is in the certificate, not its issuer
    sibling = outside.leaf("CN=Sibling,O=Elsewhere,C=CN").certificate
    assert trust.validate(sibling, [outside.ca.certificate]).sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    # and nobody can cross-certify it into a CA
    CaService(platform).create_ca("ours", KeyAlgorithm.P256, ACTOR)
    with pytest.raises(ValidationError, match="directly trusted end-entity certificate, not a CA"):
        trust.cross_certify("ours", "seal-holder", ACTOR)


def test_an_expired_leaf_can_be_trusted_for_what_it_signed_while_valid(platform: Platform, tmp_path: Path) -> None:
    trust, outside = TrustService(platform), OutsidePki()
    old = outside.leaf("CN=Retired Signer,O=Elsewhere,C=CN", start=NOW - timedelta(days=800), days=365)
    trust.import_anchor("retired", old.certificate, ACTOR, leaf=True)
    expired = trust.validate(old.certificate)
    assert expired.sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE and "expired" in expired.message
    assert not openssl_verify(tmp_path, old.certificate, old.certificate)
    then = NOW - timedelta(days=600)
    assert trust.validate(old.certificate, at=then).passed
    assert openssl_verify(tmp_path, old.certificate, old.certificate, at=then)


def test_import_leaf_refuses_what_cannot_be_trusted_directly(platform: Platform) -> None:
    trust, outside = TrustService(platform), OutsidePki()
    with pytest.raises(ValidationError, match="is a CA certificate: import it as a trust anchor, without --leaf"):
        trust.import_anchor("ca", outside.ca.certificate, ACTOR, leaf=True)
    with pytest.raises(ValidationError, match=r"not a CA certificate .*\(--leaf\)"):
        trust.import_anchor("holder", outside.signer.certificate, ACTOR)
    encipher_only = replace(profile("person"), key_usage=frozenset({"key_encipherment"}))
    key = PrivateKey.generate(KeyAlgorithm.P256)
    subject = certs.Subject(build_name(parse_dn("CN=Decrypt Only,C=CN")), key.public_key)
    validity = certs.Validity.starting(NOW, 30)
    no_signing = certs.issue(outside.ca.issuer(), subject, encipher_only, validity, certs.new_serial())
    with pytest.raises(ValidationError, match="neither the digitalSignature nor the nonRepudiation"):
        trust.import_anchor("decrypt", no_signing, ACTOR, leaf=True)
    with pytest.raises(ValidationError, match=r"not a DER X\.509 certificate"):
        trust.import_anchor("junk", b"\x30\x03\x02\x01\x01", ACTOR, leaf=True)
    trust.import_anchor("holder", outside.signer.certificate, ACTOR, leaf=True)
    with pytest.raises(AlreadyExists, match="already trusted as anchor 'holder'"):
        trust.import_anchor("again", outside.signer.certificate, ACTOR, leaf=True)
    with pytest.raises(NotFound, match="no imported trust anchor named 'ghost'"):
        trust.remove_anchor("ghost", ACTOR)
    CaService(platform).create_ca("ours", KeyAlgorithm.P256, ACTOR)
    with pytest.raises(ValidationError, match="'ours' is a CA of this deployment"):
        trust.remove_anchor("ours", ACTOR)
    assert [a.name for a in trust.anchors()] == ["ours", "holder"]


def test_a_trusted_signer_is_chain_passed_and_its_revocation_reported_not_checked(platform: Platform) -> None:
    trust, outside = TrustService(platform), OutsidePki()
    validator = VerificationService(platform).validator(NOW)
    leaf = outside.signer.certificate
    untrusted = validator.validate_signer(leaf, ValidationMaterial(), None, None)
    assert untrusted.chain.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    trust.import_anchor("holder", leaf, ACTOR, leaf=True)
    result = VerificationService(platform).validator(NOW).validate_signer(leaf, ValidationMaterial(), None, None)
    assert result.findings == ()
    assert result.chain.indication is Indication.PASSED and "directly trusted" in result.chain.message
    assert result.chain.subjects == ("C=CN, O=Elsewhere, CN=Seal Holder",)
    revocation = result.revocation
    assert (revocation.status_at_signing, revocation.source) == (RevocationStatus.UNKNOWN, RevocationSource.NONE)
    assert "not checked: the certificate is directly trusted" in revocation.problems[0]
    assert "EU DSS" in revocation.problems[0]


def test_a_trusted_signer_that_a_known_source_reports_revoked_is_still_judged(platform: Platform) -> None:
    """Trust replaces the chain, not what a revocation source knows: our own CA's OCSP responder answers here."""
    cas, trust = CaService(platform), TrustService(platform)
    cas.create_ca("ours", KeyAlgorithm.P256, ACTOR)
    good = cas.issue("ours", "person", ACTOR, subject="CN=Good,O=Beta,C=CN", generate=KeyAlgorithm.SM2)
    bad = cas.issue("ours", "person", ACTOR, subject="CN=Bad,O=Beta,C=CN", generate=KeyAlgorithm.SM2)
    trust.import_anchor("good", good.certificate_der, ACTOR, leaf=True)
    trust.import_anchor("bad", bad.certificate_der, ACTOR, leaf=True)
    cas.revoke(bad.serial, RevocationReason.KEY_COMPROMISE, ACTOR)
    validator = VerificationService(platform).validator(datetime.now(UTC) + timedelta(seconds=1))
    fine = validator.validate_signer(good.certificate_der, ValidationMaterial(), None, None)
    assert fine.findings == () and len(fine.chain.subjects) == 1
    assert (fine.revocation.status_now, fine.revocation.source) == (
        RevocationStatus.GOOD,
        RevocationSource.OUR_RESPONDER,
    )
    revoked = validator.validate_signer(bad.certificate_der, ValidationMaterial(), None, None)
    assert len(revoked.chain.subjects) == 1 and revoked.chain.indication is Indication.PASSED
    assert [f.sub_indication for f in revoked.findings] == [SubIndication.REVOKED_NO_POE]
    assert revoked.revocation.status_now is RevocationStatus.REVOKED


@pytest.mark.slow
def test_cli_import_leaf_list_verify_remove(tmp_path: Path) -> None:
    d, outside = Deployment(tmp_path), OutsidePki()
    d.run("init")
    d.file("holder.pem", pem.armor("CERTIFICATE", outside.signer.certificate))
    refused = d.run("trust", "import", "holder", "--cert", "holder.pem", ok=False)
    assert refused.returncode == 2 and "--leaf" in refused.stderr
    unknown = d.run("trust", "verify", "--cert", "holder.pem", ok=False)
    assert unknown.returncode == 1 and "NO_CERTIFICATE_CHAIN_FOUND" in unknown.stderr
    imported = d.run("trust", "import", "holder", "--cert", "holder.pem", "--leaf")
    assert "imported directly trusted certificate holder" in imported.stdout
    row = next(line for line in d.run("trust", "list").stdout.splitlines() if "holder" in line)
    assert "imported" in row and "leaf" in row and "Seal Holder" in row
    verified = d.run("trust", "verify", "--cert", "holder.pem")
    assert "PASSED" in verified.stdout and "trusted" in verified.stdout
    assert "removed directly trusted certificate holder" in d.run("trust", "remove", "holder").stdout
    assert d.run("trust", "verify", "--cert", "holder.pem", ok=False).returncode == 1
    assert d.run("trust", "remove", "holder", ok=False).returncode != 0
