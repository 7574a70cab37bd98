"""A CA whose key lives in a real PKCS#11 token (SoftHSM2), checked by openssl verify."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from asn1crypto import pem
from sqlalchemy import select

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.services.ca import CaService
from certseal.services.platform import Platform
from certseal.store.models import CryptoKey
from tests.conftest import ACTOR


@pytest.mark.softhsm
@pytest.mark.parametrize("algorithm", [KeyAlgorithm.RSA2048, KeyAlgorithm.P256])
def test_ca_key_in_softhsm_issues_certificates_openssl_accepts(
    make_settings,
    softhsm,
    tmp_path: Path,
    algorithm: KeyAlgorithm,  # type: ignore[no-untyped-def]
) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'var' / 'hsm.db'}",
        pkcs11_module=softhsm.module_path,
        pkcs11_token_label=softhsm.token_label,
        pkcs11_pin=softhsm.pin,
    )
    platform = Platform(settings)
    platform.db.migrate()
    service = CaService(platform)
    name = f"hsm-{uuid.uuid4().hex[:8]}"  # the token is shared by the test session
    ca = service.create_ca(name, algorithm, ACTOR, token="pkcs11")
    leaf = service.issue(name, "person", ACTOR, subject="CN=医生丙", generate=KeyAlgorithm.P256)
    (tmp_path / "ca.pem").write_bytes(pem.armor("CERTIFICATE", ca.certificate_der))
    (tmp_path / "leaf.pem").write_bytes(pem.armor("CERTIFICATE", leaf.certificate_der))
    result = subprocess.run(
        ["openssl", "verify", "-CAfile", tmp_path / "ca.pem", tmp_path / "leaf.pem"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    labels = {key.label for key in platform.pkcs11_token().list_keys()}
    assert f"ca-{name}" in labels
    with platform.db.reading() as session:
        row = session.scalars(select(CryptoKey).where(CryptoKey.label == f"ca-{name}")).one()
        assert row.token == "pkcs11" and row.sealed_private_key is None
    platform.close()
