"""Users, roles, scopes and sensitive data on SQLite and PostgreSQL: argon2id hashes recomputed by argon2pure (an
independent pure-Python Argon2), TOTP codes made by pyotp, lockout, the unknown-user path, audit rows free of
secrets, envelope-sealed values that no column of the database holds in clear, blind-index search, audited reveal,
and master-key rotation with retirement."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import argon2pure
import pyotp
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from argon2 import PasswordHasher
from sqlalchemy import inspect, select, text, update

from certseal.crypto.envelope import SealedBlob
from certseal.crypto.symmetric import AeadAlgorithm
from certseal.errors import AlreadyExists, Forbidden, KeyUnwrapError, NotFound, Unauthenticated, ValidationError
from certseal.services.access import (
    LicensePermission,
    LicenseScope,
    Principal,
    Role,
    Scope,
    SensitiveData,
    UserPermission,
    sealed_tables,
    table_name,
)
from certseal.services.apikeys import ApiPrincipal, Permission
from certseal.services.platform import Platform
from certseal.services.users import WRONG_CREDENTIALS, LoginPolicy, UserService
from certseal.store.models import AuditEvent, Base, EnvelopeKey, ProtectedValue, User, utcnow
from tests.conftest import ACTOR

FAST = LoginPolicy(max_failures=3, lockout_minutes=15, hash_time_cost=1, hash_memory_kib=1024, hash_parallelism=1)
PASSWORD = "Tea-Kettle-Horizon-42"
ID_NUMBER = "11010519491231002X"
OTHER_ID = "440524188001010014"
PHONE = "13812345678"
USCC = "91350100M000100Y43"
OTHER_USCC = "91110108551385082Q"
SOURCE = "198.51.100.7"


@pytest.fixture
def users(platform: Platform) -> UserService:
    return UserService(platform, FAST)


def audit_rows(platform: Platform, entity_id: str | None = None) -> list[AuditEvent]:
    with platform.db.reading() as session:
        query = select(AuditEvent).order_by(AuditEvent.seq)
        if entity_id is not None:
            query = query.where(AuditEvent.entity_id == entity_id)
        return list(session.scalars(query))


def user_row(platform: Platform, username: str) -> User:
    with platform.db.reading() as session:
        row = session.scalars(select(User).where(User.username == username)).one()
        return row


# --- passwords -----------------------------------------------------------------------------------------------


def test_password_hash_is_argon2id_recomputed_by_argon2pure(platform: Platform, users: UserService) -> None:
    users.create("officer-li", "licensing-officer", PASSWORD, ACTOR, scope="420100")
    stored = user_row(platform, "officer-li").password_hash
    _, variant, version, params, salt, digest = stored.split("$")
    assert (variant, version, params) == ("argon2id", "v=19", "m=1024,t=1,p=1")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    raw_salt, raw_digest = base64.b64decode(pad(salt)), base64.b64decode(pad(digest))
    recomputed = argon2pure.argon2(
        PASSWORD.encode(), raw_salt, time_cost=1, memory_cost=1024, parallelism=1,
        tag_length=len(raw_digest), type_code=argon2pure.ARGON2ID,
    )  # fmt: skip
    assert recomputed == raw_digest
    wrong = argon2pure.argon2(
        b"not the password", raw_salt, time_cost=1, memory_cost=1024, parallelism=1,
        tag_length=len(raw_digest), type_code=argon2pure.ARGON2ID,
    )  # fmt: skip
    assert wrong != raw_digest


def test_default_cost_is_rfc_9106_second_option(platform: Platform) -> None:
    UserService(platform).create("admin-wang", "provincial-admin", PASSWORD, ACTOR, scope="420000")
    assert user_row(platform, "admin-wang").password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_login_succeeds_and_a_wrong_password_or_unknown_user_fails_alike(
    platform: Platform, users: UserService
) -> None:
    users.create("officer-li", "licensing-officer", PASSWORD, ACTOR, scope="420100", display_name="李 警官")
    info = users.authenticate("officer-li", PASSWORD, SOURCE)
    assert (info.username, info.role, info.scope, info.display_name) == (
        "officer-li",
        "licensing-officer",
        "division:420100",
        "李 警官",
    )
    assert info.last_login_at is not None
    for name, password in [("officer-li", "wrong password!"), ("nobody", PASSWORD), ("bad name!", PASSWORD)]:
        with pytest.raises(Unauthenticated) as caught:
            users.authenticate(name, password, SOURCE)
        assert caught.value.message == WRONG_CREDENTIALS


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("short-Pw1", "must be at least 12 characters"),
        ("x" * 1025, "must be at most 1024 characters"),
        ("Password1234", "is too common or too simple: choose another"),
        ("abababababab", "is too common or too simple: choose another"),
        ("OFFICER-LI-LONG", "must not be the user name"),
        ("gnol-il-reciffo", "must not be the user name"),
    ],
)
def test_password_rules(users: UserService, password: str, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        users.create("officer-li-long", "licensing-officer", password, ACTOR, scope="420100")
    assert (caught.value.field, caught.value.rule) == ("password", rule)
    with pytest.raises(ValidationError, match="password"):
        users.set_password("officer-li-long", password, ACTOR)


def test_lockout_after_n_failures_then_unlock(platform: Platform, users: UserService) -> None:
    users.create("officer-li", "licensing-officer", PASSWORD, ACTOR, scope="420100")
    for _ in range(FAST.max_failures):
        with pytest.raises(Unauthenticated, match=WRONG_CREDENTIALS):
            users.authenticate("officer-li", "Wrong-Password-123", SOURCE)
    row = user_row(platform, "officer-li")
    assert row.failed_attempts == 3 and row.locked_until is not None and row.locked_until > utcnow()
    with pytest.raises(Unauthenticated, match="locked after 3 failed logins"):
        users.authenticate("officer-li", PASSWORD, SOURCE)  # even the right password
    users.unlock("officer-li", ACTOR)
    assert users.authenticate("officer-li", PASSWORD, SOURCE).failed_attempts == 0
    actions = [e.action for e in audit_rows(platform, "officer-li")]
    assert actions == ["create", *["login-failed"] * 3, "lockout", "login-refused", "unlock", "login"]
    lockout = next(e for e in audit_rows(platform, "officer-li") if e.action == "lockout")
    assert lockout.source == SOURCE and lockout.actor == "officer-li"
    refused = next(e for e in audit_rows(platform, "officer-li") if e.action == "login-refused")
    assert json.loads(refused.after or "{}") == {"reason": "locked"}


def test_lockout_ends_by_itself_and_counting_restarts(platform: Platform, users: UserService) -> None:
    users.create("officer-li", "licensing-officer", PASSWORD, ACTOR, scope="420100")
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            users.authenticate("officer-li", "Wrong-Password-123", SOURCE)
    with platform.db.transaction() as session:
        session.execute(update(User).values(locked_until=utcnow().replace(year=2000)))
    with pytest.raises(Unauthenticated, match=WRONG_CREDENTIALS):
        users.authenticate("officer-li", "Wrong-Password-123", SOURCE)
    assert user_row(platform, "officer-li").failed_attempts == 1  # a fresh count, not 4
    assert users.authenticate("officer-li", PASSWORD, SOURCE).failed_attempts == 0


class CountingHasher(PasswordHasher):
    """The real argon2id hasher, counting verifications and remembering which hash each was against."""

    def __init__(self, policy: LoginPolicy) -> None:
        super().__init__(policy.hash_time_cost, policy.hash_memory_kib, policy.hash_parallelism)
        self.verified: list[str | bytes] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified.append(hash)
        return super().verify(hash, password)


def test_unknown_disabled_and_locked_accounts_cost_one_verification(platform: Platform, users: UserService) -> None:
    users.create("officer-li", "licensing-officer", PASSWORD, ACTOR, scope="420100")
    users.create("officer-zhao", "licensing-officer", PASSWORD, ACTOR, scope="420100")
    users.disable("officer-zhao", ACTOR)
    counting = CountingHasher(FAST)
    users.hasher = counting
    real_hash = user_row(platform, "officer-li").password_hash
    for name in ("nobody", "officer-zhao", "officer-li"):
        counting.verified.clear()
        with pytest.raises(Unauthenticated, match=WRONG_CREDENTIALS):
            users.authenticate(name, "Wrong-Password-123", SOURCE)
        assert len(counting.verified) == 1, name
        assert str(counting.verified[0]).startswith("$argon2id$v=19$m=1024,t=1,p=1$")
        assert (counting.verified[0] == real_hash) is (name == "officer-li")
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            users.authenticate("officer-li", "Wrong-Password-123", SOURCE)
    counting.verified.clear()
    with pytest.raises(Unauthenticated, match="locked"):
        users.authenticate("officer-li", PASSWORD, SOURCE)
    assert len(counting.verified) == 1 and counting.verified[0] != real_hash
    unknown = [e for e in audit_rows(platform) if e.entity_id == "(unknown)"]
    assert [(e.action, e.actor, e.source) for e in unknown] == [("login-failed", "anonymous", SOURCE)]


def test_hash_is_upgraded_when_the_cost_policy_rises(platform: Platform, users: UserService) -> None:
    users.create("officer-li", "licensing-officer", PASSWORD, ACTOR, scope="420100")
    stronger = LoginPolicy(hash_time_cost=2, hash_memory_kib=2048, hash_parallelism=1)
    UserService(platform, stronger).authenticate("officer-li", PASSWORD, SOURCE)
    assert "$m=2048,t=2,p=1$" in user_row(platform, "officer-li").password_hash
    assert users.authenticate("officer-li", PASSWORD, SOURCE).username == "officer-li"


def test_audit_rows_never_hold_a_password(platform: Platform, users: UserService) -> None:
    users.create("officer-li", "licensing-officer", PASSWORD, ACTOR, scope="420100")
    users.set_password("officer-li", "Another-Long-Secret-77", ACTOR)
    with pytest.raises(Unauthenticated):
        users.authenticate("officer-li", "Typo-Long-Secret-77", SOURCE)
    users.authenticate("officer-li", "Another-Long-Secret-77", SOURCE)
    with pytest.raises(Unauthenticated):
        users.authenticate("Another-Long-Secret-77", "x" * 12, SOURCE)  # a password typed as the user name
    for event in audit_rows(platform):
        for secret in (PASSWORD, "Another-Long-Secret-77", "Typo-Long-Secret-77", "$argon2id$"):
            assert secret not in f"{event.entity_id} {event.before} {event.after}", event.action
    with platform.db.reading() as session:
        assert platform.audit.verify(session).ok


# --- accounts, roles, scopes ---------------------------------------------------------------------------------


def test_account_management_rules(platform: Platform, users: UserService) -> None:
    users.create("officer-li", "licensing-officer", PASSWORD, ACTOR, scope="420100")
    with pytest.raises(AlreadyExists):
        users.create("officer-li", "licensing-officer", PASSWORD, ACTOR, scope="420100")
    bad: list[tuple[dict[str, Any], str]] = [
        ({"username": "x", "role": "auditor"}, "username"),
        ({"username": "a:b", "role": "auditor"}, "username"),
        ({"username": "someone", "role": "root"}, "role"),
        ({"username": "someone", "role": "licensing-officer"}, "scope"),  # an officer needs a division
        ({"username": "someone", "role": "licensing-officer", "scope": "*"}, "scope"),
        ({"username": "someone", "role": "licensing-officer", "scope": "4201"}, "scope"),
        ({"username": "someone", "role": "provincial-admin", "scope": "420100"}, "scope"),  # not a province
        ({"username": "someone", "role": "enterprise-user", "scope": "91350100M000100Y44"}, "scope"),  # check digit
        ({"username": "someone", "role": "pharmacist", "scope": "110101197608056896"}, "scope"),  # check digit
        ({"username": "someone", "role": "auditor", "display_name": "x" * 129}, "display_name"),
    ]
    for arguments, field in bad:
        with pytest.raises(ValidationError) as caught:
            users.create(password=PASSWORD, actor=ACTOR, **arguments)
        assert caught.value.field == field, arguments
    assert users.create("auditor-qian", "auditor", PASSWORD, ACTOR).scope == "*"
    assert users.create("ent-user", "enterprise-user", PASSWORD, ACTOR, scope=USCC.lower()).scope == f"uscc:{USCC}"
    pharmacist = users.create("pharm-sun", "pharmacist", PASSWORD, ACTOR, scope=ID_NUMBER.lower())
    kind, _, index = pharmacist.scope.partition(":")
    assert kind == "person" and len(index) == 64 and ID_NUMBER not in pharmacist.scope
    with platform.db.reading() as session:
        blind_index = SensitiveData(platform).blind_index(session)
        assert blind_index is not None and index == blind_index.compute("id-number", ID_NUMBER)
    info = users.set_role("officer-li", "licensing-officer", ACTOR, scope="420102")
    assert info.scope == "division:420102"
    users.disable("officer-li", ACTOR)
    with pytest.raises(Unauthenticated):
        users.authenticate("officer-li", PASSWORD, SOURCE)
    users.enable("officer-li", ACTOR)
    assert users.authenticate("officer-li", PASSWORD, SOURCE).status == "active"
    with pytest.raises(NotFound):
        users.disable("nobody", ACTOR)
    assert [u.username for u in users.list_users()] == ["auditor-qian", "ent-user", "officer-li", "pharm-sun"]


def test_totp_codes_from_pyotp(platform: Platform, users: UserService) -> None:
    users.create("officer-li", "licensing-officer", PASSWORD, ACTOR, scope="420100")
    enrolment = users.enrol_totp("officer-li", ACTOR)
    parsed = pyotp.parse_uri(enrolment.uri)
    assert isinstance(parsed, pyotp.TOTP) and parsed.secret == enrolment.secret and parsed.issuer == "certseal"
    with pytest.raises(Unauthenticated, match="needs a TOTP code"):
        users.authenticate("officer-li", PASSWORD, SOURCE)
    code = pyotp.TOTP(enrolment.secret).now()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with pytest.raises(Unauthenticated, match="wrong or already used"):
        users.authenticate("officer-li", PASSWORD, SOURCE, wrong)
    assert users.authenticate("officer-li", PASSWORD, SOURCE, code).totp_enabled
    with pytest.raises(Unauthenticated, match="wrong or already used"):
        users.authenticate("officer-li", PASSWORD, SOURCE, code)  # a code works once
    row = user_row(platform, "officer-li")
    assert row.sealed is not None and enrolment.secret.encode() not in row.sealed
    users.remove_totp("officer-li", ACTOR)
    assert not users.authenticate("officer-li", PASSWORD, SOURCE).totp_enabled


def test_principals_check_permission_and_scope() -> None:
    officer = Principal.for_user("officer-li", "licensing-officer", "division:420100")
    county = LicenseScope("420102", USCC)
    officer.require(LicensePermission.APPROVE)
    officer.require_scope(county)
    with pytest.raises(Forbidden, match=r"outside the data scope \(city 420100 \(division codes 4201…\)\)"):
        officer.require_scope(LicenseScope("430102", USCC))
    with pytest.raises(Forbidden, match="may not user:write: the role licensing-officer does not grant it"):
        officer.require(UserPermission.WRITE)
    province = Principal.for_user("admin-wang", "provincial-admin", "division:420000")
    province.require_scope(LicenseScope("429004"))
    with pytest.raises(Forbidden):
        province.require_scope(LicenseScope("110105"))
    enterprise = Principal.for_user("ent", "enterprise-user", f"uscc:{USCC}")
    enterprise.require_scope(county)
    with pytest.raises(Forbidden, match="enterprise USCC"):
        enterprise.require_scope(LicenseScope("420102", OTHER_USCC))
    with pytest.raises(Forbidden, match="license:view-sensitive"):
        enterprise.require(LicensePermission.VIEW_SENSITIVE)
    pharmacist = Principal.for_user("pharm", "pharmacist", "person:" + "ab" * 32)
    pharmacist.require_scope(LicenseScope("420102", holder_index="ab" * 32))
    with pytest.raises(Forbidden):
        pharmacist.require_scope(LicenseScope("420102", holder_index="cd" * 32))
    auditor = Principal.for_user("auditor", "auditor", "*")
    auditor.require(Permission.AUDIT_READ)
    auditor.require_scope(LicenseScope("650102"))
    with pytest.raises(Forbidden):
        auditor.require(LicensePermission.WRITE)
    retired_role = Principal.for_user("old", "superuser", "*")
    assert not retired_role.permissions
    api = Principal.from_api_key(ApiPrincipal("his-gateway", "seal-user"))
    assert api.name == "api:his-gateway" and api.can(Permission.SEAL_USE) and not api.can(LicensePermission.READ)
    with pytest.raises(Forbidden, match="API key api:his-gateway"):
        api.require(Permission.CA_WRITE)
    for role in Role:
        assert Principal.for_user("x", role.value, "*").permissions, role


def test_scope_sql_filter_selects_exactly_what_the_scope_covers(platform: Platform) -> None:
    """protected_values stands in for a license table: owner = division, record_id = USCC, blind_index = holder."""
    rows = [("420102", USCC, "ab" * 32), ("420202", OTHER_USCC, None), ("430102", USCC, "cd" * 32)]
    with platform.db.transaction() as session:
        for n, (division, uscc, holder) in enumerate(rows):
            session.add(
                ProtectedValue(
                    owner=division, record_id=uscc, field=f"f{n}", kind="text", blind_index=holder,
                    created_by="t", updated_by="t",
                )
            )  # fmt: skip
    scopes = {
        "*": [0, 1, 2],
        "division:420000": [0, 1],
        "division:420100": [0],
        "division:420102": [0],
        "division:430000": [2],
        f"uscc:{USCC}": [0, 2],
        "person:" + "cd" * 32: [2],
    }
    with platform.db.reading() as session:
        for stored, expected in scopes.items():
            scope = Scope.from_stored(stored)
            condition = scope.where(ProtectedValue.owner, ProtectedValue.record_id, ProtectedValue.blind_index)
            got = sorted(session.scalars(select(ProtectedValue.owner).where(condition)))
            assert got == sorted(rows[i][0] for i in expected), stored
            assert [scope.covers(LicenseScope(*row)) for row in rows] == [i in expected for i in range(3)]
        no_uscc_column = Scope.from_stored(f"uscc:{USCC}").where(ProtectedValue.owner)
        assert list(session.scalars(select(ProtectedValue.owner).where(no_uscc_column))) == []


# --- sensitive data ------------------------------------------------------------------------------------------


def store_enterprise(
    platform: Platform, sensitive: SensitiveData, uscc: str = USCC, id_number: str = ID_NUMBER
) -> None:
    with platform.unit_of_work(ACTOR) as uow:
        sensitive.put(uow, "enterprise", uscc, "legal_rep_id_number", "id-number", id_number)
        sensitive.put(uow, "enterprise", uscc, "contact_phone", "phone", PHONE)


def test_exact_search_by_blind_index_and_audited_reveal(platform: Platform) -> None:
    sensitive = SensitiveData(platform)
    assert sensitive.find("enterprise", "id-number", ID_NUMBER) == []  # no key yet, nothing indexed
    store_enterprise(platform, sensitive)
    store_enterprise(platform, sensitive, OTHER_USCC, OTHER_ID)
    assert sensitive.find("enterprise", "id-number", "11010519491231002x") == [USCC]
    assert sensitive.find("enterprise", "id-number", ID_NUMBER, "contact_phone") == []
    assert sensitive.find("enterprise", "phone", "+86 138-1234-5678") == [OTHER_USCC, USCC]
    officer = Principal.for_user("officer-li", "licensing-officer", "division:350100")
    target = LicenseScope("350102", USCC)
    values_seen = sensitive.reveal_values(officer, "enterprise", USCC, target, SOURCE)
    assert values_seen == {"legal_rep_id_number": ID_NUMBER, "contact_phone": PHONE}
    reveal = [e for e in audit_rows(platform, USCC) if e.action == "view-sensitive"]
    assert len(reveal) == 1 and reveal[0].actor == "officer-li" and reveal[0].source == SOURCE
    assert json.loads(reveal[0].after or "{}") == {"fields": ["contact_phone", "legal_rep_id_number"]}
    for denied in (
        Principal.for_user("officer-zhou", "licensing-officer", "division:420100"),  # out of scope
        Principal.for_user("ent", "enterprise-user", f"uscc:{USCC}"),  # its own, but masked only
        Principal.for_user("auditor", "auditor", "*"),
    ):
        with pytest.raises(Forbidden):
            sensitive.reveal_values(denied, "enterprise", USCC, target, SOURCE)
    assert len([e for e in audit_rows(platform, USCC) if e.action == "view-sensitive"]) == 1
    with pytest.raises(NotFound):
        sensitive.reveal_values(officer, "enterprise", "nobody", target, SOURCE)


def test_reveal_of_a_row_of_a_sealed_table(platform: Platform) -> None:
    sensitive = SensitiveData(platform)
    with platform.unit_of_work(ACTOR) as uow:
        row = ProtectedValue(
            owner="pharmacist", record_id="R1", field="card", kind="text", created_by="t", updated_by="t"
        )
        sensitive.seal_row(uow.session, row, {"id_number": ID_NUMBER, "phone": PHONE})
    officer = Principal.for_user("officer-li", "licensing-officer", "division:420100")
    got = sensitive.reveal(officer, row, LicenseScope("420102"), SOURCE, fields=["phone"])
    assert got == {"phone": PHONE}
    with pytest.raises(Forbidden):
        sensitive.reveal(officer, row, LicenseScope("110105"), SOURCE)
    # a sealed value copied onto another row does not open there
    with platform.unit_of_work(ACTOR) as uow:
        other = ProtectedValue(
            owner="pharmacist", record_id="R2", field="card", kind="text", created_by="t", updated_by="t"
        )
        sensitive.seal_row(uow.session, other, {"id_number": OTHER_ID})
        other.sealed = row.sealed
    with platform.db.reading() as session, pytest.raises(KeyUnwrapError, match="moved from another record"):
        sensitive.open_row(session, other)


def test_algorithm_is_selectable_and_old_values_still_open(platform: Platform) -> None:
    sm4, aes = SensitiveData(platform), SensitiveData(platform, AeadAlgorithm.AES256_GCM)
    assert sm4.algorithm is AeadAlgorithm.SM4_GCM
    with platform.unit_of_work(ACTOR) as uow:
        sm4.put(uow, "enterprise", "E1", "contact_phone", "phone", PHONE)
        aes.put(uow, "enterprise", "E2", "contact_phone", "phone", PHONE)
    with platform.db.reading() as session:
        rows = {r.record_id: r for r in session.scalars(select(ProtectedValue))}
        assert SealedBlob.from_bytes(rows["E1"].sealed or b"").algorithm is AeadAlgorithm.SM4_GCM
        assert SealedBlob.from_bytes(rows["E2"].sealed or b"").algorithm is AeadAlgorithm.AES256_GCM
        assert sm4.open_row(session, rows["E2"]) == aes.open_row(session, rows["E1"]) == {"contact_phone": PHONE}
        assert rows["E1"].blind_index == rows["E2"].blind_index


def _clear_values_in_database(platform: Platform, needles: list[str]) -> list[str]:
    """Every table, every column, every row: where does any needle appear in clear?"""
    found = []
    with platform.db.reading() as session:
        tables = inspect(session.connection()).get_table_names()
        for table in tables:
            for row in session.execute(text(f'SELECT * FROM "{table}"')).mappings():
                for name, value in row.items():
                    if value is None:
                        continue
                    haystack = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                    found += [f"{table}.{name}: {n}" for n in needles if n.encode() in haystack.upper()]
    return found


def test_database_holds_no_clear_sensitive_value(platform: Platform, users: UserService, tmp_path: Path) -> None:
    sensitive = SensitiveData(platform)
    store_enterprise(platform, sensitive)
    users.create("pharm-sun", "pharmacist", PASSWORD, ACTOR, scope=ID_NUMBER)
    enrolment = users.enrol_totp("pharm-sun", ACTOR)
    users.authenticate("pharm-sun", PASSWORD, SOURCE, pyotp.TOTP(enrolment.secret).now())
    officer = Principal.for_user("officer-li", "licensing-officer", "division:350100")
    sensitive.reveal_values(officer, "enterprise", USCC, LicenseScope("350102", USCC), SOURCE)
    sensitive.rotate_master(ACTOR)
    needles = [ID_NUMBER, PHONE, enrolment.secret, PASSWORD.upper()]
    assert _clear_values_in_database(platform, needles) == []
    with platform.db.reading() as session:  # the scan does see a value that is there in clear
        assert _clear_values_in_database(platform, [USCC]) != []
        assert session.scalar(select(ProtectedValue.id)) is not None
    if platform.db.dialect == "sqlite":
        platform.db.dispose()
        database = Path(platform.settings.resolved_database_url.split("///", 1)[1])
        raw = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
        assert USCC.encode() in raw  # the raw file is searchable …
        for needle in needles:
            assert needle.encode() not in raw.upper()  # … and holds none of these


# --- master key rotation -------------------------------------------------------------------------------------


def test_rotation_rewraps_every_row_and_retires_the_old_master(platform: Platform, users: UserService) -> None:
    sensitive = SensitiveData(platform)
    for n in range(7):
        with platform.unit_of_work(ACTOR) as uow:
            sensitive.put(uow, "enterprise", f"E{n}", "legal_rep_id_number", "id-number", ID_NUMBER)
    users.create("officer-li", "licensing-officer", PASSWORD, ACTOR, scope="420100")
    enrolment = users.enrol_totp("officer-li", ACTOR)
    with platform.db.reading() as session:
        before = {r.id: r.sealed for r in session.scalars(select(ProtectedValue))}
    assert {table_name(table) for table in sealed_tables()} >= {"users", "protected_values"}
    seen: list[tuple[str, int, int]] = []
    report = sensitive.rotate_master(ACTOR, lambda t, d, n: seen.append((t, d, n)), batch=3)
    assert (report.new_version, report.current_version, report.retired) == (2, 2, [1])
    assert report.rewrapped["protected_values"] == 7 and report.rewrapped["users"] == 1
    assert ("protected_values", 7, 7) in seen and ("protected_values", 3, 7) in seen
    with platform.db.reading() as session:
        rows = list(session.scalars(select(ProtectedValue)))
        assert {r.master_version for r in rows} == {2}
        for row in rows:
            old, new = SealedBlob.from_bytes(before[row.id] or b""), SealedBlob.from_bytes(row.sealed or b"")
            assert (new.master_version, new.ciphertext) == (2, old.ciphertext)
            assert sensitive.open_row(session, row) == {"legal_rep_id_number": ID_NUMBER}
        keys = {k.version: k for k in session.scalars(select(EnvelopeKey).where(EnvelopeKey.purpose == "master"))}
        assert keys[1].status == "retired" and keys[1].wrapped_key is None and keys[1].retired_at is not None
        assert keys[2].status == "current"
        stale = ProtectedValue(id=rows[0].id, sealed=before[rows[0].id], master_version=1)
        with pytest.raises(KeyUnwrapError, match="master key version 1, retired"):
            sensitive.open_row(session, stale)
    code = pyotp.TOTP(enrolment.secret).now()
    assert users.authenticate("officer-li", PASSWORD, SOURCE, code).totp_enabled
    again = sensitive.rotate_master(ACTOR, new_version=False)
    assert again.new_version is None and set(again.rewrapped.values()) == {0} and again.retired == []
    actions = [(e.entity_id, e.action) for e in audit_rows(platform) if e.entity == "envelope_key"]
    assert actions == [
        ("master:v2", "rotate"),
        ("master:v2", "rewrap"),
        ("master:v2", "rewrap"),
        ("master:v1", "retire"),
    ]
    assert [(k.version, k.status, k.records) for k in sensitive.master_keys()] == [(1, "retired", 0), (2, "current", 8)]
    with platform.db.reading() as session:
        assert platform.audit.verify(session).ok


def test_rotation_can_keep_old_versions_and_a_wrong_kek_cannot_open_the_keys(
    platform: Platform, make_settings: Any
) -> None:
    sensitive = SensitiveData(platform)
    with platform.unit_of_work(ACTOR) as uow:
        sensitive.put(uow, "enterprise", "E1", "contact_phone", "phone", PHONE)
    report = sensitive.rotate_master(ACTOR, retire=False)
    assert report.retired == [] and [k.status for k in sensitive.master_keys()] == ["active", "current"]
    other = Platform(make_settings(platform.settings.resolved_database_url, kek="22" * 32))
    try:
        with other.db.reading() as session, pytest.raises(KeyUnwrapError, match="key-encryption key"):
            SensitiveData(other).cipher(session)
    finally:
        other.close()


def test_migration_matches_the_models(platform: Platform) -> None:
    mine = {"users", "user_sessions", "envelope_keys", "protected_values"}
    with platform.db.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    ours = [d for d in diffs if mine & set(str(d).replace("'", " ").replace('"', " ").split())]
    assert ours == []
