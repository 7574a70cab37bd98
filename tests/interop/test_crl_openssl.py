"""CRLs checked by implementations we did not write: the OpenSSL CLI (RSA, P-256) and gmalg (SM2)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from asn1crypto import crl, pem, x509

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.services.ca import CaService, RevocationReason
from certseal.services.crl import CrlService
from certseal.services.platform import Platform
from tests.conftest import ACTOR
from tests.sm2check import is_sm2_with_sm3, sm2_signature_valid


@pytest.fixture
def sqlite_platform(make_settings: Callable[..., Settings]) -> Iterator[Platform]:
    p = Platform(make_settings())
    p.db.migrate()
    yield p
    p.close()


class Pki:
    """One CA with two leaves, writing PEM files for the OpenSSL CLI."""

    def __init__(self, platform: Platform, directory: Path, algorithm: KeyAlgorithm) -> None:
        self.cas = CaService(platform)
        self.crls = CrlService(platform)
        self.dir = directory
        self.ca = self.cas.create_ca("test-ca", algorithm, ACTOR)
        self.ca_pem = self.write("ca.pem", "CERTIFICATE", self.ca.certificate_der)
        self.serials: dict[str, str] = {}
        for leaf in ("good", "bad"):
            info = self.cas.issue("test-ca", "person", ACTOR, subject=f"CN={leaf}", generate=KeyAlgorithm.P256)
            self.serials[leaf] = info.serial
            self.write(f"{leaf}.pem", "CERTIFICATE", info.certificate_der)

    def write(self, name: str, label: str, der: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(pem.armor(label, der))
        return path

    def crl(self, name: str, delta: bool = False) -> tuple[Path, bytes]:
        der = self.crls.generate("test-ca", ACTOR, delta=delta).der
        return self.write(name, "X509 CRL", der), der

    def verify_leaf(self, leaf: str, crl_path: Path, delta: Path | None = None) -> subprocess.CompletedProcess[str]:
        deltas = ["-use_deltas", "-CRLfile", str(delta)] if delta else []
        crls = ["-CRLfile", str(crl_path), *deltas]
        return openssl("verify", "-crl_check", "-CAfile", str(self.ca_pem), *crls, str(self.dir / f"{leaf}.pem"))


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)


def crl_text(path: Path) -> str:
    result = openssl("crl", "-in", str(path), "-noout", "-text")
    assert result.returncode == 0, result.stderr
    return result.stdout


def serial_line(serial: str) -> str:
    return f"Serial Number: {serial}"


@pytest.fixture
def rsa_pki(sqlite_platform: Platform, tmp_path: Path) -> Pki:
    return Pki(sqlite_platform, tmp_path, KeyAlgorithm.RSA2048)


@pytest.mark.parametrize("algorithm", [KeyAlgorithm.RSA2048, KeyAlgorithm.P256])
def test_openssl_verifies_the_crl_signature(sqlite_platform: Platform, tmp_path: Path, algorithm: KeyAlgorithm) -> None:
    pki = Pki(sqlite_platform, tmp_path, algorithm)
    pki.cas.revoke(pki.serials["bad"], RevocationReason.KEY_COMPROMISE, ACTOR)
    path, der = pki.crl("full.crl")
    (tmp_path / "full.der").write_bytes(der)
    result = openssl("crl", "-inform", "DER", "-in", str(tmp_path / "full.der"), "-CAfile", str(pki.ca_pem), "-noout")
    assert result.returncode == 0, result.stderr
    assert "verify OK" in result.stdout + result.stderr
    text = crl_text(path)
    assert "Version 2 (0x1)" in text
    assert "X509v3 CRL Number" in text and "X509v3 Authority Key Identifier" in text
    assert serial_line(pki.serials["bad"]) in text and "Key Compromise" in text
    assert pki.serials["good"] not in text


def test_openssl_verify_rejects_the_revoked_certificate_and_accepts_the_valid_one(rsa_pki: Pki) -> None:
    rsa_pki.cas.revoke(rsa_pki.serials["bad"], RevocationReason.SUPERSEDED, ACTOR)
    path, _ = rsa_pki.crl("full.pem")
    good = rsa_pki.verify_leaf("good", path)
    assert good.returncode == 0 and ": OK" in good.stdout, good.stdout + good.stderr
    bad = rsa_pki.verify_leaf("bad", path)
    assert bad.returncode != 0
    assert "error 23" in bad.stdout + bad.stderr and "certificate revoked" in bad.stdout + bad.stderr


def test_openssl_rejects_a_tampered_crl(rsa_pki: Pki) -> None:
    _, der = rsa_pki.crl("full.pem")
    parsed = crl.CertificateList.load(der)
    signature = bytearray(parsed["signature"].native)
    signature[len(signature) // 2] ^= 0x01
    tampered = der[: -len(signature)] + bytes(signature)
    assert der.endswith(parsed["signature"].native) and tampered != der
    (rsa_pki.dir / "tampered.der").write_bytes(tampered)
    result = openssl(
        "crl", "-inform", "DER", "-in", str(rsa_pki.dir / "tampered.der"), "-CAfile", str(rsa_pki.ca_pem), "-noout"
    )
    assert "verify OK" not in result.stdout + result.stderr
    assert "verify failure" in result.stdout + result.stderr
    path = rsa_pki.write("tampered.pem", "X509 CRL", tampered)
    verify = rsa_pki.verify_leaf("good", path)
    assert verify.returncode != 0 and "CRL signature failure" in verify.stdout + verify.stderr


def test_delta_crl_carries_the_indicator_and_only_what_changed(rsa_pki: Pki) -> None:
    rsa_pki.cas.revoke(rsa_pki.serials["bad"], RevocationReason.KEY_COMPROMISE, ACTOR)
    full, _ = rsa_pki.crl("full.pem")
    rsa_pki.cas.revoke(rsa_pki.serials["good"], RevocationReason.AFFILIATION_CHANGED, ACTOR)
    delta, _ = rsa_pki.crl("delta.pem", delta=True)
    assert "verify OK" in openssl("crl", "-in", str(delta), "-CAfile", str(rsa_pki.ca_pem), "-noout").stderr
    text = crl_text(delta)
    assert "X509v3 Delta CRL Indicator: critical" in text
    base = text.split("X509v3 Delta CRL Indicator: critical", 1)[1].split()[0]
    assert base == "1", text
    assert "X509v3 CRL Number" in text and "\n                2\n" in text
    assert serial_line(rsa_pki.serials["good"]) in text and "Affiliation Changed" in text
    assert rsa_pki.serials["bad"] not in text  # listed by the base CRL already
    assert rsa_pki.verify_leaf("good", full).returncode == 0  # the base predates the revocation
    combined = rsa_pki.verify_leaf("good", full, delta)
    assert combined.returncode != 0 and "certificate revoked" in combined.stdout + combined.stderr
    assert rsa_pki.verify_leaf("bad", full, delta).returncode != 0
    assert "Freshest CRL" in crl_text(full) and "test-ca-delta.crl" in crl_text(full)


def test_hold_is_listed_and_its_release_is_a_remove_from_crl_in_the_delta(rsa_pki: Pki) -> None:
    held = rsa_pki.serials["bad"]
    rsa_pki.cas.revoke(held, RevocationReason.CERTIFICATE_HOLD, ACTOR)
    full, _ = rsa_pki.crl("full.pem")
    full_text = crl_text(full)
    assert serial_line(held) in full_text and "Certificate Hold" in full_text
    rejected = rsa_pki.verify_leaf("bad", full)
    assert rejected.returncode != 0 and "certificate revoked" in rejected.stdout + rejected.stderr

    rsa_pki.cas.release_hold(held, ACTOR)
    delta, _ = rsa_pki.crl("delta.pem", delta=True)
    delta_text = crl_text(delta)
    assert serial_line(held) in delta_text and "Remove From CRL" in delta_text
    assert "Delta CRL Indicator" in delta_text
    still_held = rsa_pki.verify_leaf("bad", full)
    assert still_held.returncode != 0, "the full CRL alone still lists the hold"
    released = rsa_pki.verify_leaf("bad", full, delta)  # OpenSSL applies the delta's removeFromCRL to its base
    assert released.returncode == 0, released.stdout + released.stderr

    after, _ = rsa_pki.crl("after.pem")
    assert held not in crl_text(after)
    accepted = rsa_pki.verify_leaf("bad", after)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_sm2_crl_signature_checked_by_gmalg(sqlite_platform: Platform, tmp_path: Path) -> None:
    pki = Pki(sqlite_platform, tmp_path, KeyAlgorithm.SM2)
    pki.cas.revoke(pki.serials["bad"], RevocationReason.CESSATION_OF_OPERATION, ACTOR)
    _, der = pki.crl("sm2.pem")
    ca = x509.Certificate.load(pki.ca.certificate_der)
    parsed = crl.CertificateList.load(der)
    tbs = parsed["tbs_cert_list"]
    assert is_sm2_with_sm3(parsed["signature_algorithm"]) and is_sm2_with_sm3(tbs["signature"])
    assert sm2_signature_valid(ca, tbs.dump(), parsed["signature"].native)
    assert not sm2_signature_valid(ca, tbs.dump() + b"\x00", parsed["signature"].native)
    assert tbs["issuer"] == ca.subject
    assert parsed.authority_key_identifier == ca.key_identifier
    assert parsed.crl_number_value.native == 1
    [entry] = tbs["revoked_certificates"]
    assert entry["user_certificate"].native == int(pki.serials["bad"], 16)
    assert entry.crl_reason_value.native == "cessation_of_operation"
