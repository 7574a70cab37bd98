"""The officer console (/console) and the enterprise/pharmacist portal (/portal): small HTML shells whose ES modules
(/static/console.js, /static/portal.js) call the license REST API with the session cookie and X-CSRF-Token.

The shells carry no data and no inline script (CSP `script-src 'self'`); every text the modules show is set with
textContent.  A visitor without a session is sent to /login?next=…; officers, administrators and auditors belong
in the console, enterprise users and pharmacists (whose data scope is their own USCC or ID) in the portal, and each
page sends the other kind to theirs.  /console/capabilities.json tells the console which lifecycle actions the
caller's role may perform per license type, so that it shows only those buttons (the API enforces them anyway).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from certseal.errors import Unauthenticated
from certseal.licenses.lifecycle import Action, may_perform, role_token
from certseal.services.access import LicensePermission, Principal, ScopeKind
from certseal.services.licenses import ACTION_PERMISSIONS, LicenseService
from certseal.services.users import LoginSessions
from certseal.web.deps import API_ERRORS, platform_of
from certseal.web.sessions import current_principal, session_token

router = APIRouter(tags=["console"])

Home = Literal["/console", "/portal"]

# Who may ask for which lifecycle action: the registry's table, plus creating a draft.
ACTIONS: dict[Action, LicensePermission] = {Action.CREATE: LicensePermission.WRITE, **ACTION_PERMISSIONS}

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

_SHELL = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title} · certseal</title>
<link rel="stylesheet" href="/static/console.css">
<script type="module" src="/static/{module}"></script></head>
<body data-app="{app}">
<header class="bar"><a class="brand" href="{home}#/">{title}</a><nav id="nav"></nav>
<span class="who" id="who"></span><button class="quiet" id="logout" type="button" hidden>退出 Log out</button></header>
<div class="notice" id="notice" role="status" aria-live="polite"></div>
<main id="main"><p class="muted">加载中… Loading…</p></main>
<noscript><p class="error">This page needs JavaScript (ES modules).</p></noscript>
</body></html>"""

CONSOLE_PAGE = _SHELL.format(title="电子证照管理 Officer console", module="console.js", app="console", home="/console")
PORTAL_PAGE = _SHELL.format(title="我的证照 My licenses", module="portal.js", app="portal", home="/portal")


def home_of(principal: Principal) -> Home:
    """Enterprise users and pharmacists (scoped to their own USCC or ID) use the portal; everybody else the console."""
    return "/portal" if principal.scope.kind in (ScopeKind.ENTERPRISE, ScopeKind.PERSON) else "/console"


def _page_principal(request: Request) -> Principal | None:
    """The logged-in user of a page request, or None (no, forged or ended session: the page asks to log in)."""
    try:
        token = session_token(request)
        return None if token is None else LoginSessions(platform_of(request)).resume(token).principal
    except Unauthenticated:
        return None


def _shell(request: Request, page: Home, html: str) -> Response:
    principal = _page_principal(request)
    if principal is None:
        return RedirectResponse(f"/login?next={page}", status_code=status.HTTP_303_SEE_OTHER)
    home = home_of(principal)
    if home != page:
        return RedirectResponse(home, status_code=status.HTTP_303_SEE_OTHER)
    return HTMLResponse(html, headers=SECURITY_HEADERS)


@router.get("/console", response_class=HTMLResponse, include_in_schema=False)
def console_page(request: Request) -> Response:
    return _shell(request, "/console", CONSOLE_PAGE)


@router.get("/portal", response_class=HTMLResponse, include_in_schema=False)
def portal_page(request: Request) -> Response:
    return _shell(request, "/portal", PORTAL_PAGE)


# --- what the caller may do -----------------------------------------------------------------------------------


class Capabilities(BaseModel):
    role_token: str = Field(description="The lifecycle role token, e.g. licensing-officer:province")
    home: str = Field(description="/console or /portal")
    actions: dict[str, list[str]] = Field(
        description="Per license type code: the lifecycle actions (create included) the caller's role may perform"
    )


def role_token_of(principal: Principal) -> str:
    division = principal.scope.value if principal.scope.kind is ScopeKind.DIVISION else None
    return role_token(principal.role, division)


def capabilities(principal: Principal, service: LicenseService) -> Capabilities:
    token = role_token_of(principal)
    actions = {
        license_type.code: [
            action.value
            for action, permission in ACTIONS.items()
            if principal.can(permission) and may_perform(license_type, action, token)
        ]
        for license_type in service.types()
    }
    return Capabilities(role_token=token, home=home_of(principal), actions=actions)


@router.get(
    "/console/capabilities.json",
    response_model=Capabilities,
    summary="Which lifecycle actions the caller's role may perform, per license type (for the console's buttons)",
    responses={401: API_ERRORS[401]},
)
async def console_capabilities(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Capabilities:
    return await run_in_threadpool(capabilities, principal, LicenseService(platform_of(request)))
