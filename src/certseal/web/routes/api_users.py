"""REST API for the people who log in (/api/v1/users): list, show, create, change role and scope, disable, enable,
unlock, reset the password.  Reading needs user:read, every change user:write; UserService audits each change.

Data scope applies to accounts too: a caller whose own scope is not '*' sees and manages only the users whose scope
lies inside its own (a division scope by its code, an enterprise user by the division in its USCC, a pharmacist
under a province), and cannot give anyone a scope wider than its own.

Responses never carry a password, its hash or a TOTP secret; request validation errors name the field and the rule
but, unlike FastAPI's default answer, never echo the input (it may be a password): see deps.ErrorBodyRoute."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from certseal.errors import Forbidden
from certseal.services.access import (
    LicenseScope,
    Principal,
    Role,
    Scope,
    ScopeKind,
    UserPermission,
    division_level,
    parse_scope,
)
from certseal.services.audit import Actor
from certseal.services.users import MIN_PASSWORD_LENGTH, UserInfo, UserService, shown_scope
from certseal.web.deps import API_ERRORS, ErrorBodyRoute, client_address, platform_of, requires

router = APIRouter(prefix="/api/v1/users", tags=["users"], responses=API_ERRORS, route_class=ErrorBodyRoute)

UserReader = Annotated[Principal, Depends(requires(UserPermission.READ))]
UserWriter = Annotated[Principal, Depends(requires(UserPermission.WRITE))]
AccountAction = Callable[[UserService, str, Actor], None]  # UserService.disable, .enable, .unlock
Username = Annotated[str, Path(description="The login name", examples=["officer-li"], max_length=64)]

_SCOPE_HELP = (
    "Data scope: '*' (all data) or a division code (GB/T 2260: 420000 province, 420100 city, 420102 county) for "
    "admins, licensing officers and auditors; the enterprise's USCC for an enterprise user; the pharmacist's resident "
    "ID number for a pharmacist (only its blind index is kept). Omitted: '*' where the role allows it."
)
_PASSWORD_HELP = (
    f"At least {MIN_PASSWORD_LENGTH} characters, not the user name, not a common password. Stored as an argon2id "
    "hash; never returned, logged or audited."
)


class UserOut(BaseModel):
    username: str = Field(examples=["officer-li"])
    display_name: str = Field(examples=["李明"])
    role: str = Field(description=f"One of {', '.join(Role)}")
    scope: str = Field(description="'*', division:CODE, uscc:USCC or person:ID-INDEX (shortened)")
    status: str = Field(description="active or disabled")
    locked: bool = Field(description="Locked now after too many failed logins (see locked_until; unlock lifts it)")
    failed_attempts: int = Field(description="Failed logins in a row")
    locked_until: datetime | None
    last_login_at: datetime | None
    totp_enabled: bool = Field(description="Login also needs a TOTP code")
    created_by: str
    created_at: datetime


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(
        max_length=64, description="2-64 letters, digits, dots, hyphens or underscores", examples=["officer-li"]
    )
    role: Role
    scope: str | None = Field(None, max_length=64, description=_SCOPE_HELP, examples=["420100"])
    display_name: str | None = Field(None, max_length=128, description="Full name shown in pages", examples=["李明"])
    password: SecretStr = Field(description=f"The initial password. {_PASSWORD_HELP}")


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    scope: str | None = Field(None, max_length=64, description=_SCOPE_HELP, examples=["420102"])


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: SecretStr = Field(description=f"The new password; the user's sessions end. {_PASSWORD_HELP}")


def _out(info: UserInfo) -> UserOut:
    locked = info.locked_until is not None and info.locked_until > datetime.now(UTC)
    return UserOut(
        username=info.username,
        display_name=info.display_name,
        role=info.role,
        scope=shown_scope(info.scope),
        status=info.status,
        locked=locked,
        failed_attempts=info.failed_attempts,
        locked_until=info.locked_until,
        last_login_at=info.last_login_at,
        totp_enabled=info.totp_enabled,
        created_by=info.created_by,
        created_at=info.created_at,
    )


# --- data scope of accounts ----------------------------------------------------------------------------------


def _covers(caller: Principal, stored_scope: str) -> bool:
    """Whether the caller's data scope contains a user's scope (stored form)."""
    if caller.scope.kind is ScopeKind.ALL:
        return True
    target = Scope.from_stored(stored_scope)
    if target.kind is ScopeKind.DIVISION:
        return caller.scope.covers(LicenseScope(target.value))
    if target.kind is ScopeKind.ENTERPRISE:  # a USCC's characters 3-8 are its registration division (GB 32100)
        return caller.scope.covers(LicenseScope(target.value[2:8], target.value))
    if target.kind is ScopeKind.PERSON:  # pharmacists are registered by the provincial administration
        return caller.scope.kind is ScopeKind.DIVISION and division_level(caller.scope.value) == "province"
    return False


def _require_covers(caller: Principal, stored_scope: str, what: str) -> None:
    if not _covers(caller, stored_scope):
        raise Forbidden(
            f"{caller.describe()} may not manage {what} ({shown_scope(stored_scope)}): it is outside the data scope "
            f"({caller.scope.describe()})"
        )


def _require_grantable(caller: Principal, role: Role, scope: str | None) -> None:
    """The caller may give this role and scope: checked before anything is written.  The ID number of a
    pharmacist is not indexed here (its blind index does not decide coverage)."""
    wanted = parse_scope(role, scope, lambda _id_number: "0" * 64)
    _require_covers(caller, wanted.stored(), f"the scope {scope or '*'!r}")


def _require_user(service: UserService, caller: Principal, username: str) -> UserInfo:
    info = service.get(username)
    _require_covers(caller, info.scope, f"user {username!r}")
    return info


def _account_action(request: Request, caller: Principal, username: str, action: AccountAction) -> UserOut:
    """One audited change of an account inside the caller's data scope; answers the account as it is now."""
    service = UserService(platform_of(request))
    _require_user(service, caller, username)
    action(service, username, caller.actor(client_address(request)))
    return _out(service.get(username))


