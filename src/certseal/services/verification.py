"""The verification use case: take a signed file, find what kind it is, verify every signature, return one report.

Kinds are tried in registration order, each with a cheap `detect(data)`: PDF (%PDF- header), OFD (a ZIP holding
OFD.xml), CMS (DER or PEM ContentInfo with SignedData).  The OFD verifier plugs in later through
`register_verifier(FileKind.OFD, detect, verify)`, which replaces the placeholder that answers "not yet"; a module
that registers itself at import is listed in PLUGIN_MODULES so the service imports it before the first verification.
"""

from __future__ import annotations

import importlib
import io
import threading
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from asn1crypto import cms as asn1_cms
from asn1crypto import pem, x509

from certseal.errors import CertsealError, ValidationError
from certseal.logs import get_logger
from certseal.pki.path import PathResult
from certseal.services.ca import CaService
from certseal.services.ocsp import OcspService
from certseal.services.platform import Platform
from certseal.services.trust import TrustService
from certseal.signing import cms
from certseal.signing.verify.certificates import CertificateValidator, OcspSender
from certseal.signing.verify.report import FileKind, SignatureReport, VerificationReport

log = get_logger("verification")

# modules that call register_verifier when imported (the OFD verifier adds itself here)
PLUGIN_MODULES: tuple[str, ...] = ("certseal.services.ofd_sealing",)
_PEM_CMS_LABELS = {"CMS", "PKCS7", "PKCS #7 SIGNED DATA"}
_SIGNED_DATA_TYPES = {cms.ID_SIGNED_DATA, cms.SM2_SIGNED_DATA}


class UnsupportedFormat(ValidationError):
    """A file of a kind this deployment recognises but cannot verify yet (HTTP 422, CLI exit 2)."""

    def __init__(self, rule: str) -> None:
        super().__init__("file", rule)


@dataclass(frozen=True)
class VerificationRequest:
    """What a verifier function gets: the file, optional detached content, and the certificate validator."""

    data: bytes
    filename: str | None
    detached_content: bytes | None
    validator: CertificateValidator


Detector = Callable[[bytes], bool]
Verifier = Callable[[VerificationRequest], Sequence[SignatureReport]]


@dataclass(frozen=True)
class _Registered:
    kind: FileKind
    detect: Detector
    verify: Verifier


_REGISTRY: list[_Registered] = []
_LOCK = threading.Lock()
_plugins_loaded = False


def register_verifier(kind: FileKind, detect: Detector, verify: Verifier) -> None:
    """Add (or replace) the verifier of a kind; kinds are tried in the order they were first registered."""
    with _LOCK:
        for index, registered in enumerate(_REGISTRY):
            if registered.kind is kind:
                _REGISTRY[index] = _Registered(kind, detect, verify)
                return
        _REGISTRY.append(_Registered(kind, detect, verify))


def registered_kinds() -> list[FileKind]:
    return [r.kind for r in _REGISTRY]


class VerificationService:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    def verify(
        self,
        data: bytes,
        filename: str | None = None,
        detached_content: bytes | None = None,
        at: datetime | None = None,
    ) -> VerificationReport:
        """Verify every signature of `data`; ValidationError for input that is no signed file at all."""
        _load_plugins()
        if not data:
            raise ValidationError("file", "is empty")
        moment = (at or datetime.now(UTC)).astimezone(UTC)
        registered = _detect(data)
        validator = self.validator(moment)
        request = VerificationRequest(data, filename, detached_content, validator)
        signatures = _run(registered, request)
        report = VerificationReport(registered.kind, filename, moment, signatures)
        log.info(
            "verified %s %s: %s (%s)",
            registered.kind.value,
            filename or "(unnamed)",
            report.indication.value,
            report.summary,
        )
        return report

    def validator(self, at: datetime) -> CertificateValidator:
        """A CertificateValidator over this deployment: its trust anchors, and its CAs' OCSP responders."""
        trust = TrustService(self._platform)
        ocsp_service = OcspService(self._platform)
        ours = [
            (ca.name, x509.Certificate.load(ca.certificate_der))
            for ca in CaService(self._platform).list_cas()
            if ca.key_label is not None
        ]

        def validate_path(leaf_der: bytes, extra_certs: Sequence[bytes], moment: datetime) -> PathResult:
            return trust.validate(leaf_der, extra_certs, moment)

        def own_responder(issuer: x509.Certificate) -> tuple[str, OcspSender] | None:
            key = issuer.public_key.dump()
            for name, certificate in ours:
                if certificate.subject == issuer.subject and certificate.public_key.dump() == key:
                    return name, partial(ocsp_service.respond, name)
            return None

        return CertificateValidator(validate_path, own_responder, at, [c.dump() for _, c in ours])


