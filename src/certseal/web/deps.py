"""Request-scoped helpers shared by the routers."""

from __future__ import annotations

from fastapi import Request

from certseal.services.platform import Platform


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform
