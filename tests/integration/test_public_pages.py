"""The public license pages over HTTP (TestClient, SQLite and PostgreSQL): /v/<identifier> for every status, the
version banner, masked fields, workshops and contract manufacturing, change history, seal verdict and downloads;
the JSON record and /qr-keys.json (its fresh JWS checked by pyca/cryptography, not certseal); unknown (404) and
malformed identifiers (400 page, 422 JSON); the in-process page cache; /verify with its size and rate limits.

The HTML is parsed by lxml (libxml2), the downloaded PDF checked by poppler's pdfsig.  The browser side (the
offline check in public.js) is tested in tests/e2e/test_public_portal.py.

Helpers here (`prepare_registry`, `drug_application`, `OFFICER`, `verify_jws`) are shared with the e2e tests.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fastapi.testclient import TestClient

from certseal.config import Settings
from certseal.licenses import qr
from certseal.licenses.identifiers import parse_identifier
from certseal.licenses.lifecycle import Action
from certseal.licenses.masking import mask
from certseal.licenses.schema import LicenseType, builtin_registry
from certseal.services.access import Principal
from certseal.services.ca import CaService
from certseal.services.deployment import DEMO_CAS
from certseal.services.license_documents import LicenseDocuments
from certseal.services.licenses import FileFormat, IssuedLicense, LicenseService, PublicRecord, TransitionRequest
from certseal.services.platform import Platform
from certseal.web.app import create_app
from certseal.web.routes import public
from certseal.web.routes.public import PublicPages, UploadLimiter
from tests import pdfdocs
from tests.conftest import ACTOR

OFFICER = Principal.for_user("officer-hubei", "licensing-officer", "division:420000", "王建国")
ADMIN = Principal.for_user("admin", "provincial-admin", "*")  # expire is the administrator's (or the system's)
DIVISION = "420111"
HOLDER = "湖北示例制药有限公司"
LEGAL_ID = "420111198001011238"
PHONE = "13912345678"
UNKNOWN = "1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701.003.Y"  # well formed, never issued


def drug_type() -> LicenseType:
    return builtin_registry().get("drug-production")


def drug_application(**changes: Any) -> dict[str, Any]:
    """A Drug Production License application (the fields the registry fills at issuance left out)."""
    data: dict[str, Any] = {
        "enterprise_name": HOLDER,
        "uscc": "91110108551385082Q",
        "classification_code": "Ahz",
        "province": "湖北省",
        "registered_address": "湖北省武汉市洪山区关山大道518号",
        "legal_representative": "陈志远",
        "legal_representative_id_number": LEGAL_ID,
        "enterprise_head": "刘海涛",
        "quality_head": "周敏",
        "production_head": "黄俊",
        "qualified_person": "吴静",
        "contact_phone": PHONE,
        "production_sites": [
            {
                "address": "湖北省武汉市洪山区关山大道518号",
                "scope": "片剂，硬胶囊剂",
                "workshops": [
                    {
                        "name": "固体制剂车间",
                        "production_lines": [{"name": "片剂生产线一", "scope": "片剂"}, {"name": "硬胶囊剂生产线"}],
                    }
                ],
            }
        ],
        "contract_manufacturing": [
            {
                "role": "受托",
                "counterparty_name": "宜昌峡江制药股份有限公司",
                "counterparty_uscc": "91350100M000100Y43",
                "product": "阿莫西林胶囊",
                "valid_until": "2028-06-30",
            }
        ],
        "supervising_authority": "湖北省药品监督管理局武汉检查分局",
        "supervisors": "张明、李娜",
        "report_phone": "12315",
    }
    data.update(changes)
    return data


def masked(key: str, value: str) -> str:
    """`value` as the type's masking rule for field `key` shows it."""
    return mask(value, drug_type().field(key).mask_rule)


def prepare_registry(platform: Platform) -> None:
    """The demo CAs, the regulator's license seals and the QR key (no demo users or licenses)."""
    cas = CaService(platform)
    for name, algorithm, parent, subject in DEMO_CAS:
        cas.create_ca(name, algorithm, ACTOR, parent=parent, subject=subject)
    LicenseDocuments(platform).ensure_license_seals(ACTOR)


def issue(platform: Platform, **changes: Any) -> IssuedLicense:
    service = LicenseService(platform)
    return service.issue_now(OFFICER, "drug-production", drug_application(**changes), DIVISION)


def verify_jws(jws: str, jwks: Mapping[str, Any]) -> qr.QrPayload:
    """ES256 compact JWS checked by pyca/cryptography against a JWK Set; the payload decoded once it verified."""
    header_b64, payload_b64, signature_b64 = jws.split(".")
    header = json.loads(_b64(header_b64))
    assert header["alg"] == "ES256"
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    x, y = (int.from_bytes(_b64(jwk[c]), "big") for c in ("x", "y"))
    raw = _b64(signature_b64)
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    key.verify(signature, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if not
    return qr.decode_payload(_b64(payload_b64), header["kid"])


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- fixtures ------------------------------------------------------------------------------------------------


@dataclass
class World:
    platform: Platform
    client: TestClient
    issued: IssuedLicense

    @property
    def identifier(self) -> str:
        identifier = self.issued.detail.info.identifier
        assert identifier is not None
        return identifier

    def page(self, identifier: str) -> tuple[int, lxml.html.HtmlElement, Mapping[str, str]]:
        response = self.client.get(f"/v/{identifier}")
        return response.status_code, lxml.html.fromstring(response.content), response.headers

    def record(self, identifier: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/public/licenses/{identifier}")
        assert response.status_code == 200, response.text
        record: dict[str, Any] = response.json()
        return record


def _database(request: pytest.FixtureRequest, root: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{root / 'certseal.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = f"test_public_{root.name.replace('-', '_').lower()}"
    server.create_database(name)
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One registry per database for the module: seals, QR key, one issued license, every request rebuilt."""
    root = tmp_path_factory.mktemp("public-pages")
    for url in _database(request, root):
        settings = Settings(
            home=root, kek=base64.b64encode(bytes(range(32))).decode(),
            audit_key=base64.b64encode(bytes(range(32, 64))).decode(), database_url=url,
            license_formats="pdf", base_url="http://testserver",
        )  # fmt: skip
        platform = Platform(settings)
        platform.db.migrate()
        prepare_registry(platform)
        platform.memo[("public-pages",)] = PublicPages(platform, revalidate_after=0.0)
        with TestClient(create_app(platform)) as client:
            yield World(platform, client, issue(platform))
        platform.close()


def _text(element: lxml.html.HtmlElement, selector: str) -> str:
    """The whitespace-normalised text of every element `selector` (#id or tag.class) matches."""
    found = element.xpath(_xpath(selector))
    assert found, f"nothing matches {selector}"
    return " ".join(" ".join(" ".join(node.itertext()) for node in found).split())


def _xpath(selector: str) -> str:
    """XPath of the few selectors used here: #id, or tag.class."""
    if selector.startswith("#"):
        return f"//*[@id='{selector[1:]}']"
    tag, _, css = selector.partition(".")
    return f"//{tag or '*'}[contains(concat(' ', normalize-space(@class), ' '), ' {css} ')]"


# --- the public record page ---------------------------------------------------------------------------------


def test_page_of_an_issued_license(world: World) -> None:
    status, html, headers = world.page(world.identifier)
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    assert html.xpath("//meta[@name='viewport']/@content") == ["width=device-width,initial-scale=1"]
    assert html.xpath("//script/@src") == ["/static/public.js"] and not html.xpath("//script[not(@src)]")
    assert not html.xpath("//*[@style]") and not html.xpath("//style")  # CSP: no inline style either

    assert html.xpath("//header[@id='status']/@data-status") == ["issued"]
    assert _text(html, "#status").startswith("有效 valid 药品生产许可证")
    assert "status-ok" in html.xpath("//header[@id='status']/@class")[0]
    assert not html.xpath("//*[@id='version-banner']")
    summary = _text(html, "section.summary")
    number = world.issued.detail.info.number
    assert number is not None and HOLDER in summary and number in summary and world.identifier in summary

    page = lxml.html.tostring(html, encoding="unicode")
    for clear in (LEGAL_ID, PHONE):
        assert clear not in page  # the sensitive values never reach the public page
    assert masked("legal_representative_id_number", LEGAL_ID) in page
    assert masked("contact_phone", PHONE) in page
    assert page.count("已脱敏") == 2

    sites = _text(html, "section.list")
    assert "生产车间 Workshops" in sites and "固体制剂车间" in sites and "片剂生产线一" in sites
    contract = html.xpath("//section[@data-field='contract_manufacturing']")[0]
    assert "受托" in _text(contract, "ol.items") and "宜昌峡江制药股份有限公司" in _text(contract, "ol.items")
    history = html.xpath("//ol[@class='history']/li/@data-action")
    assert history[-1:] == ["issue"] or history[:1] == ["issue"]
    assert html.xpath("//section[@id='seal']/@data-indication") == ["PASSED"]
    assert html.xpath("//section[contains(@class,'downloads')]//a/@href") == [
        f"/v/{world.identifier}/original.pdf",
        f"/v/{world.identifier}/duplicate.pdf",
    ]
    panel = html.xpath("//section[@id='offline-check']")[0]
    assert panel.get("data-record") == f"/api/v1/public/licenses/{world.identifier}"
    assert panel.get("data-keys") == "/qr-keys.json" and panel.get("data-identifier") == world.identifier


def test_static_files_of_the_page(world: World) -> None:
    for name, media_type in (("public.js", "text/javascript"), ("qr-verify.js", "text/javascript")):
        response = world.client.get(f"/static/{name}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(media_type)
    script = world.client.get("/static/public.js").text
    assert 'from "/static/qr-verify.js"' in script and "localStorage" in script
    assert world.client.get("/static/public.css").headers["content-type"].startswith("text/css")
    assert world.client.get("/static/nothing.js").status_code == 404


def test_json_record_carries_a_fresh_payload_verified_by_cryptography(world: World) -> None:
    record = world.record(world.identifier)
    assert (record["status"], record["identifier"], record["scanned_identifier"]) == (
        "issued",
        world.identifier,
        world.identifier,
    )
    assert record["fields"]["legal_representative_id_number"] == masked("legal_representative_id_number", LEGAL_ID)
    jwks = world.client.get("/qr-keys.json")
    assert jwks.status_code == 200 and "max-age" in jwks.headers["cache-control"]
    payload = verify_jws(record["qr_jws"], jwks.json())
    assert (payload.identifier, payload.version, payload.status) == (world.identifier, 1, "issued")
    assert payload.public_digest.hex() == record["public_digest"]
    # the printed QR code's payload verifies too, and names the identifier in its URL
    printed = qr.parse_qr_text(world.issued.qr_text)
    assert printed.url_identifier == world.identifier
    assert verify_jws(printed.jws, jwks.json()).identifier == world.identifier


def test_unknown_and_malformed_identifiers(world: World) -> None:
    status, html, headers = world.page(UNKNOWN)
    assert status == 404 and "未找到该电子证照" in _text(html, "h1.error")
    assert headers["referrer-policy"] == "no-referrer"
    bad_check = world.identifier[:-1] + ("A" if world.identifier[-1] != "A" else "B")
    status, html, _ = world.page(bad_check)
    assert status == 400 and "证照标识有误" in _text(html, "h1.error")
    assert "check character" in _text(html, "p.detail")  # the rule is named
    status, html, _ = world.page("not-an-identifier")
    assert status == 400 and "must start with 1.2.156.3005.2" in _text(html, "p.detail")

    unknown = world.client.get(f"/api/v1/public/licenses/{UNKNOWN}")
    assert unknown.status_code == 404 and "error" in unknown.json()
    malformed = world.client.get(f"/api/v1/public/licenses/{bad_check}")
    assert malformed.status_code == 422
    assert malformed.json()["field"] == "identifier.check" and "check character" in malformed.json()["rule"]


def test_download_is_the_sealed_file_accepted_by_pdfsig(world: World) -> None:
    response = world.client.get(f"/v/{world.identifier}/original.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment;")
    reports = pdfdocs.pdfsig(response.content)
    assert reports and all("Signature Validation: Signature is Valid." in r for r in reports), reports
    assert world.client.get(f"/v/{world.identifier}/duplicate.pdf").status_code == 200
    assert world.client.get(f"/v/{world.identifier}/original.ofd").status_code == 404  # formats: pdf only
    assert world.client.get(f"/v/{world.identifier}/triplicate.pdf").status_code == 404
    assert world.client.get(f"/v/{UNKNOWN}/original.pdf").status_code == 404


def test_non_canonical_identifier_is_redirected_keeping_the_fragment(world: World) -> None:
    response = world.client.get(f"/v/{world.identifier.lower()}", follow_redirects=False)
    assert response.status_code == 301 and response.headers["location"] == f"/v/{world.identifier}"


def test_record_page_rendering_escapes_and_fills_gaps() -> None:
    """record_page on a hand-made record: no registry, every optional part absent, hostile text escaped."""
    record = PublicRecord(
        identifier=str(parse_identifier(UNKNOWN).with_version(3)), scanned_identifier=UNKNOWN, scanned_version=3,
        current_version=4, type_code="drug-production", type_name="药品生产许可证", status="suspended",
        status_text="已暂停", number="鄂20260001", holder_name="<script>alert(1)</script>", valid_from=date(2026, 1, 5),
        valid_until=None, issuer="湖北省药品监督管理局",
        fields={"enterprise_name": "<img src=x onerror=alert(1)>", "production_sites": [{"address": "甲"}]},
        changes=(), seal=None, qr_jws="a.b.c", public_digest="00" * 32,
    )  # fmt: skip
    page = public.record_page(record, drug_type(), [FileFormat.PDF, FileFormat.OFD])
    html = lxml.html.fromstring(page)
    assert html.xpath("//script/@src") == ["/static/public.js"] and not html.xpath("//img")
    assert "<script>alert(1)</script>" in _text(html, "section.summary")  # shown as text, never run
    assert _text(html, "#version-banner").startswith("您扫描的是第3版，当前为第4版")
    assert _text(html, "p.status-word") == "已暂停 suspended"
    assert "长期" in _text(html, "section.summary")  # no end of validity
    assert _text(html, "section.list").endswith("委托/受托生产 Contract manufacturing 无 none")
    assert "生产车间" not in _text(html, "section.list")  # a site without workshops shows none
    assert _text(html, "section.seal").endswith("未核验 not checked")
    assert _text(html, "section.history").endswith("无 none")
    assert html.xpath("count(//section[contains(@class,'downloads')]//a)") == 4
    lapsed = replace(record, status="issued", valid_until=date(2026, 1, 4))  # the expiry job has not run yet
    assert public.shown_status(lapsed, date(2026, 1, 5)) == "expired"
    assert public.shown_status(lapsed, date(2026, 1, 4)) == "issued"
    assert _text(lxml.html.fromstring(public.record_page(lapsed, None, [])), "p.status-word") == "已过期 expired"


def test_head_and_conditional_get(world: World) -> None:
    first = world.client.get(f"/v/{world.identifier}")
    etag = first.headers["etag"]
    again = world.client.get(f"/v/{world.identifier}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    head = world.client.head(f"/v/{world.identifier}")
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag


# --- statuses, versions, history ----------------------------------------------------------------------------


def _act(world: World, issued: IssuedLicense, action: Action, **request: Any) -> None:
    who = ADMIN if action is Action.EXPIRE else OFFICER
    LicenseService(world.platform).transition(who, issued.detail.info.id, action, TransitionRequest(**request))


def _status_of(world: World, identifier: str) -> tuple[str, str, str]:
    status, html, _ = world.page(identifier)
    assert status == 200
    header = html.xpath("//header[@id='status']")[0]
    return header.get("data-status"), _text(html, "p.status-word"), header.get("class")


@pytest.mark.slow
def test_every_status_in_plain_words_and_colour(world: World) -> None:
    issued = issue(world.platform, enterprise_name="湖北状态制药有限公司")
    identifier = issued.detail.info.identifier
    assert identifier is not None
    _act(world, issued, Action.SUSPEND, reason="停产整改")
    assert _status_of(world, identifier) == ("suspended", "已暂停 suspended", "status status-warn")
    assert world.record(identifier)["status"] == "suspended"
    _act(world, issued, Action.RESUME, reason="整改完成")
    assert _status_of(world, identifier)[:2] == ("issued", "有效 valid")
    _act(world, issued, Action.REVOKE, reason="以欺骗手段取得许可")
    assert _status_of(world, identifier) == ("revoked", "已撤销 revoked", "status status-bad")
    record = world.record(identifier)
    live = verify_jws(record["qr_jws"], world.client.get("/qr-keys.json").json())
    assert (record["status"], live.status) == ("revoked", "revoked")  # the fresh payload says revoked
    history = lxml.html.fromstring(world.client.get(f"/v/{identifier}").content).xpath("//ol/li/@data-action")
    assert isinstance(history, list) and {"issue", "suspend", "resume", "revoke"} <= {str(a) for a in history}

    cancelled = issue(world.platform, enterprise_name="湖北注销制药有限公司")
    assert cancelled.detail.info.identifier is not None
    _act(world, cancelled, Action.CANCEL, ground="own_request", reason="企业申请注销")
    assert _status_of(world, cancelled.detail.info.identifier) == ("cancelled", "已注销 cancelled", "status status-off")

    expiring = issue(world.platform, enterprise_name="湖北过期制药有限公司")
    valid_until = expiring.detail.info.valid_until
    assert expiring.detail.info.identifier is not None and valid_until is not None
    _act(world, expiring, Action.EXPIRE, today=date(valid_until.year + 1, 1, 1))  # this license only
    assert _status_of(world, expiring.detail.info.identifier) == ("expired", "已过期 expired", "status status-off")


@pytest.mark.slow
def test_a_change_shows_new_data_at_the_old_identifier_with_a_banner(world: World) -> None:
    issued = issue(world.platform, enterprise_name="湖北变更制药有限公司")
    first = issued.detail.info.identifier
    assert first is not None
    new_data = drug_application(enterprise_name="湖北变更制药有限公司", enterprise_head="钱新任")
    _act(world, issued, Action.CHANGE, data=new_data, reason="企业负责人变更")
    status, html, _ = world.page(first)
    assert status == 200
    assert _text(html, "#version-banner").startswith("您扫描的是第1版，当前为第2版")
    assert "钱新任" in _text(html, "main") and "刘海涛" not in _text(html, "section.card")
    record = world.record(first)
    assert (record["scanned_version"], record["current_version"]) == (1, 2)
    current = record["identifier"]
    assert current != first and parse_identifier(current).version == 2
    status, html, _ = world.page(current)
    assert status == 200 and not html.xpath("//*[@id='version-banner']")
    change = html.xpath("//ol[@class='history']/li[@data-action='change']")
    change_text = " ".join(" ".join(change[0].itertext()).split()) if change else ""
    assert "变更 changed · 第2版 v2" in change_text and "企业负责人 Head of enterprise" in change_text
    # the download at the old identifier is the current version's file
    old, new = (world.client.get(f"/v/{i}/original.pdf").content for i in (first, current))
    assert old == new


# --- the page cache -----------------------------------------------------------------------------------------


def test_page_cache_serves_without_the_registry_until_revalidation(world: World) -> None:
    cache = PublicPages(world.platform, revalidate_after=3600.0)
    world.platform.memo[("public-pages",)] = cache
    try:
        first = world.client.get(f"/v/{world.identifier}")
        assert cache.builds == 1
        for _ in range(5):
            assert world.client.get(f"/v/{world.identifier}").content == first.content
        world.client.get(f"/api/v1/public/licenses/{world.identifier}")
        assert cache.builds == 1  # page and JSON are built together, once
        cache.forget([world.identifier])
        world.client.get(f"/v/{world.identifier}")
        assert cache.builds == 2
        cache.revalidate_after = 0.0
        world.client.get(f"/v/{world.identifier}")
        assert cache.builds == 3  # an old entry is rebuilt
    finally:
        world.platform.memo[("public-pages",)] = PublicPages(world.platform, revalidate_after=0.0)


def test_cache_is_bounded_and_keeps_unknown_identifiers_out_of_the_registry(world: World) -> None:
    cache = PublicPages(world.platform, revalidate_after=3600.0, max_entries=2)
    world.platform.memo[("public-pages",)] = cache
    try:
        unknowns = [str(parse_identifier(UNKNOWN).with_version(v)) for v in (1, 2, 3)]
        for identifier in unknowns:
            assert world.client.get(f"/v/{identifier}").status_code == 404
        assert cache.cached(unknowns[0], 0.0) is None and cache.cached(unknowns[2], 0.0) is not None
        assert cache.builds == 0  # not-found answers are cached but count no record build
    finally:
        world.platform.memo[("public-pages",)] = PublicPages(world.platform, revalidate_after=0.0)


# --- /verify ------------------------------------------------------------------------------------------------


def _upload(client: TestClient, content: bytes, name: str = "license.pdf") -> Any:
    return client.post("/verify", files={"file": (name, content, "application/pdf")})


def test_verify_page_reports_the_seal_of_a_downloaded_license(world: World) -> None:
    form = world.client.get("/verify")
    assert form.status_code == 200
    html = lxml.html.fromstring(form.content)
    assert html.xpath("//form/@action") == ["/verify"] and html.xpath("//form/@enctype") == ["multipart/form-data"]
    assert "20 MiB" in _text(html, "p.limits")
    pdf = world.client.get(f"/v/{world.identifier}/original.pdf").content
    world.platform.memo[("public-upload-limiter",)] = UploadLimiter()
    report = _upload(world.client, pdf)
    assert report.status_code == 200 and "PASSED" in report.text and "license.pdf" in report.text
    assert "script-src" not in report.headers["content-security-policy"]  # no script may run on the report
    tampered = bytearray(pdf)
    position = pdf.index(b"/MediaBox") + 2
    tampered[position] ^= 0x20
    assert "FAILED" in _upload(world.client, bytes(tampered)).text
    rejected = _upload(world.client, b"plain text, not a signed file", "note.txt")
    assert rejected.status_code == 422 and "核验电子证照文件" in rejected.text


def test_verify_size_and_rate_limits(world: World) -> None:
    world.platform.memo[("public-upload-limiter",)] = UploadLimiter(per_minute=1)
    too_big = _upload(world.client, b"%PDF-1.7\n" + b"0" * (public.PUBLIC_UPLOAD_BYTES + 1))
    assert too_big.status_code == 413 and "20 MiB" in too_big.text
    world.platform.memo[("public-upload-limiter",)] = UploadLimiter(per_minute=1)
    assert _upload(world.client, b"not a pdf").status_code == 422
    limited = _upload(world.client, b"not a pdf")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
    world.platform.memo[("public-upload-limiter",)] = UploadLimiter()


def test_upload_limiter_window() -> None:
    limiter = UploadLimiter(per_minute=2)
    assert limiter.allow("a", 0.0) and limiter.allow("a", 1.0) and not limiter.allow("a", 2.0)
    assert limiter.allow("b", 2.0)  # per address
    assert limiter.allow("a", 60.5)  # the first upload left the window


def test_page_helpers_escape_everything() -> None:
    assert public.twin("<b>", "&") == '&lt;b&gt; <span class="en" lang="en">&amp;</span>'
    reply = public.error_page(404, ("<x>", "<y>"), "<script>")
    assert b"<script>" not in reply.body and b"&lt;script&gt;" in reply.body
