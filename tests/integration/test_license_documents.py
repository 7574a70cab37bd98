"""LicenseDocuments: the regulator's license seals (ensure_license_seals), the sealed files of an issued license
(produce) and their seal verdicts, each judged by a checker we did not write:

- pdfsig (poppler, NSS) says the PDF signatures are valid and sees a changed byte; qpdf --check finds nothing wrong;
- the OFD seals: gmalg (tests/sm2check.py) verifies the signer's SM2 signature over TBS_Sign and the seal maker's
  over SES_SealInfo, gmalg's SM3 recomputes dataHash, pyca/cryptography's SM3 every Reference, and every XML part
  passes the GB/T 33190 XSDs (with the SM3 CheckMethod allowance of tests/interop/test_ofd_seal_gmalg.py);
- zxing-cpp decodes the QR code of the sealed page as pdftoppm renders it;
- pdftoppm + pdftotext -bbox place the seal image over the issuing authority's line;
- fontTools reads the font embedded in the OFD when the setting ofd_font_path names one;
- `openssl verify` checks the RSA seal certificate against demo-rsa-root.
"""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import pem, x509
from cryptography.hazmat.primitives import hashes
from fontTools.ttLib import TTCollection, TTFont  # type: ignore[import-untyped]
from lxml import etree
from PIL import Image
from sqlalchemy import func, select

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.errors import ConfigError, ValidationError
from certseal.licenses.qr import decode_qr_image
from certseal.licenses.render import issue_facts, render_ofd, render_pdf
from certseal.ofd.package import OfdPackage
from certseal.seals.model import SealType
from certseal.services.ca import CaService
from certseal.services.deployment import DEMO_CAS
from certseal.services.license_documents import (
    LICENSE_SEAL_USER,
    LicenseDocuments,
    ProducedFile,
    _VerdictCache,
)
from certseal.services.licenses import FileFormat, SealVerdict
from certseal.services.platform import Platform
from certseal.services.seals import SealService
from certseal.services.tsa import TsaService
from certseal.signing.pdf.reader import PdfDocument
from certseal.signing.pdf.sealing import signatures
from certseal.store.models import AuditEvent, CryptoKey, IssuedCertificate, Seal
from tests import pdfdocs
from tests.conftest import ACTOR, TEST_AUDIT_KEY, TEST_KEK
from tests.interop.test_ofd_seal_gmalg import all_xsd_errors
from tests.interop.test_ses_gmalg import OPropertyV4Certs, OSESealV4, OSESSignatureV4, flip, sm3
from tests.sm2check import sm2_signature_valid
from tests.unit.test_license_render import (
    IDENTIFIER,
    ISSUER,
    PHARMACIST_IDENTIFIER,
    drug_data,
    drug_type,
    pharmacist_data,
    pharmacist_type,
)

OFD_NS = "http://www.ofdspec.org/2016"
SM2_SM3 = "1.2.156.10197.1.501"
DRUG_QR = f"https://licenses.example.gov.cn/v/{IDENTIFIER}#drug"
PHARMACIST_QR = f"https://licenses.example.gov.cn/v/{PHARMACIST_IDENTIFIER}#pharmacist"
SEAL_CN = f"{ISSUER}电子证照专用章"
WQY = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
NOTO_CFF = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"


@dataclass(frozen=True)
class Issued:
    """The sealed files of one license and what its rendering was asked for."""

    name: str
    qr_text: str
    files: dict[tuple[str, FileFormat], ProducedFile]
    render_kwargs: dict[str, Any]


def drug_kwargs() -> dict[str, Any]:
    return {
        "identifier": IDENTIFIER,
        "number": "鄂20160001",
        "version": 3,
        "qr_text": DRUG_QR,
        "issue_date": date(2025, 7, 1),
    }


def pharmacist_kwargs() -> dict[str, Any]:
    return {
        "identifier": PHARMACIST_IDENTIFIER,
        "number": "ZY420120250001",
        "version": 1,
        "qr_text": PHARMACIST_QR,
        "issue_date": date(2025, 7, 1),
    }


