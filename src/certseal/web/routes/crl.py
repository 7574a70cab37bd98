"""Public CRL endpoints, at the URL CA-issued certificates name in their CRL distribution point.

/crl/NAME.crl is the CA's full CRL, /crl/NAME-delta.crl its delta CRL (named in the full CRL's freshest CRL).
"""

from __future__ import annotations

from email.utils import format_datetime

from fastapi import APIRouter, Request, Response

from certseal.errors import NotFound
from certseal.services.ca import CaService
from certseal.services.crl import CrlService
from certseal.web.deps import platform_of

router = APIRouter(tags=["pki"])
_DELTA = "-delta"
_MAX_AGE = 300  # short: a CRL issued on demand after a revocation must reach relying parties soon


@router.get(
    "/crl/{name}.crl",
    summary="A CA's current full CRL (NAME.crl) or delta CRL (NAME-delta.crl), DER",
    responses={200: {"content": {"application/pkix-crl": {}}}, 404: {"description": "no such CA"}},
)
def crl_file(name: str, request: Request) -> Response:
    platform = platform_of(request)
    ca_name, delta = _resolve(CaService(platform), name)
    info = CrlService(platform).current(ca_name, delta)
    return Response(
        info.der,
        media_type="application/pkix-crl",
        headers={
            "Cache-Control": f"public, max-age={_MAX_AGE}",
            "Last-Modified": format_datetime(info.this_update, usegmt=True),
            "Expires": format_datetime(info.next_update, usegmt=True),
        },
    )


def _resolve(cas: CaService, name: str) -> tuple[str, bool]:
    """NAME is a CA's full CRL; NAME-delta its delta CRL, unless a CA is itself called NAME-delta."""
    try:
        return cas.get_ca(name).name, False
    except NotFound:
        if not name.endswith(_DELTA):
            raise
    return cas.get_ca(name[: -len(_DELTA)]).name, True
