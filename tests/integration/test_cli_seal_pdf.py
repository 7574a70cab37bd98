"""`certseal seal pdf`, run as a user runs it (a subprocess on an embedded deployment); pdfsig and qpdf judge."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import pdfdocs
from tests.integration.test_cli import Deployment
from tests.integration.test_pdf_sealing import SEAL_SUBJECT, assert_valid_seals, keyword_pdf

pytestmark = pytest.mark.slow  # a handful of `certseal` processes, about a second each


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """One deployment for the module: CA, a TSA, a seal usable by officer-li (the CLI actor)."""
    d = Deployment(tmp_path_factory.mktemp("cli-seal-pdf"))
    d.run("init")
    d.run("ca", "create", "root", "--alg", "p256")
    d.run("tsa", "setup", "--ca", "root", "--alg", "p256")
    cert = d.root / "seal.pem"
    d.run(
        "cert",
        "issue",
        "--ca",
        "root",
        "--profile",
        "seal",
        "--subject",
        SEAL_SUBJECT,
        "--generate-key",
        "p256",
        "--out",
        str(cert),
    )
    d.run("seal", "create", "official", "--cert", str(cert), "--image", str(d.file("seal.png", pdfdocs.seal_png())))
    d.file("in.pdf", pdfdocs.one_page())
    d.file("keyword.pdf", keyword_pdf("SEALHERE", [(0, 100, 300), (1, 300, 500)]))
    return d


def _seal(d: Deployment, out: str, *args: str, ok: bool = True, source: str = "in.pdf") -> tuple[int, str, Path]:
    result = d.run(
        "seal", "pdf", "--seal", "official", "--in", str(d.root / source), "--out", str(d.root / out), *args, ok=ok
    )
    return result.returncode, result.stdout + result.stderr, d.root / out


def test_page_and_point(deployment: Deployment) -> None:
    code, output, out = _seal(deployment, "point.pdf", "--page", "1", "--x", "300", "--y", "200")
    assert code == 0 and "B-B" in output
    assert_valid_seals(out.read_bytes(), 1)


def test_keyword_at_b_lt_then_riding(deployment: Deployment) -> None:
    code, output, out = _seal(deployment, "kw.pdf", "--keyword", "SEALHERE", "--level", "B-LT", source="keyword.pdf")
    assert code == 0 and "B-LT" in output and "2 widget(s)" in output
    assert_valid_seals(out.read_bytes(), 1, last_covers_document=False)
    code, output, twice = _seal(deployment, "twice.pdf", "--riding", source="kw.pdf")
    assert code == 0
    assert_valid_seals(twice.read_bytes(), 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "exactly one placement"),
        (("--keyword", "X", "--riding"), "exactly one placement"),
        (("--page", "1", "--x", "5"), "go together"),
        (("--page", "3", "--x", "5", "--y", "5"), "page"),
        (("--keyword", "乙方盖章"), "does not occur"),
        (("--riding", "--level", "B-LTA"), "level"),
    ],
)
def test_bad_input_exits_2(deployment: Deployment, args: tuple[str, ...], message: str) -> None:
    code, output, out = _seal(deployment, "bad.pdf", *args, ok=False)
    assert code == 2 and message in output, output
    assert not out.exists()


def test_malformed_pdf_exits_2(deployment: Deployment) -> None:
    deployment.file("broken.pdf", b"%PDF-1.7\nthis is not a PDF body")
    code, output, _ = _seal(deployment, "x.pdf", "--riding", ok=False, source="broken.pdf")
    assert code == 2 and "pdf:" in output


def test_someone_else_may_not_use_the_seal(deployment: Deployment) -> None:
    result = deployment.run(
        "seal",
        "pdf",
        "--seal",
        "official",
        "--in",
        str(deployment.root / "in.pdf"),
        "--out",
        str(deployment.root / "other.pdf"),
        "--riding",
        env={"CERTSEAL_ACTOR": "mallory"},
        ok=False,
    )
    assert result.returncode == 1 and "mallory" in result.stderr and "official" in result.stderr
    assert not (deployment.root / "other.pdf").exists()


def test_unknown_seal_exits_1(deployment: Deployment) -> None:
    result = deployment.run(
        "seal",
        "pdf",
        "--seal",
        "nope",
        "--in",
        str(deployment.root / "in.pdf"),
        "--out",
        str(deployment.root / "nope.pdf"),
        "--riding",
        ok=False,
    )
    assert result.returncode == 1 and "nope" in result.stderr


def test_help_explains_the_coordinates(deployment: Deployment) -> None:
    text = deployment.run("seal", "pdf", "--help").stdout
    assert "bottom-left" in text and "1-based" in text and "B-LT" in text
