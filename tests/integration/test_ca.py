"""CA service on SQLite and PostgreSQL: issuance recorded in one transaction, renewal, revocation, bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asn1crypto import x509
from sqlalchemy import func, select

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.keys import PrivateKey
from certseal.errors import AlreadyExists, NotFound, ValidationError
from certseal.services.ca import CaService, RevocationReason, normalise_serial
from certseal.services.platform import Platform
from certseal.store.models import AuditEvent, CryptoKey, IssuedCertificate
from tests.conftest import ACTOR

USCC = "91110000600037341L"


@pytest.fixture
def ca(platform: Platform) -> CaService:
    service = CaService(platform)
    service.create_ca("root", KeyAlgorithm.P256, ACTOR, subject="CN=测试根CA,O=省药品监督管理局,C=CN")
    return service


def _count(platform: Platform, model: type) -> int:
    with platform.db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_issue_records_certificate_key_and_audit_together(platform: Platform, ca: CaService) -> None:
    info = ca.issue(
        "root",
        "organisation",
        ACTOR,
        subject=f"CN=某药业,O=某药业有限公司,serialNumber={USCC},C=CN",
        generate=KeyAlgorithm.SM2,
    )
    cert = x509.Certificate.load(info.certificate_der)
    assert format(cert.serial_number, "X").rjust(len(info.serial), "0") == info.serial
    assert cert.subject.native["serial_number"] == USCC
    assert cert.key_usage_value.native == {"digital_signature", "non_repudiation"}
    assert info.key_label == f"cert-{info.serial}"
    with platform.db.reading() as session:
        row = session.scalars(select(IssuedCertificate)).one()
        assert row.certificate_der == info.certificate_der and row.status == "valid"
        assert session.scalar(select(CryptoKey.label).where(CryptoKey.label == info.key_label))
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert actions[-2:] == ["generate", "issue"]


def test_serials_are_16_random_bytes_and_unique(ca: CaService) -> None:
    key = PrivateKey.generate(KeyAlgorithm.P256)
    serials = {
        ca.issue("root", "person", ACTOR, subject=f"CN=p{i}", public_key=key.public_key).serial for i in range(20)
    }
    assert len(serials) == 20
    assert all(len(s) <= 32 for s in serials)


def test_failed_issue_leaves_nothing(platform: Platform, ca: CaService) -> None:
    before = (_count(platform, IssuedCertificate), _count(platform, CryptoKey), _count(platform, AuditEvent))
    with pytest.raises(ValidationError, match="serialNumber"):
        ca.issue(
            "root",
            "organisation",
            ACTOR,
            subject="CN=x,O=y,serialNumber=91110000600037341X",
            generate=KeyAlgorithm.P256,
        )
    with pytest.raises(ValidationError, match="requires organization_name"):
        ca.issue("root", "organisation", ACTOR, subject=f"CN=x,serialNumber={USCC}", generate=KeyAlgorithm.P256)
    with pytest.raises(ValidationError, match="subject alternative name"):
        ca.issue("root", "tls-server", ACTOR, subject="CN=x", generate=KeyAlgorithm.P256)
    with pytest.raises(ValidationError, match="allows"):
        ca.issue("root", "person", ACTOR, subject="CN=x", generate=KeyAlgorithm.P256, san=["dns:x.cn"])
    with pytest.raises(ValidationError, match="CA profile"):
        ca.issue("root", "root-ca", ACTOR, subject="CN=x", generate=KeyAlgorithm.P256)
    with pytest.raises(NotFound, match="no CA named"):
        ca.issue("nope", "person", ACTOR, subject="CN=x", generate=KeyAlgorithm.P256)
    with pytest.raises(ValidationError, match="days"):
        ca.issue("root", "person", ACTOR, subject="CN=x", generate=KeyAlgorithm.P256, days=100000)
    assert (_count(platform, IssuedCertificate), _count(platform, CryptoKey), _count(platform, AuditEvent)) == before


def test_ca_names_and_duplicates(ca: CaService) -> None:
    with pytest.raises(AlreadyExists):
        ca.create_ca("root", KeyAlgorithm.P256, ACTOR)
    with pytest.raises(ValidationError, match="name"):
        ca.create_ca("Bad Name", KeyAlgorithm.P256, ACTOR)
    with pytest.raises(ValidationError, match="subject"):
        ca.create_ca("x", KeyAlgorithm.P256, ACTOR, subject="CN=x,C=China")
    with pytest.raises(ValidationError, match="-delta"):
        ca.create_ca("root-delta", KeyAlgorithm.P256, ACTOR)


def test_intermediate_is_bounded_by_its_parent(ca: CaService) -> None:
    sub = ca.create_ca("sub", KeyAlgorithm.SM2, ACTOR, parent="root")
    root = ca.get_ca("root")
    cert = x509.Certificate.load(sub.certificate_der)
    assert cert.issuer == x509.Certificate.load(root.certificate_der).subject
    assert cert.basic_constraints_value.native == {"ca": True, "path_len_constraint": 0}
    assert sub.not_after <= root.not_after
    assert [c for c in ca.ca_chain("sub")] == [sub.certificate_der, root.certificate_der]


def test_renewal_keeps_subject_and_key_and_is_idempotent(ca: CaService) -> None:
    first = ca.issue("root", "person", ACTOR, subject="CN=医生甲", generate=KeyAlgorithm.P256, days=20)
    ca.issue("root", "person", ACTOR, subject="CN=医生乙", generate=KeyAlgorithm.P256, days=400)
    progress: list[tuple[int, int]] = []
    renewed = ca.renew_expiring(timedelta(days=30), ACTOR, lambda done, total: progress.append((done, total)))
    assert [r.subject for r in renewed] == ["CN=医生甲"] and progress == [(1, 1)]
    old, new = (x509.Certificate.load(d) for d in (first.certificate_der, renewed[0].certificate_der))
    assert new.subject == old.subject and new.public_key.dump() == old.public_key.dump()
    assert new.serial_number != old.serial_number
    assert ca.renew_expiring(timedelta(days=30), ACTOR) == []
    with pytest.raises(AlreadyExists, match="already renewed"):
        ca.renew(first.serial, ACTOR)


def test_revocation_and_hold(ca: CaService) -> None:
    info = ca.issue("root", "person", ACTOR, subject="CN=x", generate=KeyAlgorithm.P256)
    held = ca.revoke(info.serial, RevocationReason.CERTIFICATE_HOLD, ACTOR)
    assert held.serial == info.serial
    with pytest.raises(ValidationError, match="already on hold"):
        ca.revoke(info.serial, RevocationReason.CERTIFICATE_HOLD, ACTOR)
    ca.release_hold(info.serial, ACTOR)
    with pytest.raises(ValidationError, match="not on hold"):
        ca.release_hold(info.serial, ACTOR)
    ca.revoke(
        ":".join(info.serial[i : i + 2] for i in range(0, len(info.serial), 2)).lower(),
        RevocationReason.KEY_COMPROMISE,
        ACTOR,
    )
    with pytest.raises(ValidationError, match="already revoked"):
        ca.revoke(info.serial, RevocationReason.SUPERSEDED, ACTOR)
    with pytest.raises(ValidationError, match="reason"):
        RevocationReason.parse("because")
    with pytest.raises(NotFound):
        ca.revoke("0A0B", RevocationReason.UNSPECIFIED, ACTOR)


@pytest.mark.parametrize("bad", ["", "xyz", "0x", "1" * 41])
def test_bad_serials(bad: str) -> None:
    with pytest.raises(ValidationError, match="serial"):
        normalise_serial(bad)


@pytest.mark.parametrize("san", ["email:李四@医院.cn", "dns:药监.cn", "uri:https://例子.cn/"])
def test_non_ascii_san_is_refused_clearly(ca: CaService, san: str) -> None:
    with pytest.raises(ValidationError, match="punycode"):
        ca.issue(
            "root",
            "organisation",
            ACTOR,
            subject=f"CN=x,O=y,serialNumber={USCC}",
            generate=KeyAlgorithm.P256,
            san=[san],
        )
