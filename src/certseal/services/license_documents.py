"""The files of an issued license version: render 正本/副本 to PDF and OFD, seal them with the regulator's license
seals, and check the seals of stored files for the public page.

INTERFACE FIRST: the registry (certseal.services.licenses) calls `LicenseDocuments.produce` inside issue / change /
renew and `seal_verdict` for the public record; the bodies are filled in by the documents work.  Keep the
signatures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from certseal.licenses.render.layout import Copy
from certseal.licenses.schema import LicenseType
from certseal.services.audit import Actor
from certseal.services.licenses import FileFormat, SealVerdict
from certseal.services.platform import Platform


@dataclass(frozen=True)
class ProducedFile:
    copy: Copy
    format: FileFormat
    content: bytes
    seal: str  # name of the seal used
    sha256: str


@dataclass(frozen=True)
class LicenseSeals:
    """The seals `ensure_license_seals` found or created (names as in settings license_pdf_seal/license_ofd_seal)."""

    pdf_seal: str
    ofd_seal: str
    created: tuple[str, ...]


class LicenseDocuments:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    def produce(
        self,
        license_type: LicenseType,
        data: Mapping[str, Any],
        *,
        identifier: str,
        number: str,
        version: int,
        qr_text: str,
        issue_date: date,
        actor: Actor,
        change_history: Sequence[Mapping[str, Any]] = (),
        formats: Sequence[FileFormat] | None = None,
    ) -> list[ProducedFile]:
        """Render both faces in every format (default: settings.license_formats) and seal each at the layout's
        seal position with the format's seal.  A missing or unusable seal → ValidationError naming the setting."""
        raise NotImplementedError

    def seal_verdict(self, content: bytes, file_format: FileFormat) -> SealVerdict:
        """Verify a stored file's seals with the verification service; cached by SHA-256 of the content."""
        raise NotImplementedError

    def ensure_license_seals(self, actor: Actor) -> LicenseSeals:
        """For `init --demo`: create the regulator's 电子证照专用章 seals (RSA under demo-rsa-root for PDF, SM2
        under demo-sm2-root for OFD) with keys in the software token, if they do not exist yet."""
        raise NotImplementedError
