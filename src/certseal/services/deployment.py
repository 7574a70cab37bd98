"""Creating an embedded deployment, idempotently."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url

from certseal.config import Settings, create_secrets_file
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.errors import ConfigError
from certseal.services.audit import Actor
from certseal.services.platform import Platform
from certseal.store.models import AuditEvent


@dataclass(frozen=True)
class DeploymentReport:
    home: Path
    database: str
    log_dir: Path
    secrets_file: Path | None
    secrets_created: bool
    first_init: bool


def init_deployment(platform: Platform, actor: Actor) -> DeploymentReport:
    settings = platform.settings
    settings.home_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    settings.resolved_log_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    secrets_file, created = _ensure_secrets(settings)
    platform.db.migrate()
    first = False
    with platform.unit_of_work(actor) as uow:
        if uow.session.scalars(select(AuditEvent.seq).where(AuditEvent.entity == "deployment")).first() is None:
            uow.record(
                "deployment",
                str(settings.home_dir),
                "init",
                after={"database": masked_url(settings.resolved_database_url), "kek_id": platform.kek.kek_id},
            )
            first = True
    return DeploymentReport(
        settings.home_dir,
        masked_url(settings.resolved_database_url),
        settings.resolved_log_dir,
        secrets_file,
        created,
        first,
    )


def _ensure_secrets(settings: Settings) -> tuple[Path | None, bool]:
    if settings.kek is not None and settings.audit_key is not None:
        return None, False
    path = settings.resolved_secrets_file
    return path, create_secrets_file(path)


def masked_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def check_ready(platform: Platform) -> None:
    """Refuse to serve a deployment whose database schema is missing or old, with the fix in the message."""
    if not platform.db.schema_is_current():
        raise ConfigError(
            f"the database {masked_url(platform.settings.resolved_database_url)} is not initialised or its schema "
            "is old: run `certseal init` (it applies the migrations)"
        )


DEMO_CAS: tuple[tuple[str, KeyAlgorithm, str | None, str], ...] = (
    ("demo-sm2-root", KeyAlgorithm.SM2, None, "CN=certseal 演示 SM2 根CA,O=certseal 演示,C=CN"),
    ("demo-sm2-issuing", KeyAlgorithm.SM2, "demo-sm2-root", "CN=certseal 演示 SM2 签发CA,O=certseal 演示,C=CN"),
    ("demo-rsa-root", KeyAlgorithm.RSA2048, None, "CN=certseal Demo RSA Root CA,O=certseal Demo,C=CN"),
)


def create_demo(platform: Platform, actor: Actor) -> list[str]:
    """Demo CAs and a timestamp authority, for trying certseal out; creates only what is missing."""
    from certseal.services.ca import CaService
    from certseal.services.tsa import TsaNotConfigured, TsaService

    cas = CaService(platform)
    existing = {ca.name for ca in cas.list_cas()}
    made = []
    for name, algorithm, parent, subject in DEMO_CAS:
        if name not in existing:
            cas.create_ca(name, algorithm, actor, parent=parent, subject=subject)
            made.append(f"CA {name}")
    tsa = TsaService(platform)
    try:
        tsa.active()
    except TsaNotConfigured:
        tsa.setup("demo-rsa-root", KeyAlgorithm.RSA2048, actor)
        made.append("timestamp authority (RSA-2048, under demo-rsa-root)")
    return made
