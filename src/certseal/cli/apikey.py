"""`certseal apikey …`: credentials for the HTTP API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from certseal.cli.common import actor, app, out, platform
from certseal.services.apikeys import ROLES, ApiKeyService

apikey_app = typer.Typer(help="API keys for the HTTP API (/api/v1).", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Argument(help="Who or what uses the key, e.g. his-system.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.")],
    valid_days: Annotated[int | None, typer.Option("--valid-days", help="Expire after this many days.")] = None,
) -> None:
    """Create an API key; the secret is printed once and never stored."""
    info, token = ApiKeyService(platform()).create(name, role, actor(), valid_days)
    out.print(f"API key [bold]{info.name}[/] (role {info.role}). Keep this secret; it is not shown again:")
    print(token)


@apikey_app.command("list")
def apikey_list() -> None:
    """List API keys (never their secrets)."""
    table = Table("name", "key id", "role", "status", "expires", "created by")
    for key in ApiKeyService(platform()).list_keys():
        expires = f"{key.expires_at:%Y-%m-%d}" if key.expires_at else "—"
        table.add_row(key.name, key.key_id, key.role, key.status, expires, key.created_by)
    out.print(table)


@apikey_app.command("revoke")
def apikey_revoke(name: Annotated[str, typer.Argument(help="Key name.")]) -> None:
    """Revoke an API key at once."""
    ApiKeyService(platform()).revoke(name, actor())
    out.print(f"revoked {name}")
