"""Who may do what to which data: roles as a permission table, data scopes, the Principal every request acts as,
and the protection of sensitive fields (envelope encryption, blind indexes, audited reveal, master-key rotation).

Roles.  User roles (provincial-admin, licensing-officer, auditor, enterprise-user, pharmacist) map to permissions
in ROLE_PERMISSIONS; API keys keep their roles and permissions from certseal.services.apikeys.

Scopes.  A user's data scope is stored as text: "*" (everything), "division:420100" (an administrative division
code, GB/T 2260: province 42xxxx → prefix "42", city 4201xx → "4201", county → all six digits), "uscc:<USCC>" (an
enterprise user sees only its own licenses) or "person:<blind index of the ID number>" (a pharmacist sees only
licenses whose holder ID has that blind index: the clear ID number is not kept with the user).

Master keys.  Random 32-byte keys, versioned, stored in the database (envelope_keys) wrapped under the KEK, as the
software token stores private keys.  Chosen over the secrets file because every node of a cluster must see a
rotation at once and atomically with the rewrapping (a file edited on one node is not), and over derivation from
the KEK because a retired version must be destroyable: once its material is deleted, nothing - not even the KEK -
opens a database backup sealed under it.  The blind-index key is kept the same way (purpose "blind-index") and
never rotates with the master keys: indexes would otherwise need the clear values to be recomputed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import ColumnElement, false, func, inspect, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError as StdnumError

from certseal.config import Settings
from certseal.crypto.envelope import (
    BlindIndex,
    EnvelopeCipher,
    MasterKeyRing,
    SealContext,
    new_master_key,
)
from certseal.crypto.symmetric import AeadAlgorithm
from certseal.errors import ConfigError, Forbidden, KeyUnwrapError, NotFound, ValidationError
from certseal.services.apikeys import ROLES as API_KEY_ROLES
from certseal.services.apikeys import ApiPrincipal, Permission
from certseal.services.audit import Actor
from certseal.services.platform import Platform, UnitOfWork
from certseal.store.models import Base, EnvelopeKey, ProtectedValue, SealedFields, utcnow


def setting(settings: Settings, name: str, default: Any) -> Any:
    """A setting that may not be declared in Settings yet (see the integrator notes): its value or the default."""
    return getattr(settings, name, default)


# --- permissions and roles -----------------------------------------------------------------------------------


class LicensePermission(StrEnum):
    READ = "license:read"
    WRITE = "license:write"
    APPROVE = "license:approve"
    ISSUE = "license:issue"
    REVOKE = "license:revoke"
    VIEW_SENSITIVE = "license:view-sensitive"
    EXPORT = "license:export"
    STATS_READ = "stats:read"


class UserPermission(StrEnum):
    READ = "user:read"
    WRITE = "user:write"


AnyPermission = Permission | LicensePermission | UserPermission


class Role(StrEnum):
    PROVINCIAL_ADMIN = "provincial-admin"
    LICENSING_OFFICER = "licensing-officer"
    AUDITOR = "auditor"
    ENTERPRISE_USER = "enterprise-user"
    PHARMACIST = "pharmacist"

    @classmethod
    def parse(cls, text: str, field_name: str = "role") -> Role:
        try:
            return cls(text)
        except ValueError:
            raise ValidationError(field_name, f"must be one of {', '.join(cls)}, not {text!r}") from None


# The role table, as data: what each user role may do (its data scope limits where).
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.PROVINCIAL_ADMIN: frozenset(
        {*LicensePermission, *UserPermission, Permission.AUDIT_READ, Permission.CA_READ, Permission.SEAL_READ}
        | {Permission.VERIFY}
    ),
    Role.LICENSING_OFFICER: frozenset(
        {*LicensePermission, Permission.SEAL_READ, Permission.SEAL_USE, Permission.VERIFY}
    ),
    Role.AUDITOR: frozenset(
        {
            LicensePermission.READ,
            LicensePermission.STATS_READ,
            UserPermission.READ,
            Permission.AUDIT_READ,
            Permission.CA_READ,
            Permission.SEAL_READ,
            Permission.VERIFY,
        }
    ),
    Role.ENTERPRISE_USER: frozenset({LicensePermission.READ, Permission.VERIFY}),
    Role.PHARMACIST: frozenset({LicensePermission.READ, Permission.VERIFY}),
}

# An API key's permissions come from its role in certseal.services.apikeys; an "admin" key may also manage users.
API_KEY_EXTRA_PERMISSIONS: dict[str, frozenset[str]] = {"admin": frozenset(p.value for p in UserPermission)}


# --- data scope ----------------------------------------------------------------------------------------------


class ScopeKind(StrEnum):
    ALL = "*"
    DIVISION = "division"
    ENTERPRISE = "uscc"
    PERSON = "person"


_DIVISION = re.compile(r"^[1-9][0-9]{5}$")
_BLIND_INDEX = re.compile(r"^[0-9a-f]{64}$")

ROLE_SCOPES: dict[Role, frozenset[ScopeKind]] = {
    Role.PROVINCIAL_ADMIN: frozenset({ScopeKind.ALL, ScopeKind.DIVISION}),
    Role.LICENSING_OFFICER: frozenset({ScopeKind.DIVISION}),
    Role.AUDITOR: frozenset({ScopeKind.ALL, ScopeKind.DIVISION}),
    Role.ENTERPRISE_USER: frozenset({ScopeKind.ENTERPRISE}),
    Role.PHARMACIST: frozenset({ScopeKind.PERSON}),
}


@dataclass(frozen=True)
class LicenseScope:
    """What a license (or any record under scope) is scoped by: its division, holder USCC, holder ID index."""

    division_code: str
    uscc: str | None = None
    holder_index: str | None = None

    def describe(self) -> str:
        parts = [f"division {self.division_code}"]
        if self.uscc:
            parts.append(f"USCC {self.uscc}")
        if self.holder_index:
            parts.append(f"holder {self.holder_index[:12]}…")
        return ", ".join(parts)


def division_prefix(code: str) -> str:
    """The prefix a division's scope covers: province 420000 → 42, city 420100 → 4201, county 420102 → 420102."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def division_level(code: str) -> Literal["province", "city", "county"]:
    return "province" if code.endswith("0000") else "city" if code.endswith("00") else "county"


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    value: str = ""

    @classmethod
    def everything(cls) -> Scope:
        return cls(ScopeKind.ALL)

    @classmethod
    def from_stored(cls, text: str) -> Scope:
        if text == ScopeKind.ALL:
            return cls.everything()
        kind, _, value = text.partition(":")
        try:
            return cls(ScopeKind(kind), value)
        except ValueError:
            raise ConfigError(f"stored scope {text!r} is not understood") from None

    def stored(self) -> str:
        return ScopeKind.ALL.value if self.kind is ScopeKind.ALL else f"{self.kind.value}:{self.value}"

    def describe(self) -> str:
        if self.kind is ScopeKind.ALL:
            return "all data"
        if self.kind is ScopeKind.DIVISION:
            return f"{division_level(self.value)} {self.value} (division codes {division_prefix(self.value)}…)"
        if self.kind is ScopeKind.ENTERPRISE:
            return f"enterprise USCC {self.value}"
        return f"the person with ID index {self.value[:12]}…"

    def covers(self, target: LicenseScope) -> bool:
        if self.kind is ScopeKind.ALL:
            return True
        if self.kind is ScopeKind.DIVISION:
            return target.division_code.startswith(division_prefix(self.value))
        if self.kind is ScopeKind.ENTERPRISE:
            return target.uscc is not None and target.uscc.upper() == self.value
        return target.holder_index is not None and target.holder_index == self.value

    def where(
        self,
        division: InstrumentedAttribute[str] | ColumnElement[str],
        uscc_column: InstrumentedAttribute[str | None] | ColumnElement[str | None] | None = None,
        holder_index: InstrumentedAttribute[str | None] | ColumnElement[str | None] | None = None,
    ) -> ColumnElement[bool]:
        """An SQL condition selecting exactly the rows this scope covers (for list and search queries)."""
        if self.kind is ScopeKind.ALL:
            return true()
        if self.kind is ScopeKind.DIVISION:
            return division.startswith(division_prefix(self.value))
        column = uscc_column if self.kind is ScopeKind.ENTERPRISE else holder_index
        return false() if column is None else column == self.value


