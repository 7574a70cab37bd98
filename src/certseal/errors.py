"""The one hierarchy of errors that certseal reports to people: each carries a clear message."""

from __future__ import annotations


class CertsealError(Exception):
    """Base of every error certseal raises on purpose; the message is meant for the user."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(CertsealError):
    """Configuration is missing or invalid."""


class ValidationError(CertsealError):
    """Input broke a rule; names the field and the rule."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class NotFound(CertsealError):
    """A named thing does not exist."""


class AlreadyExists(CertsealError):
    """A named thing exists already."""


class CryptoError(CertsealError):
    """A cryptographic operation failed or is not available."""


class UnsupportedAlgorithm(CryptoError):
    """The algorithm is not available here (for example SM2 in a libcrypto built without it)."""


class InvalidSignature(CryptoError):
    """A signature does not verify."""


class DecryptionFailed(CryptoError):
    """Ciphertext failed its integrity check or the key is wrong."""


class KeyUnwrapError(CryptoError):
    """A stored private key cannot be decrypted: wrong key-encryption key or corrupt key material."""


class TokenError(CryptoError):
    """A crypto token (software or PKCS#11) cannot be used."""


class Unauthenticated(CertsealError):
    """No valid credential was presented."""


class Forbidden(CertsealError):
    """The credential is valid but its role does not allow this."""
