"""PdfSealingService end to end: registered seals, the TSA, OCSP and CRLs in process; pdfsig, qpdf and poppler's
renderer judge the output.

The helpers at the top (make_seal, setup_tsa, keyword_pdf, …) are shared with the other PDF sealing tests.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from sqlalchemy import select

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.errors import Forbidden, NotFound, ValidationError
from certseal.services.audit import Actor
from certseal.services.ca import CaService, RevocationReason
from certseal.services.pdf_sealing import AtKeyword, AtPosition, PadesLevel, PdfSealingService, Riding
from certseal.services.platform import Platform
from certseal.services.seals import SealService
from certseal.services.tsa import TsaService
from certseal.signing import cms
from certseal.signing.pdf.dss import dss, vri_key
from certseal.signing.pdf.reader import PdfDocument
from certseal.signing.pdf.sealing import signatures
from certseal.store.models import AuditEvent
from tests import pdfdocs
from tests.conftest import ACTOR

SEAL_MM = 40.0
SEAL_PT = SEAL_MM * 72 / 25.4
SEAL_SUBJECT = "CN=示例市药品监督管理局,O=示例市药品监督管理局,C=CN"


# --- shared helpers -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealSetup:
    name: str
    serial: str
    certificate: bytes
    root: bytes
    chain: list[bytes]  # issuing CA up to the root


def ensure_cas(platform: Platform, alg: KeyAlgorithm) -> tuple[str, str]:
    """A root and an intermediate CA for `alg` (created once per deployment); returns their names."""
    cas = CaService(platform)
    root, sub = f"root-{alg.value}", f"sub-{alg.value}"
    existing = {ca.name for ca in cas.list_cas()}
    if root not in existing:
        cas.create_ca(root, alg, ACTOR)
        cas.create_ca(sub, alg, ACTOR, parent=root)
    return root, sub


def make_seal(
    platform: Platform,
    alg: KeyAlgorithm = KeyAlgorithm.RSA2048,
    name: str = "official",
    users: Sequence[str] = (ACTOR.name,),
) -> SealSetup:
    """A seal certificate with a token key from an intermediate CA, registered as seal `name`."""
    _, sub = ensure_cas(platform, alg)
    cas = CaService(platform)
    issued = cas.issue(sub, "seal", ACTOR, subject=SEAL_SUBJECT, generate=alg)
    SealService(platform).create(
        name, issued.certificate_der, ACTOR, image_png=pdfdocs.seal_png(), size_mm=(SEAL_MM, SEAL_MM), users=users
    )
    chain = cas.ca_chain(sub)
    return SealSetup(name, issued.serial, issued.certificate_der, chain[-1], chain)


def setup_tsa(platform: Platform, alg: KeyAlgorithm = KeyAlgorithm.RSA2048) -> bytes:
    """This deployment's TSA, certified by the root CA of `alg` (its tokens carry only the TSA certificate, so a
    verifier without the DSS can build the path from the trust root alone); returns that root."""
    root, _ = ensure_cas(platform, alg)
    TsaService(platform).setup(root, alg, ACTOR)
    return CaService(platform).get_ca(root).certificate_der


def keyword_pdf(keyword: str, spots: Sequence[tuple[int, float, float]], pages: int = 2) -> bytes:
    """An A4 document (reportlab) with `keyword` drawn in Helvetica 12 at each (page, x, y) spot."""
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    for page in range(pages):
        c.setFont("Helvetica", 12)
        c.drawString(72, 800, f"Agreement page {page + 1}")
        for where, x, y in spots:
            if where == page:
                c.drawString(x, y, keyword)
        c.showPage()
    c.save()
    return buffer.getvalue()


def poppler_word_centres(pdf: bytes, word: str) -> list[tuple[int, float, float]]:
    """(page, x, y) centres of `word` as poppler's `pdftotext -bbox` boxes it (points, origin bottom-left)."""
    out = pdfdocs.run_tool("pdftotext", "-bbox", "{}", "-", data=pdf)
    centres = []
    for page, body in enumerate(out.split("<page ")[1:]):
        height = float(re.search(r'height="([\d.]+)"', body).group(1))  # type: ignore[union-attr]
        for x0, y0, x1, y1 in re.findall(
            rf'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">{re.escape(word)}</word>', body
        ):
            centres.append((page, (float(x0) + float(x1)) / 2, height - (float(y0) + float(y1)) / 2))
    return centres


