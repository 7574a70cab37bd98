"""POST /api/v1/verify: JSON and HTML reports, API key and VERIFY permission, size limit, bad input never a 500.

The HTML page is parsed by lxml (an HTML parser we did not write) to check it is well formed and that text taken
from the file is escaped, not interpreted.
"""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient
from lxml import html as lxml_html

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.signer import CertifiedSigner
from certseal.services.apikeys import ApiKeyService
from certseal.services.ca import CaService
from certseal.services.keys import KeyService
from certseal.services.platform import Platform
from certseal.services.tsa import TsaService
from certseal.signing import cms
from certseal.signing.pdf.pades import producer_for
from certseal.signing.pdf.sealing import Placement, SealImage, seal
from certseal.web.app import create_app
from certseal.web.routes import api_verify
from tests import pdfdocs
from tests.conftest import ACTOR

CONTENT = b"dispensing record 42\n"
HOSTILE_CN = "<script>alert('x')</script> & Co"


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]
    signer: CertifiedSigner
    root_der: bytes

    def post(
        self, files: dict[str, tuple[str, bytes]] | None, token: str | None = "admin", query: str = ""
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        return self.client.post(f"/api/v1/verify{query}", files=files, headers=headers)


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> Iterator[Api]:
    platform = Platform(make_settings())
    platform.db.migrate()
    ca = CaService(platform)
    ca.create_ca("root", KeyAlgorithm.P256, ACTOR)
    TsaService(platform).setup("root", KeyAlgorithm.P256, ACTOR)
    issued = ca.issue("root", "seal", ACTOR, subject=f"CN={HOSTILE_CN},O=Test Org", generate=KeyAlgorithm.P256)
    assert issued.key_label is not None
    signer = CertifiedSigner(KeyService(platform).signer(issued.key_label), issued.certificate_der)
    keys = ApiKeyService(platform)
    tokens = {role: keys.create(f"key-{role}", role, ACTOR)[1] for role in ("admin", "seal-user", "auditor")}
    with TestClient(create_app(platform)) as client:
        yield Api(client, tokens, signer, ca.get_ca("root").certificate_der)
    platform.close()


def _sealed_pdf(api: Api) -> bytes:
    producer = producer_for(api.signer, chain=[api.root_der])
    return seal(
        pdfdocs.one_page(), [Placement(0, (100, 100, 200, 200))], SealImage(pdfdocs.seal_png(), 40, 40), producer
    )


def test_pdf_upload_gives_json_and_html(api: Api) -> None:
    pdf = _sealed_pdf(api)
    response = api.post({"file": ("license.pdf", pdf)}, token="seal-user")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["indication"] == "PASSED" and report["kind"] == "pdf" and report["filename"] == "license.pdf"
    (signature,) = report["signatures"]
    assert signature["format"] == "PAdES-B-B" and signature["sub_indication"] is None
    assert signature["signer"]["subject"].endswith(HOSTILE_CN)

    page = api.post({"file": ("license.pdf", pdf)}, query="?format=html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    tree = lxml_html.document_fromstring(page.text)
    assert tree.xpath("//script") == [], "text from the certificate must be escaped, not run"
    assert HOSTILE_CN in tree.text_content() and "PASSED" in tree.text_content()
    assert tree.findtext(".//title").startswith("Verification report")


def test_detached_cms_with_and_without_content(api: Api) -> None:
    signature = cms.sign(api.signer, CONTENT, detached=True)
    with_content = api.post({"file": ("sig.p7s", signature), "content": ("record.txt", CONTENT)})
    assert with_content.json()["indication"] == "PASSED"
    changed = api.post({"file": ("sig.p7s", signature), "content": ("record.txt", CONTENT + b"!")})
    assert changed.json()["signatures"][0]["sub_indication"] == "HASH_FAILURE"
    without = api.post({"file": ("sig.p7s", signature)})
    assert without.status_code == 200
    assert without.json()["signatures"][0]["sub_indication"] == "SIGNED_DATA_NOT_FOUND"


def test_api_key_and_verify_permission_are_required(api: Api) -> None:
    files = {"file": ("sig.p7s", cms.sign(api.signer, CONTENT, detached=False))}
    missing = api.post(files, token=None)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    forbidden = api.post(files, token="auditor")
    assert forbidden.status_code == 403 and "verify" in forbidden.json()["error"]
    assert api.post(files, token="seal-user").status_code == 200


def test_oversize_upload_is_413(api: Api) -> None:
    big = b"%PDF-1.7\n" + b"0" * api_verify.MAX_UPLOAD_BYTES
    response = api.post({"file": ("big.pdf", big)})
    assert response.status_code == 413
    assert "at most 50 MiB" in response.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        boundary = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n'
        yield boundary
        for _ in range(51):
            yield b"0" * (1024 * 1024)

    headers = {"Authorization": f"Bearer {api.tokens['admin']}", "Content-Type": "multipart/form-data; boundary=x"}
    streamed = api.client.post("/api/v1/verify", content=chunks(), headers=headers)
    assert streamed.status_code == 413


def _bad_inputs() -> list[tuple[str, bytes]]:
    rng = random.Random(7)
    pdf = pdfdocs.one_page()
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("readme.txt", "not an OFD")
    return [
        ("empty.bin", b""),
        ("text.txt", b"just some text"),
        ("random.bin", rng.randbytes(2048)),
        ("header-only.pdf", b"%PDF-1.7\n%%EOF\n"),
        ("truncated.pdf", pdf[: len(pdf) // 2]),
        ("not-ofd.zip", zipped.getvalue()),
        ("der-garbage.p7s", b"\x30\x82\x01\x00" + rng.randbytes(256)),
    ]


@pytest.mark.parametrize(("name", "data"), _bad_inputs(), ids=lambda v: v if isinstance(v, str) else "")
def test_garbage_is_422_never_500(api: Api, name: str, data: bytes) -> None:
    response = api.post({"file": (name, data)})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] in ("file", "pdf") and body["rule"]


def test_damaged_signed_files_never_500(api: Api) -> None:
    """Bit flips and truncations of a sealed PDF and a CMS: a report (200) or a clear 422, nothing else."""
    rng = random.Random(11)
    samples = [_sealed_pdf(api), cms.sign(api.signer, CONTENT, detached=False)]
    for sample in samples:
        for _ in range(15):
            damaged = bytearray(sample)
            for _ in range(3):
                damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
            cut = bytes(damaged[: rng.randrange(len(damaged) // 2, len(damaged) + 1)])
            for data in (bytes(damaged), cut):
                status = api.post({"file": ("damaged.bin", data)}).status_code
                assert status in (200, 422)


def test_malformed_ofd_is_422(api: Api) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("OFD.xml", "<ofd:OFD xmlns:ofd='http://www.ofdspec.org/2016'/>")
    response = api.post({"file": ("doc.ofd", buffer.getvalue())})
    assert response.status_code == 422 and "OFD" in response.json()["error"]


def test_missing_file_field_and_bad_format(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.tokens['admin']}"}
    no_file = api.client.post("/api/v1/verify", files={"other": ("x", b"y")}, headers=headers)
    assert no_file.status_code == 422 and no_file.json()["field"] == "file"
    not_multipart = api.client.post("/api/v1/verify", content=b"%PDF-1.7", headers=headers)
    assert not_multipart.status_code == 422
    bad_format = api.post({"file": ("a.p7s", cms.sign(api.signer, CONTENT))}, query="?format=xml")
    assert bad_format.status_code == 422
