"""POST /api/v1/seals/{name}/pdf: every role, the seal's users, placements, levels, bad input (nothing stored),
the size limit, OpenAPI; the PDFs that come back are checked by pdfsig and qpdf."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from certseal.config import Settings
from certseal.services.apikeys import ROLES, Permission
from certseal.services.platform import Platform
from certseal.store.models import AuditEvent
from certseal.web.routes import api_pdf
from tests import pdfdocs
from tests.integration.test_pdf_sealing import assert_valid_seals, keyword_pdf, make_seal, setup_tsa
from tests.sealing_api import USERS, SealingApi, migrated_platform


class Api(SealingApi):
    def __init__(self, platform: Platform) -> None:
        self.seal = make_seal(platform, users=USERS)
        super().__init__(platform)

    def seal_pdf(
        self, role: str | None = "seal-user", pdf: bytes | None = None, name: str = "official", **fields: Any
    ) -> httpx.Response:
        data = fields or {"page": "1", "x": "300", "y": "300"}
        file = ("in.pdf", pdf if pdf is not None else pdfdocs.one_page(), "application/pdf")
        return self.post_file(f"/api/v1/seals/{name}/pdf", role, file, data)

    def events(self) -> int:
        with self.platform.db.reading() as session:
            return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> Iterator[Api]:
    with migrated_platform(make_settings) as platform:
        yield Api(platform)


def test_seal_a_pdf(api: Api) -> None:
    response = api.seal_pdf()
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-pades-level"] == "B-B" and response.headers["x-signature-field"]
    assert_valid_seals(response.content, 1)


def test_on_both_databases(platform: Platform) -> None:
    api = Api(platform)
    response = api.seal_pdf(pdf=keyword_pdf("SEALHERE", [(0, 100, 100), (1, 200, 200)]), keyword="SEALHERE")
    assert response.status_code == 200, response.text
    assert_valid_seals(response.content, 1)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_role(api: Api, role: str) -> None:
    response = api.seal_pdf(role)
    if Permission.SEAL_USE in ROLES[role]:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 403 and "seal:use" in response.json()["error"]


def test_without_or_with_a_bad_key(api: Api) -> None:
    assert api.seal_pdf(None).status_code == 401
    api.tokens["forged"] = "cs_0000000000000000_" + "A" * 43
    assert api.seal_pdf("forged").status_code == 401


def test_a_key_that_is_not_a_user_of_the_seal(api: Api) -> None:
    before = api.events()
    response = api.seal_pdf("outsider")
    assert response.status_code == 403 and "api:outsider" in response.json()["error"]
    assert api.events() == before


def test_unknown_seal(api: Api) -> None:
    response = api.seal_pdf(name="nope")
    assert response.status_code == 404 and "nope" in response.json()["error"]


def test_riding_and_b_t(api: Api) -> None:
    setup_tsa(api.platform)
    response = api.seal_pdf(pdf=pdfdocs.twenty_pages(), riding="true", level="B-T")
    assert response.status_code == 200, response.text
    assert response.headers["x-pades-level"] == "B-T"
    assert_valid_seals(response.content, 1)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"page": "1", "x": "10"}, "placement"),
        ({"keyword": "SEALHERE", "riding": "true"}, "placement"),
        ({}, "placement"),
        ({"page": "2", "x": "10", "y": "10"}, "page"),
        ({"keyword": "乙方盖章"}, "keyword"),
        ({"page": "1", "x": "10", "y": "10", "level": "B-LTA"}, "level"),
        ({"page": "1", "x": "10", "y": "10", "level": "B-T"}, "level"),  # no TSA set up
    ],
)
def test_bad_input_is_422_and_nothing_is_recorded(api: Api, fields: dict[str, str], field: str) -> None:
    before = api.events()
    response = api.client.post(
        "/api/v1/seals/official/pdf",
        headers={"Authorization": f"Bearer {api.tokens['seal-user']}"},
        data=fields,
        files={"file": ("in.pdf", pdfdocs.one_page(), "application/pdf")},
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == field and body["rule"], body
    assert api.events() == before


@pytest.mark.parametrize("data", [b"", b"%PDF-1.4 garbage", pdfdocs.one_page()[:-200], b"\x00" * 1000])
def test_malformed_pdf_is_422_and_nothing_is_recorded(api: Api, data: bytes) -> None:
    before = api.events()
    response = api.seal_pdf(pdf=data)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "pdf"
    assert api.events() == before


def test_missing_file_is_422(api: Api) -> None:
    response = api.client.post(
        "/api/v1/seals/official/pdf",
        headers={"Authorization": f"Bearer {api.tokens['seal-user']}"},
        data={"page": "1", "x": "1", "y": "1"},
    )
    assert response.status_code == 422


def test_too_large_is_413(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_pdf, "MAX_PDF_BYTES", 1000)
    before = api.events()
    response = api.seal_pdf()
    assert response.status_code == 413 and response.json()["field"] == "file" and "at most" in response.json()["rule"]
    assert api.events() == before


def test_openapi_describes_the_endpoint(api: Api) -> None:
    operation = api.client.get("/openapi.json").json()["paths"]["/api/v1/seals/{name}/pdf"]["post"]
    assert operation["summary"] == "Seal a PDF"
    assert "application/pdf" in operation["responses"]["200"]["content"]
    for status in ("401", "403", "404", "413", "422"):
        assert status in operation["responses"], status
    schema_ref = operation["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    schema = api.client.get("/openapi.json").json()["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert {"file", "page", "x", "y", "keyword", "riding", "level"} <= set(schema["properties"])