def settings_for(home: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"home": home, "kek": TEST_KEK, "audit_key": TEST_AUDIT_KEY}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def produce(platform: Platform, which: str = "drug", **options: object) -> list[ProducedFile]:
    license_type, data, kwargs = (
        (drug_type(), drug_data(), drug_kwargs())
        if which == "drug"
        else (pharmacist_type(), pharmacist_data(), pharmacist_kwargs())
    )
    return LicenseDocuments(platform).produce(license_type, data, actor=ACTOR, **kwargs, **options)  # type: ignore[arg-type]


def counts(platform: Platform) -> dict[str, int]:
    with platform.db.reading() as session:
        return {
            model.__name__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Seal, IssuedCertificate, CryptoKey)
        }


def demo_pki(platform: Platform) -> None:
    """The demo CAs (as `init --demo` names them) and an RSA timestamp authority under demo-rsa-root."""
    cas = CaService(platform)
    for name, algorithm, parent, subject in DEMO_CAS:
        cas.create_ca(name, algorithm, ACTOR, parent=parent, subject=subject)
    TsaService(platform).setup("demo-rsa-root", KeyAlgorithm.RSA2048, ACTOR)


def demo(platform: Platform) -> None:
    demo_pki(platform)
    LicenseDocuments(platform).ensure_license_seals(ACTOR)


# --- fixtures -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One SQLite deployment with the demo CAs, the TSA and the license seals, shared by the read-only tests."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("CERTSEAL_")}
    home = tmp_path_factory.mktemp("license-documents")
    platform = Platform(settings_for(home))
    platform.db.migrate()
    demo(platform)
    yield platform
    platform.close()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def issued(deployment: Platform) -> dict[str, Issued]:
    """The drug production license and the pharmacist certificate, produced once (PDF and OFD, both faces)."""
    found = {}
    for which, qr_text, kwargs in (
        ("drug", DRUG_QR, drug_kwargs()),
        ("pharmacist", PHARMACIST_QR, pharmacist_kwargs()),
    ):
        started = time.perf_counter()
        files = produce(deployment, which)
        print(f"produce({which}): {len(files)} sealed files in {(time.perf_counter() - started) * 1000:.0f} ms")
        found[which] = Issued(which, qr_text, {(f.copy, f.format): f for f in files}, kwargs)
    return found


@pytest.fixture
def fresh(make_settings: Callable[..., Settings]) -> Iterator[Platform]:
    """A deployment of its own (SQLite) with demo CAs and license seals, for tests that change seals or settings."""
    platform = Platform(make_settings())
    platform.db.migrate()
    demo(platform)
    yield platform
    platform.close()


# --- ensure_license_seals -----------------------------------------------------------------------------------------


