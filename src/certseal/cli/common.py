"""What every certseal command shares: the Typer apps, the Platform, the actor, consoles and failure."""

from __future__ import annotations

import getpass
import os
import socket
from typing import NoReturn

import typer
from rich.console import Console

from certseal.config import Settings
from certseal.logs import get_logger
from certseal.services.audit import Actor
from certseal.services.platform import Platform

app = typer.Typer(
    help="certseal: trusted e-licenses and e-signatures.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
keys_app = typer.Typer(help="Keys in the crypto tokens (software, PKCS#11).", no_args_is_help=True)
token_app = typer.Typer(help="Crypto tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The HMAC-chained audit trail.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(token_app, name="token")
app.add_typer(audit_app, name="audit")

log = get_logger("cli")
out = Console()
err = Console(stderr=True)

_state: dict[str, Platform] = {}


def platform() -> Platform:
    if "platform" not in _state:
        settings = Settings()
        _configure_logging(settings)
        _state["platform"] = Platform(settings)
    return _state["platform"]


def _configure_logging(settings: Settings) -> None:
    from certseal.logs import configure_logging, register_secret

    for secret in (settings.kek, settings.audit_key, settings.pkcs11_pin):
        if secret is not None:
            register_secret(secret.get_secret_value())
    try:
        configure_logging(
            settings.resolved_log_dir,
            settings.log_level,
            settings.log_max_bytes,
            settings.log_backup_count,
            settings.log_max_age_days,
        )
    except OSError:
        pass  # no data directory yet (before `certseal init`): log nowhere rather than fail


def actor() -> Actor:
    return Actor(name=_user(), source=f"cli@{socket.gethostname()}")


def _user() -> str:
    return os.environ.get("CERTSEAL_ACTOR") or getpass.getuser()


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)
