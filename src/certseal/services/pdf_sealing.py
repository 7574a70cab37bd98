"""PDF sealing as a use case: seal a PDF with a registered seal, at PAdES level B-B, B-T or B-LT.

What a sealing does, in order:

1. The PDF is read (a malformed one is refused before anything else happens).
2. The seal must be usable by the actor now: SealService.signer_for refuses (Forbidden) unless the seal is active
   and in its validity period, the actor is one of its users, its certificate is neither revoked nor on hold in
   the CA's records and its path to a trust anchor validates now (so an expired certificate is refused too).
3. Where the seal goes: at a point of a page, centred on every occurrence of a keyword, or as a riding seal
   (骑缝章) sliced across the right edges of every page.  A keyword seal is ONE signature whose field has one
   widget per hit: users expect one signature per document and per act of sealing, and a verifier then shows one
   seal, valid or not, instead of N copies of the same act.
4. The CMS: PAdES (ETSI.CAdES.detached, SHA-256) for RSA/ECDSA seals; SM2 seals are adbe.pkcs7.detached with a
   GB/T 35275 SignedData (SM3).  B-T adds a signature timestamp from this deployment's TSA (RFC 3161, in
   process); B-LT is B-T followed by a second incremental update with a DSS holding every certificate of the seal's
   and the TSA's chains, a fresh OCSP response (our own responder, with a nonce) for every certificate below a
   root and the current CRL of every CA involved.  SM2 seals get the same B-T (an SM3 signature timestamp) and
   B-LT (DSS) structure; PAdES as a standard names only ETSI.CAdES.detached, so for SM2 seals these levels mean
   "the same evidence in the same places", which pyHanko cannot check (no SM2) but our tests check with gmalg.
5. An audit event per sealing, recorded against the seal (entity "seal", action "seal_pdf": the seal's usage log):
   document SHA-256 before and after, placement asked for, widgets made, level, signature field.  Nothing is
   recorded when sealing fails.

Pages are 1-based here (users count pages so); coordinates are PDF points (1/72 inch) from the bottom-left
corner of the page's MediaBox.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509

from certseal.errors import CryptoError, ValidationError
from certseal.logs import get_logger
from certseal.pki import ocsp as pki_ocsp
from certseal.seals.placement import AtKeyword as AtKeyword  # re-exported: callers name placements here
from certseal.seals.placement import AtPosition as AtPosition
from certseal.seals.placement import Riding as Riding
from certseal.seals.placement import SealPlacement as SealPlacement
from certseal.services.audit import Actor
from certseal.services.ca import CaInfo, CaService, serial_hex
from certseal.services.crl import CrlService
from certseal.services.ocsp import OcspService
from certseal.services.platform import Platform
from certseal.services.seals import SealingRecord, SealService, record_sealing
from certseal.services.tsa import TsaNotConfigured, TsaService
from certseal.signing import cms
from certseal.signing.pdf.dss import add_dss
from certseal.signing.pdf.pades import producer_for, timestamp_reserve
from certseal.signing.pdf.reader import PdfDocument
from certseal.signing.pdf.sealing import Placement, SealImage, SignatureProducer, placement_at, riding_placements
from certseal.signing.pdf.sealing import seal as seal_pdf
from certseal.signing.pdf.text import find_keyword

log = get_logger("pdf-sealing")

MAX_PDF_BYTES = 64 * 1024 * 1024
MAX_KEYWORD_HITS = 500


class PadesLevel(StrEnum):
    """PAdES baseline levels (ETSI EN 319 142-1) a sealing can produce."""

    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"

    @property
    def timestamped(self) -> bool:
        return self is not PadesLevel.B_B

    @classmethod
    def parse(cls, value: str, field_name: str = "level") -> PadesLevel:
        try:
            return cls(value.strip().upper())
        except ValueError:
            allowed = ", ".join(level.value for level in cls)
            raise ValidationError(field_name, f"must be one of {allowed}, not {value!r}") from None


@dataclass(frozen=True)
class SealedPdf:
    pdf: bytes
    field_name: str
    placements: tuple[Placement, ...]
    level: PadesLevel
    seal: str
    sha256_before: str
    sha256_after: str


@dataclass
class ValidationData:
    """What a DSS holds: certificates, OCSP responses and CRLs (DER), without duplicates."""

    certificates: list[bytes] = field(default_factory=list)
    ocsp_responses: list[bytes] = field(default_factory=list)
    crls: list[bytes] = field(default_factory=list)
    responder_certificates: list[bytes] = field(default_factory=list)  # delegated OCSP responders (ocsp-nocheck)

    def add_certificate(self, der: bytes) -> None:
        if der not in self.certificates:
            self.certificates.append(der)

    @property
    def all_certificates(self) -> list[bytes]:
        return self.certificates + [c for c in self.responder_certificates if c not in self.certificates]


class _RecordingTimestamper:
    """A cms.Timestamper over this deployment's TSA (in process); keeps the tokens it returned for the DSS."""

    def __init__(self, tsa: TsaService) -> None:
        self._stamp = cms.rfc3161_timestamper(tsa.stamp)
        self.tokens: list[bytes] = []

    def __call__(self, message_imprint: bytes, digest_algorithm: cms.DigestName) -> bytes:
        token = self._stamp(message_imprint, digest_algorithm)
        self.tokens.append(token)
        return token