def test_ensure_license_seals_creates_everything_once_on_both_databases(platform: Platform, tmp_path: Path) -> None:
    demo_pki(platform)
    documents = LicenseDocuments(platform)
    first = documents.ensure_license_seals(ACTOR)
    assert (first.pdf_seal, first.ofd_seal) == ("license-seal-rsa", "license-seal-sm2")
    made = " | ".join(first.created)
    assert "seal license-seal-rsa (rsa2048" in made and "from CA demo-rsa-root" in made
    assert "seal license-seal-sm2 (sm2" in made and "from CA demo-sm2-issuing" in made
    assert "OFD seal maker certificate" in made and "license QR key license-qr-1" in made
    assert len(first.created) == 4
    before = counts(platform)
    second = documents.ensure_license_seals(ACTOR)
    assert second.created == () and counts(platform) == before

    seals = SealService(platform)
    for name, algorithm in (("license-seal-rsa", "rsa"), ("license-seal-sm2", "ec")):
        info = seals.get(name)
        assert info.type is SealType.LICENSE and info.title == SEAL_CN
        assert info.users == (LICENSE_SEAL_USER,)
        assert re.fullmatch(r"420000\d{7}", info.code), info.code
        certificate = x509.Certificate.load(info.certificate_der)
        assert certificate.public_key.algorithm == algorithm
        assert certificate.subject.native["common_name"] == SEAL_CN
        assert certificate.subject.native["serial_number"] == platform.settings.license_issuer_code
    assert seals.get("license-seal-rsa").code != seals.get("license-seal-sm2").code

    # openssl checks the RSA seal certificate against demo-rsa-root, and refuses it against the SM2 root
    cas = CaService(platform)
    (tmp_path / "seal.pem").write_bytes(pem.armor("CERTIFICATE", seals.get("license-seal-rsa").certificate_der))
    (tmp_path / "rsa.pem").write_bytes(pem.armor("CERTIFICATE", cas.get_ca("demo-rsa-root").certificate_der))
    (tmp_path / "sm2.pem").write_bytes(pem.armor("CERTIFICATE", cas.get_ca("demo-sm2-root").certificate_der))
    ok = subprocess.run(["openssl", "verify", "-CAfile", "rsa.pem", "seal.pem"], cwd=tmp_path, capture_output=True)
    assert ok.returncode == 0 and b"seal.pem: OK" in ok.stdout, ok.stderr
    bad = subprocess.run(["openssl", "verify", "-CAfile", "sm2.pem", "seal.pem"], cwd=tmp_path, capture_output=True)
    assert bad.returncode != 0

    # the SM2 seal's certificate, checked by gmalg against demo-sm2-issuing's key
    sm2_certificate = x509.Certificate.load(seals.get("license-seal-sm2").certificate_der)
    issuing = x509.Certificate.load(cas.get_ca("demo-sm2-issuing").certificate_der)
    tbs = sm2_certificate["tbs_certificate"].dump()
    assert sm2_signature_valid(issuing, tbs, sm2_certificate["signature_value"].native)
    assert not sm2_signature_valid(issuing, flip(tbs, 40), sm2_certificate["signature_value"].native)

    files = produce(platform, formats=[FileFormat.PDF, FileFormat.OFD])
    assert [documents.seal_verdict(f.content, f.format).indication for f in files] == ["PASSED"] * 4


def test_without_the_demo_cas_the_error_names_the_setting(make_settings: Callable[..., Settings]) -> None:
    platform = Platform(make_settings())
    platform.db.migrate()
    try:
        with pytest.raises(ValidationError) as caught:
            LicenseDocuments(platform).ensure_license_seals(ACTOR)
        assert caught.value.field == "license_pdf_seal" and "demo-rsa-root" in caught.value.rule
        assert counts(platform)["Seal"] == 0
    finally:
        platform.close()


# --- produce: the files and their seals ---------------------------------------------------------------------------


def copies(license: Issued) -> list[str]:
    return ["original", "duplicate"] if license.name == "drug" else ["original"]  # a pharmacist has no 副本


def test_produce_returns_every_face_in_both_formats(issued: dict[str, Issued]) -> None:
    for license in issued.values():
        assert set(license.files) == {(c, f) for c in copies(license) for f in FileFormat}
        for (_, file_format), produced in license.files.items():
            assert produced.seal == ("license-seal-rsa" if file_format is FileFormat.PDF else "license-seal-sm2")
            assert produced.content.startswith(b"%PDF-" if file_format is FileFormat.PDF else b"PK\x03\x04")


def test_pdfsig_says_every_license_pdf_seal_is_valid_and_sees_a_changed_byte(issued: dict[str, Issued]) -> None:
    for license in issued.values():
        for copy in copies(license):
            pdf = license.files[copy, FileFormat.PDF].content
            (report,) = pdfdocs.pdfsig(pdf)
            assert "Signature Validation: Signature is Valid." in report, report
            assert "Total document signed" in report and f"Common Name: {SEAL_CN}" in report
            assert "ETSI.CAdES.detached" in report
            pdfdocs.qpdf_check(pdf)
            position = pdf.index(b"/MediaBox") + 2
            tampered = pdf[:position] + bytes([pdf[position] ^ 0x20]) + pdf[position + 1 :]
            (report,) = pdfdocs.pdfsig(tampered)
            assert "Digest Mismatch" in report, report


def test_license_pdfs_are_timestamped_at_pades_b_t(issued: dict[str, Issued]) -> None:
    from certseal.signing import cms

    pdf = issued["drug"].files["original", FileFormat.PDF].content
    (signature,) = signatures(PdfDocument(pdf))
    (signer,) = cms.parse(signature.contents).signers
    assert len(signer.timestamp_tokens) == 1, "the demo deployment has a TSA: B-T"


