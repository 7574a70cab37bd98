"""Public PKI endpoints that need no authentication: CA certificates (the AIA caIssuers URL)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from certseal.services.ca import CaService
from certseal.web.deps import platform_of

router = APIRouter(tags=["pki"])


@router.get(
    "/ca/{name}.crt",
    summary="A CA's certificate (DER), as named in AIA caIssuers",
    responses={200: {"content": {"application/pkix-cert": {}}}, 404: {"description": "no such CA"}},
)
def ca_certificate(name: str, request: Request) -> Response:
    info = CaService(platform_of(request)).get_ca(name)
    return Response(
        info.certificate_der, media_type="application/pkix-cert", headers={"Cache-Control": "public, max-age=3600"}
    )
