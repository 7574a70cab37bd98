"""OFD sealing as a use case: seal an OFD with a registered SM2 seal (GB/T 33190 ch. 18, GB/T 38540 v4).

What a sealing does, in order:

1. The OFD is read (a malformed one is refused before anything else happens).
2. The seal must be usable by the actor (SealService.signer_for: active, valid now, the actor one of its users, its
   certificate valid, unrevoked and trusted) and must be SM2: GB/T 38540 knows only SM2 with SM3.
3. The seal's SES_Seal v4 (SESeal): its certificate in the certificate list, the seal PNG as picture, the seal's
   validity period, esID = the seal code, signed by the **seal maker**. The maker is a role of its own (GB/T 38540's
   电子印章制作系统), not the CA: a document-signer certificate "CN=certseal 电子印章制作系统" with an SM2 key in this
   deployment's token. When the deployment has none (valid for at least another day), one is issued on first use by
   the SM2 demo CA `demo-sm2-issuing`, else by the CA that issued the seal's certificate when that is an SM2 CA of
   this deployment; the issuance is recorded like any certificate (certificates table, audit). The SESeal is built
   once per seal content and process and kept in Platform.memo (no table: the seal is derived data, and every
   sealed document carries its copy in Sign_N/Seal.esl); each build is audited with its SHA-256.
4. Where the seal goes (mm, top-left page origin, pages 1-based here): centred at (x, y) of a page, centred on
   every occurrence of a keyword (one signature, one StampAnnot per hit), or as a riding seal (骑缝章) sliced across
   the right edges of every page.
5. The signature (signing/ofd/sealing.py), optionally with an RFC 3161 timestamp (SM3 imprint of the signature
   value) from this deployment's TSA, in process.
6. An audit event per sealing: seal, document SHA-256 before and after, signature ID, placement, stamps.

Importing this module also registers the OFD verifier (signing/ofd/verify.py) with the verification service, so
`certseal verify F.ofd` and POST /api/v1/verify judge OFD seals.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import x509
from sqlalchemy import select

from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.hashes import sm3
from certseal.crypto.signer import CertifiedSigner, Signer
from certseal.errors import ValidationError
from certseal.logs import get_logger
from certseal.ofd.model import Document
from certseal.ofd.package import OfdPackage
from certseal.ofd.reader import read_ofd
from certseal.pki.names import parse_dn
from certseal.seals.model import SealInfo
from certseal.seals.placement import AtKeyword as AtKeyword  # re-exported: callers name placements here
from certseal.seals.placement import AtPosition as AtPosition
from certseal.seals.placement import Riding as Riding
from certseal.seals.placement import SealPlacement as SealPlacement
from certseal.seals.ses import SealContent, SealPicture, build_seal_v4
from certseal.services.audit import Actor
from certseal.services.ca import CaService, CertificateStatus
from certseal.services.keys import KeyService
from certseal.services.platform import Platform
from certseal.services.seals import SealingRecord, SealService, SealSigner, record_sealing
from certseal.services.tsa import TsaNotConfigured, TsaService
from certseal.services.verification import VerificationRequest, is_ofd, register_verifier
from certseal.signing import cms
from certseal.signing.ofd.sealing import SealedOfd, Stamp, keyword_stamps, riding_stamps, seal_ofd, stamp_at
from certseal.signing.ofd.verify import verify_ofd
from certseal.signing.verify.report import FileKind, SignatureReport
from certseal.store.models import CertificateAuthority, IssuedCertificate, utcnow

log = get_logger("ofd-sealing")

MAX_OFD_BYTES = 64 * 1024 * 1024
SES_VID = "CERTSEAL"  # SES_Header.vid: the seal system's vendor identifier
MAKER_SUBJECT = "CN=certseal 电子印章制作系统,O=certseal,C=CN"
MAKER_PROFILE = "document-signer"
MAKER_CA = "demo-sm2-issuing"
_MAKER_MARGIN = timedelta(days=1)

OfdPlacement = SealPlacement  # millimetres from the page's top-left corner


@dataclass(frozen=True)
class SealedOfdResult:
    ofd: bytes
    signature_id: str
    signature_name: str  # package path of the new Signature.xml
    stamps: tuple[Stamp, ...]
    seal: str
    timestamped: bool
    sha256_before: str
    sha256_after: str


@dataclass(frozen=True)
class SealMaker:
    """The key and certificate that sign SES_Seals."""

    signer: CertifiedSigner
    serial: str


class OfdSealingService:
    def __init__(self, platform: Platform, tsa_name: str = "default") -> None:
        self._platform = platform
        self._tsa_name = tsa_name

    def seal(
        self, ofd: bytes, seal: str, actor: Actor, placement: OfdPlacement, timestamp: bool = False
    ) -> SealedOfdResult:
        """Seal `ofd` with the seal named `seal` for `actor`; see the module docstring for every step."""
        if len(ofd) > MAX_OFD_BYTES:
            raise ValidationError("ofd", f"must be at most {MAX_OFD_BYTES // (1024 * 1024)} MiB")
        package = OfdPackage.from_bytes(ofd)
        document = read_ofd(package)
        seal_signer = SealService(self._platform).signer_for(seal, actor)
        _require_sm2(seal_signer)
        stamps = _stamps(document, placement, seal_signer.image_size_mm)
        timestamper = self._timestamper() if timestamp else None
        seal_der = self.ses_seal(seal_signer, actor)
        sealed = seal_ofd(package, seal_signer.signer, seal_der, stamps, timestamper=timestamper)
        data = sealed.to_bytes()
        result = SealedOfdResult(
            data,
            sealed.signature_id,
            sealed.signature_name,
            tuple(stamps),
            seal,
            timestamp,
            hashlib.sha256(ofd).hexdigest(),
            hashlib.sha256(data).hexdigest(),
        )
        self._record(actor, result, placement, sealed, seal_der)
        return result

    # --- the SES_Seal -------------------------------------------------------------------------------------------

    def ses_seal(self, seal: SealSigner, actor: Actor) -> bytes:
        """The DER SESeal v4 of a seal, built once per content (certificate, image, validity, title) and process."""
        info = seal.info
        key = (
            "ofd-ses-seal",
            info.name,
            hashlib.sha256(info.certificate_der).hexdigest(),
            info.image_sha256,
            info.title,
            info.code,
            info.type.value,
            info.not_before.isoformat(),
            info.not_after.isoformat(),
        )
        cached = self._platform.memo.get(key)
        if isinstance(cached, bytes):
            return cached
        maker = self.seal_maker(actor, info)
        der = build_seal_v4(maker.signer, _seal_content(info, seal.image))
        self._platform.memo[key] = der
        with self._platform.unit_of_work(actor) as uow:
            uow.record(
                "ses_seal",
                info.name,
                "build",
                after={"sha256": hashlib.sha256(der).hexdigest(), "maker_serial": maker.serial, "es_id": info.code},
            )
        log.info("SES_Seal v4 built for seal %s (maker certificate %s)", info.name, maker.serial)
        return der

    def seal_maker(self, actor: Actor, seal: SealInfo | None = None) -> SealMaker:
        """The deployment's seal maker (see the module docstring); issued on first use."""
        found = self._find_maker()
        if found is None:
            found = self._issue_maker(actor, seal)
        serial, certificate, key_label = found
        return SealMaker(CertifiedSigner(KeyService(self._platform).signer(key_label), certificate), serial)

    def _find_maker(self) -> tuple[str, bytes, str] | None:
        attributes = json.dumps(parse_dn(MAKER_SUBJECT), ensure_ascii=False, sort_keys=True)
        with self._platform.db.reading() as session:
            row = session.scalars(
                select(IssuedCertificate)
                .where(
                    IssuedCertificate.profile == MAKER_PROFILE,
                    IssuedCertificate.subject_dn == attributes,
                    IssuedCertificate.status == CertificateStatus.VALID.value,
                    IssuedCertificate.algorithm == KeyAlgorithm.SM2.value,
                    IssuedCertificate.key_label.is_not(None),
                    IssuedCertificate.not_after > utcnow() + _MAKER_MARGIN,
                )
                .order_by(IssuedCertificate.not_after.desc())
            ).first()
            if row is None or row.key_label is None:
                return None
            return row.serial, row.certificate_der, row.key_label

    def _issue_maker(self, actor: Actor, seal: SealInfo | None) -> tuple[str, bytes, str]:
        ca = self._maker_ca(seal)
        issued = CaService(self._platform).issue(
            ca, MAKER_PROFILE, actor, subject=MAKER_SUBJECT, generate=KeyAlgorithm.SM2
        )
        assert issued.key_label is not None
        with self._platform.unit_of_work(actor) as uow:
            uow.record("seal_maker", issued.serial, "create", after={"ca": ca, "subject": MAKER_SUBJECT})
        log.info("seal maker certificate %s issued by CA %s", issued.serial, ca)
        return issued.serial, issued.certificate_der, issued.key_label

    def _maker_ca(self, seal: SealInfo | None) -> str:
        """demo-sm2-issuing, else the SM2 CA of this deployment that issued the seal's certificate."""
        with self._platform.db.reading() as session:
            rows = list(session.scalars(select(CertificateAuthority)))
        usable = [r for r in rows if r.key_label and r.status == "active" and r.algorithm == KeyAlgorithm.SM2.value]
        for row in usable:
            if row.name == MAKER_CA:
                return row.name
        if seal is not None:
            issuer = x509.Certificate.load(seal.certificate_der).issuer
            for row in usable:
                if x509.Certificate.load(row.certificate_der).subject == issuer:
                    return row.name
        raise ValidationError(
            "seal",
            "this deployment has no seal maker and no SM2 CA to certify one: run `certseal init --demo` "
            f"(creates {MAKER_CA}) or issue the seal's certificate from an SM2 CA of this deployment",
        )

    # --- timestamps ------------------------------------------------------------------------------------------

    def _timestamper(self) -> _SignatureTimestamper:
        tsa = TsaService(self._platform, self._tsa_name)
        try:
            tsa.active()
        except TsaNotConfigured:
            raise ValidationError(
                "timestamp",
                f"needs the timestamp authority {self._tsa_name!r}, which is not set up: "
                "run `certseal tsa setup --ca CA --alg rsa2048|p256|sm2` or seal without a timestamp",
            ) from None
        return _SignatureTimestamper(cms.rfc3161_timestamper(tsa.stamp))

    # --- audit -----------------------------------------------------------------------------------------------

    def _record(
        self, actor: Actor, result: SealedOfdResult, placement: OfdPlacement, sealed: SealedOfd, seal_der: bytes
    ) -> None:
        details = {
            "signature_id": result.signature_id,
            "signature": result.signature_name,
            "signed_at": sealed.signed_at,
            "timestamped": result.timestamped,
            "ses_seal_sha256": hashlib.sha256(seal_der).hexdigest(),
            "placement": _describe(placement),
            "stamps": [_stamp_view(stamp) for stamp in result.stamps],
        }
        summary = f"{len(result.stamps)} stamp(s){', timestamped' if result.timestamped else ''}"
        record = SealingRecord("OFD", ("ofd_sealing", result.sha256_after, "seal"), summary, details)
        record_sealing(self._platform, actor, result, record, log)