def test_ofd_seals_verify_with_gmalg_and_every_part_passes_the_xsds(issued: dict[str, Issued]) -> None:
    for license in issued.values():
        for copy in copies(license):
            ofd = license.files[copy, FileFormat.OFD].content
            assert all_xsd_errors(ofd) == {}
            package = OfdPackage.from_bytes(ofd)
            signature_xml = package["Doc_0/Signs/Sign_0/Signature.xml"]
            parsed = OSESSignatureV4.load(package["Doc_0/Signs/Sign_0/SignedValue.dat"], strict=True)
            tbs = parsed["toSign"]
            assert parsed["signatureAlgID"].dotted == SM2_SM3
            assert tbs["dataHash"].native == sm3(signature_xml)
            signer = x509.Certificate.load(parsed["cert"].native)
            assert signer.subject.native["common_name"] == SEAL_CN
            assert sm2_signature_valid(signer, tbs.dump(), parsed["signature"].native)
            assert not sm2_signature_valid(signer, flip(tbs.dump(), 60), parsed["signature"].native)
            assert parsed["timeStamp"].native, "the demo deployment has a TSA: the signature value is timestamped"
            seal = OSESealV4.load(tbs["eseal"].dump(), strict=True)
            properties = OPropertyV4Certs.load(seal["eSealInfo"]["property"].dump())
            assert properties["name"].native == SEAL_CN and properties["certList"][0].native == signer.dump()
            maker = x509.Certificate.load(seal["cert"].native)
            assert sm2_signature_valid(maker, seal["eSealInfo"].dump(), seal["signedValue"].native)
            root = etree.fromstring(signature_xml)
            references = root.findall(f"{{{OFD_NS}}}SignedInfo/{{{OFD_NS}}}References/{{{OFD_NS}}}Reference")
            assert references
            for reference in references:
                name = (reference.get("FileRef") or "").lstrip("/")
                digest = hashes.Hash(hashes.SM3())
                digest.update(package[name])
                value = base64.b64decode(reference.findtext(f"{{{OFD_NS}}}CheckValue") or "")
                assert value == digest.finalize(), name
            changed = bytearray(signature_xml)
            changed[signature_xml.index(b"<ofd:SignedInfo") + 2] ^= 0x01
            assert sm3(bytes(changed)) != tbs["dataHash"].native


def test_the_qr_code_of_the_sealed_pdf_page_is_the_qr_text(issued: dict[str, Issued], tmp_path: Path) -> None:
    for license in issued.values():
        for copy in copies(license):
            image = pdfdocs.render(license.files[copy, FileFormat.PDF].content, 0, dpi=150)
            image.save(tmp_path / f"{license.name}-{copy}.png")
            assert decode_qr_image(tmp_path / f"{license.name}-{copy}.png") == license.qr_text
    assert issued["drug"].qr_text != issued["pharmacist"].qr_text


def test_the_seal_sits_on_the_layouts_seal_spot_over_the_issuer_line(issued: dict[str, Issued]) -> None:
    for license in issued.values():
        license_type, data = (
            (drug_type(), drug_data()) if license.name == "drug" else (pharmacist_type(), pharmacist_data())
        )
        for copy in copies(license):
            kwargs = {**license.render_kwargs, "issuer": ISSUER}
            spot = render_pdf(license_type, data, issue_facts(**kwargs), copy=copy).seal_position  # type: ignore[arg-type]
            pdf = license.files[copy, FileFormat.PDF].content
            (signature,) = signatures(PdfDocument(pdf))
            (widget,) = signature.widgets
            x0, y0, x1, y1 = widget.rect
            assert widget.page is not None
            assert (widget.page + 1, round((x0 + x1) / 2, 1), round((y0 + y1) / 2, 1)) == (
                spot[0],
                round(spot[1], 1),
                round(spot[2], 1),
            )
            # poppler: the red of the seal image is centred there, and the issuer's name is under it
            page = pdfdocs.render(pdf, spot[0] - 1)
            found = _red_centre(page, spot[1], spot[2])
            assert abs(found[0] - spot[1]) < 6 and abs(found[1] - spot[2]) < 6, (found, spot)
            issuer_box = _issuer_box(pdf, spot[0])
            assert issuer_box[0] - 60 < spot[1] < issuer_box[2] + 60 and abs(issuer_box[1] - spot[2]) < 60

            ofd_spot = render_ofd(license_type, data, issue_facts(**kwargs), copy=copy).seal_position  # type: ignore[arg-type]
            ofd = OfdPackage.from_bytes(license.files[copy, FileFormat.OFD].content)
            root = etree.fromstring(ofd["Doc_0/Signs/Sign_0/Signature.xml"])
            (annot,) = root.iter(f"{{{OFD_NS}}}StampAnnot")
            bx, by, bw, bh = (float(v) for v in (annot.get("Boundary") or "").split())
            assert abs(bx + bw / 2 - ofd_spot[1]) < 0.01 and abs(by + bh / 2 - ofd_spot[2]) < 0.01
            assert bw == bh == 42


