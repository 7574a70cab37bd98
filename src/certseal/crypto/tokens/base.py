"""What every crypto token offers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.keys import PublicKey
from certseal.crypto.signer import Signer

HEALTH_PROBE = b"certseal token health probe"


@dataclass(frozen=True)
class TokenHealth:
    token: str
    ok: bool
    detail: str
    latency_ms: float


@dataclass(frozen=True)
class TokenKey:
    """A key as a token sees it."""

    label: str
    algorithm: KeyAlgorithm
    public_key: PublicKey


class Token(Protocol):
    @property
    def kind(self) -> str:
        """'software' or 'pkcs11'."""
        ...

    def generate_key(self, label: str, algorithm: KeyAlgorithm) -> TokenKey: ...

    def get_key(self, label: str) -> TokenKey:
        """Raise certseal.errors.NotFound when the token has no key with that label."""
        ...

    def list_keys(self) -> list[TokenKey]: ...

    def delete_key(self, label: str) -> None: ...

    def signer(self, label: str, scheme: SignatureScheme | None = None) -> Signer: ...

    def health(self) -> TokenHealth:
        """Make and verify a test signature; never raises."""
        ...
