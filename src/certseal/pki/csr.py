"""PKCS#10 certificate signing requests: parsing and signature check (RSA, ECDSA and SM2)."""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import csr, pem

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.keys import PublicKey
from certseal.errors import CertsealError, CryptoError, InvalidSignature, ValidationError
from certseal.pki.asn1 import scheme_of
from certseal.pki.names import format_dn


@dataclass(frozen=True)
class SigningRequest:
    subject: dict[str, str]
    public_key: PublicKey

    @property
    def subject_dn(self) -> str:
        """The requested subject as DN text, e.g. 'CN=张三,O=某医院'."""
        return format_dn(self.subject)


def load_csr(data: bytes) -> SigningRequest:
    """Parse a PEM or DER CSR and check its self-signature; ValidationError('csr', …) otherwise."""
    try:
        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        request = csr.CertificationRequest.load(data, strict=True)
        info = request["certification_request_info"]
        public_key = PublicKey(info["subject_pk_info"].dump())
        scheme = scheme_of(request["signature_algorithm"])
        subject = {k: str(v) for k, v in info["subject"].native.items() if isinstance(v, str)}
    except (ValueError, TypeError, KeyError) as exc:
        raise ValidationError("csr", f"not a valid PKCS#10 request: {exc}") from None
    except CryptoError as exc:
        raise ValidationError("csr", exc.message) from None
    try:
        public_key.verify(request["signature"].native, info.dump(), scheme)
    except InvalidSignature:
        hint = (
            " (SM2 requests must be signed with ID 1234567812345678: openssl req -sigopt distid:1234567812345678)"
            if public_key.algorithm is KeyAlgorithm.SM2
            else ""
        )
        raise ValidationError("csr", f"the request's signature does not verify{hint}") from None
    except CertsealError as exc:
        raise ValidationError("csr", exc.message) from None
    return SigningRequest(subject, public_key)
