"""`certseal user …` (accounts, roles, scopes, lockout, TOTP) and `certseal keys rotate-master` / `master-keys`
(the envelope master keys that seal sensitive fields)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from certseal.cli.common import actor, app, keys_app, out, platform
from certseal.errors import ValidationError
from certseal.services.access import ROLE_SCOPES, Role, SensitiveData
from certseal.services.users import UserService, shown_scope

user_app = typer.Typer(help="People who log in: roles, data scopes, lockout, TOTP.", no_args_is_help=True)
app.add_typer(user_app, name="user")

_ROLES = ", ".join(Role)
_SCOPE_HELP = (
    "Data scope: a division code (420000 province, 420100 city, 420102 county) or '*' for officers, admins and "
    "auditors; the USCC for an enterprise user; the ID number for a pharmacist (only its blind index is kept)."
)


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise ValidationError("password", "nothing was read from standard input")
        return password
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="Login name: 2-64 letters, digits, dots, hyphens, underscores.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {_ROLES}.")],
    scope: Annotated[str, typer.Option("--scope", help=_SCOPE_HELP)] = "",
    display_name: Annotated[str, typer.Option("--display-name", help="Full name shown in pages.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
    ] = False,
) -> None:
    """Create a user (argon2id password: at least 12 characters, not the user name, not a common one)."""
    Role.parse(role, "--role")
    password = _read_password(password_stdin)
    info = UserService(platform()).create(username, role, password, actor(), scope or None, display_name or None)
    out.print(f"created user [bold]{info.username}[/] (role {info.role}, scope {shown_scope(info.scope)})")


@user_app.command("list")
def user_list() -> None:
    """List users (never their password hashes)."""
    table = Table("user", "name", "role", "scope", "status", "failed", "locked until", "last login", "TOTP")
    for user in UserService(platform()).list_users():
        table.add_row(
            user.username,
            user.display_name,
            user.role,
            shown_scope(user.scope),
            user.status,
            str(user.failed_attempts),
            f"{user.locked_until:%Y-%m-%d %H:%M}" if user.locked_until else "—",
            f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "—",
            "yes" if user.totp_enabled else "no",
        )
    out.print(table)


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Disable an account at once; its sessions end."""
    UserService(platform()).disable(username, actor())
    out.print(f"disabled {username}")


@user_app.command("enable")
def user_enable(username: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Enable a disabled account again."""
    UserService(platform()).enable(username, actor())
    out.print(f"enabled {username}")


@user_app.command("unlock")
def user_unlock(username: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Lift a lockout after too many failed logins."""
    UserService(platform()).unlock(username, actor())
    out.print(f"unlocked {username}")


@user_app.command("set-role")
def user_set_role(
    username: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {_ROLES}.")],
    scope: Annotated[str, typer.Option("--scope", help=_SCOPE_HELP)] = "",
) -> None:
    """Change a user's role and data scope (effective on the user's next request)."""
    info = UserService(platform()).set_role(username, role, actor(), scope or None)
    out.print(f"{info.username}: role {info.role}, scope {shown_scope(info.scope)}")


@user_app.command("set-password")
def user_set_password(
    username: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
    ] = False,
) -> None:
    """Set a new password; the user's sessions end."""
    UserService(platform()).set_password(username, _read_password(password_stdin), actor())
    out.print(f"password of {username} changed")


@user_app.command("enrol-totp")
def user_enrol_totp(username: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Give the user a TOTP secret (sealed in the database): print it and the otpauth:// URI once."""
    enrolment = UserService(platform()).enrol_totp(username, actor())
    out.print(f"TOTP enrolled for [bold]{username}[/]; add it to an authenticator app. Shown once:")
    print(enrolment.secret)
    print(enrolment.uri)


@user_app.command("roles")
def user_roles() -> None:
    """The roles, the scopes each accepts, and what each may do."""
    from certseal.services.access import ROLE_PERMISSIONS

    table = Table("role", "scopes", "permissions")
    for role in Role:
        scopes = ", ".join(sorted(kind.value for kind in ROLE_SCOPES[role]))
        table.add_row(role.value, scopes, ", ".join(sorted(ROLE_PERMISSIONS[role])))
    out.print(table)


@keys_app.command("rotate-master")
def keys_rotate_master(
    resume: Annotated[
        bool, typer.Option("--resume", help="Do not make a new version: finish rewrapping after an interrupted run.")
    ] = False,
    keep_old: Annotated[
        bool, typer.Option("--keep-old", help="Do not retire (destroy) old versions once no record uses them.")
    ] = False,
) -> None:
    """New master key version for sealed sensitive fields; rewrap every sealed record of every sealed table."""
    service = SensitiveData(platform())
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=out
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(f"rewrapping {table}", total=max(total, 1))
            bar.update(tasks[table], completed=done if total else 1)

        report = service.rotate_master(actor(), progress, new_version=not resume, retire=not keep_old)
    if report.new_version is not None:
        out.print(f"master key version [bold]{report.new_version}[/] is current")
    rows = ", ".join(f"{table} {count}" for table, count in report.rewrapped.items()) or "none"
    out.print(f"rewrapped: {rows}")
    retired = ", ".join(map(str, report.retired)) or "none"
    out.print(f"retired (destroyed) versions: {retired}")


@keys_app.command("master-keys")
def keys_master_keys() -> None:
    """The envelope master key versions, their state and how many sealed records use each."""
    table = Table("version", "status", "records", "created", "retired")
    for key in SensitiveData(platform()).master_keys():
        table.add_row(str(key.version), key.status, str(key.records), key.created_at, key.retired_at or "—")
    out.print(table)