def red_centre(image: pdfdocs.Image.Image, x: float, y: float, radius_pt: float, dpi: int = 50) -> tuple[float, float]:
    """Centre (points, origin bottom-left) of the seal-red pixels within radius_pt of (x, y)."""
    page_height = image.height * 72 / dpi
    px, py = pdfdocs.to_pixels(x, y, page_height, dpi)
    r = radius_pt * dpi / 72
    window = (int(px - r), int(py - r), int(px + r), int(py + r))
    box = pdfdocs.red_box(image.crop(window))
    assert box is not None, f"no seal-red pixels around ({x:.0f}, {y:.0f})"
    cx, cy = window[0] + (box[0] + box[2]) / 2, window[1] + (box[1] + box[3]) / 2
    return cx * 72 / dpi, page_height - cy * 72 / dpi


@dataclass(frozen=True)
class AuditView:
    actor: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def audit_events(platform: Platform) -> list[AuditView]:
    """The seals' usage log: audit events of PDF sealings."""
    with platform.db.reading() as session:
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity == "seal", AuditEvent.action == "seal_pdf")
            .order_by(AuditEvent.seq)
        )
        return [
            AuditView(
                row.actor,
                row.entity_id,
                json.loads(row.before) if row.before else None,
                json.loads(row.after) if row.after else None,
            )
            for row in rows
        ]


def signature_blocks(pdf: bytes) -> list[str]:
    blocks = pdfdocs.pdfsig(pdf)
    assert blocks, "pdfsig found no signature"
    return blocks


def assert_valid_seals(pdf: bytes, count: int, last_covers_document: bool = True) -> list[str]:
    """pdfsig: `count` signatures, each valid; the last covers the whole document; qpdf finds nothing wrong.

    pdfsig reports a signature once per widget (a keyword seal's field has several): blocks naming the same field
    and byte ranges are one signature."""
    blocks = signature_blocks(pdf)
    for block in blocks:
        assert "Signature is Valid" in block, block
    distinct: dict[tuple[str, str], str] = {}
    for block in blocks:
        field = re.search(r"Signature Field Name: (.*)", block)
        ranges = re.search(r"Signed Ranges: (.*)", block)
        assert field and ranges, block
        distinct.setdefault((field.group(1), ranges.group(1)), block)
    signatures_found = list(distinct.values())
    assert len(signatures_found) == count, blocks
    assert ("Total document signed" in signatures_found[-1]) is last_covers_document, signatures_found[-1]
    pdfdocs.qpdf_check(pdf)
    return signatures_found


# --- fixtures -----------------------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_platform(make_settings: Callable[..., Settings]) -> Iterator[Platform]:
    """SQLite only: most tests here are about the PDF, not the database."""
    p = Platform(make_settings())
    p.db.migrate()
    yield p
    p.close()


@pytest.fixture
def rsa_seal(sqlite_platform: Platform) -> SealSetup:
    return make_seal(sqlite_platform)


# --- sealing and the levels ---------------------------------------------------------------------------------------


def test_seal_at_a_position_on_both_databases(platform: Platform) -> None:
    make_seal(platform)
    pdf = pdfdocs.one_page()
    result = PdfSealingService(platform).seal(pdf, "official", ACTOR, AtPosition(1, 400, 200))
    blocks = assert_valid_seals(result.pdf, 1)
    assert "ETSI.CAdES.detached" in blocks[0] and result.pdf.startswith(pdf)
    assert result.level is PadesLevel.B_B and len(result.placements) == 1
    found = signatures(PdfDocument(result.pdf))
    assert [s.field_name for s in found] == [result.field_name]
    signed = cms.parse(found[0].contents)
    assert signed.signers[0].signing_time is None, "PAdES B-B carries no signing-time attribute"
    assert signed.signers[0].timestamp_tokens == []

    events = audit_events(platform)
    assert len(events) == 1 and events[0].actor == ACTOR.name and events[0].entity_id == "official"
    after = events[0].after
    assert after is not None and after["seal"] == "official" and after["level"] == "B-B"
    assert after["document_sha256"] == result.sha256_after and events[0].before == {
        "document_sha256": result.sha256_before
    }
    assert after["placement"] == {"kind": "position", "page": 1, "x": 400, "y": 200}
    with platform.db.reading() as session:
        assert platform.audit.verify(session).ok


