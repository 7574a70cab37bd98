"""People who log in: accounts with argon2id passwords, lockout, optional TOTP, roles with a data scope, and
their login sessions.

Passwords are hashed with argon2id (argon2-cffi).  The default cost is RFC 9106's second recommended option
(t=3, m=64 MiB, p=4); hashes made with other parameters are upgraded at the next successful login.  An unknown,
disabled or locked account still costs one argon2id verification (against a dummy hash), so the answer time does
not tell which accounts exist.  After `max_failures` wrong passwords in a row an account is locked for
`lockout_minutes`; every success, failure, lockout and refusal is audited, never with the password.

A login session is a random 256-bit id held by the browser (web/sessions.py signs it into the cookie); the
database keeps only its SHA-256.  Sessions end at logout, after `idle_minutes` without a request, after
`max_hours`, and when the account is disabled or its password changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import struct
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from certseal.errors import AlreadyExists, NotFound, Unauthenticated, ValidationError
from certseal.services.access import Principal, Role, Scope, ScopeKind, SensitiveData, parse_scope, setting
from certseal.services.audit import Actor
from certseal.services.platform import Platform, UnitOfWork
from certseal.store.models import User, UserSession, utcnow

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
WRONG_CREDENTIALS = "wrong user name or password"
ACTIVE, DISABLED = "active", "disabled"

# Frequent choices that pass the length rule; compared case-insensitively.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "123456789abc",
        "1234567890qwe",
        "1qaz2wsx3edc",
        "1q2w3e4r5t6y",
        "zaq12wsxcde3",
        "qwertyuiop12",
        "qwerty123456",
        "qwertyuiopasdf",
        "asdfghjkl123",
        "password1234",
        "password12345",
        "passwordpassword",
        "p@ssw0rd1234",
        "passw0rd1234",
        "administrator",
        "administrator1",
        "admin1234567",
        "admin@123456",
        "abcd12345678",
        "abc123456789",
        "iloveyou1234",
        "woaini1314520",
        "woaini5201314",
        "changeme1234",
        "welcome12345",
        "letmein12345",
        "certseal1234",
        "000000000000",
        "111111111111",
        "aaaaaaaaaaaa",
        "888888888888",
    }
)


@dataclass(frozen=True)
class LoginPolicy:
    """Lockout and password-hash cost; defaults from settings (login_max_failures 5, login_lockout_minutes 15)."""

    max_failures: int = 5
    lockout_minutes: int = 15
    hash_time_cost: int = 3
    hash_memory_kib: int = 65536
    hash_parallelism: int = 4

    @classmethod
    def from_settings(cls, platform: Platform) -> LoginPolicy:
        s = platform.settings
        return cls(
            int(setting(s, "login_max_failures", cls.max_failures)),
            int(setting(s, "login_lockout_minutes", cls.lockout_minutes)),
            int(setting(s, "password_hash_time_cost", cls.hash_time_cost)),
            int(setting(s, "password_hash_memory_kib", cls.hash_memory_kib)),
            int(setting(s, "password_hash_parallelism", cls.hash_parallelism)),
        )

    def hasher(self) -> PasswordHasher:
        return PasswordHasher(self.hash_time_cost, self.hash_memory_kib, self.hash_parallelism)


@dataclass(frozen=True)
class SessionPolicy:
    idle_minutes: int = 30
    max_hours: int = 12
    touch_seconds: int = 60  # last_seen is written at most this often

    @classmethod
    def from_settings(cls, platform: Platform) -> SessionPolicy:
        s = platform.settings
        return cls(
            int(setting(s, "session_idle_minutes", cls.idle_minutes)),
            int(setting(s, "session_max_hours", cls.max_hours)),
        )


@dataclass(frozen=True)
class UserInfo:
    username: str
    display_name: str
    role: str
    scope: str
    status: str
    failed_attempts: int
    locked_until: datetime | None
    last_login_at: datetime | None
    totp_enabled: bool
    created_by: str
    created_at: datetime

    @property
    def principal(self) -> Principal:
        return Principal.for_user(self.username, self.role, self.scope, self.display_name)


def _info(row: User) -> UserInfo:
    return UserInfo(
        row.username,
        row.display_name,
        row.role,
        row.scope,
        row.status,
        row.failed_attempts,
        row.locked_until,
        row.last_login_at,
        row.sealed is not None,
        row.created_by,
        row.created_at,
    )


def shown_scope(stored: str) -> str:
    """A scope as shown to people: a person's blind index is shortened."""
    scope = Scope.from_stored(stored)
    return f"person:{scope.value[:12]}…" if scope.kind is ScopeKind.PERSON else stored


