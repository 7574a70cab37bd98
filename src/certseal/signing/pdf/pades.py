"""The CMS inside a PDF seal: SignatureProducers for certseal.signing.pdf.sealing.seal.

- RSA / ECDSA seals: PAdES baseline (ETSI EN 319 142-1), SubFilter ETSI.CAdES.detached, SHA-256, CAdES-B signed
  attributes (content-type, message-digest, signing-certificate-v2) and no signing-time attribute, which PAdES
  forbids (the time is the signature dictionary's /M).  With a Timestamper the SignerInfo gets a signature
  timestamp (id-aa-signatureTimeStampToken over the signature value): PAdES B-T.  B-LT is B-T plus a DSS added by
  a later incremental update (dss.add_dss), so nothing more is needed in the CMS.
- SM2 seals: SubFilter adbe.pkcs7.detached carrying a GB/T 35275 SignedData (SM3 digest, SM2 signature with the
  standard ID, the GB/T 35275 content type OIDs) built by cms.sign_digest; it carries a signing-time attribute,
  which adbe.pkcs7.detached allows and Chinese verifiers expect.  A Timestamper adds the same signature timestamp
  (SM3 imprint) as for PAdES B-T.

Every producer reserves room for its CMS before the byte range is hashed, so the size is estimated from what
goes in: the certificates, the signer's key size, the issuer name repeated in sid and signing-certificate-v2, and
the timestamp token's room.  The estimate errs on the large side (unused room is zero padding in /Contents).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime

from asn1crypto import x509

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.signer import Signer
from certseal.errors import CryptoError
from certseal.signing import cms

PADES_SUBFILTER = "ETSI.CAdES.detached"
SM2_SUBFILTER = "adbe.pkcs7.detached"
# SignedData framing, algorithm identifiers, attribute types and DER headers: well under 1 KiB in practice
_CMS_OVERHEAD = 1024
# TSTInfo, the token's SignerInfo and signed attributes, the TSA name: a timestamp token without its certificates
_TOKEN_OVERHEAD = 2048


def timestamp_reserve(tsa_certificates: Sequence[bytes], tsa_key_size: int = 512) -> int:
    """Bytes to reserve for a signature timestamp token carrying `tsa_certificates` (DER) and a signature of at
    most `tsa_key_size` bytes."""
    return sum(len(der) for der in tsa_certificates) + tsa_key_size + _TOKEN_OVERHEAD


def _signature_bound(signer: Signer) -> int:
    """An upper bound of the signature's length: never more than the SubjectPublicKeyInfo (RSA modulus, EC point
    + DER overhead of r, s)."""
    return len(signer.public_key.spki_der) + 16


def _issuer_name_size(certificate: bytes) -> int:
    return len(x509.Certificate.load(certificate).issuer.dump())


def _certificate_of(signer: Signer) -> bytes:
    certificate = signer.certificate
    if certificate is None:
        raise CryptoError(f"key {signer.key_label!r} has no certificate: a PDF seal needs the seal certificate")
    return certificate


def estimate_reserved_size(signer: Signer, chain: Sequence[bytes], timestamp_room: int = 0) -> int:
    """Bytes of DER CMS to reserve in /Contents for a signature by `signer` carrying its certificate and `chain`."""
    certificate = _certificate_of(signer)
    certificates = len(certificate) + sum(len(der) for der in chain)
    return certificates + 2 * _issuer_name_size(certificate) + _signature_bound(signer) + _CMS_OVERHEAD + timestamp_room


class _SealProducer(ABC):
    """What both producers share: the timestamp room check, the size estimate, and cms.sign_digest over the digest
    with CAdES attributes; a subclass names its digest, SubFilter, the keys it takes and its signing time."""

    digest_algorithm: cms.DigestName
    subfilter: str

    def __init__(
        self,
        signer: Signer,
        chain: Sequence[bytes] = (),
        timestamper: cms.Timestamper | None = None,
        timestamp_room: int = 0,
    ) -> None:
        self._check_key(signer)
        if timestamper is not None and timestamp_room <= 0:
            raise CryptoError("a timestamped signature needs room for the token: give timestamp_room")
        self._signer = signer
        self._chain = tuple(chain)
        self._timestamper = timestamper
        self.reserved_size = estimate_reserved_size(signer, self._chain, timestamp_room if timestamper else 0)

    @abstractmethod
    def _check_key(self, signer: Signer) -> None:
        """Raise CryptoError for a key this producer does not sign with."""

    @abstractmethod
    def _signing_time(self) -> datetime | None:
        """The signing-time attribute's value, or None for none (PAdES forbids it)."""

    def __call__(self, digest: bytes) -> bytes:
        return cms.sign_digest(
            self._signer,
            digest,
            digest_algorithm=self.digest_algorithm,
            chain=self._chain,
            signing_time=self._signing_time(),
            cades=True,
            timestamper=self._timestamper,
        )


class PadesProducer(_SealProducer):
    """PAdES B-B (or B-T with a timestamper) for RSA and ECDSA seal keys: ETSI.CAdES.detached over SHA-256."""

    digest_algorithm = "sha256"
    subfilter = PADES_SUBFILTER

    def _check_key(self, signer: Signer) -> None:
        if signer.key_algorithm is KeyAlgorithm.SM2:
            raise CryptoError("an SM2 seal key signs SM2 seals (Sm2SealProducer), not PAdES")

    def _signing_time(self) -> datetime | None:
        return None  # PAdES baseline: the signing time is /M, a signing-time attribute is forbidden


class Sm2SealProducer(_SealProducer):
    """SM2 seals: adbe.pkcs7.detached carrying a GB/T 35275 SignedData over the SM3 digest of the byte range."""

    digest_algorithm = "sm3"
    subfilter = SM2_SUBFILTER

    def _check_key(self, signer: Signer) -> None:
        if signer.key_algorithm is not KeyAlgorithm.SM2:
            raise CryptoError(f"an SM2 seal needs an SM2 key, not {signer.key_algorithm.value}")

    def _signing_time(self) -> datetime | None:
        return datetime.now(UTC)


def producer_for(
    signer: Signer,
    chain: Sequence[bytes] = (),
    timestamper: cms.Timestamper | None = None,
    timestamp_room: int = 0,
) -> PadesProducer | Sm2SealProducer:
    """The producer a seal key calls for: SM2 seals for SM2 keys, PAdES for RSA and ECDSA keys."""
    if signer.key_algorithm is KeyAlgorithm.SM2:
        return Sm2SealProducer(signer, chain, timestamper, timestamp_room)
    return PadesProducer(signer, chain, timestamper, timestamp_room)