def parse_scope(role: Role, text: str | None, index: Callable[[str], str]) -> Scope:
    """A user's scope from what an administrator typed: '*', a division code, a USCC or an ID number (the ID
    number is turned into its blind index by `index`).  The role decides which kinds are allowed."""
    allowed = ROLE_SCOPES[role]
    text = (text or "").strip()
    if not text:
        if ScopeKind.ALL in allowed:
            return Scope.everything()
        raise ValidationError("scope", f"role {role} needs a scope: {_scope_hint(allowed)}")
    scope = _scope_of_kind(allowed, text, index)
    if role is Role.PROVINCIAL_ADMIN and scope.kind is ScopeKind.DIVISION and division_level(scope.value) != "province":
        raise ValidationError("scope", "a provincial admin's division must be a province code (xx0000)")
    return scope


def _scope_of_kind(allowed: frozenset[ScopeKind], text: str, index: Callable[[str], str]) -> Scope:
    if text == "*":
        if ScopeKind.ALL not in allowed:
            raise ValidationError("scope", f"'*' (all data) is not allowed for this role: {_scope_hint(allowed)}")
        return Scope.everything()
    if ScopeKind.DIVISION in allowed:
        if not _DIVISION.match(text):
            raise ValidationError("scope", f"must be a 6-digit division code (GB/T 2260), not {text!r}")
        return Scope(ScopeKind.DIVISION, text)
    if ScopeKind.ENTERPRISE in allowed:
        try:
            return Scope(ScopeKind.ENTERPRISE, uscc.validate(text))
        except StdnumError:
            raise ValidationError("scope", "must be a valid USCC (18 characters, GB 32100 check digit)") from None
    try:
        id_number = ric.validate(text)
    except StdnumError:
        raise ValidationError("scope", "must be a valid resident ID number (18 characters, check digit)") from None
    return Scope(ScopeKind.PERSON, index(id_number))


