"""ASN.1 pieces shared by every signed PKI structure: algorithm identifiers, times, key identifiers.

Every structure (certificate, CRL, OCSP response, timestamp, CMS) is signed through a Signer; this module maps its
scheme to the AlgorithmIdentifier that goes beside the signature, so RSA, ECDSA and SM2 share one code path.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from asn1crypto import algos, core, keys, x509

from certseal.crypto.algorithms import SM2_WITH_SM3_OID, SM3_OID, SignatureScheme
from certseal.crypto.keys import PublicKey


def _register(oid_class: type[core.ObjectIdentifier], dotted: str, name: str) -> None:
    """Teach asn1crypto a name for an OID (its reverse map must be rebuilt, not cleared)."""
    oid_class._map[dotted] = name
    oid_class._reverse_map = {value: key for key, value in oid_class._map.items()}


_register(algos.SignedDigestAlgorithmId, SM2_WITH_SM3_OID, "sm3_sm2")
_register(algos.DigestAlgorithmId, SM3_OID, "sm3")

_OIDS = {
    SignatureScheme.RSA_PKCS1_SHA256: "sha256_rsa",
    SignatureScheme.ECDSA_SHA256: "sha256_ecdsa",
    SignatureScheme.SM2_SM3: "sm3_sm2",
}
_UTC_TIME_LIMIT = datetime(2050, 1, 1, tzinfo=UTC)


def signature_algorithm(scheme: SignatureScheme) -> algos.SignedDigestAlgorithm:
    if scheme is SignatureScheme.RSA_PSS_SHA256:
        return algos.SignedDigestAlgorithm(
            {
                "algorithm": "rsassa_pss",
                "parameters": algos.RSASSAPSSParams(
                    {
                        "hash_algorithm": {"algorithm": "sha256"},
                        "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
                        "salt_length": 32,
                    }
                ),
            }
        )
    return algos.SignedDigestAlgorithm({"algorithm": _OIDS[scheme]})


def scheme_of(algorithm: algos.SignedDigestAlgorithm) -> SignatureScheme:
    """The SignatureScheme that verifies a signature made with this AlgorithmIdentifier."""
    name = algorithm["algorithm"].native
    schemes = {
        "sha256_rsa": SignatureScheme.RSA_PKCS1_SHA256,
        "rsassa_pss": SignatureScheme.RSA_PSS_SHA256,
        "sha256_ecdsa": SignatureScheme.ECDSA_SHA256,
        "sm3_sm2": SignatureScheme.SM2_SM3,
        SM2_WITH_SM3_OID: SignatureScheme.SM2_SM3,
    }
    if name not in schemes:
        raise ValueError(f"unsupported signature algorithm {algorithm['algorithm'].dotted}")
    return schemes[name]


def asn1_time(moment: datetime) -> x509.Time:
    """UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5); whole seconds."""
    moment = moment.astimezone(UTC).replace(microsecond=0)
    return x509.Time({"utc_time" if moment < _UTC_TIME_LIMIT else "general_time": moment})


def key_identifier(public_key: PublicKey) -> bytes:
    """RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING (used as an identifier, not a hash)."""
    info = keys.PublicKeyInfo.load(public_key.spki_der)
    return hashlib.sha1(info["public_key"].contents[1:], usedforsecurity=False).digest()


def null() -> core.Null:
    return core.Null()
