"""Public trust information: the deployment's trust anchors (our root CAs and imported external anchors)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from certseal.services.trust import TrustService
from certseal.web.deps import platform_of

router = APIRouter(tags=["trust"])


class TrustAnchorOut(BaseModel):
    name: str
    source: str
    subject: str
    sha256: str
    not_after: datetime


@router.get("/api/v1/trust-anchors", summary="The trust anchors used for certification path validation")
def trust_anchors(request: Request) -> list[TrustAnchorOut]:
    return [
        TrustAnchorOut(name=a.name, source=a.source, subject=a.subject, sha256=a.sha256, not_after=a.not_after)
        for a in TrustService(platform_of(request)).anchors()
    ]