class _CapturingProducer:
    """Wraps a SignatureProducer and keeps the CMS it made (the DSS's /VRI is keyed by it)."""

    def __init__(self, inner: SignatureProducer) -> None:
        self._inner = inner
        self.digest_algorithm = inner.digest_algorithm
        self.subfilter = inner.subfilter
        self.reserved_size = inner.reserved_size
        self.cms: bytes | None = None

    def __call__(self, digest: bytes) -> bytes:
        self.cms = self._inner(digest)
        return self.cms


class PdfSealingService:
    def __init__(self, platform: Platform, tsa_name: str = "default") -> None:
        self._platform = platform
        self._tsa_name = tsa_name

    def seal(
        self,
        pdf: bytes,
        seal: str,
        actor: Actor,
        placement: SealPlacement,
        level: PadesLevel = PadesLevel.B_B,
        reason: str | None = None,
        location: str | None = None,
    ) -> SealedPdf:
        """Seal `pdf` with the seal named `seal` for `actor`; see the module docstring for every step."""
        if len(pdf) > MAX_PDF_BYTES:
            raise ValidationError("pdf", f"must be at most {MAX_PDF_BYTES // (1024 * 1024)} MiB")
        document = PdfDocument(pdf)
        seal_signer = SealService(self._platform).signer_for(seal, actor)
        certificate = seal_signer.signer.certificate
        image = SealImage(seal_signer.image, seal_signer.width_mm, seal_signer.height_mm)
        placements = tuple(_placements(document, placement, image))
        timestamper = self._timestamper(level)
        room = timestamp_reserve(self._tsa_certificates()) if timestamper else 0
        producer = _CapturingProducer(producer_for(seal_signer.signer, seal_signer.chain, timestamper, room))
        sealed = seal_pdf(pdf, placements, image, producer, reason=reason, location=location)
        if level is PadesLevel.B_LT:
            assert timestamper is not None and producer.cms is not None
            data = self.validation_data([[certificate, *seal_signer.chain]], timestamper.tokens)
            sealed = add_dss(sealed, data.all_certificates, data.ocsp_responses, data.crls, vri_for=[producer.cms])
        field_name = _newest_field_name(sealed)
        result = SealedPdf(
            sealed,
            field_name,
            placements,
            level,
            seal,
            hashlib.sha256(pdf).hexdigest(),
            hashlib.sha256(sealed).hexdigest(),
        )
        self._record(actor, result, placement)
        return result

    # --- checks ----------------------------------------------------------------------------------------------

    def _tsa(self) -> TsaService:
        return TsaService(self._platform, self._tsa_name)

    def _timestamper(self, level: PadesLevel) -> _RecordingTimestamper | None:
        if not level.timestamped:
            return None
        try:
            self._tsa().active()
        except TsaNotConfigured:
            raise ValidationError(
                "level",
                f"{level.value} needs the timestamp authority {self._tsa_name!r}, which is not set up: "
                "run `certseal tsa setup --ca CA --alg rsa2048|p256|sm2` or seal at B-B",
            ) from None
        return _RecordingTimestamper(self._tsa())

    def _tsa_certificates(self) -> list[bytes]:
        """The TSA certificate and its CA chain: the token carries the first; room for all errs on the safe side."""
        info = self._tsa().active()
        return [info.certificate_der, *info.chain]

    # --- validation data (B-LT) ------------------------------------------------------------------------------

    def validation_data(
        self, chains: Sequence[Sequence[bytes]], timestamp_tokens: Sequence[bytes] = ()
    ) -> ValidationData:
        """Certificates, OCSP responses and CRLs proving every certificate of `chains` (leaf first) and of the
        timestamp tokens' signers unrevoked now, from this deployment's own OCSP responders and CRLs."""
        cas = _CaDirectory(CaService(self._platform))
        all_chains = [list(chain) for chain in chains]
        for token in timestamp_tokens:
            tsa_certificate = _token_signer_certificate(token)
            all_chains.append([tsa_certificate, *cas.chain_above(tsa_certificate)])
        data = ValidationData()
        crl_of: dict[str, bytes] = {}
        ocsp = OcspService(self._platform)
        crls = CrlService(self._platform)
        for chain in all_chains:
            for der in chain:
                if der in data.certificates:
                    continue  # already proven (a CA both chains share)
                data.add_certificate(der)
                issuer = cas.issuer_of(der)
                if issuer is None:
                    continue  # a self-signed root: the trust anchor needs no revocation data
                response = _ocsp_good(ocsp, issuer, der)
                data.ocsp_responses.append(response)
                data.responder_certificates.extend(_ocsp_certificates(response))
                if issuer.name not in crl_of:
                    crl_of[issuer.name] = crls.latest(issuer.name)
                    data.crls.append(crl_of[issuer.name])
        return data

    # --- audit -----------------------------------------------------------------------------------------------

    def _record(self, actor: Actor, result: SealedPdf, placement: SealPlacement) -> None:
        details = {
            "level": result.level.value,
            "field": result.field_name,
            "placement": _describe(placement),
            "widgets": [{"page": p.page + 1, "rect": list(p.rect)} for p in result.placements],
        }
        summary = f"{result.level.value}, {len(result.placements)} widget(s)"
        record = SealingRecord("PDF", ("seal", result.seal, "seal_pdf"), summary, details)
        record_sealing(self._platform, actor, result, record, log)


