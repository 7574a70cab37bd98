"""The one Signer interface every format (certificate, CRL, OCSP, TSA, CMS, PDF, OFD) signs through.

A Signer hides where its key lives: a software token, a PKCS#11 token or a remote pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.keys import PublicKey


@runtime_checkable
class Signer(Protocol):
    @property
    def key_label(self) -> str: ...

    @property
    def key_algorithm(self) -> KeyAlgorithm: ...

    @property
    def scheme(self) -> SignatureScheme: ...

    @property
    def public_key(self) -> PublicKey: ...

    @property
    def certificate(self) -> bytes | None:
        """DER certificate bound to the key, if any."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Hash `data` as the scheme requires and return the DER/raw signature (RSA: raw, ECDSA/SM2: DER)."""
        ...

    def sign_digest(self, digest: bytes) -> bytes:
        """Sign a digest computed by the caller (SM2: e = SM3(Z || M), see sm2.z_digest)."""
        ...


class ForwardingSigner:
    """Forwards a Signer's key, scheme and signing to `inner`; wrappers add the certificate (a property or a
    field) and override what they change."""

    inner: Signer

    @property
    def key_label(self) -> str:
        return self.inner.key_label

    @property
    def key_algorithm(self) -> KeyAlgorithm:
        return self.inner.key_algorithm

    @property
    def scheme(self) -> SignatureScheme:
        return self.inner.scheme

    @property
    def public_key(self) -> PublicKey:
        return self.inner.public_key

    def sign(self, data: bytes) -> bytes:
        return self.inner.sign(data)

    def sign_digest(self, digest: bytes) -> bytes:
        return self.inner.sign_digest(digest)


@dataclass(frozen=True)
class CertifiedSigner(ForwardingSigner):
    """A Signer with a certificate attached; delegates the signing to the inner signer."""

    inner: Signer
    certificate: bytes
