"""An SM2 signature check that shares no code with certseal: gmalg (pure Python) for the math, asn1crypto for
the structures.  Tests use it where the OpenSSL 3.0 CLI cannot check SM2 (CRLs, OCSP, timestamps, CMS)."""

from __future__ import annotations

from asn1crypto import algos, x509
from asn1crypto import keys as asn1_keys
from gmalg import SM2 as GmalgSM2

STANDARD_ID = b"1234567812345678"
SM2_WITH_SM3 = "1.2.156.10197.1.501"


def public_point(certificate: x509.Certificate | bytes) -> bytes:
    """04 || x || y of an SM2 certificate's (or SubjectPublicKeyInfo's) public key."""
    if isinstance(certificate, bytes):
        info = asn1_keys.PublicKeyInfo.load(certificate)
    else:
        info = certificate["tbs_certificate"]["subject_public_key_info"]
    point = bytes(info["public_key"].native)
    assert len(point) == 65 and point[0] == 4, "not an uncompressed SM2 point"
    return point


def sm2_signature_valid(
    signer: x509.Certificate | bytes, signed_bytes: bytes, signature_der: bytes, distid: bytes = STANDARD_ID
) -> bool:
    """True if `signature_der` (DER r,s) is an SM2-with-SM3 signature of `signed_bytes` by the key in `signer`."""
    parsed = algos.DSASignature.load(signature_der)
    r = parsed["r"].native.to_bytes(32, "big")
    s = parsed["s"].native.to_bytes(32, "big")
    return bool(GmalgSM2(pk=public_point(signer), uid=distid).verify(signed_bytes, r, s))


def is_sm2_with_sm3(algorithm: algos.SignedDigestAlgorithm) -> bool:
    return bool(algorithm["algorithm"].dotted == SM2_WITH_SM3)
