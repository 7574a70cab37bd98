"""CMS signing for integrations as a use case: sign a file, or a digest a client computed, with a registered seal.

What a signing does, in order:

1. The input is checked: exactly one of content and digest; the digest algorithm, if named, is sha256 or sm3;
   attached (the content inside the CMS) needs the content; content at most MAX_CONTENT_BYTES.
2. The seal must be usable by the actor now (SealService.signer_for: Forbidden unless the actor is a user of an
   active, valid, unrevoked seal whose certificate validates; NotFound for an unknown seal).
3. The digest algorithm must be the seal's: sha256 for RSA/ECDSA seals, sm3 for SM2 seals (a Signer hashes with
   its scheme's digest only); a pre-computed digest must have that algorithm's length.
4. The CMS: SignedData (RFC 5652) with CAdES-B signed attributes and a signing-time; GB/T 35275 types for SM2.
   CAdES-T adds a signature timestamp from this deployment's TSA (RFC 3161, in process).
5. An audit event against the seal (entity "seal", action "sign_cms": the seal's usage log): message digest,
   its algorithm, input kind, detached or attached, level and the SHA-256 of the CMS.  Nothing is recorded when
   signing fails.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from certseal.crypto.hashes import digest as hash_content
from certseal.errors import ValidationError
from certseal.logs import get_logger
from certseal.services.audit import Actor
from certseal.services.platform import Platform
from certseal.services.seals import SealService, SealSigner
from certseal.services.tsa import TsaNotConfigured, TsaService
from certseal.signing import cms

log = get_logger("cms-signing")

MAX_CONTENT_BYTES: Final = 64 * 1024 * 1024
SEAL_DIGESTS: Final[tuple[cms.DigestName, ...]] = ("sha256", "sm3")
DIGEST_SIZES: Final[dict[cms.DigestName, int]] = {"sha256": 32, "sm3": 32}
MAX_DIGEST_BYTES: Final = 64
TSA_SETUP_COMMAND: Final = "certseal tsa setup --ca CA --alg rsa2048|p256|sm2"


class CmsLevel(StrEnum):
    """CAdES baseline levels (ETSI EN 319 122-1) a signing can produce."""

    B = "CAdES-B"
    T = "CAdES-T"


@dataclass(frozen=True)
class SignedCmsResult:
    der: bytes  # ContentInfo holding the SignedData
    seal: str
    digest_algorithm: cms.DigestName
    message_digest: bytes  # the digest of the content the signature covers
    detached: bool
    level: CmsLevel
    from_digest: bool  # True: the client sent only the digest

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()


def parse_digest_algorithm(value: str | None, field_name: str = "digest_algorithm") -> cms.DigestName | None:
    """None, or a digest algorithm a seal can sign (sha256, sm3), case-insensitive."""
    if value is None:
        return None
    name = value.strip().lower().replace("-", "")
    if name not in SEAL_DIGESTS:
        raise ValidationError(field_name, f"must be one of {', '.join(SEAL_DIGESTS)}, not {value!r}")
    return name


def parse_hex_digest(text: str, field_name: str = "digest") -> bytes:
    """The bytes of a hex digest (case-insensitive; colons and spaces between digits allowed)."""
    cleaned = text.strip().replace(":", "").replace(" ", "")
    if len(cleaned) > 2 * MAX_DIGEST_BYTES:
        raise ValidationError(
            field_name, f"a digest is at most {MAX_DIGEST_BYTES} bytes ({2 * MAX_DIGEST_BYTES} hex digits)"
        )
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise ValidationError(field_name, f"must be hex digits (as sha256sum prints them), not {text[:80]!r}") from None


class CmsSigningService:
    def __init__(self, platform: Platform, tsa_name: str = "default") -> None:
        self._platform = platform
        self._tsa_name = tsa_name

    def sign(
        self,
        seal: str,
        actor: Actor,
        *,
        content: bytes | None = None,
        digest: bytes | None = None,
        digest_algorithm: str | None = None,
        detached: bool = True,
        timestamp: bool = False,
    ) -> SignedCmsResult:
        """A CMS signature by seal `seal` for `actor` over `content`, or over its pre-computed `digest` (always
        detached); digest_algorithm None means the seal's.  See the module docstring for every step."""
        wanted = parse_digest_algorithm(digest_algorithm)
        _check_input(content, digest, detached)
        seal_signer = SealService(self._platform).signer_for(seal, actor)
        algorithm = _seal_digest(seal_signer, wanted)
        if digest is not None:
            _check_digest_length(digest, algorithm)
        timestamper = self._timestamper() if timestamp else None
        message_digest = bytes(digest) if digest is not None else hash_content(algorithm, content or b"")
        der = self._signed(seal_signer, algorithm, message_digest, None if detached else content, timestamper)
        level = CmsLevel.T if timestamp else CmsLevel.B
        result = SignedCmsResult(der, seal, algorithm, message_digest, detached, level, digest is not None)
        self._record(actor, result)
        return result

    @staticmethod
    def _signed(
        seal_signer: SealSigner,
        algorithm: cms.DigestName,
        message_digest: bytes,
        attached_content: bytes | None,
        timestamper: cms.Timestamper | None,
    ) -> bytes:
        """Detached: over the digest, so the content is hashed once; attached: the content goes inside."""
        moment = datetime.now(UTC)
        if attached_content is not None:
            return cms.sign(
                seal_signer.signer,
                attached_content,
                detached=False,
                chain=seal_signer.chain,
                signing_time=moment,
                timestamper=timestamper,
                digest_algorithm=algorithm,
            )
        return cms.sign_digest(
            seal_signer.signer,
            message_digest,
            digest_algorithm=algorithm,
            chain=seal_signer.chain,
            signing_time=moment,
            timestamper=timestamper,
        )

    # --- checks ----------------------------------------------------------------------------------------------

    def _timestamper(self) -> cms.Timestamper:
        tsa = TsaService(self._platform, self._tsa_name)
        try:
            tsa.active()
        except TsaNotConfigured:
            raise ValidationError(
                "timestamp",
                f"a CAdES-T signature needs the timestamp authority {self._tsa_name!r}, which is not set up: "
                f"run `{TSA_SETUP_COMMAND}` or sign without a timestamp",
            ) from None
        return cms.rfc3161_timestamper(tsa.stamp)

    # --- audit -----------------------------------------------------------------------------------------------

    def _record(self, actor: Actor, result: SignedCmsResult) -> None:
        with self._platform.unit_of_work(actor) as uow:
            uow.record(
                "seal",
                result.seal,
                "sign_cms",
                after={
                    "seal": result.seal,
                    "input": "digest" if result.from_digest else "content",
                    "digest_algorithm": result.digest_algorithm,
                    "message_digest": result.message_digest.hex(),
                    "detached": result.detached,
                    "level": result.level.value,
                    "cms_sha256": result.sha256,
                },
            )
        log.info(
            "CMS signed with seal %s (%s, %s, %s) by %s: %s digest %s",
            result.seal,
            result.level.value,
            "detached" if result.detached else "attached",
            "digest" if result.from_digest else "content",
            actor.name,
            result.digest_algorithm,
            result.message_digest.hex()[:16],
        )


