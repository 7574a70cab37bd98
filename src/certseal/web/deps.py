"""Request-scoped helpers shared by the routers: the platform and authorisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from certseal.services.apikeys import ApiKeyService, Permission
from certseal.services.audit import Actor
from certseal.services.platform import Platform

bearer = HTTPBearer(auto_error=False, description="An API key from `certseal apikey create`: cs_…")


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def authorised(permission: Permission) -> Callable[..., Actor]:
    """A dependency: the caller's API key must be valid and its role must grant `permission`."""

    def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Actor:
        token = credentials.credentials if credentials else None
        principal = ApiKeyService(platform_of(request)).authenticate(token)
        principal.require(permission)
        return principal.actor(client_address(request))

    return dependency


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong, for a person to read")
    field: str | None = Field(None, description="The input field at fault (validation errors)")
    rule: str | None = Field(None, description="The rule it broke (validation errors)")


API_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No API key, or an unknown, wrong, revoked or expired one"},
    403: {"model": ErrorBody, "description": "The API key's role does not allow this"},
    404: {"model": ErrorBody, "description": "A named CA, certificate or anchor does not exist"},
    409: {"model": ErrorBody, "description": "It exists already"},
    422: {"model": ErrorBody, "description": "Bad input: names the field and the rule"},
}
