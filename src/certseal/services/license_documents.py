"""The files of an issued license version: render 正本/副本 to PDF and OFD, seal them with the regulator's license
seals, and check the seals of stored files for the public page.

The registry (certseal.services.licenses) calls `LicenseDocuments.produce` inside issue / change / renew and
`seal_verdict` for the public record; `certseal init --demo` calls `ensure_license_seals`.

- Which seal seals what: settings license_pdf_seal (RSA or ECDSA: pdfsig and other PDF readers cannot check SM2)
  and license_ofd_seal (SM2: GB/T 38540 knows only SM2).  Each face is sealed at the layout's seal spot (over the
  issuing authority's name and the date).
- Who applies the seals: the license registry itself, as the actor `license-registry` (LICENSE_SEAL_USER), on
  behalf of the officer whose action issues the license (named in the sealing's audit source).  A license seal is
  the regulator's, not an officer's: officers are authorised by the registry's permissions (license:issue), the
  seal registry only has to allow the registry.  A seal created by hand must list that user
  (`certseal seal users NAME --add license-registry`).
- Evidence of time: PDFs are sealed at PAdES B-T and OFD signatures carry an RFC 3161 timestamp when the
  deployment's TSA is set up, else at B-B / without timestamp.  B-LT is not used: the registry re-issues files
  on change and renewal, and the public page verifies against this deployment's own OCSP responders.
- Seal verdicts are cached per file digest (bounded LRU in Platform.memo) for VERDICT_TTL_SECONDS, so a revoked
  seal certificate shows on the public page within that time.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.errors import ConfigError, Forbidden, NotFound, ValidationError
from certseal.licenses.render import IssueFacts, issue_facts, render_ofd, render_pdf
from certseal.licenses.render.layout import Copy
from certseal.licenses.schema import LicenseType
from certseal.logs import get_logger
from certseal.ofd.fonts import find_cjk_font
from certseal.pki.names import format_dn, parse_dn
from certseal.pki.path import Indication, SubIndication
from certseal.seals.image import RoundSealDesign
from certseal.seals.model import SealInfo, SealStatus, SealType
from certseal.seals.placement import AtPosition
from certseal.services.audit import Actor
from certseal.services.ca import CaService
from certseal.services.licenses import FileFormat, SealVerdict
from certseal.services.ofd_sealing import MAKER_PROFILE, MAKER_SUBJECT, OfdSealingService
from certseal.services.pdf_sealing import PadesLevel, PdfSealingService
from certseal.services.platform import Platform
from certseal.services.qr_keys import QrKeyService
from certseal.services.seals import SealService
from certseal.services.tsa import TsaNotConfigured, TsaService
from certseal.services.verification import VerificationService
from certseal.signing.verify.report import FileKind, SignatureReport, VerificationReport
from certseal.store.models import IssuedCertificate

log = get_logger("license-documents")

LICENSE_SEAL_USER = "license-registry"  # the actor that applies license seals (see the module docstring)
COPIES: tuple[Copy, ...] = ("original", "duplicate")
PDF_SEAL_CAS = ("demo-rsa-root",)  # certify the PDF license seal (RSA-2048)
OFD_SEAL_CAS = ("demo-sm2-issuing", "demo-sm2-root")  # certify the OFD license seal (SM2), first one present
QR_KEY_CAS = ("demo-rsa-root",)  # certifies the P-256 QR key: any CA does, an RSA one is checkable everywhere
SEAL_PROFILE = "seal"
VERDICT_CACHE_SIZE = 1024
VERDICT_TTL_SECONDS = 300.0
_SEAL_FIELD = {FileFormat.PDF: "license_pdf_seal", FileFormat.OFD: "license_ofd_seal"}
_SUB_INDICATION_ZH = {
    SubIndication.HASH_FAILURE: "文件在盖章后被改动",
    SubIndication.SIG_CRYPTO_FAILURE: "签名值不正确",
    SubIndication.FORMAT_FAILURE: "签名格式错误",
    SubIndication.REVOKED: "印章证书已被撤销",
    SubIndication.REVOKED_NO_POE: "印章证书已被撤销",
    SubIndication.REVOKED_CA_NO_POE: "签发印章证书的CA已被撤销",
    SubIndication.OUT_OF_BOUNDS_NO_POE: "印章证书已过期",
    SubIndication.NOT_YET_VALID: "印章证书尚未生效",
    SubIndication.NO_CERTIFICATE_CHAIN_FOUND: "印章证书不受信任",
    SubIndication.CHAIN_CONSTRAINTS_FAILURE: "印章证书链不符合要求",
    SubIndication.TRY_LATER: "暂时无法查询印章证书状态",
}
_CN = re.compile(r"(?:^|, )CN=((?:[^,\\]|\\.)*)")


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


@dataclass(frozen=True)
class _Rendering:
    """What produce() fixes once for every face and format."""

    license_type: LicenseType
    data: Mapping[str, Any]
    facts: IssueFacts
    ofd_font_path: str | None  # settings.ofd_font_path, checked


class LicenseDocuments:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    # --- producing the sealed files ------------------------------------------------------------------------------

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
        seal position with the format's seal.  A missing or unusable seal → ValidationError naming the setting.

        The faces are those the type has (a pharmacist certificate has no 副本); files come in the order original,
        duplicate, within a face in the order of `formats`.  The seals and the OFD font are checked before anything
        is rendered or sealed."""
        wanted = self._formats(formats)
        sealer = registry_actor(actor)
        seals = {file_format: self.usable_seal(file_format, sealer) for file_format in wanted}
        font_path = self._ofd_font_path() if FileFormat.OFD in wanted else None
        timestamped = self._tsa_ready()
        facts = issue_facts(
            identifier=identifier,
            number=number,
            version=version,
            qr_text=qr_text,
            issuer=self._platform.settings.license_issuer,
            issue_date=issue_date,
            change_history=change_history,
        )
        rendering = _Rendering(license_type, data, facts, font_path)
        started = time.perf_counter()
        files = [
            self._face(rendering, copy, file_format, seals[file_format], sealer, timestamped)
            for copy in COPIES
            if copy in license_type.document.layouts
            for file_format in wanted
        ]
        log.info(
            "license %s v%d: %d sealed file(s) (%s) in %.0f ms for %s",
            number,
            version,
            len(files),
            ",".join(f.value for f in wanted),
            (time.perf_counter() - started) * 1000,
            actor.name,
        )
        return files

    def usable_seal(self, file_format: FileFormat, sealer: Actor | None = None) -> str:
        """The name of the seal of `file_format` after checking it can seal now; ValidationError naming the setting
        (license_pdf_seal / license_ofd_seal) otherwise."""
        field = _SEAL_FIELD[file_format]
        name: str = getattr(self._platform.settings, field)
        who = sealer or Actor(LICENSE_SEAL_USER, "license-documents")
        try:
            signer = SealService(self._platform).signer_for(name, who)
        except NotFound:
            raise ValidationError(
                field, f"seal {name!r} does not exist: run `certseal init --demo` or create it and set {field}"
            ) from None
        except Forbidden as exc:
            hint = ""
            if "not one of its users" in exc.message:
                hint = f" (certseal seal users {name} --add {LICENSE_SEAL_USER})"
            raise ValidationError(field, f"seal {name!r} cannot seal licenses: {exc.message}{hint}") from None
        if file_format is FileFormat.OFD and signer.signer.scheme is not SignatureScheme.SM2_SM3:
            raise ValidationError(
                field, f"seal {name!r} has a {signer.signer.key_algorithm.value} key: OFD seals need an SM2 seal"
            )
        return name

    def _face(
        self,
        rendering: _Rendering,
        copy: Copy,
        file_format: FileFormat,
        seal: str,
        sealer: Actor,
        timestamped: bool,
    ) -> ProducedFile:
        if file_format is FileFormat.PDF:
            content = self._sealed_pdf(rendering, copy, seal, sealer, timestamped)
        else:
            content = self._sealed_ofd(rendering, copy, seal, sealer, timestamped)
        return ProducedFile(copy, file_format, content, seal, hashlib.sha256(content).hexdigest())

    def _sealed_pdf(self, rendering: _Rendering, copy: Copy, seal: str, sealer: Actor, timestamped: bool) -> bytes:
        pdf = render_pdf(rendering.license_type, rendering.data, rendering.facts, copy=copy)
        page, x, y = pdf.seal_position
        sealed = PdfSealingService(self._platform).seal(
            pdf.pdf,
            seal,
            sealer,
            AtPosition(page, x, y),
            PadesLevel.B_T if timestamped else PadesLevel.B_B,
            reason=f"电子证照 {rendering.facts.number} 签发",
            location=rendering.facts.issuer,
        )
        return sealed.pdf

    def _sealed_ofd(self, rendering: _Rendering, copy: Copy, seal: str, sealer: Actor, timestamped: bool) -> bytes:
        ofd = render_ofd(
            rendering.license_type, rendering.data, rendering.facts, copy=copy, font_path=rendering.ofd_font_path
        )
        page, x, y = ofd.seal_position
        return OfdSealingService(self._platform).seal(ofd.ofd, seal, sealer, AtPosition(page, x, y), timestamped).ofd

    def _formats(self, formats: Sequence[FileFormat] | None) -> list[FileFormat]:
        field = "license_formats" if formats is None else "formats"
        names = self._platform.settings.license_formats.split(",") if formats is None else list(formats)
        try:
            chosen = [FileFormat(str(name).strip()) for name in names]
        except ValueError:
            raise ValidationError(field, "must list pdf and/or ofd, e.g. pdf,ofd") from None
        unique = list(dict.fromkeys(chosen))
        if not unique:
            raise ValidationError("formats", "give at least one of pdf, ofd")
        return unique

    def _ofd_font_path(self) -> str | None:
        """settings.ofd_font_path, checked (ConfigError naming the setting); None: the license font."""
        path = self._platform.settings.ofd_font_path
        if path is None:
            return None
        try:
            find_cjk_font(path)
        except (ConfigError, ValidationError) as exc:
            raise ConfigError(f"ofd_font_path (CERTSEAL_OFD_FONT_PATH) {path}: {exc.message}") from None
        return str(path)

    def _tsa_ready(self) -> bool:
        try:
            TsaService(self._platform).active()
        except TsaNotConfigured:
            return False
        return True

    # --- seal verdicts -------------------------------------------------------------------------------------------

    def seal_verdict(self, content: bytes, file_format: FileFormat) -> SealVerdict:
        """Verify a stored file's seals with the verification service; cached by SHA-256 of the content."""
        file_format = FileFormat(file_format)
        key = f"{file_format.value}:{hashlib.sha256(content).hexdigest()}"
        cache = _verdict_cache(self._platform)
        found = cache.get(key)
        if found is not None:
            return found
        verdict = self._verdict(content, file_format)
        cache.put(key, verdict)
        return verdict

    def _verdict(self, content: bytes, file_format: FileFormat) -> SealVerdict:
        try:
            report = VerificationService(self._platform).verify(content, f"license.{file_format.value}")
        except ValidationError as exc:
            return SealVerdict(
                Indication.FAILED.value,
                f"文件无法校验：{exc.rule} / The file cannot be verified: {exc.rule}",
            )
        if report.kind is not FileKind(file_format.value):
            raise ValidationError("format", f"the file is {report.kind.value.upper()}, not {file_format.value.upper()}")
        return verdict_of(report)

    # --- the regulator's license seals ---------------------------------------------------------------------------

    def ensure_license_seals(self, actor: Actor) -> LicenseSeals:
        """For `init --demo`: create the regulator's 电子证照专用章 seals (RSA under demo-rsa-root for PDF, SM2
        under demo-sm2-issuing, else demo-sm2-root, for OFD) with keys in the software token, the OFD seal maker and
        the license QR key, where they do not exist yet.  Idempotent: a second call creates nothing."""
        settings = self._platform.settings
        created: list[str] = []
        self._ensure_seal(settings.license_pdf_seal, FileFormat.PDF, actor, created)
        ofd_seal = self._ensure_seal(settings.license_ofd_seal, FileFormat.OFD, actor, created)
        self._ensure_seal_maker(ofd_seal, actor, created)
        self._ensure_qr_key(actor, created)
        if created:
            log.info("license seals: created %s for %s", "; ".join(created), actor.name)
        return LicenseSeals(settings.license_pdf_seal, settings.license_ofd_seal, tuple(created))

    def _ensure_seal(self, name: str, file_format: FileFormat, actor: Actor, created: list[str]) -> SealInfo:
        seals = SealService(self._platform)
        try:
            return seals.get(name)
        except NotFound:
            pass
        settings = self._platform.settings
        field = _SEAL_FIELD[file_format]
        algorithm = KeyAlgorithm.RSA2048 if file_format is FileFormat.PDF else KeyAlgorithm.SM2
        ca = self._certifying_ca(PDF_SEAL_CAS if file_format is FileFormat.PDF else OFD_SEAL_CAS, algorithm, field)
        subject = format_dn(
            {
                "common_name": f"{settings.license_issuer}{SealType.LICENSE.label}",
                "organization_name": settings.license_issuer,
                "serial_number": settings.license_issuer_code,
                "country_name": "CN",
            }
        )
        issued = CaService(self._platform).issue(ca, SEAL_PROFILE, actor, subject=subject, generate=algorithm)
        info = seals.create(
            name,
            issued.certificate_der,
            actor,
            seal_type=SealType.LICENSE,
            code=self._free_seal_code(seals),
            design=RoundSealDesign(settings.license_issuer, SealType.LICENSE.label),
            users=[LICENSE_SEAL_USER],
        )
        created.append(f"seal {name} ({algorithm.value}, certificate {issued.serial} from CA {ca}, code {info.code})")
        return info

    def _certifying_ca(self, candidates: Sequence[str], algorithm: KeyAlgorithm, field: str) -> str:
        usable = {
            ca.name
            for ca in CaService(self._platform).list_cas()
            if ca.key_label is not None and ca.algorithm is algorithm
        }
        for name in candidates:
            if name in usable:
                return name
        wanted = " or ".join(candidates)
        raise ValidationError(
            field,
            f"the seal does not exist and CA {wanted} ({algorithm.value}), which would certify it, is missing: "
            "run `certseal init --demo`, or create the seal yourself and set the setting to its name",
        )

    def _free_seal_code(self, seals: SealService) -> str:
        """<division code><7-digit serial>: 13 digits like a filed seal's code, the first serial not in use."""
        used = {info.code for info in seals.list()}
        serial = 1
        while f"{self._platform.settings.license_division}{serial:07d}" in used:
            serial += 1
        return f"{self._platform.settings.license_division}{serial:07d}"

    def _ensure_seal_maker(self, ofd_seal: SealInfo, actor: Actor, created: list[str]) -> None:
        """The SES_Seal maker certificate OfdSealingService signs SES_Seals with (issued on first use otherwise)."""
        if ofd_seal.status is not SealStatus.ACTIVE:
            return
        before = self._maker_certificates()
        maker = OfdSealingService(self._platform).seal_maker(actor, ofd_seal)
        if self._maker_certificates() != before:
            created.append(f"OFD seal maker certificate {maker.serial}")

    def _maker_certificates(self) -> int:
        subject = parse_dn(MAKER_SUBJECT)
        attributes = json.dumps(subject, ensure_ascii=False, sort_keys=True)  # as the certificates table keeps it
        with self._platform.db.reading() as session:
            count = session.scalar(
                select(func.count())
                .select_from(IssuedCertificate)
                .where(IssuedCertificate.profile == MAKER_PROFILE, IssuedCertificate.subject_dn == attributes)
            )
        return int(count or 0)

    def _ensure_qr_key(self, actor: Actor, created: list[str]) -> None:
        service = QrKeyService(self._platform)
        try:
            service.current()
            return
        except NotFound:
            pass
        present = {ca.name for ca in CaService(self._platform).list_cas() if ca.key_label is not None}
        ca = next((name for name in QR_KEY_CAS if name in present), None)
        if ca is None:
            raise ValidationError(
                "ca",
                f"no license QR key and no CA {' or '.join(QR_KEY_CAS)} to certify one: run `certseal init --demo` "
                "or `certseal license qr-key ensure --ca NAME`",
            )
        info = service.ensure(ca, actor)
        created.append(f"license QR key {info.kid} (certificate {info.serial} from CA {ca})")


