"""LicenseService over SQLite and PostgreSQL: the lifecycle of a Drug Production License and a pharmacist's
certificate, numbers, identifiers, QR payloads, scopes, audited reveals and bad input.

Outside checkers: python-stdnum's ISO 7064 MOD 37,36 for the identifiers' check characters, `cryptography` for the
ES256 signature of the QR payload (from the JWKS), poppler's pdfsig for the sealed PDF.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from sqlalchemy import func, select
from stdnum.iso7064 import mod_37_36

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.errors import AlreadyExists, Forbidden, NotFound, ValidationError
from certseal.licenses import qr
from certseal.licenses.identifiers import parse_identifier
from certseal.licenses.lifecycle import Action, IllegalTransition
from certseal.services.access import Principal, SensitiveData
from certseal.services.ca import CaService
from certseal.services.license_documents import LicenseDocuments
from certseal.services.licenses import (
    FileFormat,
    LicenseDetail,
    LicenseQuery,
    LicenseService,
    TransitionRequest,
)
from certseal.services.platform import Platform
from certseal.services.qr_keys import QrKeyService
from certseal.store.models import AuditEvent, License, LicenseEvent, LicenseFile, LicenseVersion
from tests import pdfdocs
from tests.conftest import ACTOR
from tests.unit.test_license_render import drug_data, pharmacist_data

USCC = "91110108551385082Q"
OTHER_USCC = "91350100M000100Y43"
PHONE = "13812341234"
LEGAL_REP_ID = "440524188001010014"
PHARMACIST_ID = "11010519491231002X"
PHARMACIST_NAME = "欧阳明华"
PHARMACIST_MOBILE = "13998765432"
OTHER_ID = "110105194912310038"
TODAY = date(2026, 3, 2)
PHARMACIST_IDENTIFIER = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"  # a real one
REGISTRY_FIELDS = ("license_number", "issue_date", "valid_until", "issuing_authority")


def drug(**changes: Any) -> dict[str, Any]:
    """A Drug Production License application with both sensitive fields filled."""
    data = {k: v for k, v in drug_data(sites=1, workshops=1, lines=1).items() if k not in REGISTRY_FIELDS}
    data.update(contact_phone=PHONE, legal_representative_id_number=LEGAL_REP_ID)
    data.update(changes)
    return data


def pharmacist(**changes: Any) -> dict[str, Any]:
    data = {k: v for k, v in pharmacist_data().items() if k not in ("issue_date", "valid_until", "issuing_authority")}
    data.update(name=PHARMACIST_NAME, id_number=PHARMACIST_ID, mobile=PHARMACIST_MOBILE)
    data.pop("certificate_number")
    data.update(changes)
    return data


@dataclass(frozen=True)
class Registry:
    """A deployment ready to issue licenses, with a principal of every kind."""

    platform: Platform
    service: LicenseService
    admin: Principal  # provincial admin, all data
    province: Principal  # licensing officer of Hubei (420000)
    wuhan: Principal  # licensing officer of Wuhan (420100)
    yichang: Principal  # licensing officer of Yichang (420500)
    auditor: Principal
    enterprise: Principal  # enterprise user of USCC
    other_enterprise: Principal
    person: Principal  # the pharmacist PHARMACIST_ID
    other_person: Principal


def person_scope(platform: Platform, id_number: str) -> str:
    with platform.unit_of_work(ACTOR) as uow:
        return "person:" + SensitiveData(platform).index_of(uow.session, "id-number", id_number)


def make_registry(platform: Platform) -> Registry:
    CaService(platform).create_ca("demo-rsa-root", KeyAlgorithm.RSA2048, ACTOR)
    CaService(platform).create_ca("demo-sm2-root", KeyAlgorithm.SM2, ACTOR)
    LicenseDocuments(platform).ensure_license_seals(ACTOR)
    user = Principal.for_user
    return Registry(
        platform=platform,
        service=LicenseService(platform, source="pytest"),
        admin=user("admin", "provincial-admin", "*", "管理员"),
        province=user("prov", "licensing-officer", "division:420000", "孙八"),
        wuhan=user("wuhan", "licensing-officer", "division:420100", "武汉市局"),
        yichang=user("yichang", "licensing-officer", "division:420500", "宜昌市局"),
        auditor=user("audit", "auditor", "*"),
        enterprise=user("ent", "enterprise-user", f"uscc:{USCC}"),
        other_enterprise=user("other", "enterprise-user", f"uscc:{OTHER_USCC}"),
        person=user("phar", "pharmacist", person_scope(platform, PHARMACIST_ID)),
        other_person=user("phar2", "pharmacist", person_scope(platform, OTHER_ID)),
    )


@pytest.fixture
def registry(platform: Platform) -> Registry:
    return make_registry(platform)


def approved_drug(r: Registry, **changes: Any) -> str:
    """A Wuhan application for a Drug Production License, submitted by the city and approved by the province."""
    draft = r.service.create(r.wuhan, "drug-production", drug(**changes))
    r.service.transition(r.wuhan, draft.info.id, Action.SUBMIT, TransitionRequest(today=TODAY))
    confirmed = frozenset({"on_site_inspection_passed"})
    r.service.transition(r.province, draft.info.id, Action.APPROVE, TransitionRequest(confirmed=confirmed, today=TODAY))
    return draft.info.id


def issued_drug(r: Registry, **changes: Any) -> LicenseDetail:
    license_id = approved_drug(r, **changes)
    return r.service.transition(r.province, license_id, Action.ISSUE, TransitionRequest(today=TODAY))


def issued_pharmacist(r: Registry, number: str = "ZY420120260001") -> LicenseDetail:
    confirmed = frozenset(
        {
            "qualification_certificate",
            "no_bad_conduct_record",
            "fit_for_work",
            "employer_consent",
            "continuing_education_complete",
        }
    )
    request = TransitionRequest(confirmed=confirmed, number=number, today=TODAY)
    return r.service.issue_now(r.province, "pharmacist-registration", pharmacist(), "420100", request).detail


def rows(platform: Platform) -> dict[str, int]:
    with platform.db.reading() as session:
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (License, LicenseVersion, LicenseFile, LicenseEvent)
        }


def es256_verified_by_cryptography(jws: str, jwks: dict[str, object]) -> bytes:
    """The JWS payload, after `cryptography` (not our code) verified the ES256 signature with the JWK."""
    header_b64, payload_b64, signature_b64 = jws.split(".")
    header = json.loads(qr.b64url_decode(header_b64, "header"))
    keys = {k["kid"]: k for k in jwks["keys"]}  # type: ignore[attr-defined]
    jwk = keys[header["kid"]]
    x = int.from_bytes(qr.b64url_decode(jwk["x"], "x"), "big")
    y = int.from_bytes(qr.b64url_decode(jwk["y"], "y"), "big")
    public_key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    raw = qr.b64url_decode(signature_b64, "signature")
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public_key.verify(signature, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    return qr.b64url_decode(payload_b64, "payload")


def audit_events(platform: Platform, entity_id: str) -> list[AuditEvent]:
    with platform.db.reading() as session:
        query = select(AuditEvent).where(AuditEvent.entity_id == entity_id).order_by(AuditEvent.seq)
        return list(session.scalars(query))


# --- the Drug Production License ----------------------------------------------------------------------------------


def test_drug_production_license_from_draft_to_revocation(registry: Registry) -> None:
    r, service = registry, registry.service
    draft = service.create(r.wuhan, "drug-production", drug())
    assert draft.info.status == "draft" and draft.info.version == 0 and draft.info.division_code == "420100"
    assert draft.info.number is None and draft.info.identifier is None and draft.info.holder_code == USCC
    assert draft.audience == "owner" and draft.fields["contact_phone"] == "138****1234"
    assert draft.fields["legal_representative_id_number"] == "4405**********0014"
    license_id = draft.info.id

    service.transition(r.wuhan, license_id, Action.SUBMIT, TransitionRequest(today=TODAY))
    with pytest.raises(Forbidden, match="licensing-officer:city may not approve"):
        service.transition(r.wuhan, license_id, Action.APPROVE, TransitionRequest(today=TODAY))
    with pytest.raises(IllegalTransition, match="现场检查通过") as refused:
        service.transition(r.province, license_id, Action.APPROVE, TransitionRequest(today=TODAY))
    assert refused.value.field == "confirmed"
    confirmed = frozenset({"on_site_inspection_passed"})
    service.transition(r.province, license_id, Action.APPROVE, TransitionRequest(confirmed=confirmed, today=TODAY))
    with pytest.raises(IllegalTransition, match="do not supply one") as refused:
        service.transition(r.province, license_id, Action.ISSUE, TransitionRequest(number="鄂20269999", today=TODAY))
    assert refused.value.field == "number"

    issued = service.transition(r.province, license_id, Action.ISSUE, TransitionRequest(today=TODAY))
    info = issued.info
    assert info.status == "issued" and info.version == 1 and info.number == "鄂20260001"
    assert (info.issued_on, info.valid_from, info.valid_until) == (TODAY, TODAY, date(2031, 3, 1))
    assert issued.fields["license_number"] == "鄂20260001"
    assert issued.fields["issuing_authority"] == "湖北省药品监督管理局"
    assert issued.fields["issuer"] == "孙八"  # the drug_data() value is kept
    identifier = parse_identifier(info.identifier or "")
    assert identifier.version == 1 and identifier.issuer_code == "11420000MB1234567U"
    assert mod_37_36.is_valid((info.identifier or "").replace(".", "")[len("1215630052") :])  # python-stdnum
    (v1,) = issued.versions
    assert v1.current and v1.action == "issue" and v1.number == "鄂20260001"
    assert sorted((f.copy, f.format.value) for f in v1.files) == [
        ("duplicate", "ofd"),
        ("duplicate", "pdf"),
        ("original", "ofd"),
        ("original", "pdf"),
    ]
    assert [h.action for h in issued.history] == ["create", "submit", "approve", "issue"]

    pdf = service.file(r.wuhan, license_id, "original", FileFormat.PDF)
    assert pdf.name == "鄂20260001-v1-original.pdf" and pdf.content.startswith(b"%PDF")
    (report,) = pdfdocs.pdfsig(pdf.content)
    assert "Signature is Valid" in report, report

    # the printed QR code: the URL of the public record and a JWS `cryptography` verifies with the published JWK
    with r.platform.db.reading() as session:
        printed = session.scalars(select(LicenseVersion.qr_text).where(LicenseVersion.identifier == info.identifier))
        qr_text = printed.one() or ""
    url, jws = qr_text.split("#")
    assert url == f"http://127.0.0.1:8000/v/{info.identifier}"
    payload = qr.decode_payload(es256_verified_by_cryptography(jws, QrKeyService(r.platform).jwks()))
    assert (payload.identifier, payload.version, payload.holder_code, payload.status) == (
        info.identifier,
        1,
        USCC,
        "issued",
    )
    record = service.public_record(info.identifier or "")
    assert record.public_digest == payload.public_digest.hex()  # the live record is the one signed at issue
    assert record.status_text == "有效 (valid)" and record.seal is not None and record.seal.indication == "PASSED"
    assert record.fields["contact_phone"] == "138****1234" and "legal_representative_id_number" in record.fields
    assert record.fields["legal_representative_id_number"] == "4405**********0014"
    assert all(change.actor == "湖北省药品监督管理局" for change in record.changes)

    # a change keeps the number, makes version 2 and supersedes version 1
    new_data = {**drug(), "registered_address": "湖北省武汉市东湖新技术开发区光谷大道1号"}
    changed = service.transition(
        r.province, license_id, Action.CHANGE, TransitionRequest(data=new_data, reason="住所变更", today=TODAY)
    )
    assert changed.info.number == "鄂20260001" and changed.info.version == 2
    v1, v2 = changed.versions
    assert not v1.current and v2.current and v2.action == "change"
    assert v2.changed_fields == ("registered_address",)
    assert parse_identifier(v2.identifier).version == 2 and v2.identifier != v1.identifier
    assert changed.fields["registered_address"] == "湖北省武汉市东湖新技术开发区光谷大道1号"
    old = service.version(r.province, license_id, 1)
    assert old.fields["registered_address"] == drug()["registered_address"] and not old.info.current
    scanned_old = service.public_record(v1.identifier)  # the old QR code shows the current data
    assert (scanned_old.current_version, scanned_old.scanned_version) == (2, 1)
    assert scanned_old.identifier == v2.identifier
    assert scanned_old.fields["registered_address"].startswith("湖北省武汉市东湖新技术开发区光谷")
    with pytest.raises(IllegalTransition, match="cannot be changed") as refused:
        service.transition(
            r.province, license_id, Action.CHANGE, TransitionRequest(data=drug(uscc=OTHER_USCC), today=TODAY)
        )
    assert refused.value.field == "changed_fields"

    # renewal: the window closes 6 months before expiry
    late = date(2031, 1, 15)
    with pytest.raises(IllegalTransition, match="at least 6 months before expiry") as refused:
        service.transition(r.province, license_id, Action.RENEW, TransitionRequest(applied_on=late, today=late))
    assert refused.value.field == "applied_on"
    renewed = service.transition(
        r.province, license_id, Action.RENEW, TransitionRequest(applied_on=date(2030, 6, 1), today=date(2030, 7, 1))
    )
    assert renewed.info.version == 3 and renewed.info.number == "鄂20260001"
    assert (renewed.info.valid_from, renewed.info.valid_until) == (date(2031, 3, 2), date(2036, 3, 1))
    assert [v.current for v in renewed.versions] == [False, False, True]

    # revocation needs a reason; then the public record and a fresh QR payload say revoked
    with pytest.raises(IllegalTransition, match="needs a reason"):
        service.transition(r.province, license_id, Action.REVOKE, TransitionRequest(today=TODAY))
    revoked = service.transition(
        r.province, license_id, Action.REVOKE, TransitionRequest(reason="严重违法", today=date(2030, 8, 1))
    )
    assert revoked.info.status == "revoked"
    record = service.public_record(v1.identifier)
    assert record.status == "revoked" and record.status_text == "已撤销 (revoked)"
    fresh = qr.decode_payload(es256_verified_by_cryptography(record.qr_jws, QrKeyService(r.platform).jwks()))
    assert fresh.status == "revoked" and fresh.version == 3 and fresh.public_digest.hex() == record.public_digest
    live = service.qr_text(license_id)
    assert qr.verify_qr_text(live, QrKeyService(r.platform).public_keys()).status == "revoked"
    assert [c.action for c in record.changes] == ["issue", "change", "renew", "revoke"]

    # illegal transitions name the rule
    with pytest.raises(IllegalTransition, match="cannot submit a 药品生产许可证 that is revoked") as refused:
        service.transition(r.wuhan, license_id, Action.SUBMIT, TransitionRequest(today=TODAY))
    assert refused.value.field == "status"
    with pytest.raises(IllegalTransition, match="license_revoked"):
        service.transition(r.province, license_id, Action.CANCEL, TransitionRequest(ground="own_request"))


def test_numbers_are_unique_and_imported_numbers_are_kept(registry: Registry) -> None:
    r = registry
    first, second = issued_drug(r), issued_drug(r, enterprise_name="湖北第二制药有限公司")
    assert (first.info.number, second.info.number) == ("鄂20260001", "鄂20260002")
    assert first.info.identifier != second.info.identifier
    legacy = r.service.import_license(
        r.province,
        "drug-production",
        {**drug(enterprise_name="湖北老字号药厂"), "license_number": "鄂Ha20050005", "issue_date": "2021-05-01"},
        TransitionRequest(valid_until=date(2026, 4, 30), today=TODAY),
    )
    assert legacy.info.number == "鄂Ha20050005" and legacy.info.status == "issued" and legacy.info.version == 1
    assert legacy.versions[0].action == "import" and legacy.versions[0].files == ()
    matching = r.service.import_license(
        r.province,
        "drug-production",
        {**drug(enterprise_name="湖北导入药业"), "license_number": "鄂20260007", "issue_date": "2026-01-05"},
        TransitionRequest(valid_until=date(2031, 1, 4), today=TODAY),
    )
    assert matching.info.number == "鄂20260007"
    assert issued_drug(r, enterprise_name="湖北第三制药有限公司").info.number == "鄂20260008"  # skips past it
    with pytest.raises(AlreadyExists, match="鄂20260007"):
        r.service.import_license(
            r.province,
            "drug-production",
            {**drug(), "license_number": "鄂20260007", "issue_date": "2026-01-05"},
            TransitionRequest(valid_until=date(2031, 1, 4), today=TODAY),
        )
    assert r.service.find(r.province, "鄂Ha20050005").info.id == legacy.info.id
    assert r.service.find(r.province, legacy.info.identifier or "").info.id == legacy.info.id
    assert r.service.public_record(legacy.info.identifier or "").seal is None  # nothing was sealed here


def test_issue_needs_a_ca_and_seals_and_keeps_its_reserved_number(platform: Platform) -> None:
    service = LicenseService(platform)
    province = Principal.for_user("prov", "licensing-officer", "division:420000", "孙八")
    license_id = service.create(province, "drug-production", drug()).info.id
    service.transition(province, license_id, Action.SUBMIT, TransitionRequest(today=TODAY))
    confirmed = frozenset({"on_site_inspection_passed"})
    service.transition(province, license_id, Action.APPROVE, TransitionRequest(confirmed=confirmed, today=TODAY))
    issue = TransitionRequest(today=TODAY)
    with pytest.raises(ValidationError, match="there is no CA") as refused:
        service.transition(province, license_id, Action.ISSUE, issue)
    assert refused.value.field == "ca"
    CaService(platform).create_ca("demo-sm2-root", KeyAlgorithm.SM2, ACTOR)
    CaService(platform).create_ca("demo-rsa-root", KeyAlgorithm.RSA2048, ACTOR)
    with pytest.raises(ValidationError, match="does not exist") as refused:
        service.transition(province, license_id, Action.ISSUE, issue)
    assert refused.value.field == "license_pdf_seal"
    assert QrKeyService(platform).current().ca == "demo-rsa-root"  # made on first use, by the RSA CA
    still = service.get(province, license_id)
    assert still.info.status == "approved" and still.versions == ()
    LicenseDocuments(platform).ensure_license_seals(ACTOR)
    issued = service.transition(province, license_id, Action.ISSUE, issue)
    assert issued.info.number == "鄂20260001"  # the number reserved by the first attempt, not a new one
    assert (issued.info.identifier or "").split(".")[-3] == "2026000001"


@pytest.mark.postgres
@pytest.mark.slow
def test_two_threads_issue_distinct_numbers_on_postgres(postgres_url: str, make_settings: Any) -> None:
    platform = Platform(make_settings(postgres_url))
    platform.db.migrate()
    try:
        r = make_registry(platform)
        approved = [approved_drug(r, enterprise_name=f"湖北并发制药{i}有限公司") for i in range(2)]
        results: dict[str, str] = {}
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def issue(license_id: str) -> None:
            try:
                start.wait()
                detail = r.service.transition(r.province, license_id, Action.ISSUE, TransitionRequest(today=TODAY))
                results[license_id] = detail.info.number or ""
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=issue, args=(license_id,)) for license_id in approved]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(results.values()) == ["鄂20260001", "鄂20260002"]
    finally:
        platform.close()


# --- the pharmacist's certificate ---------------------------------------------------------------------------------


def test_pharmacist_certificate_external_number_masks_and_blind_index(registry: Registry) -> None:
    r, service = registry, registry.service
    approved = service.create(r.province, "pharmacist-registration", pharmacist(), "420100")
    service.transition(r.province, approved.info.id, Action.SUBMIT, TransitionRequest(today=TODAY))
    with pytest.raises(IllegalTransition, match="continuing_education_complete"):
        service.transition(r.province, approved.info.id, Action.APPROVE, TransitionRequest(today=TODAY))

    issued = issued_pharmacist(r)
    info = issued.info
    assert info.number == "ZY420120260001" and info.status == "issued"
    assert info.holder_name == "欧***" and info.holder_code == "1101**********002X"
    assert [(f.copy, f.format.value) for f in issued.versions[0].files] == [("original", "pdf"), ("original", "ofd")]
    assert issued.fields["id_number"] == "1101**********002X" and issued.fields["mobile"] == "139****5432"
    assert issued.fields["gender"] == "女"  # private: shown to staff and the owner, not to the public
    assert parse_identifier(info.identifier or "").type_code == "11420000MB1234567U004"

    record = service.public_record(info.identifier or "")
    assert record.fields["name"] == "欧***" and "gender" not in record.fields and record.holder_name == "欧***"
    with pytest.raises(Forbidden, match="personal data"):
        service.public_file(info.identifier or "")
    own = service.get(r.person, info.id)
    assert own.audience == "owner" and own.fields["id_number"] == "1101**********002X" and own.warnings == ()
    assert service.file(r.person, info.id).content.startswith(b"%PDF")
    with pytest.raises(Forbidden, match="outside the data scope"):
        service.get(r.other_person, info.id)
    with pytest.raises(Forbidden, match="view-sensitive"):
        service.file(r.auditor, info.id)  # the face prints the clear ID number

    found = service.search(r.province, LicenseQuery(holder_code=PHARMACIST_ID.lower(), status="issued"))
    assert [item.id for item in found.items] == [info.id] and found.total == 1
    assert service.search(r.province, LicenseQuery(holder_code=PHARMACIST_ID)).total == 2  # with the application
    assert service.search(r.province, LicenseQuery(holder_code=OTHER_ID)).total == 0
    assert service.search(r.province, LicenseQuery(holder_name=PHARMACIST_NAME)).total == 2  # by blind index
    assert service.search(r.person, LicenseQuery()).total == 2
    assert service.search(r.other_person, LicenseQuery()).total == 0
    with pytest.raises(AlreadyExists, match="ZY420120260001"):
        issued_pharmacist(r)

    # renewal must be applied for at least 30 days before expiry
    until = info.valid_until or TODAY
    late = until - timedelta(days=10)
    with pytest.raises(IllegalTransition, match="at least 30 days before expiry") as refused:
        service.transition(
            r.province,
            info.id,
            Action.RENEW,
            TransitionRequest(applied_on=late, today=late, confirmed=frozenset({"continuing_education_complete"})),
        )
    assert refused.value.field == "applied_on"


# --- scope, reveal, bad input -------------------------------------------------------------------------------------


def test_data_scope_is_enforced_on_every_access(registry: Registry) -> None:
    r, service = registry, registry.service
    issued = issued_drug(r)
    license_id = issued.info.id

    own = service.get(r.enterprise, license_id)
    assert own.audience == "owner" and own.fields["contact_phone"] == "138****1234" and own.warnings == ()
    assert service.file(r.enterprise, license_id, "duplicate", FileFormat.OFD).content[:2] == b"PK"
    for outsider in (r.other_enterprise, r.yichang, r.person):
        with pytest.raises(Forbidden, match="outside the data scope"):
            service.get(outsider, license_id)
        with pytest.raises(Forbidden, match="outside the data scope"):
            service.file(outsider, license_id)
        with pytest.raises(Forbidden):
            service.version(outsider, license_id, 1)
        assert service.search(outsider, LicenseQuery()).total == 0
    with pytest.raises(Forbidden, match="outside the data scope"):
        service.transition(r.yichang, license_id, Action.SUSPEND, TransitionRequest(reason="检查"))
    with pytest.raises(Forbidden, match="may not license:revoke"):
        service.transition(r.enterprise, license_id, Action.SUSPEND, TransitionRequest(reason="检查"))
    with pytest.raises(Forbidden, match="outside the data scope"):
        service.create(r.yichang, "drug-production", drug(), "420100")
    with pytest.raises(Forbidden, match="may not license:write"):
        service.create(r.enterprise, "drug-production", drug())

    assert service.search(r.enterprise, LicenseQuery()).total == 1
    assert service.search(r.wuhan, LicenseQuery(division_code="4201")).total == 1
    assert service.search(r.admin, LicenseQuery(number="鄂20260001")).items[0].id == license_id
    assert service.search(r.auditor, LicenseQuery(holder_code=USCC, status="issued")).total == 1
    assert service.search(r.auditor, LicenseQuery(holder_name="示例制药")).total == 1
    with pytest.raises(ValidationError, match="status"):
        service.search(r.auditor, LicenseQuery(status="shiny"))
    with pytest.raises(ValidationError, match="limit"):
        service.search(r.auditor, LicenseQuery(limit=501))
    with pytest.raises(NotFound):
        service.find(r.admin, "鄂29999999")


def test_reveal_is_audited_and_needs_the_permission(registry: Registry) -> None:
    r, service = registry, registry.service
    license_id = issued_drug(r).info.id
    with pytest.raises(Forbidden, match="view-sensitive"):
        service.get(r.auditor, license_id, reveal=True)
    with pytest.raises(Forbidden, match="view-sensitive"):
        service.get(r.enterprise, license_id, reveal=True)
    before = len(audit_events(r.platform, license_id))
    clear = service.get(r.province, license_id, reveal=True)
    assert clear.audience == "officer"
    assert clear.fields["contact_phone"] == PHONE and clear.fields["legal_representative_id_number"] == LEGAL_REP_ID
    events = audit_events(r.platform, license_id)
    assert len(events) == before + 1
    reveal = events[-1]
    assert (reveal.action, reveal.entity, reveal.actor) == ("reveal", "license", "prov")
    assert json.loads(reveal.after or "{}") == {
        "version": 1,
        "fields": ["contact_phone", "legal_representative_id_number"],
    }
    assert service.version(r.province, license_id, 1, reveal=True).fields["contact_phone"] == PHONE
    assert audit_events(r.platform, license_id)[-1].action == "reveal"
    trail = " ".join(f"{e.before} {e.after}" for e in audit_events(r.platform, license_id))
    assert PHONE not in trail and LEGAL_REP_ID not in trail and "138****1234" not in trail


def test_masked_values_sent_back_keep_the_stored_ones(registry: Registry) -> None:
    r, service = registry, registry.service
    issued = issued_drug(r)
    shown = {k: v for k, v in service.get(r.province, issued.info.id).fields.items()}
    assert shown["contact_phone"] == "138****1234"
    shown["supervisors"] = "周九"
    changed = service.transition(r.province, issued.info.id, Action.CHANGE, TransitionRequest(data=shown, today=TODAY))
    assert changed.versions[-1].changed_fields == ("supervisors",)
    clear = service.get(r.province, issued.info.id, reveal=True).fields
    assert clear["contact_phone"] == PHONE and clear["legal_representative_id_number"] == LEGAL_REP_ID


def test_bad_input_is_refused_naming_the_field_and_stores_nothing(registry: Registry) -> None:
    r, service = registry, registry.service
    draft = service.create(r.wuhan, "drug-production", drug())
    before = rows(r.platform)
    cases: list[tuple[dict[str, Any], str]] = [
        (drug(uscc="91110108551385082A"), "uscc"),
        (drug(legal_representative_id_number="110101197608056896"), "legal_representative_id_number"),
        ({k: v for k, v in drug().items() if k != "enterprise_name"}, "enterprise_name"),
        (drug(contact_phone="phone-me"), "contact_phone"),
    ]
    for data, field in cases[:2]:
        with pytest.raises(ValidationError) as refused:
            service.create(r.wuhan, "drug-production", data)
        assert field in refused.value.message
    assert {t.code for t in service.types()} >= {"drug-production", "pharmacist-registration"}
    with pytest.raises(NotFound, match="known: drug-distribution"):
        service.create(r.wuhan, "no-such-type", drug())
    with pytest.raises(ValidationError, match="division_code"):
        service.create(r.wuhan, "drug-production", drug(), "99x")
    with pytest.raises(ValidationError) as refused:
        service.transition(r.wuhan, draft.info.id, Action.EDIT, TransitionRequest(data=cases[3][0]))
    assert "contact_phone" in refused.value.message
    assert rows(r.platform) == before
    # an incomplete draft is saved, but cannot be submitted
    service.transition(r.wuhan, draft.info.id, Action.EDIT, TransitionRequest(data=cases[2][0]))
    with pytest.raises(ValidationError) as refused:
        service.transition(r.wuhan, draft.info.id, Action.SUBMIT, TransitionRequest(today=TODAY))
    assert "enterprise_name" in refused.value.message
    assert service.get(r.wuhan, draft.info.id).info.status == "draft"
    with pytest.raises(NotFound):
        service.get(r.wuhan, "no-such-license")
    with pytest.raises(ValidationError, match="check character"):
        service.public_record(re.sub(r".$", "0", PHARMACIST_IDENTIFIER))


def test_expire_due_expires_licenses_past_their_validity(registry: Registry) -> None:
    r, service = registry, registry.service
    license_id = approved_drug(r)
    issued = service.transition(r.province, license_id, Action.ISSUE, TransitionRequest(today=date(2019, 6, 3)))
    assert issued.info.valid_until == date(2024, 6, 2)
    assert service.public_record(issued.info.identifier or "").status_text == "已过期 (expired)"  # by date already
    assert service.expire_due(date(2024, 6, 2)) == 0
    assert service.expire_due(date(2024, 6, 3)) == 1
    expired = service.get(r.admin, license_id)
    assert expired.info.status == "expired" and expired.history[-1].actor == "system"
    assert service.expire_due(date(2024, 6, 3)) == 0


def test_issue_now_refuses_a_caller_who_cannot_finish_before_storing_anything(registry: Registry) -> None:
    before = rows(registry.platform)
    with pytest.raises(Forbidden, match="licensing-officer:city may not approve"):
        registry.service.issue_now(registry.wuhan, "drug-production", drug(), "420100")
    assert rows(registry.platform) == before