def _red_centre(image: Image.Image, x: float, y: float, dpi: int = 50) -> tuple[float, float]:
    """Centre (points, origin bottom-left) of the seal-red pixels within 40 points of (x, y)."""
    page_height = image.height * 72 / dpi
    px, py = pdfdocs.to_pixels(x, y, page_height, dpi)
    r = 40 * dpi / 72
    window = (int(px - r), int(py - r), int(px + r), int(py + r))
    box = pdfdocs.red_box(image.crop(window))
    assert box is not None, f"no seal-red pixels around ({x:.0f}, {y:.0f})"
    cx, cy = window[0] + (box[0] + box[2]) / 2, window[1] + (box[1] + box[3]) / 2
    return cx * 72 / dpi, page_height - cy * 72 / dpi


def _issuer_box(pdf: bytes, page: int) -> tuple[float, float, float]:
    """pdftotext -bbox: (xMin, y centre from the bottom, xMax) in points of the word holding the issuer's name."""
    html = pdfdocs.run_tool("pdftotext", "-bbox", "-f", str(page), "-l", str(page), "{}", "-", data=pdf)
    height = float(re.search(r'<page width="[0-9.]+" height="([0-9.]+)"', html).group(1))  # type: ignore[union-attr]
    words = re.findall(
        r'<word xMin="([0-9.]+)" yMin="([0-9.]+)" xMax="([0-9.]+)" yMax="([0-9.]+)">([^<]*)</word>', html
    )
    (found,) = [tuple(map(float, w[:4])) for w in words if ISSUER in w[4]][-1:]
    return found[0], height - (found[1] + found[3]) / 2, found[2]


# --- seal verdicts ------------------------------------------------------------------------------------------------


