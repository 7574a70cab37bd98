"""CAs and certificates made by certseal, checked by the OpenSSL CLI."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.fixtures.server import LiveDeployment

SM2_ID = ["-vfyopt", "distid:1234567812345678"]


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60)


def split_pem(path: Path) -> list[bytes]:
    text = path.read_bytes()
    marker = b"-----END CERTIFICATE-----\n"
    return [part + marker for part in text.split(marker) if part.strip()]


@pytest.mark.parametrize("alg", ["rsa2048", "p256", "rsa3072"])
def test_rsa_and_ecdsa_chains_verify_with_openssl(offline: LiveDeployment, alg: str) -> None:
    d = offline
    d.run("ca", "create", "root", "--alg", alg, "--subject", "CN=Root,O=Test,C=CN")
    d.run("ca", "create", "sub", "--alg", alg, "--parent", "root")
    d.run("ca", "cert", "root", "--out", str(d.path("root.pem")))
    d.run("ca", "cert", "sub", "--out", str(d.path("sub.pem")))
    d.run(
        "cert",
        "issue",
        "--ca",
        "sub",
        "--profile",
        "tls-server",
        "--subject",
        "CN=www.example.cn",
        "--san",
        "dns:www.example.cn",
        "--san",
        "ip:127.0.0.1",
        "--generate-key",
        alg,
        "--out",
        str(d.path("l.pem")),
    )
    result = openssl(
        "verify",
        "-CAfile",
        d.path("root.pem"),
        "-untrusted",
        d.path("sub.pem"),
        "-purpose",
        "sslserver",
        d.path("l.pem"),
    )
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr
    text = openssl("x509", "-in", d.path("l.pem"), "-noout", "-text").stdout
    assert "DNS:www.example.cn" in text and "IP Address:127.0.0.1" in text and "TLS Web Server" in text
    assert "CA Issuers - URI:" in text and "/crl/sub.crl" in text and "/ocsp/sub" in text


def test_sm2_chain_verifies_link_by_link_with_openssl(offline: LiveDeployment) -> None:
    """OpenSSL 3.0 applies -vfyopt distid only to the target certificate, so each link is checked on its own."""
    d = offline
    d.run("ca", "create", "sm2-root", "--alg", "sm2", "--subject", "CN=SM2 根 CA,O=省药监局,C=CN")
    d.run("ca", "create", "sm2-sub", "--alg", "sm2", "--parent", "sm2-root")
    d.run("ca", "cert", "sm2-root", "--out", str(d.path("root.pem")))
    d.run("ca", "cert", "sm2-sub", "--out", str(d.path("sub.pem")))
    d.run(
        "cert",
        "issue",
        "--ca",
        "sm2-sub",
        "--profile",
        "seal",
        "--subject",
        "CN=某药业有限公司公章,O=某药业有限公司,serialNumber=91110000600037341L",
        "--generate-key",
        "sm2",
        "--key-out",
        str(d.path("k.pem")),
        "--out",
        str(d.path("seal.pem")),
    )
    assert openssl("verify", "-CAfile", d.path("root.pem"), *SM2_ID, d.path("sub.pem")).returncode == 0
    assert (
        openssl("verify", "-partial_chain", "-CAfile", d.path("sub.pem"), *SM2_ID, d.path("seal.pem")).returncode == 0
    )
    # without the standard ID OpenSSL 3.0 uses an empty one and must fail: the ID really is in the signature
    assert openssl("verify", "-partial_chain", "-CAfile", d.path("sub.pem"), d.path("seal.pem")).returncode != 0
    # the wrong issuer is rejected
    assert (
        openssl("verify", "-partial_chain", "-CAfile", d.path("root.pem"), *SM2_ID, d.path("seal.pem")).returncode != 0
    )
    # the exported key is PKCS#8, readable by OpenSSL, and matches the certificate
    key_pub = openssl("pkey", "-in", d.path("k.pem"), "-pubout").stdout
    cert_pub = openssl("x509", "-in", d.path("seal.pem"), "-noout", "-pubkey").stdout
    assert key_pub == cert_pub and oct(d.path("k.pem").stat().st_mode)[-3:] == "600"


def test_csrs_from_openssl_rsa_and_sm2(offline: LiveDeployment) -> None:
    d = offline
    d.run("ca", "create", "sm2", "--alg", "sm2")
    d.run("ca", "cert", "sm2", "--out", str(d.path("ca.pem")))
    assert openssl("genpkey", "-algorithm", "SM2", "-out", d.path("s.key")).returncode == 0
    assert (
        openssl(
            "req",
            "-new",
            "-utf8",
            "-key",
            d.path("s.key"),
            "-subj",
            "/CN=李四",
            "-sigopt",
            "distid:1234567812345678",
            "-out",
            d.path("s.csr"),
        ).returncode
        == 0
    )
    d.run(
        "cert",
        "issue",
        "--ca",
        "sm2",
        "--profile",
        "person",
        "--csr",
        str(d.path("s.csr")),
        "--out",
        str(d.path("p.pem")),
    )
    assert openssl("verify", "-partial_chain", "-CAfile", d.path("ca.pem"), *SM2_ID, d.path("p.pem")).returncode == 0
    assert "CN=李四" in d.run("cert", "list").stdout
    # a CSR signed with OpenSSL's default (empty) SM2 ID fails its signature check, clearly
    openssl("req", "-new", "-key", d.path("s.key"), "-subj", "/CN=x", "-out", d.path("empty-id.csr"))
    bad = d.run(
        "cert",
        "issue",
        "--ca",
        "sm2",
        "--profile",
        "person",
        "--csr",
        str(d.path("empty-id.csr")),
        "--out",
        str(d.path("x.pem")),
        ok=False,
    )
    assert bad.returncode == 2 and "distid:1234567812345678" in bad.stderr and not d.path("x.pem").exists()


@pytest.mark.parametrize("damage", ["garbage", "tampered"])
def test_bad_csr_is_refused_clearly(offline: LiveDeployment, damage: str) -> None:
    d = offline
    d.run("ca", "create", "rsa", "--alg", "rsa2048")
    openssl(
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        d.path("k"),
        "-subj",
        "/CN=ok",
        "-outform",
        "DER",
        "-out",
        d.path("r.der"),
    )
    data = bytearray(d.path("r.der").read_bytes())
    if damage == "garbage":
        data = bytearray(b"not a csr at all")
    else:
        data[-10] ^= 0xFF  # inside the signature
    d.path("bad.csr").write_bytes(bytes(data))
    result = d.run(
        "cert",
        "issue",
        "--ca",
        "rsa",
        "--profile",
        "person",
        "--csr",
        str(d.path("bad.csr")),
        "--out",
        str(d.path("x.pem")),
        ok=False,
    )
    assert result.returncode == 2 and "csr:" in result.stderr and "Traceback" not in result.stderr
    assert not d.path("x.pem").exists()


def test_tampered_certificate_and_wrong_issuer_are_rejected(offline: LiveDeployment) -> None:
    d = offline
    for name in ("a", "b"):
        d.run("ca", "create", name, "--alg", "rsa2048")
        d.run("ca", "cert", name, "--out", str(d.path(f"{name}.pem")))
    d.run(
        "cert",
        "issue",
        "--ca",
        "a",
        "--profile",
        "person",
        "--subject",
        "CN=Mallory-x",
        "--generate-key",
        "p256",
        "--out",
        str(d.path("l.pem")),
    )
    assert openssl("verify", "-CAfile", d.path("b.pem"), d.path("l.pem")).returncode != 0
    der = d.path("l.der")
    openssl("x509", "-in", d.path("l.pem"), "-outform", "DER", "-out", der)
    original = der.read_bytes()
    assert original.count(b"\x0c\x09Mallory-x") == 1
    der.write_bytes(original.replace(b"\x0c\x09Mallory-x", b"\x0c\x09Mallory-y"))  # subject CN, inside the TBS
    assert openssl("x509", "-inform", "DER", "-in", der, "-out", d.path("t.pem")).returncode == 0
    assert openssl("verify", "-CAfile", d.path("a.pem"), d.path("l.pem")).returncode == 0
    result = openssl("verify", "-CAfile", d.path("a.pem"), d.path("t.pem"))
    assert result.returncode != 0 and "signature failure" in (result.stdout + result.stderr)


def test_expired_certificate_is_rejected(offline: LiveDeployment) -> None:
    d = offline
    d.run("ca", "create", "r", "--alg", "p256")
    d.run("ca", "cert", "r", "--out", str(d.path("r.pem")))
    d.run(
        "cert",
        "issue",
        "--ca",
        "r",
        "--profile",
        "person",
        "--subject",
        "CN=x",
        "--generate-key",
        "p256",
        "--days",
        "1",
        "--out",
        str(d.path("l.pem")),
    )
    later = str(int(time.time()) + 3 * 86400)
    result = openssl("verify", "-attime", later, "-CAfile", d.path("r.pem"), d.path("l.pem"))
    assert result.returncode != 0 and "expired" in (result.stdout + result.stderr)


BULK = textwrap.dedent("""
    import os, sys
    from certseal.config import Settings
    from certseal.crypto.algorithms import KeyAlgorithm
    from certseal.crypto.keys import PrivateKey
    from certseal.services.audit import Actor
    from certseal.services.ca import CaService
    from certseal.services.platform import Platform

    service = CaService(Platform(Settings()))
    key = PrivateKey.generate(KeyAlgorithm.P256)
    with open(sys.argv[1], "a") as log:
        for i in range(100000):
            info = service.issue("bulk", "person", Actor("bulk", "test"), subject=f"CN=p{i}",
                                 public_key=key.public_key)
            log.write(info.serial + "\\n"); log.flush(); os.fsync(log.fileno())
