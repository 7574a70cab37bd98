"""Login sessions on the web: the signed session cookie, CSRF tokens, and `current_principal` — the dependency
every endpoint and page uses to learn who calls (a session cookie or an API key) before it checks role and scope.

The cookie is `<session id>.<tag>`: the id is random (256 bits; the database keeps its SHA-256), the tag is
HMAC-SHA256 under a key derived from the audit key, compared in constant time, so a forged or altered cookie is
refused before the database is asked.  The cookie is HttpOnly, SameSite=Lax, Path=/, and Secure when the
deployment's base URL or the request is https.

CSRF: a request authenticated by the cookie that changes state (anything but GET, HEAD, OPTIONS) must carry the
session's CSRF token in the X-CSRF-Token header or the csrf_token form field; requests with an API key need none
(a browser never adds the Authorization header by itself).  The login form, made before any session exists, uses
a double-submit token: a signed cookie and the same value in the form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from certseal.errors import Forbidden, Unauthenticated
from certseal.services.access import AnyPermission, Principal
from certseal.services.apikeys import ApiKeyService
from certseal.services.platform import Platform
from certseal.services.users import LoginSession, LoginSessions

SESSION_COOKIE = "certseal_session"
LOGIN_CSRF_COOKIE = "certseal_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# uploads must send X-CSRF-Token: their body is read only once the caller is authorised
_FORM_TYPES = ("application/x-www-form-urlencoded",)

# The one Bearer scheme of the API (certseal.web.deps re-exports it); this module imports nothing from web.deps,
# so that deps can build its `authorised` dependency on `current_principal`.
bearer = HTTPBearer(auto_error=False, description="An API key from `certseal apikey create`: cs_…")
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="The session cookie set by POST /api/v1/auth/login or the /login page",
)


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def _cookie_key(platform: Platform) -> bytes:
    memo_key = ("session-cookie-key",)
    if memo_key not in platform.memo:
        platform.memo[memo_key] = hmac.new(
            platform.settings.audit_key_bytes(), b"certseal session cookie v1", hashlib.sha256
        ).digest()
    key = platform.memo[memo_key]
    assert isinstance(key, bytes)
    return key


def _tag(platform: Platform, purpose: str, value: str) -> str:
    mac = hmac.new(_cookie_key(platform), f"{purpose}|{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def sign(platform: Platform, purpose: str, value: str) -> str:
    return f"{value}.{_tag(platform, purpose, value)}"


def unsign(platform: Platform, purpose: str, signed: str) -> str | None:
    """The value of a signed cookie, or None when its tag does not match (forged or altered)."""
    value, dot, tag = signed.rpartition(".")
    if not dot or not value:
        return None
    return value if hmac.compare_digest(tag.encode(), _tag(platform, purpose, value).encode()) else None


def secure_cookies(request: Request, platform: Platform) -> bool:
    return platform.settings.base_url.startswith("https:") or request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, session: LoginSession) -> None:
    platform = platform_of(request)
    response.set_cookie(
        SESSION_COOKIE,
        sign(platform, "session", session.token),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request, platform),
        path="/",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookies(request, platform_of(request))
    )


def session_token(request: Request) -> str | None:
    """The session id from a validly signed cookie, or None if there is no cookie; Unauthenticated if forged."""
    signed = request.cookies.get(SESSION_COOKIE)
    if signed is None:
        return None
    token = unsign(platform_of(request), "session", signed)
    if token is None:
        raise Unauthenticated("the session cookie is not valid (altered or from another deployment): log in again")
    return token


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    _cookie: Annotated[str | None, Depends(session_cookie)],
) -> Principal:
    """Who calls: an API key (Authorization: Bearer cs_…) or a session cookie.  State-changing requests made with
    the cookie must carry the session's CSRF token."""
    platform = platform_of(request)
    if credentials is not None or "authorization" in request.headers:
        token = credentials.credentials if credentials else None
        key = await run_in_threadpool(ApiKeyService(platform).authenticate, token)
        return Principal.from_api_key(key)
    session_id = session_token(request)
    if session_id is None:
        raise Unauthenticated(
            "log in (POST /api/v1/auth/login, or the /login page) or send an API key: Authorization: Bearer cs_…"
        )
    session = await run_in_threadpool(LoginSessions(platform).resume, session_id)
    if request.method not in SAFE_METHODS:
        await check_csrf(request, session.csrf_token)
    request.state.login_session = session
    request.state.session_token = session_id
    return session.principal


async def check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(_FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent:
        raise Forbidden(f"CSRF token missing: send the {CSRF_HEADER} header or the {CSRF_FIELD} form field")
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("CSRF token wrong: it does not belong to this session")


def requires(permission: AnyPermission) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller (session or API key) must hold `permission`; returns the Principal, whose
    `require_scope` the endpoint calls once it knows the record."""

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        principal.require(permission)
        return principal

    return dependency


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def set_login_csrf_cookie(request: Request, response: Response, token: str) -> None:
    """The login form's token also goes into a signed cookie (double submit): no session exists yet."""
    platform = platform_of(request)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        sign(platform, "login-csrf", token),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request, platform),
        path="/login",
    )


def check_login_csrf(request: Request, form_token: str | None) -> None:
    signed = request.cookies.get(LOGIN_CSRF_COOKIE)
    expected = unsign(platform_of(request), "login-csrf", signed) if signed else None
    if not form_token or expected is None:
        raise Forbidden("CSRF token missing: reload the login page and try again")
    if not hmac.compare_digest(form_token.encode(), expected.encode()):
        raise Forbidden("CSRF token wrong: reload the login page and try again")
