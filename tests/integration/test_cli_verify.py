"""`certseal verify`, run as a user runs it: a CMS made by the OpenSSL CLI with a key and certificate the certseal
command issued, checked by OpenSSL first; exit codes 0 / 1 / 2, --json, --content and --html."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import html as lxml_html

from tests.integration.test_cli import Deployment, openssl

CONTENT = "处方 2025-0042: 阿莫西林 0.5 g\n".encode()


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Deployment, Path, Path]:
    """A deployment with a root CA, a signer certificate with an exported key, and a detached OpenSSL CMS (shared:
    the tests only read it)."""
    d = Deployment(tmp_path_factory.mktemp("cli-verify"))
    d.run("init")
    d.run("ca", "create", "root", "--alg", "p256")
    cert, key = d.root / "signer.pem", d.root / "signer.key"
    d.run("cert", "issue", "--ca", "root", "--profile", "person", "--subject", "CN=Dr Zhao,C=CN",
          "--generate-key", "p256", "--key-out", str(key), "--out", str(cert))  # fmt: skip
    content = d.file("record.txt", CONTENT)
    signature = d.root / "record.p7s"
    made = openssl("cms", "-sign", "-binary", "-outform", "DER", "-md", "sha256", "-signer", cert, "-inkey", key,
                   "-in", content, "-out", signature)  # fmt: skip
    assert made.returncode == 0, made.stderr
    d.run("ca", "cert", "root", "--out", str(d.root / "root.pem"))
    checked = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", signature, "-content", content,
                      "-CAfile", d.root / "root.pem", "-purpose", "any", "-out", d.root / "out.bin")  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    return d, signature, content


def test_passed_signature_exits_0_with_json_and_html(signed: tuple[Deployment, Path, Path]) -> None:
    d, signature, content = signed
    page = d.root / "report.html"
    result = d.run("verify", str(signature), "--content", str(content), "--json", "--html", str(page))
    report = json.loads(result.stdout)
    assert report["indication"] == "PASSED" and report["kind"] == "cms" and report["filename"] == "record.p7s"
    assert report["signatures"][0]["signer"]["subject"].endswith("CN=Dr Zhao")
    tree = lxml_html.document_fromstring(page.read_text(encoding="utf-8"))
    assert "PASSED" in tree.text_content() and "Dr Zhao" in tree.text_content()

    summary = d.run("verify", str(signature), "--content", str(content)).stdout
    assert "PASSED" in summary and "1 of 1 signature(s) PASSED" in summary


def test_changed_content_exits_1(signed: tuple[Deployment, Path, Path]) -> None:
    d, signature, _ = signed
    other = d.file("changed.txt", CONTENT.replace(b"0.5", b"5.0"))
    assert openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", signature, "-content", other,
                   "-noverify", "-out", d.root / "o.bin").returncode != 0  # fmt: skip
    result = d.run("verify", str(signature), "--content", str(other), ok=False)
    assert result.returncode == 1
    assert "FAILED" in result.stdout and "HASH_FAILURE" in result.stdout


def test_bad_input_exits_2(signed: tuple[Deployment, Path, Path]) -> None:
    d, _, _ = signed
    garbage = d.file("garbage.bin", b"not a signature at all")
    result = d.run("verify", str(garbage), ok=False)
    assert result.returncode == 2 and "not a PDF, OFD or CMS" in result.stderr
    missing = d.run("verify", str(d.root / "missing.p7s"), ok=False)
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_not_initialised_deployment_exits_2(tmp_path: Path) -> None:
    d = Deployment(tmp_path)
    signature = d.file("x.p7s", b"\x30\x03\x02\x01\x01")
    result = d.run("verify", str(signature), ok=False)
    assert result.returncode == 2 and "certseal init" in result.stderr