class _SignatureTimestamper:
    """RFC 3161 token over an SES signature value: SM3 imprint, this deployment's TSA."""

    def __init__(self, stamp: cms.Timestamper) -> None:
        self._stamp = stamp

    def __call__(self, signature: bytes) -> bytes:
        return self._stamp(sm3(signature), "sm3")


def _require_sm2(seal: SealSigner) -> None:
    signer: Signer = seal.signer
    if signer.scheme is not SignatureScheme.SM2_SM3:
        raise ValidationError(
            "seal",
            f"seal {seal.info.name!r} has a {signer.key_algorithm.value} key: OFD seals (GB/T 38540) need an SM2 seal",
        )


def _seal_content(info: SealInfo, image_png: bytes) -> SealContent:
    width, height = (max(1, round(v)) for v in (info.width_mm, info.height_mm))
    return SealContent(
        es_id=info.code,
        vid=SES_VID,
        seal_type=info.type.ses_type,
        name=info.title,
        signer_certificates=[info.certificate_der],
        created=datetime.now(UTC).replace(microsecond=0),
        valid_start=info.not_before,
        valid_end=info.not_after,
        picture=SealPicture("PNG", image_png, width, height),
    )


def _stamps(document: Document, placement: OfdPlacement, size_mm: tuple[float, float]) -> list[Stamp]:
    if isinstance(placement, AtPosition):
        return [stamp_at(document, placement.page - 1, placement.x, placement.y, size_mm)]
    if isinstance(placement, AtKeyword):
        pages = [page - 1 for page in placement.pages] if placement.pages is not None else None
        return keyword_stamps(document, placement.keyword, size_mm, pages)
    return riding_stamps(document, size_mm, placement.y)


