"""OfdSealingService end to end with registered SM2 seals, the seal maker, the TSA and the verification service;
the CLI (`certseal seal ofd`, `certseal verify`) and the REST API (POST /api/v1/seals/{name}/ofd, /api/v1/verify).

The signatures, digests and XML parts are judged by outside checkers in tests/interop/test_ofd_seal_gmalg.py; here
the verifier's verdicts, the placements (against ofdrw's RidingStampPos arithmetic), the refusals and the records.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import x509
from lxml import etree
from sqlalchemy import func, select
from typer.testing import CliRunner

import certseal.cli.seal_ofd
import certseal.cli.verify  # noqa: F401  # registers `certseal verify`
from certseal.cli.common import _state, app
from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.errors import Forbidden, ValidationError
from certseal.ofd.package import OfdPackage
from certseal.ofd.reader import read_ofd
from certseal.ofd.text import find_keyword
from certseal.services.apikeys import ROLES, Permission
from certseal.services.audit import Actor
from certseal.services.ca import CaService, RevocationReason
from certseal.services.deployment import create_demo_pki
from certseal.services.ofd_sealing import AtKeyword, AtPosition, OfdSealingService, Riding
from certseal.services.platform import Platform
from certseal.services.seals import SealService
from certseal.services.tsa import TsaService
from certseal.services.verification import VerificationService
from certseal.signing.ofd.sealing import read_signature_list, read_signature_xml
from certseal.signing.ofd.verify import verify_ofd
from certseal.signing.verify.report import Indication, SubIndication, VerificationReport
from certseal.store.models import AuditEvent, IssuedCertificate
from certseal.web.routes import api_ofd
from tests import ofddocs
from tests.conftest import ACTOR
from tests.integration.test_pdf_sealing import SEAL_MM, ensure_cas, make_seal
from tests.sealing_api import USERS, SealingApi, migrated_platform

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "ofd-samples"
OFD_NS = "http://www.ofdspec.org/2016"


def verify(platform: Platform, ofd: bytes) -> VerificationReport:
    return VerificationService(platform).verify(ofd, "sealed.ofd")


def tampered(ofd: bytes, name: str, change: Callable[[bytes], bytes]) -> bytes:
    package = OfdPackage.from_bytes(ofd)
    package.put(name, change(package[name]))
    return package.to_bytes()


def flip_last(data: bytes, back: int = 3) -> bytes:
    out = bytearray(data)
    out[-back] ^= 0x01
    return bytes(out)


def stamp_annots(ofd: bytes, sign_dir: str = "Doc_0/Signs/Sign_0") -> list[dict[str, str]]:
    root = etree.fromstring(OfdPackage.from_bytes(ofd)[f"{sign_dir}/Signature.xml"])
    return [dict(a.attrib) for a in root.iter(f"{{{OFD_NS}}}StampAnnot")]


def audit_events(platform: Platform, entity: str) -> list[AuditEvent]:
    with platform.db.reading() as session:
        rows = list(session.scalars(select(AuditEvent).where(AuditEvent.entity == entity).order_by(AuditEvent.seq)))
        session.expunge_all()
        return rows


@pytest.fixture
def sm2_seal(platform: Platform) -> str:
    make_seal(platform, KeyAlgorithm.SM2, name="sm2")
    return "sm2"


# --- sealing and verifying ----------------------------------------------------------------------------------------


def test_seal_at_a_position_passes_and_is_recorded(platform: Platform, sm2_seal: str) -> None:
    service = OfdSealingService(platform)
    result = service.seal(ofddocs.license_ofd(), sm2_seal, ACTOR, AtPosition(1, 150, 250))
    assert result.signature_id == "s001" and result.signature_name == "Doc_0/Signs/Sign_0/Signature.xml"
    (annot,) = stamp_annots(result.ofd)
    assert annot == {"ID": "s002", "PageRef": "1", "Boundary": "130 230 40 40"}  # centred at (150, 250) mm
    report = verify(platform, result.ofd)
    assert report.indication is Indication.PASSED, report.to_json()
    (signature,) = report.signatures
    assert signature.format == "OFD-SES-v4" and signature.id == "s001"
    assert signature.integrity.digest_matches and signature.integrity.signature_valid
    assert signature.chain is not None and signature.chain.anchor is not None
    assert signature.revocation.status_at_signing.value == "good" and signature.warnings == ()
    assert signature.signing_time is not None and signature.signing_time.source.value == "claimed"
    seal = signature.location["seal"]
    assert isinstance(seal, dict) and seal["maker_chain"] == "PASSED" and seal["picture_type"] == "PNG"
    assert signature.location["stamps"] == [
        {"id": "s002", "page_id": 1, "page": 1, "boundary": [130.0, 230.0, 40.0, 40.0], "clip": None}
    ]
    (event,) = audit_events(platform, "ofd_sealing")
    after = json.loads(event.after or "{}")
    assert after["seal"] == "sm2" and after["signature_id"] == "s001" and after["stamps"][0]["page"] == 1
    assert event.entity_id == after["document_sha256"] == result.sha256_after


def test_two_successive_seals_both_pass(platform: Platform, sm2_seal: str) -> None:
    service = OfdSealingService(platform)
    first = service.seal(ofddocs.license_ofd(), sm2_seal, ACTOR, AtPosition(1, 150, 250))
    second = service.seal(first.ofd, sm2_seal, ACTOR, AtKeyword("许可证"))
    assert (second.signature_id, second.signature_name) == ("s003", "Doc_0/Signs/Sign_1/Signature.xml")
    report = verify(platform, second.ofd)
    assert [s.indication for s in report.signatures] == [Indication.PASSED] * 2, report.to_json()
    earlier, later = report.signatures
    assert earlier.modifications is not None and earlier.modifications.kind.value == "permitted"
    assert earlier.modifications.revisions_after == 1 and earlier.warnings == ()
    assert later.modifications is not None and later.modifications.kind.value == "none"
    listing = read_signature_list(OfdPackage.from_bytes(second.ofd), "Doc_0/Signs/Signatures.xml")
    assert listing.max_sign_id == "s005" and [e.id for e in listing.entries] == ["s001", "s003"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Doc_0/Pages/Page_0/Content.xml", "/Doc_0/Pages/Page_0/Content.xml"),
        ("Doc_0/Document.xml", "/Doc_0/Document.xml"),
        ("OFD.xml", "/OFD.xml"),
        ("Doc_0/Signs/Sign_0/Seal.esl", "/Doc_0/Signs/Sign_0/Seal.esl"),
    ],
)
def test_a_changed_protected_file_fails_naming_it(platform: Platform, sm2_seal: str, name: str, expected: str) -> None:
    sealed = OfdSealingService(platform).seal(ofddocs.license_ofd(), sm2_seal, ACTOR, AtPosition(1, 100, 100)).ofd
    report = verify(platform, tampered(sealed, name, flip_last))
    (signature,) = report.signatures
    assert (signature.indication, signature.sub_indication) == (Indication.FAILED, SubIndication.HASH_FAILURE)
    assert expected in signature.reason and signature.integrity.digest_matches is False


def test_a_changed_signature_xml_or_signed_value_fails(platform: Platform, sm2_seal: str) -> None:
    sealed = OfdSealingService(platform).seal(ofddocs.license_ofd(), sm2_seal, ACTOR, AtPosition(1, 100, 100)).ofd
    moved = tampered(
        sealed, "Doc_0/Signs/Sign_0/Signature.xml", lambda x: x.replace(b"130 ", b"131 ").replace(b'"80 ', b'"81 ')
    )
    (signature,) = verify(platform, moved).signatures
    assert signature.sub_indication is SubIndication.HASH_FAILURE and "Signature.xml" in signature.reason
    broken_value = tampered(sealed, "Doc_0/Signs/Sign_0/SignedValue.dat", lambda x: flip_last(x, 5))
    (signature,) = verify(platform, broken_value).signatures
    assert (signature.indication, signature.sub_indication) == (Indication.FAILED, SubIndication.SIG_CRYPTO_FAILURE)
    assert signature.integrity.signature_valid is False


def test_files_added_after_sealing_are_reported_not_failed(platform: Platform, sm2_seal: str) -> None:
    sealed = OfdSealingService(platform).seal(ofddocs.license_ofd(), sm2_seal, ACTOR, AtPosition(1, 100, 100)).ofd
    package = OfdPackage.from_bytes(sealed)
    package.put("Doc_0/Res/added.png", ofddocs.png())
    (signature,) = verify(platform, package.to_bytes()).signatures
    assert signature.indication is Indication.PASSED
    assert signature.warnings == ("files not protected by this signature: Doc_0/Res/added.png",)


def test_a_removed_protected_file_fails(platform: Platform, sm2_seal: str) -> None:
    sealed = OfdSealingService(platform).seal(ofddocs.license_ofd(), sm2_seal, ACTOR, AtPosition(1, 100, 100)).ofd
    package = OfdPackage.from_bytes(sealed)
    package.remove("Doc_0/Res/font_5.ttf" if "Doc_0/Res/font_5.ttf" in package else package.names()[3])
    (signature,) = verify(platform, package.to_bytes()).signatures
    assert signature.sub_indication is SubIndication.HASH_FAILURE and "missing" in signature.reason


def test_damaged_sealed_ofds_are_reports_or_validation_errors(platform: Platform, sm2_seal: str) -> None:
    sealed = OfdSealingService(platform).seal(ofddocs.license_ofd(), sm2_seal, ACTOR, AtPosition(1, 100, 100)).ofd
    validator = VerificationService(platform).validator(datetime.now(UTC))
    package = OfdPackage.from_bytes(sealed)
    rng = random.Random(20250301)
    outcomes = set()
    for _ in range(60):
        name = rng.choice([n for n in package.names() if "Signs" in n or n == "OFD.xml"])
        data = bytearray(package[name])
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        damaged = package.copy()
        damaged.put(name, bytes(data))
        try:
            reports = verify_ofd(damaged.to_bytes(), validator)
        except ValidationError as exc:
            outcomes.add(f"422 {exc.field}")
            continue
        outcomes |= {f"{r.indication.value} {r.sub_indication}" for r in reports}
        assert all(r.indication is not Indication.PASSED or name == "Doc_0/Signs/Signatures.xml" for r in reports)
    assert any(o.startswith("FAILED") for o in outcomes), outcomes


# --- placements ---------------------------------------------------------------------------------------------------


def test_keyword_seal_is_one_signature_with_a_stamp_centred_on_each_hit(platform: Platform, sm2_seal: str) -> None:
    source = ofddocs.license_ofd()
    hits = find_keyword(read_ofd(source), "许可证")
    assert len(hits) == 2
    result = OfdSealingService(platform).seal(source, sm2_seal, ACTOR, AtKeyword("许可证"))
    annots = stamp_annots(result.ofd)
    assert len(annots) == len(result.stamps) == 2
    for annot, (page, box) in zip(annots, hits, strict=True):
        x, y, w, h = (float(v) for v in annot["Boundary"].split())
        assert annot["PageRef"] == str(read_ofd(source).page_ids[page]) and (w, h) == (SEAL_MM, SEAL_MM)
        assert x + w / 2 == pytest.approx(box.x + box.width / 2) and y + h / 2 == pytest.approx(box.y + box.height / 2)
    assert verify(platform, result.ofd).passed


def test_riding_seal_follows_ofdrw_riding_stamp_pos(platform: Platform, sm2_seal: str) -> None:
    # ofdrw RidingStampPos(Side.Right, w=40, h=40) on five A4 pages: Boundary x = 210 - 8·(i+1), Clip = (8·i, 0, 8, 40)
    result = OfdSealingService(platform).seal(ofddocs.long_ofd(5), sm2_seal, ACTOR, Riding())
    annots = stamp_annots(result.ofd)
    assert [a["Boundary"] for a in annots] == [f"{202 - 8 * i} 128.5 40 40" for i in range(5)]
    assert [a["Clip"] for a in annots] == [f"{8 * i} 0 8 40" for i in range(5)]
    assert [a["PageRef"] for a in annots] == [str(i) for i in read_ofd(ofddocs.long_ofd(5)).page_ids]
    at_top = OfdSealingService(platform).seal(ofddocs.long_ofd(2), sm2_seal, ACTOR, Riding(y=30))
    assert [a["Boundary"] for a in stamp_annots(at_top.ofd)] == ["190 10 40 40", "170 10 40 40"]
    assert verify(platform, result.ofd).passed


@pytest.mark.parametrize(
    ("placement", "field"),
    [
        (AtPosition(2, 100, 100), "page"),
        (AtPosition(1, 300, 100), "x"),
        (AtPosition(1, 100, -1), "y"),
        (AtKeyword("不存在的文字"), "keyword"),
        (AtKeyword("  "), "keyword"),
        (AtKeyword("许可证", pages=(3,)), "pages"),
        (Riding(y=400), "y"),
    ],
)
def test_bad_placements_are_refused(platform: Platform, sm2_seal: str, placement: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        OfdSealingService(platform).seal(ofddocs.license_ofd(), sm2_seal, ACTOR, placement)
    assert caught.value.field == field
    assert audit_events(platform, "ofd_sealing") == []


# --- who may seal, with which seal, what ----------------------------------------------------------------------------


def test_refusals(platform: Platform, sm2_seal: str) -> None:
    service = OfdSealingService(platform)
    with pytest.raises(Forbidden, match="'mallory' may not use seal 'sm2'"):
        service.seal(ofddocs.license_ofd(), sm2_seal, Actor("mallory", "pytest"), AtPosition(1, 100, 100))
    make_seal(platform, KeyAlgorithm.RSA2048, name="rsa")
    with pytest.raises(ValidationError, match="need an SM2 seal") as caught:
        service.seal(ofddocs.license_ofd(), "rsa", ACTOR, AtPosition(1, 100, 100))
    assert caught.value.field == "seal"
    with pytest.raises(ValidationError, match="not a ZIP"):
        service.seal(b"%PDF-1.7 not an ofd", sm2_seal, ACTOR, AtPosition(1, 100, 100))
    with pytest.raises(ValidationError, match="timestamp authority"):
        service.seal(ofddocs.license_ofd(), sm2_seal, ACTOR, AtPosition(1, 100, 100), timestamp=True)
    SealService(platform).disable(sm2_seal, ACTOR)
    with pytest.raises(Forbidden, match="disabled"):
        service.seal(ofddocs.license_ofd(), sm2_seal, ACTOR, AtPosition(1, 100, 100))
    assert audit_events(platform, "ofd_sealing") == []


def test_a_seal_certificate_revoked_after_a_sealing_is_refused_at_once(platform: Platform) -> None:
    """signer_for reuses a validated path for a few seconds; the revocation check is not part of what it reuses."""
    seal = make_seal(platform, KeyAlgorithm.SM2, name="sm2")
    service = OfdSealingService(platform)
    first = SealService(platform).signer_for(seal.name, ACTOR)
    service.seal(ofddocs.license_ofd(), seal.name, ACTOR, AtPosition(1, 100, 100))
    assert SealService(platform).signer_for(seal.name, ACTOR).chain == first.chain == seal.chain
    CaService(platform).revoke(seal.serial, RevocationReason.KEY_COMPROMISE, ACTOR)
    with pytest.raises(Forbidden, match="'sm2': its certificate is revoked"):
        service.seal(ofddocs.license_ofd(), seal.name, ACTOR, AtPosition(1, 100, 100))
    assert len(audit_events(platform, "ofd_sealing")) == 1


def test_a_whole_protected_signature_is_not_broken(platform: Platform, sm2_seal: str) -> None:
    sealed = OfdSealingService(platform).seal(ofddocs.license_ofd(), sm2_seal, ACTOR, AtPosition(1, 100, 100)).ofd
    reference = (
        b'<ofd:Reference FileRef="/Doc_0/Signs/Signatures.xml"><ofd:CheckValue>AA==</ofd:CheckValue></ofd:Reference>'
    )
    whole = tampered(
        sealed,
        "Doc_0/Signs/Sign_0/Signature.xml",
        lambda x: x.replace(b"</ofd:References>", reference + b"</ofd:References>"),
    )
    with pytest.raises(ValidationError, match=r"protects Doc_0/Signs/Signatures\.xml"):
        OfdSealingService(platform).seal(whole, sm2_seal, ACTOR, AtPosition(1, 100, 100))


def test_the_seal_maker_is_issued_once_and_the_ses_seal_built_once(platform: Platform, sm2_seal: str) -> None:
    make_seal(platform, KeyAlgorithm.SM2, name="second")
    service = OfdSealingService(platform)
    one = service.seal(ofddocs.license_ofd(), sm2_seal, ACTOR, AtPosition(1, 100, 100))
    two = service.seal(one.ofd, sm2_seal, ACTOR, AtPosition(1, 150, 150))
    three = service.seal(two.ofd, "second", ACTOR, AtPosition(1, 50, 50))
    package = OfdPackage.from_bytes(three.ofd)
    seals = [package[f"Doc_0/Signs/Sign_{i}/Seal.esl"] for i in range(3)]
    assert seals[0] == seals[1] != seals[2]
    with platform.db.reading() as session:
        makers = session.scalar(
            select(func.count()).select_from(IssuedCertificate).where(IssuedCertificate.profile == "document-signer")
        )
    assert makers == 1
    assert len(audit_events(platform, "seal_maker")) == 1 and len(audit_events(platform, "ses_seal")) == 2
    assert all(s.passed for s in verify(platform, three.ofd).signatures)


def test_the_maker_comes_from_the_demo_ca_when_there_is_one(platform: Platform) -> None:
    create_demo_pki(platform, ACTOR)
    make_seal(platform, KeyAlgorithm.SM2, name="sm2")
    maker = OfdSealingService(platform).seal_maker(ACTOR)
    assert maker.signer.certificate is not None
    issuer = x509.Certificate.load(maker.signer.certificate).issuer.native["common_name"]
    assert issuer == "certseal 演示 SM2 签发CA"


def test_timestamped_seal(platform: Platform, sm2_seal: str) -> None:
    ensure_cas(platform, KeyAlgorithm.SM2)
    TsaService(platform).setup("root-sm2", KeyAlgorithm.SM2, ACTOR)
    result = OfdSealingService(platform).seal(ofddocs.license_ofd(), sm2_seal, ACTOR, AtPosition(1, 100, 100), True)
    (signature,) = verify(platform, result.ofd).signatures
    assert signature.indication is Indication.PASSED, signature.reason
    assert signature.timestamp.present and signature.timestamp.valid and signature.timestamp.imprint_matches
    assert signature.signing_time is not None and signature.signing_time.source.value == "timestamp"


# --- other producers' documents -------------------------------------------------------------------------------------


def test_sealing_a_tax_invoice_sealed_by_another_producer(platform: Platform, sm2_seal: str) -> None:
    source = (SAMPLES / "v4signed.ofd").read_bytes()
    result = OfdSealingService(platform).seal(source, sm2_seal, ACTOR, AtPosition(1, 60, 60))
    assert result.signature_id == "s002"  # after their MaxSignId 1
    theirs, ours = verify(platform, result.ofd).signatures
    assert ours.indication is Indication.PASSED, ours.reason
    assert theirs.integrity.digest_matches and theirs.integrity.signature_valid  # still intact
    assert theirs.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    package = OfdPackage.from_bytes(result.ofd)
    info = read_signature_xml(package, "Doc_0/Signs/Sign_1/Signature.xml")
    assert "/Doc_0/Signs/Sign_0/SignedValue.dat" in [r.file_ref for r in info.references]


def test_an_ofd_without_signatures_xml_gets_one(platform: Platform, sm2_seal: str) -> None:
    source = (SAMPLES / "helloworld.ofd").read_bytes()
    result = OfdSealingService(platform).seal(source, sm2_seal, ACTOR, AtPosition(1, 50, 50))
    ofd_xml = OfdPackage.from_bytes(result.ofd)["OFD.xml"]
    assert b"<ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures>" in ofd_xml
    assert verify(platform, result.ofd).passed


# --- CLI -----------------------------------------------------------------------------------------------------------


@pytest.fixture
def cli(platform: Platform) -> Iterator[CliRunner]:
    _state["platform"] = platform
    try:
        yield CliRunner()
    finally:
        _state.pop("platform", None)


def test_cli_seal_ofd_and_verify(cli: CliRunner, platform: Platform, tmp_path: Path) -> None:
    make_seal(platform, KeyAlgorithm.SM2, name="sm2", users=("officer-li",))
    source = tmp_path / "license.ofd"
    source.write_bytes(ofddocs.license_ofd())
    env = {"COLUMNS": "220", "CERTSEAL_ACTOR": "officer-li"}
    base = ["seal", "ofd", "--seal", "sm2", "--in", str(source)]
    done = cli.invoke(
        app, [*base, "--out", str(tmp_path / "a.ofd"), "--page", "1", "--x", "100", "--y", "100"], env=env
    )
    assert done.exit_code == 0, done.output
    assert "signature s001" in done.output and "1 stamp(s)" in done.output
    riding = cli.invoke(app, [*base, "--out", str(tmp_path / "b.ofd"), "--riding"], env=env)
    assert riding.exit_code == 0, riding.output
    keyword = cli.invoke(app, [*base, "--out", str(tmp_path / "c.ofd"), "--keyword", "许可证"], env=env)
    assert keyword.exit_code == 0 and "2 stamp(s)" in keyword.output, keyword.output
    checked = cli.invoke(app, ["verify", str(tmp_path / "a.ofd"), "--json"], env=env)
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["indication"] == "PASSED"
    for bad in (["--out", str(tmp_path / "d.ofd")], ["--out", str(tmp_path / "d.ofd"), "--page", "1", "--riding"]):
        refused = cli.invoke(app, [*base, *bad], env=env)
        assert refused.exit_code != 0 and isinstance(refused.exception, ValidationError)
        assert refused.exception.field == "placement"


# --- REST API ------------------------------------------------------------------------------------------------------


class Api(SealingApi):
    def __init__(self, platform: Platform) -> None:
        make_seal(platform, KeyAlgorithm.SM2, name="sm2", users=USERS)
        super().__init__(platform)

    def seal_ofd(self, role: str | None = "seal-user", ofd: bytes | None = None, **fields: Any) -> httpx.Response:
        data = fields or {"page": "1", "x": "100", "y": "100"}
        file = ("in.ofd", ofd if ofd is not None else ofddocs.license_ofd(), "application/ofd")
        return self.post_file("/api/v1/seals/sm2/ofd", role, file, data)


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> Iterator[Api]:
    with migrated_platform(make_settings) as platform:
        yield Api(platform)


def test_api_seal_then_verify(api: Api) -> None:
    response = api.seal_ofd()
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/ofd" and response.headers["x-signature-id"] == "s001"
    keyword = api.seal_ofd(ofd=response.content, keyword="许可证")
    assert keyword.status_code == 200 and keyword.headers["x-stamps"] == "2", keyword.text
    headers = {"Authorization": f"Bearer {api.tokens['seal-user']}"}
    checked = api.client.post("/api/v1/verify", headers=headers, files={"file": ("x.ofd", keyword.content)})
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["indication"] == "PASSED" and [s["format"] for s in body["signatures"]] == ["OFD-SES-v4"] * 2


@pytest.mark.parametrize("role", sorted(ROLES))
def test_api_every_role(api: Api, role: str) -> None:
    response = api.seal_ofd(role)
    if Permission.SEAL_USE in ROLES[role]:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 403 and "seal:use" in response.json()["error"]


def test_api_refusals(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    assert api.seal_ofd(None).status_code == 401
    outsider = api.seal_ofd("outsider")
    assert outsider.status_code == 403 and "api:outsider" in outsider.json()["error"]
    for fields, field in (
        ({"page": "1", "x": "100"}, "placement"),
        ({"page": "1", "x": "100", "y": "100", "riding": "true"}, "placement"),
        ({"page": "9", "x": "100", "y": "100"}, "page"),
        ({"keyword": "不存在"}, "keyword"),
    ):
        refused = api.seal_ofd(**fields)
        assert refused.status_code == 422 and refused.json()["error"].startswith(f"{field}:"), refused.text
    not_ofd = api.seal_ofd(ofd=b"PK\x03\x04 broken")
    assert not_ofd.status_code == 422 and "ofd" in not_ofd.json()["error"]
    monkeypatch.setattr(api_ofd, "MAX_OFD_BYTES", 1000)
    assert api.seal_ofd().status_code == 413
    with api.platform.db.reading() as session:
        count = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.entity == "ofd_sealing"))
    assert count == 0


def test_api_openapi_describes_ofd_sealing(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    operation = spec["paths"]["/api/v1/seals/{name}/ofd"]["post"]
    assert "application/ofd" in operation["responses"]["200"]["content"]
    assert {"401", "403", "413", "422"} <= set(operation["responses"])
    assert {"HTTPBearer": []} in operation["security"] and operation["summary"] == "Seal an OFD"
    assert "mm from the page's top-left corner" in operation["description"]
