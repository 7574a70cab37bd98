"""Request-scoped helpers shared by the routers: the platform and authorisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