def test_the_seal_is_drawn_centred_at_the_point(sqlite_platform: Platform, rsa_seal: SealSetup) -> None:
    result = PdfSealingService(sqlite_platform).seal(pdfdocs.one_page(), "official", ACTOR, AtPosition(1, 400, 200))
    image = pdfdocs.render(result.pdf, 0)
    x, y = red_centre(image, 400, 200, SEAL_PT)
    assert abs(x - 400) < 4 and abs(y - 200) < 4
    image.save("/tmp/certseal-pdf-position.png")


def test_keyword_seal_is_one_signature_with_a_widget_per_hit(sqlite_platform: Platform, rsa_seal: SealSetup) -> None:
    pdf = keyword_pdf("SEALHERE", [(0, 100, 500), (0, 350, 200), (1, 250, 400)])
    result = PdfSealingService(sqlite_platform).seal(pdf, "official", ACTOR, AtKeyword("SEALHERE"))
    assert_valid_seals(result.pdf, 1)
    (signature,) = signatures(PdfDocument(result.pdf))
    assert [w.page for w in signature.widgets] == [0, 0, 1]
    hits = poppler_word_centres(pdf, "SEALHERE")
    assert len(hits) == 3
    renders = [pdfdocs.render(result.pdf, page) for page in (0, 1)]
    for page, cx, cy in hits:
        found = red_centre(renders[page], cx, cy, SEAL_PT * 0.75)
        assert abs(found[0] - cx) < 4 and abs(found[1] - cy) < 4, (page, cx, cy, found)
    renders[0].save("/tmp/certseal-pdf-keyword.png")
    after = audit_events(sqlite_platform)[-1].after
    assert after is not None and len(after["widgets"]) == 3


def test_keyword_in_chinese_text(sqlite_platform: Platform, rsa_seal: SealSetup) -> None:
    result = PdfSealingService(sqlite_platform).seal(pdfdocs.chinese(), "official", ACTOR, AtKeyword("盖章"))
    assert_valid_seals(result.pdf, 1)
    (placement,) = result.placements
    x0, y0, x1, y1 = placement.rect
    assert 72 < (x0 + x1) / 2 < 72 + 2 * 12 + 1 and 705 < (y0 + y1) / 2 < 725  # "盖章" drawn at (72, 710), 12 pt


def _slice_has_ink(png: bytes, index: int, count: int) -> bool:
    """Whether slice `index` of `count` of the seal image has opaque pixels (read with Pillow)."""
    with pdfdocs.Image.open(io.BytesIO(png)) as image:
        alpha = image.convert("RGBA").getchannel("A")
        left, right = image.width * index // count, image.width * (index + 1) // count
        return alpha.crop((left, 0, right, image.height)).getbbox() is not None


def test_riding_seal_slices_on_every_page(sqlite_platform: Platform, rsa_seal: SealSetup) -> None:
    pdf = pdfdocs.twenty_pages()
    result = PdfSealingService(sqlite_platform).seal(pdf, "official", ACTOR, Riding())
    assert_valid_seals(result.pdf, 1)
    assert [p.page for p in result.placements] == list(range(20))
    dpi = 100
    slice_px = SEAL_PT / 20 * dpi / 72
    centres = []
    for page in (0, 3, 9, 10, 16, 19):
        image = pdfdocs.render(result.pdf, page, dpi)
        box = pdfdocs.red_box(image)
        if not _slice_has_ink(pdfdocs.seal_png(), page, 20):
            assert box is None, f"page {page + 1}: this slice of the seal is transparent, yet red shows at {box}"
            continue
        assert box is not None, f"no riding slice on page {page + 1}"
        left, top, right, bottom = box
        assert image.width - slice_px - 2 <= left and right >= image.width - 2, (page, box, image.width)
        centres.append((top + bottom) / 2)
        if page == 9:
            image.crop((image.width - 150, 0, image.width, image.height)).save("/tmp/certseal-pdf-riding-p10.png")
    assert len(centres) >= 4
    assert all(abs(c - image.height / 2) < SEAL_PT * dpi / 72 / 2 for c in centres), centres