def check_password_rules(username: str, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError("password", f"must be at most {MAX_PASSWORD_LENGTH} characters")
    folded = password.casefold()
    if folded in (username.casefold(), username.casefold()[::-1]):
        raise ValidationError("password", "must not be the user name")
    if folded in COMMON_PASSWORDS or len(set(folded)) < 3:
        raise ValidationError("password", "is too common or too simple: choose another")


def check_username(username: str) -> None:
    if not _USERNAME.match(username):
        raise ValidationError("username", "must be 2-64 letters, digits, dots, hyphens or underscores")


_DUMMY_HASHES: dict[tuple[int, int, int], str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if key not in _DUMMY_HASHES:
        _DUMMY_HASHES[key] = hasher.hash(secrets.token_urlsafe(24))
    return _DUMMY_HASHES[key]


# --- TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s, ±1 step) -----------------------------------------------------

TOTP_PERIOD = 30
TOTP_DIGITS = 6
_TOTP_CODE = re.compile(r"^[0-9]{6}$")


def totp_code(secret_base32: str, step: int) -> str:
    key = base64.b32decode(secret_base32 + "=" * (-len(secret_base32) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**TOTP_DIGITS).zfill(TOTP_DIGITS)


def totp_step(at: float | None = None) -> int:
    return int((time.time() if at is None else at) // TOTP_PERIOD)


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str  # base32, shown once
    uri: str  # otpauth:// for authenticator apps (as a QR code)


# --- the service ---------------------------------------------------------------------------------------------


class UserService:
    def __init__(self, platform: Platform, policy: LoginPolicy | None = None) -> None:
        self._platform = platform
        self.policy = policy or LoginPolicy.from_settings(platform)
        self.hasher = self.policy.hasher()
        self._sensitive = SensitiveData(platform)

    def create(
        self,
        username: str,
        role: str,
        password: str,
        actor: Actor,
        scope: str | None = None,
        display_name: str | None = None,
    ) -> UserInfo:
        check_username(username)
        parsed_role = Role.parse(role)
        check_password_rules(username, password)
        display = _display_name(display_name or username)
        password_hash = self.hasher.hash(password)
        with self._platform.unit_of_work(actor) as uow:
            if self._find(uow.session, username) is not None:
                raise AlreadyExists(f"a user named {username!r} exists already")
            stored = self._scope(uow, parsed_role, scope)
            row = User(
                username=username,
                display_name=display,
                password_hash=password_hash,
                role=parsed_role.value,
                scope=stored,
                status=ACTIVE,
                failed_attempts=0,
                created_by=actor.name,
                updated_by=actor.name,
            )
            uow.session.add(row)
            uow.session.flush()
            uow.record("user", username, "create", after={"role": row.role, "scope": shown_scope(stored)})
            return _info(row)

    def get(self, username: str) -> UserInfo:
        with self._platform.db.reading() as session:
            return _info(self._require(session, username))

    def list_users(self) -> list[UserInfo]:
        with self._platform.db.reading() as session:
            return [_info(row) for row in session.scalars(select(User).order_by(User.username))]

    def set_password(self, username: str, password: str, actor: Actor) -> None:
        check_password_rules(username, password)
        password_hash = self.hasher.hash(password)
        with self._platform.unit_of_work(actor) as uow:
            row = self._require(uow.session, username, lock=True)
            row.password_hash, row.password_changed_at, row.updated_by = password_hash, utcnow(), actor.name
            ended = _end_sessions(uow.session, row.id)
            uow.record("user", username, "set-password", after={"sessions_ended": ended})

    def set_role(self, username: str, role: str, actor: Actor, scope: str | None = None) -> UserInfo:
        parsed_role = Role.parse(role)
        with self._platform.unit_of_work(actor) as uow:
            row = self._require(uow.session, username, lock=True)
            before: dict[str, object] = {"role": row.role, "scope": shown_scope(row.scope)}
            row.role, row.scope, row.updated_by = parsed_role.value, self._scope(uow, parsed_role, scope), actor.name
            uow.record(
                "user", username, "set-role", before=before, after={"role": row.role, "scope": shown_scope(row.scope)}
            )
            return _info(row)

    def disable(self, username: str, actor: Actor) -> None:
        self._set_status(username, DISABLED, actor)

    def enable(self, username: str, actor: Actor) -> None:
        self._set_status(username, ACTIVE, actor)

    def unlock(self, username: str, actor: Actor) -> None:
        with self._platform.unit_of_work(actor) as uow:
            row = self._require(uow.session, username, lock=True)
            before: dict[str, object] = {"failed_attempts": row.failed_attempts, "locked_until": row.locked_until}
            row.failed_attempts, row.locked_until, row.updated_by = 0, None, actor.name
            uow.record("user", username, "unlock", before=before, after={"failed_attempts": 0})

    def enrol_totp(self, username: str, actor: Actor) -> TotpEnrolment:
        """Give the account a new TOTP secret (sealed in the database); from now on login needs a code."""
        secret = base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")
        with self._platform.unit_of_work(actor) as uow:
            row = self._require(uow.session, username, lock=True)
            self._sensitive.seal_row(uow.session, row, {"totp_secret": secret})
            row.totp_last_step, row.updated_by = None, actor.name
            uow.record("user", username, "enrol-totp", after={"master_version": row.master_version})
        label = urllib.parse.quote(f"certseal:{username}")
        query = urllib.parse.urlencode(
            {"secret": secret, "issuer": "certseal", "algorithm": "SHA1", "digits": TOTP_DIGITS, "period": TOTP_PERIOD}
        )
        return TotpEnrolment(secret, f"otpauth://totp/{label}?{query}")

    def remove_totp(self, username: str, actor: Actor) -> None:
        with self._platform.unit_of_work(actor) as uow:
            row = self._require(uow.session, username, lock=True)
            row.sealed, row.master_version, row.totp_last_step, row.updated_by = None, None, None, actor.name
            uow.record("user", username, "remove-totp")

    def authenticate(self, username: str, password: str, source: str, totp: str | None = None) -> UserInfo:
        """Check a login; raises Unauthenticated with a message that does not tell unknown from wrong."""
        with self._platform.db.reading() as session:
            row = self._find(session, username) if _USERNAME.match(username) else None
        now = utcnow()
        if row is None or row.status != ACTIVE:
            self._burn(password)
            reason = "unknown user" if row is None else "disabled"
            self._audit_refusal(Actor(row.username if row else "anonymous", source), row, reason)
            raise Unauthenticated(WRONG_CREDENTIALS)
        if row.locked_until is not None and row.locked_until > now:
            self._burn(password)
            self._audit_refusal(Actor(row.username, source), row, "locked")
            raise Unauthenticated(
                f"the account is locked after {self.policy.max_failures} failed logins until "
                f"{row.locked_until:%Y-%m-%d %H:%M} UTC; an administrator can unlock it"
            )
        if not self._password_matches(row.password_hash, password):
            self._record_failure(row.username, source, "wrong password")
            raise Unauthenticated(WRONG_CREDENTIALS)
        step = self._check_totp(row, totp, source)
        return self._record_success(row.username, password, source, step)

    # internals

    def _password_matches(self, stored: str, password: str) -> bool:
        if len(password) > MAX_PASSWORD_LENGTH:
            self._burn("")
            return False
        try:
            return self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _burn(self, password: str) -> None:
        """Spend one verification on a dummy hash: unknown and refused accounts cost what a real check costs."""
        try:
            self.hasher.verify(_dummy_hash(self.hasher), password[:MAX_PASSWORD_LENGTH])
        except VerificationError:
            pass

    def _check_totp(self, row: User, code: str | None, source: str) -> int | None:
        if row.sealed is None:
            return None
        if not code:
            raise Unauthenticated("this account needs a TOTP code from its authenticator app")
        with self._platform.db.reading() as session:
            secret = self._sensitive.open_row(session, row)["totp_secret"]
        now = totp_step()
        for step in (now, now - 1, now + 1):
            matches = _TOTP_CODE.match(code) and hmac.compare_digest(totp_code(secret, step), code)
            if matches and (row.totp_last_step is None or step > row.totp_last_step):
                return step
        self._record_failure(row.username, source, "wrong or reused TOTP code")
        raise Unauthenticated("wrong or already used TOTP code")

    def _record_failure(self, username: str, source: str, reason: str) -> None:
        with self._platform.unit_of_work(Actor(username, source)) as uow:
            row = self._require(uow.session, username, lock=True)
            now = utcnow()
            if row.locked_until is not None and row.locked_until <= now:
                row.failed_attempts, row.locked_until = 0, None  # the last lockout is over: count afresh
            row.failed_attempts += 1
            row.updated_by = username
            uow.record(
                "user", username, "login-failed", after={"reason": reason, "failed_attempts": row.failed_attempts}
            )
            if row.failed_attempts >= self.policy.max_failures:
                row.locked_until = now + timedelta(minutes=self.policy.lockout_minutes)
                uow.record(
                    "user",
                    username,
                    "lockout",
                    after={"failed_attempts": row.failed_attempts, "locked_until": row.locked_until},
                )

    def _record_success(self, username: str, password: str, source: str, totp_step_used: int | None) -> UserInfo:
        rehash = None
        with self._platform.unit_of_work(Actor(username, source)) as uow:
            row = self._require(uow.session, username, lock=True)
            if self.hasher.check_needs_rehash(row.password_hash):
                rehash = self.hasher.hash(password)
                row.password_hash = rehash
            if totp_step_used is not None:
                row.totp_last_step = totp_step_used
            row.failed_attempts, row.locked_until, row.last_login_at = 0, None, utcnow()
            row.updated_by = username
            uow.record(
                "user", username, "login", after={"rehashed": rehash is not None, "totp": totp_step_used is not None}
            )
            return _info(row)

    def _audit_refusal(self, actor: Actor, row: User | None, reason: str) -> None:
        with self._platform.unit_of_work(actor) as uow:
            entity_id = row.username if row else "(unknown)"
            uow.record("user", entity_id, "login-refused" if row else "login-failed", after={"reason": reason})

    def _set_status(self, username: str, status: str, actor: Actor) -> None:
        with self._platform.unit_of_work(actor) as uow:
            row = self._require(uow.session, username, lock=True)
            before = row.status
            row.status, row.updated_by = status, actor.name
            ended = _end_sessions(uow.session, row.id) if status == DISABLED else 0
            action = "disable" if status == DISABLED else "enable"
            uow.record(
                "user", username, action, before={"status": before}, after={"status": status, "sessions_ended": ended}
            )

    def _scope(self, uow: UnitOfWork, role: Role, scope: str | None) -> str:
        return parse_scope(
            role, scope, lambda id_number: self._sensitive.index_of(uow.session, "id-number", id_number)
        ).stored()

    @staticmethod
    def _find(session: Session, username: str, lock: bool = False) -> User | None:
        query = select(User).where(User.username == username)
        if lock:
            query = query.with_for_update()
        return session.scalars(query.execution_options(populate_existing=True)).first()

    def _require(self, session: Session, username: str, lock: bool = False) -> User:
        row = self._find(session, username, lock)
        if row is None:
            raise NotFound(f"no user named {username!r}")
        return row


def _display_name(text: str) -> str:
    text = " ".join(text.split())
    if not 1 <= len(text) <= 128:
        raise ValidationError("display_name", "must be 1-128 characters")
    return text


def _end_sessions(session: Session, user_id: int) -> int:
    result = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), updated_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _purge_sessions(session: Session, user_id: int, now: datetime) -> None:
    """Drop the user's dead sessions (the audit trail keeps the logins and logouts)."""
    session.execute(
        delete(UserSession).where(
            UserSession.user_id == user_id, or_(UserSession.ended_at.is_not(None), UserSession.expires_at <= now)
        )
    )


# --- login sessions ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginSession:
    """A session as a request sees it; `token` is set only when the session starts (it is never stored)."""

    principal: Principal
    csrf_token: str
    expires_at: datetime
    token: str = ""


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginSessions:
    def __init__(self, platform: Platform, policy: SessionPolicy | None = None) -> None:
        self._platform = platform
        self.policy = policy or SessionPolicy.from_settings(platform)

    def start(self, user: UserInfo, source: str) -> LoginSession:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = utcnow()
        expires = now + timedelta(hours=self.policy.max_hours)
        with self._platform.unit_of_work(Actor(user.username, source)) as uow:
            row = UserService._find(uow.session, user.username)
            if row is None or row.status != ACTIVE:
                raise Unauthenticated(WRONG_CREDENTIALS)
            _purge_sessions(uow.session, row.id, now)
            uow.session.add(
                UserSession(
                    token_sha256=_token_digest(token),
                    user_id=row.id,
                    csrf_token=csrf,
                    source=source[:128],
                    last_seen_at=now,
                    expires_at=expires,
                    created_by=user.username,
                    updated_by=user.username,
                )
            )
        return LoginSession(user.principal, csrf, expires, token)

    def resume(self, token: str) -> LoginSession:
        """The live session of a token; raises Unauthenticated if it is unknown, ended, idle too long or expired,
        or its account is disabled.  The role and scope are read afresh, so changes apply at once."""
        now = utcnow()
        with self._platform.db.reading() as session:
            found = session.execute(
                select(UserSession, User)
                .join(User, User.id == UserSession.user_id)
                .where(UserSession.token_sha256 == _token_digest(token))
            ).first()
        if found is None:
            raise Unauthenticated("the session is unknown: log in again")
        login, user = found
        if login.ended_at is not None:
            raise Unauthenticated("the session has ended (logged out): log in again")
        if login.expires_at <= now:
            raise Unauthenticated("the session has expired: log in again")
        if login.last_seen_at + timedelta(minutes=self.policy.idle_minutes) <= now:
            raise Unauthenticated(f"the session expired after {self.policy.idle_minutes} idle minutes: log in again")
        if user.status != ACTIVE:
            raise Unauthenticated("the account is disabled")
        if (now - login.last_seen_at).total_seconds() >= self.policy.touch_seconds:
            with self._platform.db.transaction() as session:
                session.execute(update(UserSession).where(UserSession.id == login.id).values(last_seen_at=now))
        principal = Principal.for_user(user.username, user.role, user.scope, user.display_name)
        return LoginSession(principal, login.csrf_token, login.expires_at)

    def end(self, token: str, source: str) -> bool:
        """Log out: the session is ended for good (also on every other node); False if it was not live."""
        with self._platform.db.transaction() as session:
            row = session.scalars(select(UserSession).where(UserSession.token_sha256 == _token_digest(token))).first()
            if row is None or row.ended_at is not None:
                return False
            user = session.get(User, row.user_id)
            name = user.username if user else "unknown"
            row.ended_at, row.updated_by = utcnow(), name
            self._platform.audit.record(session, Actor(name, source), "user", name, "logout")
            return True