def _scope_hint(allowed: frozenset[ScopeKind]) -> str:
    hints = {
        ScopeKind.ALL: "'*' for all data",
        ScopeKind.DIVISION: "a division code such as 420100",
        ScopeKind.ENTERPRISE: "the enterprise's USCC",
        ScopeKind.PERSON: "the pharmacist's ID number",
    }
    return " or ".join(hints[kind] for kind in ScopeKind if kind in allowed)


# --- the principal -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a logged-in user or an API key, with role, permissions and data scope."""

    name: str  # the actor name in the audit trail: user name, or api:KEY-NAME
    kind: Literal["user", "api-key"]
    role: str
    scope: Scope
    permissions: frozenset[str] = field(default_factory=frozenset)
    display_name: str = ""

    @classmethod
    def for_user(cls, username: str, role: str, stored_scope: str, display_name: str = "") -> Principal:
        try:
            permissions = ROLE_PERMISSIONS[Role(role)]
        except ValueError:
            permissions = frozenset()  # a role no longer known grants nothing
        return cls(username, "user", role, Scope.from_stored(stored_scope), permissions, display_name or username)

    @classmethod
    def from_api_key(cls, key: ApiPrincipal) -> Principal:
        permissions = frozenset(p.value for p in API_KEY_ROLES.get(key.role, frozenset()))
        permissions |= API_KEY_EXTRA_PERMISSIONS.get(key.role, frozenset())
        return cls(f"api:{key.name}", "api-key", key.role, Scope.everything(), permissions, key.name)

    def describe(self) -> str:
        what = "user" if self.kind == "user" else "API key"
        return f"{what} {self.name} (role {self.role}, scope {self.scope.describe()})"

    def can(self, permission: AnyPermission) -> bool:
        return permission.value in self.permissions

    def require(self, permission: AnyPermission) -> None:
        if not self.can(permission):
            raise Forbidden(f"{self.describe()} may not {permission.value}: the role {self.role} does not grant it")

    def require_scope(self, target: LicenseScope) -> None:
        if not self.scope.covers(target):
            raise Forbidden(
                f"{self.describe()} may not access data of {target.describe()}: it is outside the data scope "
                f"({self.scope.describe()})"
            )

    def actor(self, source: str) -> Actor:
        return Actor(self.name, source)


# --- protection of sensitive fields --------------------------------------------------------------------------

MASTER = "master"
BLIND = "blind-index"
CURRENT, ACTIVE, RETIRED = "current", "active", "retired"
SEALED_COLUMN = "sealed"


def sealed_tables() -> list[type[SealedFields]]:
    """Every mapped class with the SealedFields mixin: the tables `rotate_master` rewraps."""
    found = [m.class_ for m in Base.registry.mappers if issubclass(m.class_, SealedFields)]
    return sorted(found, key=lambda cls: table_name(cls))