def _check_input(content: bytes | None, digest: bytes | None, detached: bool) -> None:
    if (content is None) == (digest is None):
        raise ValidationError("input", "give exactly one of the content (a file) and its digest")
    if digest is not None and not detached:
        raise ValidationError("detached", "a signature over a digest is detached: attach only a signed file")
    if content is not None and len(content) > MAX_CONTENT_BYTES:
        raise ValidationError("content", f"must be at most {MAX_CONTENT_BYTES // (1024 * 1024)} MiB")


def _seal_digest(seal_signer: SealSigner, wanted: cms.DigestName | None) -> cms.DigestName:
    """The seal's digest algorithm; ValidationError if the client named another."""
    algorithm = cms.default_digest(seal_signer.signer)
    if wanted is not None and wanted != algorithm:
        kind = "an SM2" if algorithm == "sm3" else "an RSA/ECDSA"
        raise ValidationError(
            "digest_algorithm",
            f"seal {seal_signer.info.name!r} is {kind} seal: it signs {algorithm} digests, not {wanted}",
        )
    return algorithm


def _check_digest_length(digest: bytes, algorithm: cms.DigestName) -> None:
    size = DIGEST_SIZES[algorithm]
    if len(digest) != size:
        raise ValidationError(
            "digest", f"a {algorithm} digest is {size} bytes ({2 * size} hex digits), got {len(digest)} bytes"
        )