def test_seal_verdicts_pass_for_the_produced_files_and_fail_for_a_changed_byte(
    deployment: Platform, issued: dict[str, Issued]
) -> None:
    documents = LicenseDocuments(deployment)
    for produced in issued["drug"].files.values():
        verdict = documents.seal_verdict(produced.content, produced.format)
        assert verdict.indication == "PASSED", verdict
        assert verdict.signer == SEAL_CN and verdict.signed_at is not None
        assert verdict.summary.startswith("电子印章有效") and "The electronic seal is valid" in verdict.summary
        assert documents.seal_verdict(produced.content, produced.format) is verdict  # cached by digest

    pdf = issued["drug"].files["original", FileFormat.PDF].content
    position = pdf.index(b"/MediaBox") + 2
    changed = pdf[:position] + bytes([pdf[position] ^ 0x20]) + pdf[position + 1 :]
    verdict = documents.seal_verdict(changed, FileFormat.PDF)
    assert verdict.indication == "FAILED" and "文件在盖章后被改动" in verdict.summary, verdict
    assert "NOT valid" in verdict.summary and verdict.signer == SEAL_CN

    ofd = issued["drug"].files["original", FileFormat.OFD].content
    package = OfdPackage.from_bytes(ofd)
    content = bytearray(package["Doc_0/Pages/Page_0/Content.xml"])
    content[-20] ^= 0x01
    package.put("Doc_0/Pages/Page_0/Content.xml", bytes(content))
    verdict = documents.seal_verdict(package.to_bytes(), FileFormat.OFD)
    assert verdict.indication == "FAILED" and "文件在盖章后被改动" in verdict.summary, verdict
    # one byte of the file itself (its ZIP structure): the file cannot be read, which fails too
    raw = bytearray(ofd)
    raw[len(raw) // 2] ^= 0x01
    assert documents.seal_verdict(bytes(raw), FileFormat.OFD).indication == "FAILED"


def test_seal_verdict_of_an_unsealed_file_and_of_the_wrong_format(
    issued: dict[str, Issued], deployment: Platform
) -> None:
    documents = LicenseDocuments(deployment)
    unsealed = render_pdf(drug_type(), drug_data(), issue_facts(issuer=ISSUER, **drug_kwargs()), copy="original").pdf
    verdict = documents.seal_verdict(unsealed, FileFormat.PDF)
    assert verdict.indication == "FAILED" and "未加盖电子印章" in verdict.summary and verdict.signer is None
    with pytest.raises(ValidationError) as caught:
        documents.seal_verdict(issued["drug"].files["original", FileFormat.PDF].content, FileFormat.OFD)
    assert caught.value.field == "format"


def test_the_verdict_cache_is_a_bounded_lru() -> None:
    cache = _VerdictCache(size=2)
    verdicts = [SealVerdict("PASSED", str(n)) for n in range(3)]
    cache.put("a", verdicts[0])
    cache.put("b", verdicts[1])
    assert cache.get("a") is verdicts[0]  # a is now the most recent
    cache.put("c", verdicts[2])
    assert cache.get("b") is None and cache.get("a") is verdicts[0] and cache.get("c") is verdicts[2]
    assert len(cache) == 2
    expired = _VerdictCache(ttl=0.0)
    expired.put("a", verdicts[0])
    time.sleep(0.001)
    assert expired.get("a") is None


# --- refusals -----------------------------------------------------------------------------------------------------


def sealings(platform: Platform) -> int:
    with platform.db.reading() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action.in_(["seal_pdf", "seal"]), AuditEvent.entity.in_(["seal", "ofd_sealing"]))
            )
            or 0
        )


def test_a_disabled_seal_is_refused_naming_the_setting_before_anything_is_sealed(fresh: Platform) -> None:
    SealService(fresh).disable("license-seal-rsa", ACTOR)
    with pytest.raises(ValidationError) as caught:
        produce(fresh)
    assert caught.value.field == "license_pdf_seal" and "disabled" in caught.value.rule
    assert sealings(fresh) == 0
    files = produce(fresh, formats=[FileFormat.OFD])  # the OFD seal still works
    assert [(f.copy, f.format) for f in files] == [("original", FileFormat.OFD), ("duplicate", FileFormat.OFD)]


def test_missing_wrong_kind_and_unauthorised_seals_are_refused_naming_the_setting(fresh: Platform) -> None:
    home = fresh.settings.home_dir
    url = fresh.settings.resolved_database_url
    cases = [
        ({"license_ofd_seal": "no-such-seal"}, "license_ofd_seal", "does not exist"),
        ({"license_ofd_seal": "license-seal-rsa"}, "license_ofd_seal", "need an SM2 seal"),
        ({"license_pdf_seal": "no-such-seal"}, "license_pdf_seal", "does not exist"),
    ]
    for overrides, field, rule in cases:
        other = Platform(settings_for(home, database_url=url, **overrides))
        try:
            with pytest.raises(ValidationError) as caught:
                produce(other)
            assert caught.value.field == field and rule in caught.value.rule, caught.value
        finally:
            other.close()
    with pytest.raises(ValidationError) as caught:
        produce(fresh, formats=["docx"])
    assert caught.value.field == "formats"
    SealService(fresh).set_users("license-seal-sm2", ACTOR, users=["someone-else"])
    with pytest.raises(ValidationError) as caught:
        produce(fresh)
    assert caught.value.field == "license_ofd_seal"
    assert f"--add {LICENSE_SEAL_USER}" in caught.value.rule
    assert sealings(fresh) == 0


