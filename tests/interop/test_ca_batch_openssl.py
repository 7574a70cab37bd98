"""Batched issuance checked by the OpenSSL CLI, and a batch killed midway leaves none of its certificates."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import pem

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.keys import PrivateKey
from certseal.services.ca import CaService, IssueRequest
from certseal.services.platform import Platform
from tests.conftest import ACTOR, TEST_AUDIT_KEY, TEST_KEK
from tests.fixtures.server import LiveDeployment

SM2_ID = ["-vfyopt", "distid:1234567812345678"]
BATCH = 50


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.fixture
def service(offline: LiveDeployment) -> Iterator[CaService]:
    platform = Platform(
        Settings(home=offline.root / "var", kek=TEST_KEK, audit_key=TEST_AUDIT_KEY, base_url="http://ca.example.cn")
    )
    yield CaService(platform)
    platform.close()


@pytest.mark.parametrize("alg", ["rsa2048", "p256", "sm2"])
def test_batch_certificates_verify_with_openssl(offline: LiveDeployment, service: CaService, alg: str) -> None:
    d = offline
    d.run("ca", "create", "root", "--alg", alg, "--subject", "CN=Root,O=Test,C=CN")
    d.run("ca", "create", "sub", "--alg", alg, "--parent", "root")
    d.run("ca", "cert", "root", "--out", str(d.path("root.pem")))
    d.run("ca", "cert", "sub", "--out", str(d.path("sub.pem")))
    keys = [PrivateKey.generate(a).public_key for a in (KeyAlgorithm.RSA2048, KeyAlgorithm.P256, KeyAlgorithm.SM2)]
    requests = [
        IssueRequest(f"CN=www{i}.example.cn", keys[i % 3], (f"dns:www{i}.example.cn", "ip:127.0.0.1")) for i in range(6)
    ]
    issued = service.issue_batch("sub", "tls-server", requests, ACTOR)
    for n, info in enumerate(issued):
        leaf = d.path(f"leaf{n}.pem")
        leaf.write_bytes(pem.armor("CERTIFICATE", info.certificate_der))
        if alg == "sm2":  # OpenSSL 3.0 applies distid to the target only: check the link to the issuer alone
            result = openssl("verify", "-partial_chain", "-CAfile", d.path("sub.pem"), *SM2_ID, leaf)
        else:
            result = openssl(
                "verify", "-CAfile", d.path("root.pem"), "-untrusted", d.path("sub.pem"), "-purpose", "sslserver", leaf
            )
        assert result.returncode == 0 and "OK" in result.stdout, result.stderr
        text = openssl("x509", "-in", leaf, "-noout", "-text").stdout
        assert f"DNS:www{n}.example.cn" in text and "IP Address:127.0.0.1" in text and "TLS Web Server" in text
    assert d.run("audit", "verify").returncode == 0


BULK = textwrap.dedent("""
    import os, sys
    from certseal.config import Settings
    from certseal.crypto.algorithms import KeyAlgorithm
    from certseal.crypto.keys import PrivateKey
    from certseal.services.audit import Actor
    from certseal.services.ca import CaService, IssueRequest
    from certseal.services.platform import Platform

    service = CaService(Platform(Settings()))
    key = PrivateKey.generate(KeyAlgorithm.P256)
    batch = int(sys.argv[2])
    with open(sys.argv[1], "a") as log:
        for b in range(100000):
            requests = [IssueRequest(f"CN=b{b} p{i}", key.public_key) for i in range(batch)]
            issued = service.issue_batch("bulk", "person", requests, Actor("bulk", "test"))
            log.write("".join(info.serial + "\\n" for info in issued)); log.flush(); os.fsync(log.fileno())
""")


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.11])
def test_kill_during_batch_issuance_leaves_no_partial_batch(offline: LiveDeployment, delay: float) -> None:
    d = offline
    d.run("ca", "create", "bulk", "--alg", "p256")
    issued_log = d.path("issued.txt")
    process = subprocess.Popen(
        [sys.executable, "-c", BULK, str(issued_log), str(BATCH)], env=d.env, cwd=d.root, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not issued_log.exists() or len(issued_log.read_text().split()) < 3 * BATCH):
        time.sleep(0.02)
    time.sleep(delay)  # land the kill at different points of a batch: signing, inserting, committing
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    reported = issued_log.read_text().split()
    assert len(reported) >= 3 * BATCH
    with sqlite3.connect(d.root / "var" / "certseal.db") as db:
        recorded = [row[0] for row in db.execute("select serial from certificates")]
        audited = [row[0] for row in db.execute("select entity_id from audit_events where action = 'issue'")]
    assert set(reported) <= set(recorded)  # every certificate handed out is in the database
    assert len(recorded) == len(set(recorded)) and len(recorded) % BATCH == 0  # whole batches only
    assert len(recorded) - len(reported) <= BATCH  # at most the batch committed just before the kill
    assert sorted(audited) == sorted(recorded)  # each certificate has its own audit event, no other
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
