"""Request-scoped helpers shared by the routers: the platform, the caller's address, authorisation and the API's
error shape.

`authorised(permission)` accepts both credentials `current_principal` knows: an API key (Authorization: Bearer cs_…)
and a login session (the session cookie; state-changing requests need its CSRF token).  Endpoints that also check a
record's data scope use `requires(permission)`, which returns the Principal instead of the audit Actor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from certseal.errors import ValidationError
from certseal.services.access import AnyPermission, Principal
from certseal.services.audit import Actor
from certseal.web.sessions import bearer, current_principal, platform_of, requires

__all__ = [
    "API_ERRORS",
    "ErrorBody",
    "ErrorBodyRoute",
    "authorised",
    "bearer",
    "client_address",
    "current_principal",
    "platform_of",
    "request_validation_error",
    "requires",
]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def authorised(permission: AnyPermission) -> Callable[..., Awaitable[Actor]]:
    """A dependency: the caller (API key or login session) must hold `permission`; returns the Actor that the
    services record in the audit trail (user name, or api:KEY-NAME, with the client address)."""

    async def dependency(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> Actor:
        principal.require(permission)
        return principal.actor(client_address(request))

    return dependency


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong, for a person to read")
    field: str | None = Field(None, description="The input field at fault (validation errors)")
    rule: str | None = Field(None, description="The rule it broke (validation errors)")


API_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorBody,
        "description": "Neither a live login session nor a valid API key (none, unknown, wrong, revoked or expired)",
    },
    403: {
        "model": ErrorBody,
        "description": "The caller's role or data scope does not allow this, or a session request lacks its CSRF token",
    },
    404: {"model": ErrorBody, "description": "The named record does not exist"},
    409: {"model": ErrorBody, "description": "It exists already"},
    422: {"model": ErrorBody, "description": "Bad input: names the field and the rule"},
}


def request_validation_error(exc: RequestValidationError) -> ValidationError:
    """FastAPI's request validation failure as a certseal ValidationError naming the first field at fault (body
    fields by name, path and query parameters by name, the whole body as "body"), without the input value."""
    error = exc.errors()[0]
    if error.get("type") == "json_invalid":
        reason = error.get("ctx", {}).get("error", "cannot be parsed")
        return ValidationError("body", f"must be valid JSON ({reason})")
    where = [str(part) for part in error.get("loc", ())]
    field = ".".join(where[1:]) if len(where) > 1 else "body"
    return ValidationError(field, str(error.get("msg", "is not valid")).lower())


class ErrorBodyRoute(APIRoute):
    """A route class (APIRouter(route_class=ErrorBodyRoute)) whose request validation errors are answered in the
    API's shape, 422 {error, field, rule}; FastAPI's default answer would echo the input, a password perhaps."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise request_validation_error(exc) from None

        return route
