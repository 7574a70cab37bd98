"""TrustService over SQLite and PostgreSQL, the trust web route, and the `certseal trust` / cross-certify CLI."""

from __future__ import annotations

import json
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
from certseal.services.trust import TrustService
from certseal.store.models import AuditEvent, IssuedCertificate
from tests.conftest import ACTOR
from tests.integration.test_cli import Deployment

RSA, SM2 = KeyAlgorithm.RSA2048, KeyAlgorithm.SM2


class ExternalPki:
    """A CA hierarchy outside the deployment: root X, intermediate Y, a leaf under Y."""

    def __init__(self) -> None:
        root_key, inner_key, leaf_key = (PrivateKey.generate(KeyAlgorithm.P256) for _ in range(3))
        validity = certs.Validity.starting(datetime.now(UTC), 365)
        root = certs.Subject(build_name(parse_dn("CN=External Root,O=Elsewhere,C=CN")), root_key.public_key)
        root_issuer = certs.self_signed_issuer(root, _signer(root_key))
        self.root = certs.issue(root_issuer, root, profile("root-ca"), validity, certs.new_serial())
        inner = certs.Subject(build_name(parse_dn("CN=External Issuing,O=Elsewhere,C=CN")), inner_key.public_key)
        self.inner = certs.issue(root_issuer, inner, profile("intermediate-ca"), validity, certs.new_serial())
        inner_issuer = certs.Issuer(inner.name, x509.Certificate.load(self.inner).key_identifier, _signer(inner_key))
        person = certs.Subject(build_name(parse_dn("CN=Visitor,O=Elsewhere,C=CN")), leaf_key.public_key)
        self.leaf = certs.issue(inner_issuer, person, profile("person"), validity, certs.new_serial())


def _signer(key: PrivateKey) -> SoftwareSigner:
    return SoftwareSigner("external", key, key.algorithm.default_scheme)


@pytest.fixture
def three_roots(platform: Platform) -> Platform:
    cas = CaService(platform)
    cas.create_ca("rsa-a", RSA, ACTOR)
    cas.create_ca("sm2-b", SM2, ACTOR)
    cas.create_ca("rsa-c", RSA, ACTOR, subject="CN=Other Issuer Root,O=Other Issuer,C=CN")
    trust = TrustService(platform)
    trust.cross_certify("rsa-a", "sm2-b", ACTOR)
    trust.cross_certify("sm2-b", "rsa-a", ACTOR)
    trust.cross_certify("rsa-c", "rsa-a", ACTOR)
    return platform


def _leaf(platform: Platform, ca: str, subject: str = "CN=Zhang San,O=Beta,C=CN") -> bytes:
    info = CaService(platform).issue(ca, "person", ACTOR, subject=subject, generate=SM2)
    return info.certificate_der


def test_cross_certificates_are_recorded_and_audited(three_roots: Platform) -> None:
    trust = TrustService(three_roots)
    crosses = trust.cross_certificates()
    assert [(c.issuer, c.subject) for c in crosses] == [
        ("rsa-a", "C=CN, CN=sm2-b"),
        ("sm2-b", "C=CN, CN=rsa-a"),
        ("rsa-c", "C=CN, CN=rsa-a"),
    ]
    a_b = x509.Certificate.load(crosses[0].certificate_der)
    b_root = x509.Certificate.load(CaService(three_roots).get_ca("sm2-b").certificate_der)
    assert a_b.public_key.dump() == b_root.public_key.dump() and a_b.subject == b_root.subject
    assert a_b["signature_algorithm"]["algorithm"].native == "sha256_rsa" and a_b.ca
    with three_roots.db.reading() as session:
        rows = list(session.scalars(select(IssuedCertificate).where(IssuedCertificate.profile == "cross-ca")))
        assert {r.serial for r in rows} == {c.serial for c in crosses} and rows[0].algorithm == "sm2"
        assert json.loads(rows[0].subject_dn) == {"common_name": "sm2-b", "country_name": "CN"}
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "cross_certify")))
        assert len(events) == 3 and json.loads(events[0].after or "{}")["subject_ca"] == "sm2-b"


def test_sm2_leaf_validates_to_each_anchor(three_roots: Platform) -> None:
    trust = TrustService(three_roots)
    leaf = _leaf(three_roots, "sm2-b")
    direct = trust.validate(leaf)
    assert direct.passed and direct.subjects[1:] == ("C=CN, CN=sm2-b",)
    via_a = trust.validate(leaf, anchors=["rsa-a"])
    assert via_a.passed and via_a.subjects[1:] == ("C=CN, CN=sm2-b", "C=CN, CN=rsa-a")
    assert via_a.path[1].issuer == via_a.path[2].subject  # the cross-certificate, not B's own root
    via_c = trust.validate(leaf, anchors=["rsa-c"])
    assert via_c.passed and via_c.subjects[-1] == "C=CN, O=Other Issuer, CN=Other Issuer Root"
    assert len(via_c.path) == 4
    with pytest.raises(NotFound, match="no-such"):
        trust.validate(leaf, anchors=["no-such"])