def _run(registered: _Registered, request: VerificationRequest) -> tuple[SignatureReport, ...]:
    """The verifier's reports; a malformed file that slips past its checks is bad input, never a crash."""
    try:
        return tuple(registered.verify(request))
    except CertsealError:
        raise
    except Exception as exc:
        log.exception("verifying %s %s failed", registered.kind.value, request.filename or "(unnamed)")
        raise ValidationError(
            "file",
            f"this {registered.kind.value.upper()} file cannot be verified: it is malformed ({type(exc).__name__})",
        ) from None


def _detect(data: bytes) -> _Registered:
    for registered in list(_REGISTRY):
        if registered.detect(data):
            return registered
    raise ValidationError("file", "not a PDF, OFD or CMS signature")


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    for module in PLUGIN_MODULES:
        importlib.import_module(module)
    _plugins_loaded = True


# --- PDF ------------------------------------------------------------------------------------------------------------


def is_pdf(data: bytes) -> bool:
    """A %PDF- header in the first 1024 bytes (as readers allow), but not inside a DER CMS that carries a PDF."""
    return b"%PDF-" in data[:1024] and not data.startswith(b"\x30")


def _verify_pdf(request: VerificationRequest) -> Sequence[SignatureReport]:
    from certseal.signing.verify.pdf import verify_pdf

    if request.detached_content is not None:
        raise ValidationError("content", "a PDF carries what it signs: give no detached content")
    return verify_pdf(request.data, request.validator)


# --- OFD (placeholder until the OFD verifier registers) --------------------------------------------------------------


def is_ofd(data: bytes) -> bool:
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return any(name.lstrip("/") == "OFD.xml" for name in archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return False


def _ofd_not_yet(request: VerificationRequest) -> Sequence[SignatureReport]:
    raise UnsupportedFormat("OFD signature verification is not available yet in this version")


# --- CMS ------------------------------------------------------------------------------------------------------------


def cms_der(data: bytes) -> bytes | None:
    """The DER ContentInfo(SignedData) in `data` (DER, or PEM CMS / PKCS7), or None if it holds none."""
    der = data
    if pem.detect(data):
        try:
            label, _, der = pem.unarmor(data)
        except ValueError:
            return None
        if label not in _PEM_CMS_LABELS:
            return None
    if not der.startswith(b"\x30"):
        return None
    try:
        info = asn1_cms.ContentInfo.load(der)
        content_type = info["content_type"].dotted
    except (ValueError, TypeError, KeyError):
        return None
    return der if content_type in _SIGNED_DATA_TYPES else None


def is_cms(data: bytes) -> bool:
    return cms_der(data) is not None


def _verify_cms(request: VerificationRequest) -> Sequence[SignatureReport]:
    from certseal.signing.verify.cms import verify_cms

    der = cms_der(request.data)
    assert der is not None
    return verify_cms(der, request.validator, request.detached_content)


register_verifier(FileKind.PDF, is_pdf, _verify_pdf)
register_verifier(FileKind.OFD, is_ofd, _ofd_not_yet)
register_verifier(FileKind.CMS, is_cms, _verify_cms)
