"""The test-only SM2 checker accepts certseal's SM2 certificates and rejects tampered ones."""

from __future__ import annotations

from datetime import UTC, datetime

from asn1crypto import x509

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.keys import PrivateKey
from certseal.crypto.tokens.software import SoftwareSigner
from certseal.pki import certificates as certs
from certseal.pki.profiles import profile
from tests.sm2check import is_sm2_with_sm3, sm2_signature_valid


def test_checks_a_self_signed_sm2_certificate() -> None:
    key = PrivateKey.generate(KeyAlgorithm.SM2)
    subject = certs.subject_from({"common_name": "SM2 根"}, key.public_key)
    issuer = certs.self_signed_issuer(subject, SoftwareSigner("k", key, key.algorithm.default_scheme))
    der = certs.issue(issuer, subject, profile("root-ca"), certs.Validity.starting(datetime.now(UTC), 10), 7)
    cert = x509.Certificate.load(der)
    tbs = cert["tbs_certificate"].dump()
    assert is_sm2_with_sm3(cert["signature_algorithm"])
    assert sm2_signature_valid(cert, tbs, cert["signature_value"].native)
    assert not sm2_signature_valid(cert, tbs[:-1] + bytes([tbs[-1] ^ 1]), cert["signature_value"].native)
    assert not sm2_signature_valid(cert, tbs, cert["signature_value"].native, distid=b"ALICE123@YAHOO.COM")
