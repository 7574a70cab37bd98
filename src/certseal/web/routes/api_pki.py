"""REST API for certificate authorities and certificates (/api/v1), authorised by API key and role."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from asn1crypto import pem
from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.errors import ValidationError
from certseal.pki.csr import load_csr
from certseal.services.apikeys import Permission
from certseal.services.audit import Actor
from certseal.services.ca import CaInfo, CaService, IssuedInfo, IssueRequest, RevocationReason, parse_window
from certseal.web.deps import API_ERRORS, authorised, platform_of

router = APIRouter(prefix="/api/v1", tags=["certificate authorities"], responses=API_ERRORS)

CaReader = Annotated[Actor, Depends(authorised(Permission.CA_READ))]
CaWriter = Annotated[Actor, Depends(authorised(Permission.CA_WRITE))]
Issuer = Annotated[Actor, Depends(authorised(Permission.CERT_ISSUE))]
Revoker = Annotated[Actor, Depends(authorised(Permission.CERT_REVOKE))]


class CaOut(BaseModel):
    name: str
    algorithm: str
    subject: str
    parent: str | None
    serial: str
    not_after: datetime
    certificate_pem: str


class CaCreate(BaseModel):
    name: str = Field(description="Short name used in URLs, e.g. sm2-root", examples=["sm2-root"])
    algorithm: KeyAlgorithm
    parent: str | None = Field(None, description="Issuing CA; omit for a root")
    subject: str | None = Field(None, description="Distinguished name", examples=["CN=测试根CA,O=省药监局,C=CN"])
    days: int | None = Field(None, ge=1, description="Validity; the profile's maximum by default")


class CertificateOut(BaseModel):
    serial: str
    ca: str
    profile: str
    subject: str
    not_after: datetime
    certificate_pem: str
    key_label: str | None = Field(None, description="Token key of a certificate issued with a generated key")


class CertificateIssue(BaseModel):
    ca: str
    profile: str = Field(examples=["person", "organisation", "seal", "document-signer", "tsa", "tls-server"])
    subject: str | None = Field(None, description="DN; taken from the CSR when omitted")
    csr_pem: str | None = Field(None, description="PKCS#10 request, PEM")
    generate_key: KeyAlgorithm | None = Field(None, description="Generate the key in the deployment's token")
    san: list[str] = Field(default_factory=list, examples=[["dns:www.example.cn"]])
    days: int | None = Field(None, ge=1)


class BatchItem(BaseModel):
    csr_pem: str = Field(description="PKCS#10 request, PEM; its signature is checked")
    subject: str | None = Field(None, description="DN; taken from the CSR when omitted")
    san: list[str] = Field(default_factory=list)
    days: int | None = Field(None, ge=1)


class BatchIssue(BaseModel):
    ca: str
    profile: str
    requests: list[BatchItem] = Field(min_length=1, max_length=5000)


class Revocation(BaseModel):
    reason: RevocationReason = RevocationReason.UNSPECIFIED


class BulkRenewal(BaseModel):
    expiring_within: str = Field(examples=["30d"], description="Window such as 30d, 12h or 2w")


def _pem(der: bytes) -> str:
    return bytes(pem.armor("CERTIFICATE", der)).decode()


def _ca_out(info: CaInfo) -> CaOut:
    return CaOut(
        name=info.name,
        algorithm=info.algorithm.value,
        subject=info.subject,
        parent=info.parent,
        serial=info.serial,
        not_after=info.not_after,
        certificate_pem=_pem(info.certificate_der),
    )


def _cert_out(info: IssuedInfo) -> CertificateOut:
    return CertificateOut(
        serial=info.serial,
        ca=info.ca,
        profile=info.profile,
        subject=info.subject,
        not_after=info.not_after,
        certificate_pem=_pem(info.certificate_der),
        key_label=info.key_label,
    )


@router.get("/cas", summary="List certificate authorities")
def list_cas(request: Request, _actor: CaReader) -> list[CaOut]:
    return [_ca_out(ca) for ca in CaService(platform_of(request)).list_cas()]


@router.post("/cas", status_code=status.HTTP_201_CREATED, summary="Create a root or intermediate CA")
def create_ca(body: CaCreate, request: Request, actor: CaWriter) -> CaOut:
    info = CaService(platform_of(request)).create_ca(
        body.name, body.algorithm, actor, body.parent, body.subject, body.days
    )
    return _ca_out(info)


@router.get("/cas/{name}", summary="One certificate authority")
def get_ca(name: str, request: Request, _actor: CaReader) -> CaOut:
    return _ca_out(CaService(platform_of(request)).get_ca(name))


@router.post(
    "/certificates",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a certificate",
    description="From a PKCS#10 CSR (its signature is checked) or with a key generated in the token.",
)
def issue_certificate(body: CertificateIssue, request: Request, actor: Issuer) -> CertificateOut:
    request_ = load_csr(body.csr_pem.encode()) if body.csr_pem else None
    subject = body.subject
    if request_ is not None and subject is None:
        subject = request_.subject_dn
    info = CaService(platform_of(request)).issue(
        body.ca,
        body.profile,
        actor,
        subject=subject,
        public_key=request_.public_key if request_ else None,
        generate=body.generate_key,
        san=body.san,
        days=body.days,
    )
    return _cert_out(info)


@router.post(
    "/certificates/batch",
    status_code=status.HTTP_201_CREATED,
    summary="Issue many certificates from CSRs in one transaction (all or none)",
    description="Every request is checked first; an error names it, e.g. requests[3].subject.",
)
def issue_batch(body: BatchIssue, request: Request, actor: Issuer) -> list[CertificateOut]:
    items = []
    for index, item in enumerate(body.requests):
        try:
            csr = load_csr(item.csr_pem.encode())
        except ValidationError as exc:
            raise ValidationError(f"requests[{index}].csr_pem", exc.rule) from None
        subject = item.subject or csr.subject_dn
        items.append(IssueRequest(subject, csr.public_key, tuple(item.san), item.days))
    issued = CaService(platform_of(request)).issue_batch(body.ca, body.profile, items, actor)
    return [_cert_out(info) for info in issued]


@router.get("/certificates/{serial}", summary="One issued certificate")
def get_certificate(serial: str, request: Request, _actor: CaReader) -> CertificateOut:
    return _cert_out(CaService(platform_of(request)).get_certificate(serial))


@router.post("/certificates/{serial}/revoke", summary="Revoke, or hold with reason certificate_hold")
def revoke_certificate(serial: str, body: Revocation, request: Request, actor: Revoker) -> CertificateOut:
    return _cert_out(CaService(platform_of(request)).revoke(serial, body.reason, actor))


@router.post("/certificates/{serial}/release", summary="Take a certificate off hold")
def release_certificate(serial: str, request: Request, actor: Revoker) -> CertificateOut:
    return _cert_out(CaService(platform_of(request)).release_hold(serial, actor))


@router.post(
    "/certificates/{serial}/renew",
    status_code=status.HTTP_201_CREATED,
    summary="Renew: new serial, same subject, profile and key",
)
def renew_certificate(serial: str, request: Request, actor: Issuer) -> CertificateOut:
    return _cert_out(CaService(platform_of(request)).renew(serial, actor))


@router.post("/renewals", summary="Renew every certificate expiring within a window (idempotent)")
def renew_expiring(body: BulkRenewal, request: Request, actor: Issuer) -> list[CertificateOut]:
    renewed = CaService(platform_of(request)).renew_expiring(parse_window(body.expiring_within), actor)
    return [_cert_out(info) for info in renewed]
