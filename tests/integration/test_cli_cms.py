"""`certseal cms sign`, run as a user runs it (a subprocess on an embedded deployment); `openssl cms -verify`,
`openssl ts -verify` and gmalg judge the signatures, and `certseal verify` must agree (PASSED, exit 0; changed
content FAILED, exit 1)."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from asn1crypto import pem

from tests.integration.test_cli import Deployment
from tests.integration.test_cms_signing import (
    CONTENT,
    gmalg_accepts,
    openssl_cms_accepts,
    openssl_ts_accepts,
    signer_info,
    sm3,
    timestamp_token,
)
from tests.integration.test_pdf_sealing import SEAL_SUBJECT
from tests.pdfdocs import seal_png

pytestmark = pytest.mark.slow  # a dozen `certseal` processes, about a second each


@dataclass
class CmsDeployment:
    d: Deployment
    root: Path  # the P-256 root, which also certifies the TSA
    sm2_certificate: bytes
    before_tsa: subprocess.CompletedProcess[str] | None = field(default=None)


def _seal(d: Deployment, alg: str, name: str) -> Path:
    d.run("ca", "create", f"root-{alg}", "--alg", alg)
    cert = d.root / f"{name}.pem"
    d.run(
        "cert",
        "issue",
        "--ca",
        f"root-{alg}",
        "--profile",
        "seal",
        "--subject",
        SEAL_SUBJECT,
        "--generate-key",
        alg,
        "--out",
        str(cert),
    )
    d.run("seal", "create", name, "--cert", str(cert), "--image", str(d.root / "seal.png"))
    return cert


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> CmsDeployment:
    """P-256 and SM2 seals usable by officer-li (the CLI actor); the TSA is set up after one --timestamp attempt."""
    d = Deployment(tmp_path_factory.mktemp("cli-cms"))
    d.run("init")
    d.file("seal.png", seal_png())
    d.file("content.txt", CONTENT)
    _seal(d, "p256", "official")
    sm2_cert = _seal(d, "sm2", "sm2-seal")
    before_tsa = _sign(d, "no-tsa.p7s", "--in", str(d.root / "content.txt"), "--timestamp", ok=False)
    d.run("tsa", "setup", "--ca", "root-p256", "--alg", "p256")
    root = d.root / "root.pem"
    d.run("ca", "cert", "root-p256", "--out", str(root))
    _, _, sm2_der = pem.unarmor(sm2_cert.read_bytes())
    return CmsDeployment(d, root, sm2_der, before_tsa)


def _sign(
    d: Deployment, out: str, *args: str, seal: str = "official", ok: bool = True
) -> subprocess.CompletedProcess[str]:
    return d.run("cms", "sign", "--seal", seal, "--out", str(d.root / out), *args, ok=ok)


def _verify(d: Deployment, signature: str, content: bytes | None = None) -> subprocess.CompletedProcess[str]:
    args = ["verify", str(d.root / signature)]
    if content is not None:
        args += ["--content", str(d.file("check-content.txt", content))]
    return d.run(*args, ok=False)


def test_file_detached_openssl_and_certseal_verify_agree(deployment: CmsDeployment, tmp_path: Path) -> None:
    d = deployment.d
    result = _sign(d, "detached.p7s", "--in", str(d.root / "content.txt"))
    assert "CAdES-B" in result.stdout and "detached" in result.stdout
    der = (d.root / "detached.p7s").read_bytes()
    checked = openssl_cms_accepts(der, deployment.root, tmp_path, CONTENT)
    assert checked.returncode == 0, checked.stderr

    passed = _verify(d, "detached.p7s", CONTENT)
    assert passed.returncode == 0 and "PASSED" in passed.stdout, passed.stdout + passed.stderr
    changed = CONTENT.replace(b"0042", b"0024")
    assert openssl_cms_accepts(der, deployment.root, tmp_path, changed).returncode != 0
    failed = _verify(d, "detached.p7s", changed)
    assert failed.returncode == 1 and "FAILED" in failed.stdout, failed.stdout + failed.stderr


def test_digest_path(deployment: CmsDeployment, tmp_path: Path) -> None:
    d = deployment.d
    digest = hashlib.sha256(CONTENT).hexdigest()
    _sign(d, "digest.p7s", "--digest", digest, "--digest-alg", "sha256")
    der = (d.root / "digest.p7s").read_bytes()
    checked = openssl_cms_accepts(der, deployment.root, tmp_path, CONTENT)
    assert checked.returncode == 0, checked.stderr
    assert _verify(d, "digest.p7s", CONTENT).returncode == 0
    assert _verify(d, "digest.p7s", CONTENT + b"!").returncode == 1


def test_attached_pem(deployment: CmsDeployment, tmp_path: Path) -> None:
    d = deployment.d
    _sign(d, "attached.pem", "--in", str(d.root / "content.txt"), "--attached", "--pem")
    text = (d.root / "attached.pem").read_bytes()
    assert text.startswith(b"-----BEGIN CMS-----")
    _, _, der = pem.unarmor(text)
    checked = openssl_cms_accepts(der, deployment.root, tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert (tmp_path / "verified.bin").read_bytes() == CONTENT
    passed = _verify(d, "attached.pem")
    assert passed.returncode == 0 and "PASSED" in passed.stdout, passed.stdout + passed.stderr


def test_timestamp(deployment: CmsDeployment, tmp_path: Path) -> None:
    d = deployment.d
    result = _sign(d, "stamped.p7s", "--in", str(d.root / "content.txt"), "--timestamp")
    assert "CAdES-T" in result.stdout
    der = (d.root / "stamped.p7s").read_bytes()
    signature = signer_info(der)["signature"].native
    assert openssl_ts_accepts(timestamp_token(der), hashlib.sha256(signature).digest(), deployment.root, tmp_path)
    assert not openssl_ts_accepts(timestamp_token(der), hashlib.sha256(CONTENT).digest(), deployment.root, tmp_path)
    assert _verify(d, "stamped.p7s", CONTENT).returncode == 0


def test_sm2_digest_checked_by_gmalg(deployment: CmsDeployment) -> None:
    d = deployment.d
    _sign(d, "sm2.p7s", "--digest", sm3(CONTENT).hex(), "--digest-alg", "sm3", seal="sm2-seal")
    der = (d.root / "sm2.p7s").read_bytes()
    assert gmalg_accepts(der, deployment.sm2_certificate, CONTENT)
    assert not gmalg_accepts(der, deployment.sm2_certificate, CONTENT.upper())


def test_no_tsa_exits_2_naming_timestamp_and_the_command(deployment: CmsDeployment) -> None:
    result = deployment.before_tsa
    assert result is not None and result.returncode == 2
    output = " ".join((result.stdout + result.stderr).split())
    assert "timestamp:" in output and "certseal tsa setup" in output, output
    assert not (deployment.d.root / "no-tsa.p7s").exists()


@pytest.mark.parametrize(
    ("args", "seal", "code", "message"),
    [
        (("--digest", "00" * 31), "official", 2, "32 bytes"),
        (("--digest", "00" * 32, "--digest-alg", "sha256"), "sm2-seal", 2, "signs sm3"),
        (("--digest", "not-hex"), "official", 2, "hex"),
        (("--digest", "00" * 32, "--in", "content.txt"), "official", 2, "exactly one"),
        ((), "official", 2, "exactly one"),
        (("--in", "content.txt", "--digest-alg", "sha256"), "official", 2, "goes with --digest"),
        (("--digest", "00" * 32), "nope", 1, "no seal named 'nope'"),
    ],
)
def test_bad_input(deployment: CmsDeployment, args: tuple[str, ...], seal: str, code: int, message: str) -> None:
    d = deployment.d
    args = tuple(str(d.root / a) if a == "content.txt" else a for a in args)
    result = _sign(d, "bad.p7s", *args, seal=seal, ok=False)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == code and message in output, output
    assert not (d.root / "bad.p7s").exists()


def test_an_actor_who_is_not_a_seal_user(deployment: CmsDeployment) -> None:
    d = deployment.d
    result = d.run(
        "cms",
        "sign",
        "--seal",
        "official",
        "--in",
        str(d.root / "content.txt"),
        "--out",
        str(d.root / "mallory.p7s"),
        env={"CERTSEAL_ACTOR": "mallory"},
        ok=False,
    )
    assert result.returncode == 1 and "'mallory' may not use seal 'official'" in result.stderr, result.stderr
    assert not (d.root / "mallory.p7s").exists()