# --- endpoints -----------------------------------------------------------------------------------------------


@router.get("", summary="List users (those inside the caller's data scope)")
def list_users(request: Request, caller: UserReader) -> list[UserOut]:
    users = UserService(platform_of(request)).list_users()
    return [_out(info) for info in users if _covers(caller, info.scope)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a user with an initial password",
    description="The role decides which scopes are allowed (see scope). The password is never echoed.",
)
def create_user(body: UserCreate, request: Request, caller: UserWriter) -> UserOut:
    _require_grantable(caller, body.role, body.scope)
    info = UserService(platform_of(request)).create(
        body.username,
        body.role.value,
        body.password.get_secret_value(),
        caller.actor(client_address(request)),
        body.scope,
        body.display_name,
    )
    return _out(info)


@router.get("/{username}", summary="One user")
def get_user(username: Username, request: Request, caller: UserReader) -> UserOut:
    return _out(_require_user(UserService(platform_of(request)), caller, username))


@router.put(
    "/{username}/role",
    summary="Set a user's role and data scope",
    description="Takes effect on the user's next request (live sessions read role and scope afresh).",
)
def set_role(username: Username, body: RoleChange, request: Request, caller: UserWriter) -> UserOut:
    service = UserService(platform_of(request))
    _require_user(service, caller, username)
    _require_grantable(caller, body.role, body.scope)
    return _out(service.set_role(username, body.role.value, caller.actor(client_address(request)), body.scope))


@router.post("/{username}/disable", summary="Disable an account at once; its sessions end")
def disable_user(username: Username, request: Request, caller: UserWriter) -> UserOut:
    return _account_action(request, caller, username, UserService.disable)


@router.post("/{username}/enable", summary="Enable a disabled account again")
def enable_user(username: Username, request: Request, caller: UserWriter) -> UserOut:
    return _account_action(request, caller, username, UserService.enable)


@router.post("/{username}/unlock", summary="Lift a lockout after too many failed logins")
def unlock_user(username: Username, request: Request, caller: UserWriter) -> UserOut:
    return _account_action(request, caller, username, UserService.unlock)


@router.put(
    "/{username}/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Reset a user's password; the user's sessions end",
    response_class=Response,
)
def reset_password(username: Username, body: PasswordReset, request: Request, caller: UserWriter) -> Response:
    service = UserService(platform_of(request))
    _require_user(service, caller, username)
    service.set_password(username, body.password.get_secret_value(), caller.actor(client_address(request)))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
