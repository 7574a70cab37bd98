"""QrKeyService over SQLite and PostgreSQL: ensure (idempotent), sign, rotate, revoke; the key's certificate is
checked by the OpenSSL CLI against its CA."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from asn1crypto import pem, x509

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.errors import CryptoError, NotFound
from certseal.licenses import qr
from certseal.services.ca import CaService, RevocationReason
from certseal.services.platform import Platform
from certseal.services.qr_keys import QrKeyService
from tests.conftest import ACTOR

IDENTIFIER = "1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701.003.Y"


def _payload() -> qr.QrPayload:
    return qr.QrPayload(
        IDENTIFIER,
        1,
        "91350100M000100Y43",
        date(2025, 7, 1),
        date(2030, 6, 30),
        "issued",
        hashlib.sha256(b"public view").digest(),
        datetime.now(UTC).replace(microsecond=0),
    )


def test_ensure_sign_rotate_revoke(platform: Platform, tmp_path: Path) -> None:
    CaService(platform).create_ca("root", KeyAlgorithm.P256, ACTOR)
    service = QrKeyService(platform)
    with pytest.raises(NotFound, match="qr-key ensure"):
        service.signer()
    first = service.ensure("root", ACTOR)
    assert first.kid == "license-qr-1" and service.ensure("root", ACTOR) == first  # idempotent

    certificate = x509.Certificate.load(first.certificate_der)
    assert certificate.public_key.dump() == first.key.public_key.spki_der
    assert certificate.extended_key_usage_value.native == ["microsoft_document_signing"]
    (tmp_path / "ca.pem").write_bytes(pem.armor("CERTIFICATE", CaService(platform).get_ca("root").certificate_der))
    (tmp_path / "qr.pem").write_bytes(pem.armor("CERTIFICATE", first.certificate_der))
    checked = subprocess.run(
        ["openssl", "verify", "-CAfile", "ca.pem", "qr.pem"], cwd=tmp_path, capture_output=True, text=True
    )
    assert checked.returncode == 0 and "qr.pem: OK" in checked.stdout, checked.stderr

    old_jws = qr.sign_payload(service.signer(), _payload())
    assert qr.verify_payload(old_jws, service.public_keys()).key_id == "license-qr-1"

    second = service.rotate("root", ACTOR)
    assert second.kid == "license-qr-2" and service.ensure("root", ACTOR).kid == "license-qr-2"
    new_jws = qr.sign_payload(service.signer(), _payload())
    assert qr.verify_payload(new_jws, service.public_keys()).key_id == "license-qr-2"
    assert qr.verify_payload(old_jws, service.public_keys()).key_id == "license-qr-1"  # printed codes still verify
    jwks = service.jwks()
    assert sorted(k["kid"] for k in jwks["keys"]) == ["license-qr-1", "license-qr-2"]  # type: ignore[index]
    assert qr.verify_payload(old_jws, qr.keys_from_jwks(jwks)).identifier == IDENTIFIER

    CaService(platform).revoke(first.serial, RevocationReason.KEY_COMPROMISE, ACTOR)
    assert list(service.public_keys()) == ["license-qr-2"]
    with pytest.raises(CryptoError, match="unknown key id 'license-qr-1'"):
        qr.verify_payload(old_jws, service.public_keys())
