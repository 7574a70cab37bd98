"""API keys for integrations and administrators' scripts: creation, revocation, authentication, roles.

A key is `cs_<key id>_<secret>`; the database keeps the key id and SHA-256 of the secret (the secret is 256 random
bits, so a fast hash suffices), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select

from certseal.errors import AlreadyExists, Forbidden, NotFound, Unauthenticated, ValidationError
from certseal.services.audit import Actor
from certseal.services.platform import Platform
from certseal.store.models import ApiKey, utcnow

_TOKEN = re.compile(r"^cs_([A-Za-z0-9]{16})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Permission(StrEnum):
    CA_READ = "ca:read"
    CA_WRITE = "ca:write"
    CERT_ISSUE = "cert:issue"
    CERT_REVOKE = "cert:revoke"
    AUDIT_READ = "audit:read"
    SEAL_READ = "seal:read"
    SEAL_WRITE = "seal:write"
    SEAL_USE = "seal:use"
    VERIFY = "verify"


ROLES: dict[str, frozenset[Permission]] = {
    "admin": frozenset(Permission),
    "pki-officer": frozenset(
        {
            Permission.CA_READ,
            Permission.CA_WRITE,
            Permission.CERT_ISSUE,
            Permission.CERT_REVOKE,
            Permission.SEAL_READ,
            Permission.SEAL_WRITE,
        }
    ),
    "registration-officer": frozenset({Permission.CA_READ, Permission.CERT_ISSUE}),
    "auditor": frozenset({Permission.CA_READ, Permission.AUDIT_READ}),
    "seal-user": frozenset({Permission.SEAL_USE, Permission.SEAL_READ, Permission.VERIFY}),
}


@dataclass(frozen=True)
class ApiPrincipal:
    name: str
    role: str

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLES.get(self.role, frozenset())

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise Forbidden(f"API key {self.name!r} (role {self.role}) may not {permission.value}")

    def actor(self, source: str) -> Actor:
        return Actor(f"api:{self.name}", source)


@dataclass(frozen=True)
class ApiKeyInfo:
    name: str
    key_id: str
    role: str
    status: str
    expires_at: datetime | None
    created_by: str
    created_at: datetime


def _info(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(row.name, row.key_id, row.role, row.status, row.expires_at, row.created_by, row.created_at)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeyService:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    def create(self, name: str, role: str, actor: Actor, valid_days: int | None = None) -> tuple[ApiKeyInfo, str]:
        """Returns the record and the secret token, which is shown once and never stored."""
        if not _NAME.match(name):
            raise ValidationError("name", "must be 1-64 letters, digits, dots, hyphens or underscores")
        if role not in ROLES:
            raise ValidationError("role", f"must be one of {', '.join(ROLES)}, not {role!r}")
        if valid_days is not None and valid_days < 1:
            raise ValidationError("valid_days", "must be at least 1")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        with self._platform.unit_of_work(actor) as uow:
            if uow.session.scalars(select(ApiKey).where(ApiKey.name == name)).first() is not None:
                raise AlreadyExists(f"an API key named {name!r} exists already")
            expires = utcnow() + timedelta(days=valid_days) if valid_days else None
            row = ApiKey(
                key_id=key_id,
                name=name,
                role=role,
                secret_sha256=_digest(secret),
                status="active",
                expires_at=expires,
                created_by=actor.name,
                updated_by=actor.name,
            )
            uow.session.add(row)
            uow.session.flush()
            uow.record("api_key", name, "create", after={"role": role, "key_id": key_id, "expires_at": expires})
            return _info(row), f"cs_{key_id}_{secret}"

    def revoke(self, name: str, actor: Actor) -> None:
        with self._platform.unit_of_work(actor) as uow:
            row = uow.session.scalars(select(ApiKey).where(ApiKey.name == name)).first()
            if row is None:
                raise NotFound(f"no API key named {name!r}")
            row.status, row.updated_by = "revoked", actor.name
            uow.record("api_key", name, "revoke", before={"status": "active"}, after={"status": "revoked"})

    def list_keys(self) -> list[ApiKeyInfo]:
        with self._platform.db.reading() as session:
            return [_info(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.name))]

    def authenticate(self, token: str | None) -> ApiPrincipal:
        match = _TOKEN.match(token or "")
        if match is None:
            raise Unauthenticated("send an API key: Authorization: Bearer cs_…")
        with self._platform.db.reading() as session:
            row = session.scalars(select(ApiKey).where(ApiKey.key_id == match.group(1))).first()
        expected = row.secret_sha256 if row is not None else _digest("")
        valid = hmac.compare_digest(expected, _digest(match.group(2)))
        if row is None or not valid or row.status != "active":
            raise Unauthenticated("the API key is unknown, wrong or revoked")
        if row.expires_at is not None and row.expires_at <= utcnow():
            raise Unauthenticated(f"the API key {row.name!r} expired on {row.expires_at:%Y-%m-%d}")
        return ApiPrincipal(row.name, row.role)