def test_cross_certificate_constraints(platform: Platform) -> None:
    cas, trust = CaService(platform), TrustService(platform)
    cas.create_ca("rsa-a", RSA, ACTOR)
    cas.create_ca("sm2-b", SM2, ACTOR)
    cas.create_ca("sm2-b1", SM2, ACTOR, parent="sm2-b")
    trust.cross_certify(
        "rsa-a", "sm2-b", ACTOR, path_len=0, permitted=["C=CN,O=Allowed"], excluded=["C=CN,O=Allowed,OU=X"]
    )
    good = trust.validate(_leaf(platform, "sm2-b", "CN=Li,O=Allowed,C=CN"), anchors=["rsa-a"])
    assert good.passed
    other = trust.validate(_leaf(platform, "sm2-b", "CN=Li,O=Other,C=CN"), anchors=["rsa-a"])
    assert other.sub_indication is SubIndication.CHAIN_CONSTRAINTS_FAILURE and "permitted" in other.message
    deep = trust.validate(_leaf(platform, "sm2-b1", "CN=Li,O=Allowed,C=CN"), anchors=["rsa-a"])
    assert deep.sub_indication is SubIndication.CHAIN_CONSTRAINTS_FAILURE and "allows 0" in deep.message
    assert trust.validate(_leaf(platform, "sm2-b1", "CN=Li,O=Other,C=CN"), anchors=["sm2-b"]).passed


def test_expired_and_revoked_cross_certificates_are_not_used(platform: Platform) -> None:
    cas, trust = CaService(platform), TrustService(platform)
    cas.create_ca("rsa-a", RSA, ACTOR)
    cas.create_ca("sm2-b", SM2, ACTOR)
    cross = trust.cross_certify("rsa-a", "sm2-b", ACTOR, days=1)
    leaf = _leaf(platform, "sm2-b")
    assert trust.validate(leaf, anchors=["rsa-a"]).passed
    later = trust.validate(leaf, at=datetime.now(UTC) + timedelta(days=3), anchors=["rsa-a"])
    assert later.sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE and "expired" in later.message
    cas.revoke(cross.serial, RevocationReason.CESSATION_OF_OPERATION, ACTOR)
    revoked = trust.validate(leaf, anchors=["rsa-a"])
    assert revoked.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert revoked.indication is Indication.INDETERMINATE


def test_cross_certify_errors(platform: Platform) -> None:
    CaService(platform).create_ca("rsa-a", RSA, ACTOR)
    trust = TrustService(platform)
    with pytest.raises(ValidationError, match="itself"):
        trust.cross_certify("rsa-a", "rsa-a", ACTOR)
    with pytest.raises(NotFound, match="no CA or trust anchor named 'ghost'"):
        trust.cross_certify("rsa-a", "ghost", ACTOR)
    with pytest.raises(NotFound, match="no CA named 'ghost'"):
        trust.cross_certify("ghost", "rsa-a", ACTOR)
    with pytest.raises(ValidationError, match="path-len"):
        trust.cross_certify("ghost", "rsa-a", ACTOR, path_len=-1)
    with pytest.raises(ValidationError, match="permit: unknown attribute 'XX'"):
        trust.cross_certify("ghost", "rsa-a", ACTOR, permitted=["XX=1"])


def test_imported_anchor_makes_an_external_chain_verify(platform: Platform) -> None:
    CaService(platform).create_ca("rsa-a", RSA, ACTOR)
    trust, external = TrustService(platform), ExternalPki()
    before = trust.validate(external.leaf, [external.inner])
    assert before.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    info = trust.import_anchor("elsewhere", pem.armor("CERTIFICATE", external.root), ACTOR)
    assert info.source == "imported" and info.subject == "C=CN, O=Elsewhere, CN=External Root"
    after = trust.validate(external.leaf, [external.inner])
    assert after.passed and after.subjects[-1] == info.subject
    assert [a.name for a in trust.anchors()] == ["rsa-a", "elsewhere"]
    with pytest.raises(AlreadyExists, match="named 'elsewhere'"):
        trust.import_anchor("elsewhere", external.inner, ACTOR)
    with pytest.raises(AlreadyExists, match="already trusted as anchor 'elsewhere'"):
        trust.import_anchor("again", external.root, ACTOR)
    with pytest.raises(AlreadyExists, match="our root CA 'rsa-a'"):
        trust.import_anchor("mine", CaService(platform).get_ca("rsa-a").certificate_der, ACTOR)
    # an anchor need not be self-signed: trusting the intermediate alone is enough for its leaves
    trust.import_anchor("elsewhere-issuing", external.inner, ACTOR)
    assert trust.validate(external.leaf, anchors=["elsewhere-issuing"]).passed
    # and our CA can cross-certify the external root, so it validates to our own anchor
    trust.cross_certify("rsa-a", "elsewhere", ACTOR)
    assert trust.validate(external.leaf, [external.inner], anchors=["rsa-a"]).passed


