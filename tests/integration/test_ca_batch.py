"""Batched issuance on SQLite and PostgreSQL: one transaction, all or nothing, one audit event per certificate."""

from __future__ import annotations

import json

import pytest
from asn1crypto import x509
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.keys import PrivateKey, PublicKey
from certseal.errors import NotFound, ValidationError
from certseal.pki import certificates as certs
from certseal.services.ca import CaService, IssueRequest
from certseal.services.platform import Platform
from certseal.store.models import AuditEvent, IssuedCertificate
from tests.conftest import ACTOR

USCC = "91110000600037341L"


@pytest.fixture
def ca(platform: Platform) -> CaService:
    service = CaService(platform)
    service.create_ca("root", KeyAlgorithm.SM2, ACTOR, subject="CN=测试根CA,O=省药品监督管理局,C=CN")
    return service


@pytest.fixture(scope="module")
def subject_key() -> PublicKey:
    return PrivateKey.generate(KeyAlgorithm.P256).public_key


def _state(platform: Platform) -> tuple[int, int, bool]:
    with platform.db.reading() as session:
        certificates = int(session.scalar(select(func.count()).select_from(IssuedCertificate)) or 0)
        events = int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
        return certificates, events, platform.audit.verify(session).ok


def test_batch_records_every_certificate_with_its_own_audit_event(
    platform: Platform, ca: CaService, subject_key: PublicKey
) -> None:
    keys = [PrivateKey.generate(a).public_key for a in (KeyAlgorithm.RSA2048, KeyAlgorithm.SM2)] + [subject_key]
    requests = [
        IssueRequest(f"CN=某药业 {i},O=某药业有限公司,serialNumber={USCC},C=CN", keys[i % 3], ("dns:a.example.cn",))
        for i in range(30)
    ]
    issued = ca.issue_batch("root", "organisation", requests, ACTOR)
    assert len(issued) == 30 and len({i.serial for i in issued}) == 30
    ca_key = PublicKey(x509.Certificate.load(ca.get_ca("root").certificate_der).public_key.dump())
    for info, request in zip(issued, requests, strict=True):
        cert = x509.Certificate.load(info.certificate_der)
        ca_key.verify(cert.signature, cert["tbs_certificate"].dump())
        assert cert.public_key.dump() == request.public_key.spki_der
        assert cert.subject.native["common_name"] == request.subject.split(",")[0][3:]
        assert cert.subject_alt_name_value.native == ["a.example.cn"]
        assert format(cert.serial_number, "X").rjust(len(info.serial), "0") == info.serial
        assert info.ca == "root" and info.profile == "organisation" and info.key_label is None
        assert ca.get_certificate(info.serial).certificate_der == info.certificate_der
    with platform.db.reading() as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "issue").order_by(AuditEvent.seq)))
        row = session.scalars(select(IssuedCertificate).where(IssuedCertificate.serial == issued[0].serial)).one()
    assert [e.entity_id for e in events] == [i.serial for i in issued]
    after = json.loads(events[0].after or "{}")
    assert after["ca"] == "root" and after["profile"] == "organisation" and after["subject"] == row.subject
    assert row.san == json.dumps(["dns:a.example.cn"]) and json.loads(row.subject_dn)["serial_number"] == USCC
    assert row.status == "valid" and row.created_by == ACTOR.name and row.not_after == issued[0].not_after
    assert _state(platform)[2]


def test_batch_certificates_equal_single_issuance_in_form(ca: CaService, subject_key: PublicKey) -> None:
    single = ca.issue("root", "person", ACTOR, subject="CN=张三", public_key=subject_key, san=["email:z@a.cn"])
    (batched,) = ca.issue_batch("root", "person", [IssueRequest("CN=张三", subject_key, ("email:z@a.cn",))], ACTOR)
    one, other = (x509.Certificate.load(i.certificate_der)["tbs_certificate"] for i in (single, batched))
    for part in ("version", "signature", "issuer", "subject", "subject_public_key_info", "extensions"):
        assert one[part].dump() == other[part].dump()


def test_batches_and_single_issues_share_one_chain(platform: Platform, ca: CaService, subject_key: PublicKey) -> None:
    before = _state(platform)
    ca.issue_batch("root", "person", [IssueRequest(f"CN=a{i}", subject_key) for i in range(5)], ACTOR)
    renewed = ca.renew(ca.issue("root", "person", ACTOR, subject="CN=b", public_key=subject_key).serial, ACTOR)
    ca.issue_batch("root", "person", [IssueRequest(f"CN=c{i}", subject_key, days=10) for i in range(7)], ACTOR)
    ca.issue_batch("root", "person", [], ACTOR)
    certificates, events, ok = _state(platform)
    assert ok and certificates == before[0] + 14 and events == before[1] + 5 + 1 + 2 + 7
    with platform.db.reading() as session:
        seqs = list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert seqs == list(range(1, len(seqs) + 1)) and renewed.subject == "CN=b"


def test_invalid_request_names_its_index_and_issues_nothing(
    platform: Platform, ca: CaService, subject_key: PublicKey
) -> None:
    before = _state(platform)
    good = IssueRequest("CN=ok", subject_key)
    with pytest.raises(ValidationError, match=r"requests\[2\]\.san: .*allows"):
        ca.issue_batch("root", "person", [good, good, IssueRequest("CN=x", subject_key, ("dns:x.cn",))], ACTOR)
    with pytest.raises(ValidationError, match=r"requests\[1\]\.days"):
        ca.issue_batch("root", "person", [good, IssueRequest("CN=x", subject_key, days=100_000)], ACTOR)
    with pytest.raises(ValidationError, match=r"requests\[0\]\.subject"):
        ca.issue_batch("root", "organisation", [IssueRequest("CN=x,O=y,serialNumber=1", subject_key)], ACTOR)
    with pytest.raises(ValidationError, match="CA profile"):
        ca.issue_batch("root", "intermediate-ca", [good], ACTOR)
    with pytest.raises(ValidationError, match="unknown profile"):
        ca.issue_batch("root", "nobody", [good], ACTOR)
    with pytest.raises(NotFound):
        ca.issue_batch("absent", "person", [good], ACTOR)
    assert _state(platform) == before


def test_a_failure_while_recording_leaves_none_of_the_batch(
    platform: Platform, ca: CaService, subject_key: PublicKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = ca.issue("root", "person", ACTOR, subject="CN=first", public_key=subject_key)
    before = _state(platform)
    serials = iter([int(f"{i + 1:02X}", 16) for i in range(9)] + [int(taken.serial, 16)])
    monkeypatch.setattr(certs, "new_serial", lambda: next(serials))
    with pytest.raises(IntegrityError):  # the tenth reuses a recorded serial: the unique constraint refuses it
        ca.issue_batch("root", "person", [IssueRequest(f"CN=p{i}", subject_key) for i in range(10)], ACTOR)
    assert _state(platform) == before
    with platform.db.reading() as session:
        assert session.scalars(select(IssuedCertificate).where(IssuedCertificate.serial == "01")).first() is None


def test_serials_within_a_batch_never_repeat(
    ca: CaService, subject_key: PublicKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    serials = iter([7, 7, 7, 8, 7, 9])
    monkeypatch.setattr(certs, "new_serial", lambda: next(serials))
    issued = ca.issue_batch("root", "person", [IssueRequest(f"CN=p{i}", subject_key) for i in range(3)], ACTOR)
    assert [i.serial for i in issued] == ["07", "08", "09"]
