"""Key and signature algorithms certseal supports, with their object identifiers."""

from __future__ import annotations

from enum import StrEnum

from certseal.errors import ValidationError

SM2_CURVE_OID = "1.2.156.10197.1.301"
SM2_WITH_SM3_OID = "1.2.156.10197.1.501"
SM3_OID = "1.2.156.10197.1.401"
SM4_OID = "1.2.156.10197.1.104"
SM2_DEFAULT_ID = b"1234567812345678"


class KeyAlgorithm(StrEnum):
    RSA2048 = "rsa2048"
    RSA3072 = "rsa3072"
    P256 = "p256"
    SM2 = "sm2"

    @property
    def is_rsa(self) -> bool:
        return self in (KeyAlgorithm.RSA2048, KeyAlgorithm.RSA3072)

    @property
    def rsa_bits(self) -> int:
        return {KeyAlgorithm.RSA2048: 2048, KeyAlgorithm.RSA3072: 3072}[self]

    @property
    def default_scheme(self) -> SignatureScheme:
        if self.is_rsa:
            return SignatureScheme.RSA_PKCS1_SHA256
        if self is KeyAlgorithm.P256:
            return SignatureScheme.ECDSA_SHA256
        return SignatureScheme.SM2_SM3

    def allows(self, scheme: SignatureScheme) -> bool:
        return scheme in _SCHEMES_BY_KEY[self]

    @classmethod
    def parse(cls, value: str, field: str = "alg") -> KeyAlgorithm:
        try:
            return cls(value.lower())
        except ValueError:
            allowed = ", ".join(a.value for a in cls)
            raise ValidationError(field, f"must be one of {allowed}, not {value!r}") from None


class SignatureScheme(StrEnum):
    RSA_PKCS1_SHA256 = "rsa-pkcs1-sha256"
    RSA_PSS_SHA256 = "rsa-pss-sha256"
    ECDSA_SHA256 = "ecdsa-sha256"
    SM2_SM3 = "sm2-sm3"

    @property
    def digest_name(self) -> str:
        return "sm3" if self is SignatureScheme.SM2_SM3 else "sha256"

    @classmethod
    def parse(cls, value: str, field: str = "scheme") -> SignatureScheme:
        try:
            return cls(value.lower())
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise ValidationError(field, f"must be one of {allowed}, not {value!r}") from None


_SCHEMES_BY_KEY: dict[KeyAlgorithm, frozenset[SignatureScheme]] = {
    KeyAlgorithm.RSA2048: frozenset({SignatureScheme.RSA_PKCS1_SHA256, SignatureScheme.RSA_PSS_SHA256}),
    KeyAlgorithm.RSA3072: frozenset({SignatureScheme.RSA_PKCS1_SHA256, SignatureScheme.RSA_PSS_SHA256}),
    KeyAlgorithm.P256: frozenset({SignatureScheme.ECDSA_SHA256}),
    KeyAlgorithm.SM2: frozenset({SignatureScheme.SM2_SM3}),
}