def test_import_anchor_rejects_what_cannot_be_an_anchor(platform: Platform) -> None:
    trust, external = TrustService(platform), ExternalPki()
    with pytest.raises(ValidationError, match="not a CA certificate"):
        trust.import_anchor("leaf", external.leaf, ACTOR)
    with pytest.raises(ValidationError, match=r"not a DER X\.509 certificate"):
        trust.import_anchor("junk", b"not a certificate", ACTOR)
    with pytest.raises(ValidationError, match="no PEM CERTIFICATE"):
        trust.import_anchor("junk", pem.armor("PUBLIC KEY", b"\x30\x00"), ACTOR)
    with pytest.raises(ValidationError, match="exactly one"):
        trust.import_anchor(
            "two", pem.armor("CERTIFICATE", external.root) + pem.armor("CERTIFICATE", external.inner), ACTOR
        )
    tampered = bytearray(external.root)
    tampered[-3] ^= 0x01
    with pytest.raises(ValidationError, match="self-signature does not verify"):
        trust.import_anchor("bad", bytes(tampered), ACTOR)
    with pytest.raises(ValidationError, match="name"):
        trust.import_anchor("Bad Name", external.root, ACTOR)
    assert trust.anchors() == []


def test_cli_cross_certify_import_list_verify(tmp_path: Path) -> None:
    d = Deployment(tmp_path)
    d.run("init")
    d.run("ca", "create", "rsa-a", "--alg", "rsa2048")
    d.run("ca", "create", "sm2-b", "--alg", "sm2")
    cross = d.run(
        "ca",
        "cross-certify",
        "--issuer",
        "rsa-a",
        "--subject",
        "sm2-b",
        "--out",
        "ab.pem",
        "--path-len",
        "0",
        "--permit",
        "C=CN,O=Allowed",
    )
    assert "rsa-a cross-certified sm2-b" in cross.stdout
    assert x509.Certificate.load(pem.unarmor((tmp_path / "ab.pem").read_bytes())[2]).max_path_length == 0
    d.run(
        "cert",
        "issue",
        "--ca",
        "sm2-b",
        "--profile",
        "person",
        "--subject",
        "CN=Li,O=Allowed,C=CN",
        "--generate-key",
        "sm2",
        "--out",
        "leaf.pem",
    )
    verified = d.run("trust", "verify", "--cert", "leaf.pem", "--anchor", "rsa-a")
    assert "PASSED" in verified.stdout and "CN=sm2-b" in verified.stdout and "anchor C=CN, CN=rsa-a" in verified.stdout
    d.run(
        "cert",
        "issue",
        "--ca",
        "sm2-b",
        "--profile",
        "person",
        "--subject",
        "CN=Li,O=Other,C=CN",
        "--generate-key",
        "sm2",
        "--out",
        "other.pem",
    )
    refused = d.run("trust", "verify", "--cert", "other.pem", "--anchor", "rsa-a", ok=False)
    assert refused.returncode == 1 and "CHAIN_CONSTRAINTS_FAILURE" in refused.stderr and "rejected:" in refused.stderr

    external = ExternalPki()
    d.file("x.pem", pem.armor("CERTIFICATE", external.root))
    d.file("y.pem", pem.armor("CERTIFICATE", external.inner))
    d.file("visitor.pem", pem.armor("CERTIFICATE", external.leaf))
    unknown = d.run("trust", "verify", "--cert", "visitor.pem", "--untrusted", "y.pem", ok=False)
    assert unknown.returncode == 1 and "NO_CERTIFICATE_CHAIN_FOUND" in unknown.stderr
    assert "imported trust anchor elsewhere" in d.run("trust", "import", "elsewhere", "--cert", "x.pem").stdout
    assert "PASSED" in d.run("trust", "verify", "--cert", "visitor.pem", "--untrusted", "y.pem").stdout
    listed = d.run("trust", "list").stdout
    assert "rsa-a" in listed and "sm2-b" in listed and "elsewhere" in listed and "imported" in listed
    duplicate = d.run("trust", "import", "elsewhere", "--cert", "x.pem", ok=False)
    assert duplicate.returncode == 1 and "exists already" in duplicate.stderr
    bad = d.run(
        "ca", "cross-certify", "--issuer", "rsa-a", "--subject", "sm2-b", "--out", "z.pem", "--permit", "Q=1", ok=False
    )
    assert bad.returncode == 2 and "permit" in bad.stderr
