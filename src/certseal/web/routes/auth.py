"""Logging in and out: the JSON API (/api/v1/auth/login, logout, me) and a minimal server-rendered /login page
that the portal restyles.  Sessions and CSRF are in certseal.web.sessions."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from certseal.errors import Forbidden, Unauthenticated, ValidationError
from certseal.services.access import Principal
from certseal.services.users import MAX_PASSWORD_LENGTH, LoginSession, LoginSessions, UserService, shown_scope
from certseal.web.deps import API_ERRORS, client_address, platform_of
from certseal.web.routes.portal import home_of
from certseal.web.sessions import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    check_login_csrf,
    clear_session_cookie,
    current_principal,
    new_login_csrf,
    session_token,
    set_login_csrf_cookie,
    set_session_cookie,
)

router = APIRouter(tags=["auth"])

Caller = Annotated[Principal, Depends(current_principal)]


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, examples=["officer-li"])
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    totp: str | None = Field(None, pattern=r"^[0-9]{6}$", description="The code of the authenticator app, if enrolled")


class PrincipalOut(BaseModel):
    name: str = Field(description="User name, or api:KEY-NAME for an API key")
    kind: str = Field(description="user or api-key")
    display_name: str
    role: str
    scope: str = Field(description="'*', division:CODE, uscc:USCC or person:ID-INDEX (shortened)")
    permissions: list[str]
    csrf_token: str | None = Field(None, description="Send as X-CSRF-Token with state-changing cookie requests")
    expires_at: datetime | None = Field(None, description="When the session ends at the latest")


def _out(principal: Principal, session: LoginSession | None) -> PrincipalOut:
    return PrincipalOut(
        name=principal.name,
        kind=principal.kind,
        display_name=principal.display_name,
        role=principal.role,
        scope=shown_scope(principal.scope.stored()),
        permissions=sorted(principal.permissions),
        csrf_token=session.csrf_token if session else None,
        expires_at=session.expires_at if session else None,
    )


def _login(request: Request, username: str, password: str, totp: str | None) -> LoginSession:
    platform = platform_of(request)
    source = client_address(request)
    user = UserService(platform).authenticate(username, password, source, totp)
    return LoginSessions(platform).start(user, source)


@router.post(
    "/api/v1/auth/login",
    response_model=PrincipalOut,
    summary="Log in: sets the session cookie; returns the CSRF token",
    responses={401: API_ERRORS[401], 422: API_ERRORS[422]},
)
def login(body: LoginIn, request: Request, response: Response) -> PrincipalOut:
    session = _login(request, body.username, body.password, body.totp)
    set_session_cookie(response, request, session)
    return _out(session.principal, session)


@router.post(
    "/api/v1/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out: ends the session everywhere (needs X-CSRF-Token)",
    responses={401: API_ERRORS[401], 403: API_ERRORS[403], 422: API_ERRORS[422]},
)
def logout(_caller: Caller, request: Request) -> Response:
    token = getattr(request.state, "session_token", None)
    if token is None:
        raise ValidationError("session", "an API key has no session to end: revoke the key instead")
    LoginSessions(platform_of(request)).end(token, client_address(request))
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response, request)
    return response


@router.get(
    "/api/v1/auth/me",
    response_model=PrincipalOut,
    summary="Who am I: user or API key, role, scope, permissions",
    responses={401: API_ERRORS[401]},
)
def me(caller: Caller, request: Request) -> PrincipalOut:
    return _out(caller, getattr(request.state, "login_session", None))


# --- the login page ------------------------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>登录 · certseal</title>
<style>body{{font-family:system-ui,sans-serif;max-width:22rem;margin:3rem auto;padding:0 1rem;color:#222}}
h1{{color:#b00;font-size:1.4rem}}label{{display:block;margin:.8rem 0 .2rem}}
input{{width:100%;padding:.5rem;box-sizing:border-box;font-size:1rem}}button{{margin-top:1rem;padding:.5rem 1.5rem}}
.error{{color:#b00;background:#fee;padding:.5rem}}</style></head>
<body><h1>certseal 登录 · Log in</h1>{message}
<form method="post" action="/login" autocomplete="on">
<input type="hidden" name="{csrf_field}" value="{csrf}"><input type="hidden" name="next" value="{next}">
<label for="username">用户名 User name</label>
<input id="username" name="username" required maxlength="64" autocomplete="username" value="{username}">
<label for="password">密码 Password</label>
<input id="password" name="password" type="password" required autocomplete="current-password">
<label for="totp">动态口令 TOTP code (if enrolled)</label>
<input id="totp" name="totp" inputmode="numeric" pattern="[0-9]{{6}}" autocomplete="one-time-code">
<button type="submit">登录 Log in</button>
</form></body></html>"""


def _safe_next(target: str | None) -> str:
    """Only a path on this site: no scheme, no host, no protocol-relative '//' (open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _page(request: Request, status_code: int, message: str = "", username: str = "", target: str = "/") -> HTMLResponse:
    csrf = new_login_csrf()
    shown = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    html = _PAGE.format(
        message=shown,
        csrf_field=CSRF_FIELD,
        csrf=escape(csrf),
        next=escape(_safe_next(target)),
        username=escape(username),
    )
    response = HTMLResponse(html, status_code=status_code, headers={"cache-control": "no-store"})
    set_login_csrf_cookie(request, response, csrf)
    return response


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return _page(request, status.HTTP_200_OK, target=next)


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)] = "",
    totp: Annotated[str, Form(max_length=6)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    try:
        check_login_csrf(request, csrf_token)
    except Forbidden as exc:
        return _page(request, status.HTTP_403_FORBIDDEN, exc.message, username, next)
    try:
        session = _login(request, username, password, totp or None)
    except Unauthenticated as exc:
        return _page(request, status.HTTP_401_UNAUTHORIZED, exc.message, username, next)
    target = _safe_next(next)
    if target == "/":  # no page asked for: the user's home (officers the console, holders the portal)
        target = home_of(session.principal)
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookie(response, request, session)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", include_in_schema=False)
def logout_form(_caller: Caller, request: Request) -> Response:
    """The page form's logout (csrf_token form field, checked by current_principal)."""
    token = session_token(request)
    if token is not None:
        LoginSessions(platform_of(request)).end(token, client_address(request))
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    clear_session_cookie(response, request)
    return response