""")


def test_kill_during_bulk_issuance_loses_nothing(offline: LiveDeployment) -> None:
    d = offline
    d.run("ca", "create", "bulk", "--alg", "p256")
    issued_log = d.path("issued.txt")
    process = subprocess.Popen(
        [sys.executable, "-c", BULK, str(issued_log)], env=d.env, cwd=d.root, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not issued_log.exists() or len(issued_log.read_text().split()) < 40):
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    reported = issued_log.read_text().split()
    assert len(reported) >= 40
    with sqlite3.connect(d.root / "var" / "certseal.db") as db:
        recorded = [row[0] for row in db.execute("select serial from certificates")]
    assert set(reported) <= set(recorded)  # every certificate handed out is in the database
    assert len(recorded) == len(set(recorded)) and len(recorded) - len(reported) <= 1
    assert d.run("audit", "verify").returncode == 0
    assert (
        d.run(
            "cert",
            "issue",
            "--ca",
            "bulk",
            "--profile",
            "person",
            "--subject",
            "CN=after",
            "--generate-key",
            "p256",
            "--out",
            str(d.path("after.pem")),
        ).returncode
        == 0
    )


def test_issue_batch_from_a_directory_of_csrs(offline: LiveDeployment) -> None:
    d = offline
    d.run("ca", "create", "batch", "--alg", "sm2")
    d.run("ca", "cert", "batch", "--out", str(d.path("ca.pem")))
    csr_dir = d.path("csrs")
    csr_dir.mkdir()
    for i in range(4):
        openssl("genpkey", "-algorithm", "SM2", "-out", d.path(f"k{i}.pem"))
        openssl(
            "req",
            "-new",
            "-utf8",
            "-key",
            d.path(f"k{i}.pem"),
            "-subj",
            f"/CN=药师{i}",
            "-sigopt",
            "distid:1234567812345678",
            "-out",
            csr_dir / f"p{i}.csr",
        )
    d.run("cert", "issue-batch", "--ca", "batch", "--profile", "person", str(csr_dir), "--out-dir", str(d.path("out")))
    for i in range(4):
        assert (
            openssl(
                "verify", "-partial_chain", "-CAfile", d.path("ca.pem"), *SM2_ID, d.path("out") / f"p{i}.pem"
            ).returncode
            == 0
        )
    (csr_dir / "zz.csr").write_text("broken")
    bad = d.run(
        "cert",
        "issue-batch",
        "--ca",
        "batch",
        "--profile",
        "person",
        str(csr_dir),
        "--out-dir",
        str(d.path("out2")),
        ok=False,
    )
    assert bad.returncode == 2 and "zz.csr" in bad.stderr and not d.path("out2").exists()
    assert d.run("cert", "list").stdout.count("药师") == 4