def table_name(model: type[Any]) -> str:
    return str(model.__table__.name)


def seal_context(row: SealedFields) -> SealContext:
    record_id = getattr(row, "id", None)
    if record_id is None:
        raise ValidationError("id", f"a {table_name(type(row))} row must be flushed (have an id) before sealing")
    return SealContext(table_name(type(row)), str(record_id), SEALED_COLUMN)


@dataclass(frozen=True)
class RotationReport:
    new_version: int | None
    current_version: int
    rewrapped: dict[str, int]
    retired: list[int]


@dataclass(frozen=True)
class MasterKeyInfo:
    version: int
    status: str
    records: int
    created_at: str
    retired_at: str | None


RotationProgress = Callable[[str, int, int], None]


class SensitiveData:
    """Seal, search, reveal (audited) and rotate the sensitive fields of every sealed table."""

    def __init__(self, platform: Platform, algorithm: AeadAlgorithm | None = None) -> None:
        self._platform = platform
        chosen = algorithm or setting(platform.settings, "envelope_algorithm", AeadAlgorithm.SM4_GCM.value)
        self.algorithm = AeadAlgorithm(chosen)

    # keys

    def cipher(self, session: Session, create: bool = False) -> EnvelopeCipher:
        """The envelope cipher with every master key held.  With `create` (sealing, in a write transaction) it makes
        version 1 if there is none yet and takes a shared lock on the current key row, so a rotation waits until
        the values sealed under the old version are committed (and then rewraps them)."""
        rows = self._key_rows(session, MASTER)
        if not rows and create:
            rows = [self._create_first_key(session, MASTER)]
        current = [row for row in rows if row.status == CURRENT]
        if not current:
            raise KeyUnwrapError("this deployment holds no master key yet: nothing has been sealed")
        if create:
            lock = select(EnvelopeKey.id).where(EnvelopeKey.id == current[0].id).with_for_update(read=True)
            session.scalars(lock).all()
        keys = {row.version: self._unwrap(row) for row in rows if row.wrapped_key is not None}
        retired = {
            row.version: f"{row.retired_at:%Y-%m-%d}" for row in rows if row.status == RETIRED and row.retired_at
        }
        return EnvelopeCipher(MasterKeyRing(keys, current[0].version, retired), self.algorithm)

    def blind_index(self, session: Session, create: bool = False) -> BlindIndex | None:
        """The blind-index computer, or None when no key exists yet (then nothing is indexed either)."""
        rows = self._key_rows(session, BLIND)
        if not rows and create:
            rows = [self._create_first_key(session, BLIND)]
        return BlindIndex(self._unwrap(rows[0])) if rows else None

    def index_of(self, session: Session, kind: str, value: str) -> str:
        """The blind index of a value, creating the blind-index key if needed (call in a write transaction)."""
        index = self.blind_index(session, create=True)
        assert index is not None
        return index.compute(kind, value)

    def _key_rows(self, session: Session, purpose: str) -> list[EnvelopeKey]:
        query = select(EnvelopeKey).where(EnvelopeKey.purpose == purpose).order_by(EnvelopeKey.version)
        return list(session.scalars(query.execution_options(populate_existing=True)))

    def _create_first_key(self, session: Session, purpose: str) -> EnvelopeKey:
        try:
            with session.begin_nested():  # two first writers (cluster nodes) may race
                session.add(self._new_key_row(purpose, 1, "system"))
        except IntegrityError:
            pass
        rows = self._key_rows(session, purpose)
        return rows[0]

    def _new_key_row(self, purpose: str, version: int, actor: str) -> EnvelopeKey:
        wrapped = self._platform.kek.wrap(new_master_key(), _key_aad(purpose, version))
        kek_id = self._platform.kek.kek_id
        return EnvelopeKey(
            purpose=purpose,
            version=version,
            status=CURRENT,
            wrapped_key=wrapped,
            kek_id=kek_id,
            created_by=actor,
            updated_by=actor,
        )

    def _unwrap(self, row: EnvelopeKey) -> bytes:
        assert row.wrapped_key is not None
        what = f"envelope {row.purpose} key version {row.version}"
        return self._platform.kek.unwrap(row.wrapped_key, _key_aad(row.purpose, row.version), row.kek_id, what)

    # rows of sealed tables

    def seal_row(self, session: Session, row: SealedFields, fields: Mapping[str, str]) -> None:
        """Seal `fields` into the row (flushing it first if it has no id yet), inside the caller's transaction."""
        if getattr(row, "id", None) is None:
            session.add(row)
            session.flush()
        cipher = self.cipher(session, create=True)
        row.sealed = cipher.encrypt(seal_context(row), fields)
        row.master_version = cipher.ring.current

    def open_row(self, session: Session, row: SealedFields) -> dict[str, str]:
        """The clear fields of a row, for internal use (rendering, SMS): no permission check, no audit."""
        if row.sealed is None:
            return {}
        return self.cipher(session).decrypt(seal_context(row), row.sealed)

    def reveal(
        self,
        principal: Principal,
        row: SealedFields,
        target: LicenseScope,
        source: str,
        fields: Sequence[str] | None = None,
    ) -> dict[str, str]:
        """Clear values for an authorised officer: needs license:view-sensitive and the row in scope; every
        reveal is audited (which fields, never their values)."""
        principal.require(LicensePermission.VIEW_SENSITIVE)
        principal.require_scope(target)
        context = seal_context(row)
        with self._platform.unit_of_work(principal.actor(source)) as uow:
            values = self.open_row(uow.session, row)
            chosen = {k: v for k, v in values.items() if fields is None or k in fields}
            uow.record(context.table, context.record_id, "view-sensitive", after={"fields": sorted(chosen)})
        return chosen

    # the generic protected_values table

    def put(self, uow: UnitOfWork, owner: str, record_id: str, field_name: str, kind: str, value: str) -> None:
        """Store (or replace) one sensitive value of an owner record, sealed and blind-indexed, in the caller's
        unit of work (audited as a change of the field, without its value)."""
        session = uow.session
        index = self.index_of(session, kind, value)
        query = select(ProtectedValue).where(
            ProtectedValue.owner == owner, ProtectedValue.record_id == record_id, ProtectedValue.field == field_name
        )
        row = session.scalars(query).first()
        actor = uow.actor.name
        action = "create" if row is None else "update"
        if row is None:
            row = ProtectedValue(
                owner=owner, record_id=record_id, field=field_name, kind=kind, created_by=actor, updated_by=actor
            )
        row.kind, row.blind_index, row.updated_by = kind, index, actor
        self.seal_row(session, row, {field_name: value})
        uow.record(owner, record_id, action, after={"sealed_field": field_name, "master_version": row.master_version})

    def find(self, owner: str, kind: str, value: str, field_name: str | None = None) -> list[str]:
        """Record ids of `owner` having exactly this value (after normalisation) in a field of this kind."""
        with self._platform.db.reading() as session:
            index = self.blind_index(session)
            if index is None:
                return []
            tag = index.compute(kind, value)
            query = select(ProtectedValue.record_id).where(
                ProtectedValue.owner == owner, ProtectedValue.kind == kind, ProtectedValue.blind_index == tag
            )
            if field_name is not None:
                query = query.where(ProtectedValue.field == field_name)
            return sorted(set(session.scalars(query)))

    def reveal_values(
        self, principal: Principal, owner: str, record_id: str, target: LicenseScope, source: str
    ) -> dict[str, str]:
        """Every protected value of one owner record, clear, for an authorised officer (audited)."""
        principal.require(LicensePermission.VIEW_SENSITIVE)
        principal.require_scope(target)
        with self._platform.unit_of_work(principal.actor(source)) as uow:
            query = select(ProtectedValue).where(ProtectedValue.owner == owner, ProtectedValue.record_id == record_id)
            rows = list(uow.session.scalars(query))
            if not rows:
                raise NotFound(f"no protected values for {owner} {record_id!r}")
            values: dict[str, str] = {}
            for row in rows:
                values.update(self.open_row(uow.session, row))
            uow.record(owner, record_id, "view-sensitive", after={"fields": sorted(values)})
        return values

    # rotation

    def rotate_master(
        self,
        actor: Actor,
        progress: RotationProgress | None = None,
        *,
        new_version: bool = True,
        retire: bool = True,
        batch: int = 200,
    ) -> RotationReport:
        """Make a new master key version current, rewrap every sealed row of every sealed table under it (in
        batches, each its own transaction: a killed run is finished by running again with new_version=False),
        then retire (destroy) the versions no row uses any more."""
        created = self._new_master_version(actor) if new_version else None
        rewrapped = {table_name(model): self._rewrap_table(model, actor, progress, batch) for model in sealed_tables()}
        retired = self._retire_unused(actor) if retire else []
        with self._platform.db.reading() as session:
            current = self.cipher(session).ring.current
        return RotationReport(created, current, rewrapped, retired)

    def master_keys(self) -> list[MasterKeyInfo]:
        with self._platform.db.reading() as session:
            rows = self._key_rows(session, MASTER)
            return [
                MasterKeyInfo(
                    row.version,
                    row.status,
                    _references(session, row.version),
                    f"{row.created_at:%Y-%m-%d %H:%M}",
                    f"{row.retired_at:%Y-%m-%d %H:%M}" if row.retired_at else None,
                )
                for row in rows
            ]

    def _new_master_version(self, actor: Actor) -> int:
        with self._platform.unit_of_work(actor) as uow:
            self.cipher(uow.session, create=True)
            query = select(EnvelopeKey).where(EnvelopeKey.purpose == MASTER, EnvelopeKey.status == CURRENT)
            current = uow.session.scalars(query.with_for_update()).one()
            latest = uow.session.scalar(select(func.max(EnvelopeKey.version)).where(EnvelopeKey.purpose == MASTER))
            version = int(latest or 0) + 1
            current.status, current.updated_by = ACTIVE, actor.name
            uow.session.add(self._new_key_row(MASTER, version, actor.name))
            uow.session.flush()
            uow.record(
                "envelope_key",
                f"master:v{version}",
                "rotate",
                before={"current": current.version},
                after={"current": version, "kek_id": self._platform.kek.kek_id},
            )
            return version

    def _rewrap_table(
        self, model: type[SealedFields], actor: Actor, progress: RotationProgress | None, batch: int
    ) -> int:
        name = table_name(model)
        with self._platform.db.reading() as session:
            try:
                current = self.cipher(session).ring.current
            except KeyUnwrapError:
                return 0  # no master key: nothing was ever sealed
            total = int(session.scalar(select(func.count()).select_from(model).where(*_stale(model, current))) or 0)
        done = 0
        if progress:
            progress(name, done, total)
        while done < total:
            moved = self._rewrap_batch(model, actor, batch)
            if moved == 0:
                break
            done += moved
            if progress:
                progress(name, min(done, total), total)
        if done:
            with self._platform.unit_of_work(actor) as uow:
                uow.record("envelope_key", f"master:v{current}", "rewrap", after={"table": name, "rows": done})
        return done

    def _rewrap_batch(self, model: type[SealedFields], actor: Actor, batch: int) -> int:
        with self._platform.unit_of_work(actor) as uow:
            cipher = self.cipher(uow.session)
            current = cipher.ring.current
            query = (
                select(model)
                .where(*_stale(model, current))
                .order_by(*inspect(model).primary_key)
                .limit(batch)
                .with_for_update()
            )
            rows = list(uow.session.scalars(query))
            for row in rows:
                assert row.sealed is not None
                row.sealed = cipher.rewrap(seal_context(row), row.sealed, current)
                row.master_version = current
                if hasattr(row, "updated_by"):
                    row.updated_by = actor.name
            return len(rows)

    def _retire_unused(self, actor: Actor) -> list[int]:
        retired: list[int] = []
        with self._platform.unit_of_work(actor) as uow:
            query = select(EnvelopeKey).where(EnvelopeKey.purpose == MASTER, EnvelopeKey.status == ACTIVE)
            for row in uow.session.scalars(query.with_for_update()).all():
                if _references(uow.session, row.version):
                    continue
                row.status, row.wrapped_key, row.retired_at, row.updated_by = RETIRED, None, utcnow(), actor.name
                uow.record(
                    "envelope_key",
                    f"master:v{row.version}",
                    "retire",
                    before={"status": ACTIVE},
                    after={"status": RETIRED},
                )
                retired.append(row.version)
        return retired


def _stale(model: type[SealedFields], current: int) -> Iterable[ColumnElement[bool]]:
    return (
        model.sealed.is_not(None),
        or_(model.master_version.is_(None), model.master_version != current),
    )


def _references(session: Session, version: int) -> int:
    total = 0
    for model in sealed_tables():
        query = select(func.count()).select_from(model).where(model.master_version == version)
        total += int(session.scalar(query) or 0)
    return total


def _key_aad(purpose: str, version: int) -> bytes:
    return f"certseal envelope {purpose} key v{version}".encode()