def test_sealing_is_audited_for_the_registry_on_behalf_of_the_officer(fresh: Platform) -> None:
    produce(fresh, formats=[FileFormat.PDF])
    with fresh.db.reading() as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "seal_pdf")))
    assert len(events) == 2
    assert {(e.actor, e.source) for e in events} == {(LICENSE_SEAL_USER, f"for {ACTOR.name} via {ACTOR.source}")}


# --- ofd_font_path ------------------------------------------------------------------------------------------------


def embedded_fonts(ofd: bytes) -> list[TTFont]:
    package = OfdPackage.from_bytes(ofd)
    return [TTFont(io.BytesIO(package[n])) for n in package if n.startswith("Doc_0/Res/font_")]


def test_the_font_named_by_ofd_font_path_is_the_one_embedded(fresh: Platform, tmp_path: Path) -> None:
    # a font of its own: WenQuanYi Zen Hei Mono taken out of the collection and renamed by fontTools
    font = TTCollection(WQY, lazy=True).fonts[1]
    for record in font["name"].names:
        if record.nameID in (1, 4, 6, 16):
            record.string = "CertsealTestCJK"
    font.save(tmp_path / "test-cjk.ttf")
    home, url = fresh.settings.home_dir, fresh.settings.resolved_database_url

    configured = Platform(settings_for(home, database_url=url, ofd_font_path=tmp_path / "test-cjk.ttf"))
    try:
        files = produce(configured, formats=[FileFormat.OFD])
    finally:
        configured.close()
    source = TTFont(tmp_path / "test-cjk.ttf")
    for produced in files:
        (embedded,) = embedded_fonts(produced.content)
        assert embedded["name"].getDebugName(1) == "CertsealTestCJK"
        # the glyph of 药 as the given font draws it, and the Mono font's half-width digits
        mapped = embedded.getBestCmap()
        assert embedded["hmtx"][mapped[ord("1")]][0] == source["hmtx"][source.getBestCmap()[ord("1")]][0]
        glyph = embedded["glyf"][mapped[ord("药")]]
        original = source["glyf"][source.getBestCmap()[ord("药")]]
        assert glyph.getCoordinates(embedded["glyf"])[0] == original.getCoordinates(source["glyf"])[0]
        assert LicenseDocuments(fresh).seal_verdict(produced.content, FileFormat.OFD).indication == "PASSED"

    (default,) = embedded_fonts(produce(fresh, formats=[FileFormat.OFD])[0].content)
    assert default["name"].getDebugName(1) == "WenQuanYi Zen Hei"

    before = sealings(fresh)
    for bad in (NOTO_CFF, str(tmp_path / "missing.ttf")):  # CFF outlines cannot be subset; no file at all
        broken = Platform(settings_for(home, database_url=url, ofd_font_path=bad))
        try:
            with pytest.raises(ConfigError, match="ofd_font_path"):
                produce(broken)
        finally:
            broken.close()
    assert sealings(fresh) == before, "the font is checked before anything is sealed"


def test_render_ofd_takes_the_font_path(tmp_path: Path) -> None:
    font = TTCollection(WQY, lazy=True).fonts[2]  # Zen Hei Sharp
    font.save(tmp_path / "sharp.ttf")
    rendered = render_ofd(
        drug_type(),
        drug_data(),
        issue_facts(issuer=ISSUER, **drug_kwargs()),
        copy="original",
        font_path=tmp_path / "sharp.ttf",
    )
    (embedded,) = embedded_fonts(rendered.ofd)
    assert embedded["name"].getDebugName(1) == "WenQuanYi Zen Hei Sharp"


def test_keys_of_the_license_seals_live_in_the_software_token(deployment: Platform) -> None:
    labels = {SealService(deployment).get(name).key_label for name in ("license-seal-rsa", "license-seal-sm2")}
    with deployment.db.reading() as session:
        rows = [(r.token, r.algorithm) for r in session.scalars(select(CryptoKey).where(CryptoKey.label.in_(labels)))]
    assert sorted(rows) == [("software", KeyAlgorithm.RSA2048.value), ("software", KeyAlgorithm.SM2.value)]
