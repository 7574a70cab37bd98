"""`certseal license types|issue|show|transition|search|file|verify-qr` run as a user runs them (subprocess) on a
deployment prepared with demo CAs, the regulator's license seals and a QR key.

Outside checkers: poppler's pdfsig accepts the written PDFs; pdftoppm renders the issued PDF's page whose QR code
`verify-qr` then decodes and checks against the deployment's own keys (no --jwks) and against an exported JWK Set.
Bad input exits 2 naming the field and the rule, with nothing stored."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from certseal.config import Settings
from certseal.services.platform import Platform
from certseal.store.models import AuditEvent
from tests import pdfdocs
from tests.conftest import TEST_AUDIT_KEY, TEST_KEK
from tests.integration.test_api_licenses import (
    LEGAL_ID,
    PHONE,
    USCC_A,
    drug_json,
    license_row_counts,
    pdfsig_valid,
    registry_platform,
)
from tests.integration.test_cli import CERTSEAL

pytestmark = pytest.mark.slow
ACTOR_NAME = "officer-cli"


@dataclass
class Cli:
    root: Path
    home: Path
    env: dict[str, str]

    def run(self, *args: str | Path, code: int = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*CERTSEAL, *map(str, args)], env=self.env, capture_output=True, text=True, timeout=180, cwd=self.root
        )
        assert result.returncode == code, f"certseal {args} → {result.returncode}:\n{result.stdout}\n{result.stderr}"
        return result

    def json(self, *args: str | Path) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def file(self, name: str, content: Any) -> Path:
        path = self.root / name
        path.write_text(json.dumps(content, ensure_ascii=False), "utf-8")
        return path

    def platform(self) -> Platform:
        return Platform(Settings(home=self.home, kek=TEST_KEK, audit_key=TEST_AUDIT_KEY))  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    root = tmp_path_factory.mktemp("cli-license")
    registry_platform(root / "var").close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSEAL_")}
    env.update(
        {
            "CERTSEAL_HOME": str(root / "var"),
            "CERTSEAL_KEK": TEST_KEK,
            "CERTSEAL_AUDIT_KEY": TEST_AUDIT_KEY,
            "CERTSEAL_ACTOR": ACTOR_NAME,
            "XDG_CONFIG_HOME": str(root / "cfg"),
            "COLUMNS": "200",
        }
    )
    yield Cli(root, root / "var", env)


@pytest.fixture(scope="module")
def issued(cli: Cli) -> dict[str, Any]:
    """A Drug Production License issued with `certseal license issue`, its files written to out/."""
    data = cli.file("drug.json", drug_json())
    result: dict[str, Any] = cli.json(
        "license", "issue", "--type", "drug-production", "--data", data, "--division", "420111",
        "--out-dir", cli.root / "out",
    )  # fmt: skip
    return result


def test_types_lists_the_built_in_types(cli: Cli) -> None:
    table = cli.run("license", "types").stdout
    for code in ("drug-production", "pharmacist-registration", "drug-distribution", "medical-device-production"):
        assert code in table
    assert "药品生产许可证" in table and "external" in table
    listed = {t["code"]: t for t in cli.json("license", "types")}
    assert listed["drug-production"]["number_mode"] == "pattern" and "uscc" in listed["drug-production"]["fields"]


def test_issue_writes_sealed_files_that_pdfsig_accepts(cli: Cli, issued: dict[str, Any]) -> None:
    info = issued["license"]["info"]
    assert info["status"] == "issued" and info["number"].startswith("鄂") and info["division_code"] == "420111"
    assert issued["qr_text"].split("#")[0].endswith(f"/v/{info['identifier']}")
    written = [Path(p) for p in issued["written"]]
    pdfs = [p for p in written if p.suffix == ".pdf"]
    assert pdfs and all(p.parent == cli.root / "out" for p in written)
    for pdf in pdfs:
        pdfsig_valid(pdf.read_bytes())
    history = [h["action"] for h in issued["license"]["history"]]
    assert history[-3:] == ["submit", "approve", "issue"]
    assert {h["actor"] for h in issued["license"]["history"]} == {ACTOR_NAME}


def test_show_masks_unless_revealed_and_the_reveal_is_audited(cli: Cli, issued: dict[str, Any]) -> None:
    number = issued["license"]["info"]["number"]
    table = cli.run("license", "show", number).stdout
    assert number in table and "联系电话" in table and PHONE not in table and LEGAL_ID not in table
    revealed = cli.json("license", "show", number, "--reveal")
    assert revealed["audience"] == "officer" and revealed["fields"]["contact_phone"] == PHONE
    platform = cli.platform()
    try:
        with platform.db.reading() as session:
            events = list(session.scalars(select(AuditEvent).where(AuditEvent.actor == ACTOR_NAME)))
            assert platform.audit.verify(session).ok
    finally:
        platform.close()
    assert {e.source for e in events} == {f"cli@{socket.gethostname()}"}
    recorded = json.dumps([e.after for e in events], ensure_ascii=False)
    assert PHONE not in recorded and LEGAL_ID not in recorded
    reveals = [e.after for e in events if e.action == "reveal"]
    assert reveals and "contact_phone" in json.dumps(reveals)
    assert "no license has" in cli.run("license", "show", "no-such-license", code=1).stderr


def test_transition_search_and_file(cli: Cli, issued: dict[str, Any]) -> None:
    number = issued["license"]["info"]["number"]
    suspended = cli.run("license", "transition", number, "suspend", "--reason", "停产整改").stdout
    assert "suspended" in suspended
    no_reason = cli.run("license", "transition", number, "revoke", code=2)
    assert "reason" in no_reason.stderr
    assert cli.json("license", "transition", number, "resume")["info"]["status"] == "issued"
    found = cli.json("license", "search", "--holder-code", USCC_A, "--type", "drug-production")
    assert number in {item["number"] for item in found["items"]}
    assert "1 found" in cli.run("license", "search", "--number", number).stdout
    duplicate = cli.root / "duplicate.pdf"
    cli.run("license", "file", number, "--copy", "duplicate", "--format", "pdf", "--out", duplicate)
    pdfsig_valid(duplicate.read_bytes())


def test_verify_qr_of_the_issued_code_as_image_and_as_text(cli: Cli, issued: dict[str, Any]) -> None:
    original = next(Path(p) for p in issued["written"] if p.endswith(".pdf") and "original" in Path(p).name)
    subprocess.run(
        ["pdftoppm", "-r", "200", "-png", "-f", "1", "-l", "1", "-singlefile", str(original), str(cli.root / "page")],
        check=True,
        capture_output=True,
    )
    page = cli.root / "page.png"
    checked = cli.json("license", "verify-qr", page)
    identifier = issued["license"]["info"]["identifier"]
    assert checked["valid"] is True and checked["payload"]["identifier"] == identifier
    assert checked["payload"]["holder_code"] == USCC_A
    qr_text = issued["qr_text"]
    assert f"identifier  {identifier}" in cli.run("license", "verify-qr", qr_text).stdout
    jwks = cli.root / "qr-keys.json"
    cli.run("license", "qr-key", "show", "--jwks-out", jwks)
    assert cli.json("license", "verify-qr", qr_text, "--jwks", jwks)["valid"] is True
    url, jws = qr_text.split("#", 1)
    head, body, signature = jws.split(".")
    tampered = f"{url}#{head}.{body}.{signature[:-2]}{'AA' if not signature.endswith('AA') else 'BB'}"
    assert "FAILED" in cli.run("license", "verify-qr", tampered, code=1).stderr
    assert pdfdocs.pdfsig(original.read_bytes())  # the page rendered is from a sealed file
    cli.run("license", "verify-qr", "not-a-jws", code=2)


def test_bad_input_exits_2_naming_field_and_rule_and_stores_nothing(cli: Cli) -> None:
    platform = cli.platform()
    try:
        before = license_row_counts(platform)
    finally:
        platform.close()
    bad_uscc = cli.file("bad-uscc.json", {**drug_json(), "uscc": USCC_A[:-1] + "R"})
    not_object = cli.file("list.json", [drug_json()])
    (cli.root / "broken.json").write_text('{"uscc": ', "utf-8")
    issue = ["license", "issue", "--type", "drug-production", "--data"]
    cases: list[tuple[list[str | Path], str]] = [
        ([*issue, bad_uscc], "uscc: 统一社会信用代码 check character"),
        ([*issue, not_object], "--data:"),
        ([*issue, cli.root / "broken.json"], "not valid UTF-8 JSON"),
        ([*issue, cli.root / "absent.json"], "--data: cannot read"),
        ([*issue, bad_uscc, "--today", "July 1"], "--today: must be"),
        (["license", "transition", "x", "fly"], "ACTION: must be one of"),
        (["license", "file", "x", "--format", "docx", "--out", cli.root / "x"], "--format: must be pdf or ofd"),
    ]  # fmt: skip
    for args, message in cases:
        result = cli.run(*args, code=2)
        assert message in " ".join(result.stderr.split()), (args, result.stderr)
    platform = cli.platform()
    try:
        assert license_row_counts(platform) == before
    finally:
        platform.close()