def registry_actor(actor: Actor) -> Actor:
    """The license registry applying a seal for `actor` (the officer stays named in the audit source)."""
    if actor.name == LICENSE_SEAL_USER:
        return actor
    return Actor(LICENSE_SEAL_USER, f"for {actor.name} via {actor.source}"[:128])


# --- verdicts -----------------------------------------------------------------------------------------------------


def verdict_of(report: VerificationReport) -> SealVerdict:
    """The public page's reading of a verification report: worst indication, plain words in Chinese and English,
    the signer's common name and the signing time of the signature that decided it."""
    if not report.signatures:
        return SealVerdict(Indication.FAILED.value, "文件未加盖电子印章 / The file carries no electronic seal")
    indication = report.indication
    deciding = next(s for s in report.signatures if s.indication is indication)
    signer = _common_name(deciding)
    signed_at = _signed_at(deciding)
    who = signer or "—"
    if indication is Indication.PASSED:
        summary = f"电子印章有效 — {who} / The electronic seal is valid — {who}"
    else:
        why = _SUB_INDICATION_ZH.get(deciding.sub_indication) if deciding.sub_indication else None
        if indication is Indication.FAILED:
            zh = f"电子印章无效：{why or '校验未通过'}"
            en = f"The electronic seal is NOT valid: {deciding.reason}"
        else:
            zh = f"电子印章无法确认：{why or '缺少校验所需信息'}"
            en = f"The electronic seal cannot be confirmed: {deciding.reason}"
        summary = f"{zh} — {who} / {en}"
    return SealVerdict(indication.value, summary, signer, signed_at)


def _common_name(signature: SignatureReport) -> str | None:
    if signature.signer is None:
        return None
    match = _CN.search(signature.signer.subject)
    return match.group(1).replace("\\,", ",") if match else signature.signer.subject


def _signed_at(signature: SignatureReport) -> datetime | None:
    stamp = signature.timestamp
    if stamp.present and stamp.valid and stamp.gen_time is not None:
        return stamp.gen_time
    return signature.signing_time.time if signature.signing_time is not None else None


class _VerdictCache:
    """A bounded LRU of verdicts by format and file digest, each kept at most VERDICT_TTL_SECONDS."""

    def __init__(self, size: int = VERDICT_CACHE_SIZE, ttl: float = VERDICT_TTL_SECONDS) -> None:
        self._size, self._ttl = size, ttl
        self._entries: OrderedDict[str, tuple[float, SealVerdict]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> SealVerdict | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if time.monotonic() - entry[0] > self._ttl:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: str, verdict: SealVerdict) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), verdict)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _verdict_cache(platform: Platform) -> _VerdictCache:
    cache = platform.memo.setdefault(("license-seal-verdicts",), _VerdictCache())
    assert isinstance(cache, _VerdictCache)
    return cache