def test_two_successive_seals_keep_the_first_valid(sqlite_platform: Platform, rsa_seal: SealSetup) -> None:
    make_seal(sqlite_platform, KeyAlgorithm.P256, name="contract")
    service = PdfSealingService(sqlite_platform)
    first = service.seal(pdfdocs.one_page(), "official", ACTOR, AtPosition(1, 150, 150))
    second = service.seal(first.pdf, "contract", ACTOR, AtPosition(1, 400, 150))
    blocks = assert_valid_seals(second.pdf, 2)
    assert "Total document signed" not in blocks[0]
    assert first.field_name != second.field_name and second.pdf.startswith(first.pdf)


def test_b_t_carries_a_signature_timestamp_of_our_tsa(sqlite_platform: Platform, rsa_seal: SealSetup) -> None:
    setup_tsa(sqlite_platform)
    result = PdfSealingService(sqlite_platform).seal(
        pdfdocs.one_page(), "official", ACTOR, AtPosition(1, 300, 300), PadesLevel.B_T
    )
    assert_valid_seals(result.pdf, 1)
    (signature,) = signatures(PdfDocument(result.pdf))
    view = cms.parse(signature.contents).signers[0]
    (token,) = view.timestamp_tokens
    assert cms.timestamp_imprint_matches(view, token)
    tsa = TsaService(sqlite_platform).active()
    token_certificates = [c.chosen.dump() for c in asn1_cms.ContentInfo.load(token)["content"]["certificates"]]
    assert tsa.certificate_der in token_certificates


def test_b_lt_adds_a_dss_with_ocsp_and_crls_for_both_chains(sqlite_platform: Platform, rsa_seal: SealSetup) -> None:
    setup_tsa(sqlite_platform)
    result = PdfSealingService(sqlite_platform).seal(
        pdfdocs.one_page(), "official", ACTOR, AtPosition(1, 300, 300), PadesLevel.B_LT
    )
    assert_valid_seals(result.pdf, 1, last_covers_document=False)  # the DSS revision follows the signature
    store = dss(PdfDocument(result.pdf))
    tsa = TsaService(sqlite_platform).active()
    for needed in (rsa_seal.certificate, *rsa_seal.chain, tsa.certificate_der):
        assert needed in store.certificates
    # seal, intermediate CA and TSA certificates: one good OCSP response each; CRLs of the root and the intermediate
    assert len(store.ocsp_responses) == 3 and len(store.crls) == 2
    for response in store.ocsp_responses:
        basic = asn1_ocsp.OCSPResponse.load(response).basic_ocsp_response
        assert basic["tbs_response_data"]["responses"][0]["cert_status"].name == "good"
    issuers = {asn1_crl.CertificateList.load(der).issuer.human_friendly for der in store.crls}
    assert len(issuers) == 2
    (signature,) = signatures(PdfDocument(result.pdf))
    assert store.vri_keys == [vri_key(signature.contents_raw)]


def test_sm2_seal_at_b_lt(sqlite_platform: Platform) -> None:
    make_seal(sqlite_platform, KeyAlgorithm.SM2, name="sm2-seal")
    setup_tsa(sqlite_platform, KeyAlgorithm.SM2)
    result = PdfSealingService(sqlite_platform).seal(
        pdfdocs.one_page(), "sm2-seal", ACTOR, AtPosition(1, 300, 300), PadesLevel.B_LT
    )
    pdfdocs.qpdf_check(result.pdf)
    (signature,) = signatures(PdfDocument(result.pdf))
    assert signature.subfilter == "adbe.pkcs7.detached"
    view = cms.parse(signature.contents).signers[0]
    assert view.digest_algorithm == "sm3" and len(view.timestamp_tokens) == 1
    store = dss(PdfDocument(result.pdf))
    assert len(store.ocsp_responses) == 3 and len(store.crls) == 2


# --- refusals -----------------------------------------------------------------------------------------------------


def test_an_actor_who_is_not_a_user_of_the_seal_is_refused(sqlite_platform: Platform, rsa_seal: SealSetup) -> None:
    with pytest.raises(Forbidden, match="official"):
        PdfSealingService(sqlite_platform).seal(
            pdfdocs.one_page(), "official", Actor("mallory", "pytest"), AtPosition(1, 100, 100)
        )
    assert audit_events(sqlite_platform) == []