def _describe(placement: OfdPlacement) -> dict[str, object]:
    if isinstance(placement, AtPosition):
        return {"kind": "position", "page": placement.page, "x_mm": placement.x, "y_mm": placement.y}
    if isinstance(placement, AtKeyword):
        return {"kind": "keyword", "keyword": placement.keyword, "pages": placement.pages}
    return {"kind": "riding", "y_mm": placement.y}


def _stamp_view(stamp: Stamp) -> dict[str, object]:
    box = stamp.boundary
    view: dict[str, object] = {"page": stamp.page + 1, "boundary": [box.x, box.y, box.width, box.height]}
    if stamp.clip is not None:
        view["clip"] = [stamp.clip.x, stamp.clip.y, stamp.clip.width, stamp.clip.height]
    return view


# --- verification -------------------------------------------------------------------------------------------------


def verify_ofd_request(request: VerificationRequest) -> Sequence[SignatureReport]:
    """The OFD verifier as the verification service calls it."""
    if request.detached_content is not None:
        raise ValidationError("content", "an OFD carries what it signs: give no detached content")
    return verify_ofd(request.data, request.validator)


register_verifier(FileKind.OFD, is_ofd, verify_ofd_request)


__all__: Sequence[str] = (
    "MAX_OFD_BYTES",
    "AtKeyword",
    "AtPosition",
    "OfdPlacement",
    "OfdSealingService",
    "Riding",
    "SealMaker",
    "SealedOfdResult",
    "verify_ofd_request",
)
