"""REST API for CRLs, OCSP responders, the timestamp authority, cross-certification, trust anchors and path
validation (/api/v1), authorised by API key and role."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from asn1crypto import pem
from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.services.apikeys import Permission
from certseal.services.audit import Actor
from certseal.services.crl import CrlInfo, CrlService
from certseal.services.ocsp import OcspService, ResponderInfo
from certseal.services.trust import AnchorInfo, TrustService, parse_certificate, read_certificates
from certseal.services.tsa import TsaInfo, TsaService
from certseal.web.deps import API_ERRORS, authorised, platform_of

router = APIRouter(prefix="/api/v1", tags=["revocation, timestamps and trust"], responses=API_ERRORS)

Reader = Annotated[Actor, Depends(authorised(Permission.CA_READ))]
Writer = Annotated[Actor, Depends(authorised(Permission.CA_WRITE))]


def _pem(der: bytes, label: str = "CERTIFICATE") -> str:
    return bytes(pem.armor(label, der)).decode()


class CrlOut(BaseModel):
    ca: str
    number: int
    delta_base: int | None = Field(description="Base CRL number of a delta CRL; null for a full CRL")
    this_update: datetime
    next_update: datetime
    entries: int
    crl_der_base64: str


class CrlRequest(BaseModel):
    delta: bool = Field(False, description="Issue a delta CRL against the newest full CRL")


def _crl_out(info: CrlInfo) -> CrlOut:
    return CrlOut(
        ca=info.ca,
        number=info.number,
        delta_base=info.delta_base,
        this_update=info.this_update,
        next_update=info.next_update,
        entries=info.entries,
        crl_der_base64=base64.b64encode(info.der).decode(),
    )


@router.post("/cas/{name}/crls", status_code=status.HTTP_201_CREATED, summary="Issue a full or delta CRL now")
def issue_crl(name: str, body: CrlRequest, request: Request, actor: Writer) -> CrlOut:
    return _crl_out(CrlService(platform_of(request)).generate(name, actor, delta=body.delta))


@router.get("/cas/{name}/crls", summary="The CA's most recent CRLs, newest first")
def crl_history(name: str, request: Request, _actor: Reader, limit: int = 10) -> list[CrlOut]:
    return [_crl_out(info) for info in CrlService(platform_of(request)).history(name, max(1, min(limit, 100)))]


class ResponderOut(BaseModel):
    ca: str
    delegated: bool
    serial: str | None
    algorithm: str
    not_after: datetime | None
    certificate_pem: str | None


class ResponderRequest(BaseModel):
    algorithm: KeyAlgorithm | None = Field(None, description="Key of the responder; the CA's algorithm by default")


def _responder_out(info: ResponderInfo) -> ResponderOut:
    return ResponderOut(
        ca=info.ca,
        delegated=info.delegated,
        serial=info.serial,
        algorithm=info.algorithm,
        not_after=info.not_after,
        certificate_pem=_pem(info.certificate_der) if info.certificate_der else None,
    )


@router.get("/cas/{name}/ocsp-responder", summary="Who signs this CA's OCSP responses")
def ocsp_responder(name: str, request: Request, _actor: Reader) -> ResponderOut:
    return _responder_out(OcspService(platform_of(request)).responder_info(name))


@router.post(
    "/cas/{name}/ocsp-responder",
    status_code=status.HTTP_201_CREATED,
    summary="Delegate OCSP signing to a new responder certificate (id-pkix-ocsp-nocheck)",
)
def delegate_ocsp(name: str, body: ResponderRequest, request: Request, actor: Writer) -> ResponderOut:
    return _responder_out(OcspService(platform_of(request)).delegate(name, actor, body.algorithm))


class TsaOut(BaseModel):
    ca: str
    serial: str
    algorithm: str
    subject: str
    not_after: datetime
    certificate_pem: str


class TsaSetup(BaseModel):
    ca: str
    algorithm: KeyAlgorithm


def _tsa_out(info: TsaInfo) -> TsaOut:
    return TsaOut(
        ca=info.ca,
        serial=info.serial,
        algorithm=info.algorithm.value,
        subject=info.subject,
        not_after=info.not_after,
        certificate_pem=_pem(info.certificate_der),
    )


@router.get("/tsa", summary="The timestamp authority's current certificate")
def tsa_info(request: Request, _actor: Reader) -> TsaOut:
    return _tsa_out(TsaService(platform_of(request)).active())


@router.post(
    "/tsa",
    status_code=status.HTTP_201_CREATED,
    summary="Set up the timestamp authority: a new TSA certificate (critical timeStamping EKU) and key",
)
def tsa_setup(body: TsaSetup, request: Request, actor: Writer) -> TsaOut:
    return _tsa_out(TsaService(platform_of(request)).setup(body.ca, body.algorithm, actor))


class CrossCertify(BaseModel):
    issuer: str = Field(description="CA that signs")
    subject: str = Field(description="CA (or imported anchor) whose key is certified")
    path_len: int | None = Field(None, ge=0)
    permitted: list[str] = Field(default_factory=list, description="Permitted directoryName subtrees (DNs)")
    excluded: list[str] = Field(default_factory=list, description="Excluded directoryName subtrees (DNs)")
    days: int | None = Field(None, ge=1)


class CrossCertificateOut(BaseModel):
    serial: str
    issuer: str
    subject: str
    not_after: datetime
    certificate_pem: str


@router.post("/cross-certificates", status_code=status.HTTP_201_CREATED, summary="Cross-certify another CA")
def cross_certify(body: CrossCertify, request: Request, actor: Writer) -> CrossCertificateOut:
    cross = TrustService(platform_of(request)).cross_certify(
        body.issuer,
        body.subject,
        actor,
        path_len=body.path_len,
        permitted=body.permitted,
        excluded=body.excluded,
        days=body.days,
    )
    return CrossCertificateOut(
        serial=cross.serial,
        issuer=cross.issuer,
        subject=cross.subject,
        not_after=cross.not_after,
        certificate_pem=_pem(cross.certificate_der),
    )


class AnchorImport(BaseModel):
    name: str
    certificate_pem: str
    leaf: bool = Field(False, description="Trust an end-entity certificate directly: it validates only itself")


class AnchorOut(BaseModel):
    name: str
    source: str
    kind: str = Field(description="ca (ends the chains of what it issued) or leaf (a directly trusted certificate)")
    subject: str
    sha256: str
    not_after: datetime


def _anchor_out(info: AnchorInfo) -> AnchorOut:
    return AnchorOut(
        name=info.name,
        source=info.source,
        kind=info.kind.value,
        subject=info.subject,
        sha256=info.sha256,
        not_after=info.not_after,
    )


@router.get("/trust-anchors", summary="Trust anchors for path validation: our roots and imported ones")
def trust_anchors(request: Request, _actor: Reader) -> list[AnchorOut]:
    return [_anchor_out(anchor) for anchor in TrustService(platform_of(request)).anchors()]


@router.post("/trust-anchors", status_code=status.HTTP_201_CREATED, summary="Import an external trust anchor")
def import_anchor(body: AnchorImport, request: Request, actor: Writer) -> AnchorOut:
    return _anchor_out(
        TrustService(platform_of(request)).import_anchor(
            body.name, body.certificate_pem.encode(), actor, leaf=body.leaf
        )
    )


@router.delete("/trust-anchors/{name}", summary="Stop trusting an imported anchor or directly trusted certificate")
def remove_anchor(name: str, request: Request, actor: Writer) -> AnchorOut:
    return _anchor_out(TrustService(platform_of(request)).remove_anchor(name, actor))


class PathValidation(BaseModel):
    certificate_pem: str = Field(description="The certificate to validate")
    untrusted_pem: str = Field("", description="Extra intermediate or cross-certificates, PEM")
    at: datetime | None = Field(None, description="Validation time; now by default")


class PathOut(BaseModel):
    indication: str = Field(description="PASSED, FAILED or INDETERMINATE")
    sub_indication: str | None
    message: str
    path: list[str] = Field(description="Subjects, leaf first, anchor last")
    rejected: list[str]


@router.post("/validations", summary="Find and check a certification path to a trust anchor")
def validate_path(body: PathValidation, request: Request, _actor: Reader) -> PathOut:
    extra = read_certificates(body.untrusted_pem.encode(), "untrusted_pem") if body.untrusted_pem.strip() else []
    leaf = read_certificates(body.certificate_pem.encode(), "certificate_pem")[0]
    parse_certificate(leaf, "certificate_pem")
    result = TrustService(platform_of(request)).validate(leaf, extra, body.at)
    return PathOut(
        indication=result.indication.value,
        sub_indication=result.sub_indication.value if result.sub_indication else None,
        message=result.message,
        path=list(result.subjects),
        rejected=[str(r) for r in result.rejected],
    )