def test_unknown_seal(sqlite_platform: Platform) -> None:
    with pytest.raises(NotFound, match="no seal named 'nope'"):
        PdfSealingService(sqlite_platform).seal(pdfdocs.one_page(), "nope", ACTOR, AtPosition(1, 100, 100))


@pytest.mark.parametrize(
    "data", [b"not a pdf at all", pdfdocs.one_page()[:300], b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\nstartxref\n99\n%%EOF"]
)
def test_a_malformed_pdf_is_refused_and_nothing_recorded(
    sqlite_platform: Platform, rsa_seal: SealSetup, data: bytes
) -> None:
    with pytest.raises(ValidationError) as caught:
        PdfSealingService(sqlite_platform).seal(data, "official", ACTOR, AtPosition(1, 100, 100))
    assert caught.value.field == "pdf"
    assert audit_events(sqlite_platform) == []


def test_keyword_on_chosen_pages(sqlite_platform: Platform, rsa_seal: SealSetup) -> None:
    pdf = keyword_pdf("SEALHERE", [(0, 100, 500), (1, 250, 400)])
    result = PdfSealingService(sqlite_platform).seal(pdf, "official", ACTOR, AtKeyword("SEALHERE", pages=(2,)))
    assert [p.page for p in result.placements] == [1]
    with pytest.raises(ValidationError) as caught:
        PdfSealingService(sqlite_platform).seal(pdf, "official", ACTOR, AtKeyword("SEALHERE", pages=(3,)))
    assert caught.value.field == "pages"


@pytest.mark.parametrize(
    ("placement", "field"), [(AtPosition(1, -1, 100), "x"), (AtPosition(1, 100, 900), "y"), (Riding(2000), "y")]
)
def test_a_point_off_the_page(
    sqlite_platform: Platform, rsa_seal: SealSetup, placement: AtPosition | Riding, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        PdfSealingService(sqlite_platform).seal(pdfdocs.one_page(), "official", ACTOR, placement)
    assert caught.value.field == field and "points" in caught.value.rule


def test_keyword_not_found(sqlite_platform: Platform, rsa_seal: SealSetup) -> None:
    with pytest.raises(ValidationError) as caught:
        PdfSealingService(sqlite_platform).seal(pdfdocs.one_page(), "official", ACTOR, AtKeyword("乙方盖章"))
    assert caught.value.field == "keyword" and "does not occur" in caught.value.rule


def test_page_outside_the_document(sqlite_platform: Platform, rsa_seal: SealSetup) -> None:
    with pytest.raises(ValidationError) as caught:
        PdfSealingService(sqlite_platform).seal(pdfdocs.one_page(), "official", ACTOR, AtPosition(2, 100, 100))
    assert caught.value.field == "page" and "between 1 and 1" in caught.value.rule


@pytest.mark.parametrize("reason", [RevocationReason.KEY_COMPROMISE, RevocationReason.CERTIFICATE_HOLD])
def test_a_revoked_or_held_seal_certificate_is_refused(
    sqlite_platform: Platform, rsa_seal: SealSetup, reason: RevocationReason
) -> None:
    CaService(sqlite_platform).revoke(rsa_seal.serial, reason, ACTOR)
    with pytest.raises(Forbidden, match="official"):
        PdfSealingService(sqlite_platform).seal(pdfdocs.one_page(), "official", ACTOR, AtPosition(1, 100, 100))
    assert audit_events(sqlite_platform) == []


def test_b_t_without_a_tsa_says_so(sqlite_platform: Platform, rsa_seal: SealSetup) -> None:
    for level in (PadesLevel.B_T, PadesLevel.B_LT):
        with pytest.raises(ValidationError) as caught:
            PdfSealingService(sqlite_platform).seal(pdfdocs.one_page(), "official", ACTOR, AtPosition(1, 1, 1), level)
        assert caught.value.field == "level" and "certseal tsa setup" in caught.value.rule


def test_level_names() -> None:
    assert PadesLevel.parse("b-lt") is PadesLevel.B_LT
    with pytest.raises(ValidationError) as caught:
        PadesLevel.parse("B-LTA")
    assert caught.value.field == "level" and "B-B, B-T, B-LT" in caught.value.rule
