"""Cross-certificates made by TrustService, and our path validator's verdicts, checked against `openssl verify`.

OpenSSL 3.0 applies `-vfyopt distid:` only to the target certificate, so SM2 links are checked one by one with
`-partial_chain`; RSA paths through a cross-certificate are checked whole.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import pem, x509

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.pki.path import SubIndication, find_path
from certseal.services.ca import CaService
from certseal.services.platform import Platform
from certseal.services.trust import TrustService
from tests.conftest import ACTOR

SM2_ID = "distid:1234567812345678"
RSA, SM2, P256 = KeyAlgorithm.RSA2048, KeyAlgorithm.SM2, KeyAlgorithm.P256


@dataclass
class Pki:
    platform: Platform
    dir: Path

    @property
    def cas(self) -> CaService:
        return CaService(self.platform)

    @property
    def trust(self) -> TrustService:
        return TrustService(self.platform)

    def write(self, name: str, *ders: bytes) -> str:
        (self.dir / name).write_bytes(b"".join(pem.armor("CERTIFICATE", der) for der in ders))
        return str(self.dir / name)

    def ca_pem(self, name: str) -> str:
        return self.write(f"{name}.pem", self.cas.get_ca(name).certificate_der)

    def leaf(self, ca: str, subject: str, name: str, alg: KeyAlgorithm = P256) -> tuple[bytes, str]:
        der = self.cas.issue(ca, "person", ACTOR, subject=subject, generate=alg).certificate_der
        return der, self.write(name, der)


@pytest.fixture
def pki(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[Pki]:
    platform = Platform(make_settings(f"sqlite:///{tmp_path / 'var' / 'certseal.db'}"))
    platform.db.migrate()
    result = Pki(platform, tmp_path)
    result.cas.create_ca("rsa-a", RSA, ACTOR)
    yield result
    platform.close()


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)


def verified(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == 0 and ": OK" in result.stdout


def test_rsa_leaf_through_cross_certificate(pki: Pki) -> None:
    pki.cas.create_ca("rsa-d", RSA, ACTOR, subject="CN=Issuer D,O=Delta,C=CN")
    cross = pki.trust.cross_certify("rsa-a", "rsa-d", ACTOR)
    a_pem, cross_pem = pki.ca_pem("rsa-a"), pki.write("cross_a_d.pem", cross.certificate_der)
    leaf_der, leaf_pem = pki.leaf("rsa-d", "CN=Zhao,O=Delta,C=CN", "leaf.pem")
    checked = openssl("verify", "-CAfile", a_pem, "-untrusted", cross_pem, "-show_chain", leaf_pem)
    assert verified(checked), checked.stderr + checked.stdout
    assert not verified(openssl("verify", "-CAfile", a_pem, leaf_pem))
    ours = pki.trust.validate(leaf_der, anchors=["rsa-a"])
    assert ours.passed and [c.dump() for c in ours.path[1:]] == [
        cross.certificate_der,
        pki.cas.get_ca("rsa-a").certificate_der,
    ]


def test_name_constraints_agree_with_openssl(pki: Pki) -> None:
    pki.cas.create_ca("rsa-e", RSA, ACTOR)
    cross = pki.trust.cross_certify("rsa-a", "rsa-e", ACTOR, permitted=["C=CN,O=Allowed"])
    a_pem, cross_pem = pki.ca_pem("rsa-a"), pki.write("cross_a_e.pem", cross.certificate_der)
    good_der, good_pem = pki.leaf("rsa-e", "CN=Qian,O=Allowed,C=CN", "good.pem")
    bad_der, bad_pem = pki.leaf("rsa-e", "CN=Sun,O=Other,C=CN", "bad.pem")
    assert verified(openssl("verify", "-CAfile", a_pem, "-untrusted", cross_pem, good_pem))
    assert pki.trust.validate(good_der, anchors=["rsa-a"]).passed
    refused = openssl("verify", "-CAfile", a_pem, "-untrusted", cross_pem, bad_pem)
    assert not verified(refused) and "permitted subtree violation" in refused.stdout + refused.stderr
    ours = pki.trust.validate(bad_der, anchors=["rsa-a"])
    assert ours.sub_indication is SubIndication.CHAIN_CONSTRAINTS_FAILURE and "name constraints" in ours.message


def test_path_length_zero_agrees_with_openssl(pki: Pki) -> None:
    pki.cas.create_ca("rsa-f", RSA, ACTOR)
    pki.cas.create_ca("rsa-f1", P256, ACTOR, parent="rsa-f")
    cross = pki.trust.cross_certify("rsa-a", "rsa-f", ACTOR, path_len=0)
    a_pem = pki.ca_pem("rsa-a")
    untrusted = pki.write("untrusted.pem", cross.certificate_der, pki.cas.get_ca("rsa-f1").certificate_der)
    direct_der, direct_pem = pki.leaf("rsa-f", "CN=Zhou,C=CN", "direct.pem")
    deep_der, deep_pem = pki.leaf("rsa-f1", "CN=Wu,C=CN", "deep.pem")
    assert verified(openssl("verify", "-CAfile", a_pem, "-untrusted", untrusted, direct_pem))
    assert pki.trust.validate(direct_der, anchors=["rsa-a"]).passed
    refused = openssl("verify", "-CAfile", a_pem, "-untrusted", untrusted, deep_pem)
    assert not verified(refused) and "path length constraint exceeded" in refused.stdout + refused.stderr
    ours = pki.trust.validate(deep_der, anchors=["rsa-a"])
    assert ours.sub_indication is SubIndication.CHAIN_CONSTRAINTS_FAILURE and "allows 0" in ours.message
    assert pki.trust.validate(deep_der, anchors=["rsa-f"]).passed


def test_sm2_links_checked_one_by_one(pki: Pki) -> None:
    pki.cas.create_ca("sm2-b", SM2, ACTOR)
    a_b = pki.trust.cross_certify("rsa-a", "sm2-b", ACTOR)
    b_a = pki.trust.cross_certify("sm2-b", "rsa-a", ACTOR)
    a_pem, b_pem = pki.ca_pem("rsa-a"), pki.ca_pem("sm2-b")
    a_b_pem, b_a_pem = pki.write("cross_a_b.pem", a_b.certificate_der), pki.write("cross_b_a.pem", b_a.certificate_der)
    leaf_der, leaf_pem = pki.leaf("sm2-b", "CN=Zheng,O=Beta,C=CN", "leaf.pem", SM2)
    # the RSA-signed cross-certificate against A, plainly
    assert verified(openssl("verify", "-CAfile", a_pem, a_b_pem))
    # the SM2 leaf against B's key as certified by A, with the standard SM2 ID
    link = openssl("verify", "-partial_chain", "-CAfile", a_b_pem, "-vfyopt", SM2_ID, leaf_pem)
    assert verified(link), link.stderr
    assert not verified(openssl("verify", "-partial_chain", "-CAfile", a_b_pem, leaf_pem))  # empty ID: refused
    # the SM2-signed reverse cross-certificate against B
    assert verified(openssl("verify", "-partial_chain", "-CAfile", b_pem, "-vfyopt", SM2_ID, b_a_pem))
    ours = pki.trust.validate(leaf_der, anchors=["rsa-a"])
    assert ours.passed and ours.path[1].dump() == a_b.certificate_der


def test_tampered_and_expired_cross_certificates_refused_by_both(pki: Pki) -> None:
    pki.cas.create_ca("rsa-g", RSA, ACTOR)
    cross = pki.trust.cross_certify("rsa-a", "rsa-g", ACTOR, days=1)
    a_pem, cross_pem = pki.ca_pem("rsa-a"), pki.write("cross.pem", cross.certificate_der)
    leaf_der, leaf_pem = pki.leaf("rsa-g", "CN=Feng,C=CN", "leaf.pem")
    anchor = x509.Certificate.load(pki.cas.get_ca("rsa-a").certificate_der)

    tampered = bytearray(cross.certificate_der)
    tampered[15] ^= 0x01  # in the serial number
    tampered_pem = pki.write("tampered.pem", bytes(tampered))
    refused = openssl("verify", "-CAfile", a_pem, "-untrusted", tampered_pem, leaf_pem)
    assert not verified(refused) and "signature failure" in refused.stdout + refused.stderr
    ours = find_path(x509.Certificate.load(leaf_der), [x509.Certificate.load(bytes(tampered))], [anchor])
    assert ours.sub_indication is SubIndication.SIG_CRYPTO_FAILURE

    later = datetime.now(UTC) + timedelta(days=3)
    expired = openssl(
        "verify", "-attime", str(int(later.timestamp())), "-CAfile", a_pem, "-untrusted", cross_pem, leaf_pem
    )
    assert not verified(expired) and "certificate has expired" in expired.stdout + expired.stderr
    ours = pki.trust.validate(leaf_der, at=later, anchors=["rsa-a"])
    assert ours.sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE
    now = str(int(time.time()))
    assert verified(openssl("verify", "-attime", now, "-CAfile", a_pem, "-untrusted", cross_pem, leaf_pem))