# --- placements ---------------------------------------------------------------------------------------------------


def _placements(document: PdfDocument, placement: SealPlacement, image: SealImage) -> list[Placement]:
    count = document.page_count()
    if isinstance(placement, AtPosition):
        if not 1 <= placement.page <= count:
            raise ValidationError("page", f"must be between 1 and {count} (the document's pages), not {placement.page}")
        width, height = _displayed_size(document, placement.page - 1)
        _check_inside("x", placement.x, width)
        _check_inside("y", placement.y, height)
        return [placement_at(document, placement.page - 1, placement.x, placement.y, image)]
    if isinstance(placement, AtKeyword):
        return _keyword_placements(document, placement, image, count)
    if placement.y is not None:
        _check_inside("y", placement.y, min(_displayed_size(document, index)[1] for index in range(count)))
    return riding_placements(document, image, placement.y)


def _displayed_size(document: PdfDocument, index: int) -> tuple[float, float]:
    """Width and height in points of page `index` as displayed (after /Rotate)."""
    page = document.page(index)
    x0, y0, x1, y1 = page.media_box()
    width, height = abs(x1 - x0), abs(y1 - y0)
    return (height, width) if page.rotation() % 180 == 90 else (width, height)


def _check_inside(name: str, value: float, limit: float) -> None:
    if not 0 <= value <= limit:
        raise ValidationError(name, f"must be between 0 and {limit:.0f} points (on the page), not {value:g}")


def _keyword_placements(
    document: PdfDocument, placement: AtKeyword, image: SealImage, page_count: int
) -> list[Placement]:
    keyword = placement.keyword.strip()
    if not keyword:
        raise ValidationError("keyword", "must not be empty")
    pages = None
    if placement.pages is not None:
        for page in placement.pages:
            if not 1 <= page <= page_count:
                raise ValidationError("pages", f"must be between 1 and {page_count}, not {page}")
        pages = [page - 1 for page in placement.pages]
    hits = find_keyword(document, keyword, pages)
    if not hits:
        raise ValidationError("keyword", f"{keyword!r} does not occur in the document's text")
    if len(hits) > MAX_KEYWORD_HITS:
        raise ValidationError("keyword", f"occurs {len(hits)} times; at most {MAX_KEYWORD_HITS} seals per document")
    return [_centred(document, hit.page, hit.centre, image) for hit in hits]


def _centred(document: PdfDocument, page: int, centre: tuple[float, float], image: SealImage) -> Placement:
    """The seal centred on a point of the page's user space (where text positions are), not the displayed page."""
    media = document.page(page).media_box()
    x, y = centre[0] - media[0], centre[1] - media[1]
    half_w, half_h = image.width_pt / 2, image.height_pt / 2
    return Placement(page, (x - half_w, y - half_h, x + half_w, y + half_h))


def _describe(placement: SealPlacement) -> dict[str, object]:
    if isinstance(placement, AtPosition):
        return {"kind": "position", "page": placement.page, "x": placement.x, "y": placement.y}
    if isinstance(placement, AtKeyword):
        return {"kind": "keyword", "keyword": placement.keyword, "pages": placement.pages}
    return {"kind": "riding", "y": placement.y}


def _newest_field_name(pdf: bytes) -> str:
    from certseal.signing.pdf.sealing import signatures

    found = signatures(PdfDocument(pdf))
    return found[-1].field_name if found else ""


# --- certificates, OCSP and CRLs ---------------------------------------------------------------------------------


class _CaDirectory:
    """This deployment's CAs by subject, to find who issued a certificate and the chain above it."""

    def __init__(self, cas: CaService) -> None:
        self._cas = cas
        self._infos = cas.list_cas()

    def issuer_of(self, der: bytes) -> CaInfo | None:
        """The CA that issued `der`; None for a self-signed certificate; ValidationError for one issued elsewhere."""
        certificate = x509.Certificate.load(der)
        if certificate.self_signed != "no":
            return None
        issuer = certificate.issuer.dump()
        key_id = certificate.authority_key_identifier
        for info in self._infos:
            ca = x509.Certificate.load(info.certificate_der)
            if ca.subject.dump() == issuer and (key_id is None or ca.key_identifier in (None, key_id)):
                if info.key_label is None:
                    break
                return info
        raise ValidationError(
            "level",
            f"B-LT needs revocation data for {certificate.subject.human_friendly}, whose CA is not operated by this "
            "deployment: seal at B-T",
        )

    def chain_above(self, der: bytes) -> list[bytes]:
        issuer = self.issuer_of(der)
        return [] if issuer is None else self._cas.ca_chain(issuer.name)


def _token_signer_certificate(token_der: bytes) -> bytes:
    """The TSA certificate inside a TimeStampToken (we ask for it with certReq)."""
    from asn1crypto import cms as asn1_cms

    signed = asn1_cms.ContentInfo.load(token_der)["content"]
    sid = signed["signer_infos"][0]["sid"]
    for choice in signed["certificates"] or []:
        certificate = choice.chosen
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (
                certificate.issuer.dump() == wanted["issuer"].dump()
                and certificate.serial_number == wanted["serial_number"].native
            ):
                return bytes(certificate.dump())
        elif certificate.key_identifier == sid.chosen.native:
            return bytes(certificate.dump())
    raise CryptoError("the timestamp token does not carry its TSA certificate")


def _ocsp_good(ocsp: OcspService, issuer: CaInfo, der: bytes) -> bytes:
    """A fresh OCSP response (nonce: never a pre-produced one) saying `der` is good; CryptoError otherwise."""
    certificate = x509.Certificate.load(der)
    cert_id = pki_ocsp.IssuerHashes.of(issuer.certificate_der).cert_id(certificate.serial_number)
    request = asn1_ocsp.OCSPRequest(
        {
            "tbs_request": {
                "request_list": [{"req_cert": asn1_ocsp.CertId.load(cert_id)}],
                "request_extensions": [{"extn_id": "nonce", "extn_value": secrets.token_bytes(16)}],
            }
        }
    ).dump()
    response = ocsp.respond(issuer.name, request)
    parsed = asn1_ocsp.OCSPResponse.load(response)
    if parsed["response_status"].native != "successful":
        raise CryptoError(f"the OCSP responder of CA {issuer.name} answered {parsed['response_status'].native}")
    status = parsed.basic_ocsp_response["tbs_response_data"]["responses"][0]["cert_status"].name
    if status != "good":
        raise CryptoError(
            f"OCSP says {certificate.subject.human_friendly} (serial {serial_hex(certificate.serial_number)}) is "
            f"{status}"
        )
    return response


def _ocsp_certificates(response: bytes) -> list[bytes]:
    """Certificates a (delegated) responder put in its response."""
    basic = asn1_ocsp.OCSPResponse.load(response).basic_ocsp_response
    return [bytes(c.dump()) for c in basic["certs"] or []]
