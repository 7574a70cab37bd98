"""License storage over SQLite and PostgreSQL: the migration matches the models, the database sequence store under
concurrency, sealed versions and files survive a master-key rotation, and a scan of every table and column (BLOBs
included, read with the database's own catalogue: sqlite_master / information_schema) finds no clear sensitive
value after licenses were issued, changed and revealed, while it does find values that are stored in clear."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from psycopg import sql
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from certseal.config import Settings
from certseal.licenses.lifecycle import Action
from certseal.licenses.schema import builtin_registry
from certseal.services.access import SensitiveData, sealed_tables, table_name
from certseal.services.licenses import (
    DatabaseSequenceStore,
    TransitionRequest,
    files_carry_secrets,
    merge_fields,
    split_fields,
)
from certseal.services.platform import Platform
from certseal.store.models import Base, LicenseEvent, LicenseFile, LicenseVersion
from tests.conftest import ACTOR
from tests.integration.test_license_service import (
    LEGAL_REP_ID,
    PHARMACIST_ID,
    PHARMACIST_MOBILE,
    PHARMACIST_NAME,
    PHONE,
    TODAY,
    Registry,
    drug,
    issued_drug,
    issued_pharmacist,
    make_registry,
)

LICENSE_TABLES = {"licenses", "license_versions", "license_files", "license_sequences", "license_events"}
SECRETS = {
    "contact phone": PHONE,
    "legal representative's ID number": LEGAL_REP_ID,
    "pharmacist's ID number": PHARMACIST_ID,
    "pharmacist's name": PHARMACIST_NAME,
    "pharmacist's mobile": PHARMACIST_MOBILE,
}


@pytest.fixture
def registry(platform: Platform) -> Registry:
    return make_registry(platform)


def test_migration_matches_the_models(platform: Platform) -> None:
    with platform.db.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    ours = [d for d in diffs if LICENSE_TABLES & set(str(d).replace("'", " ").replace('"', " ").split())]
    assert ours == []
    assert {"license_versions", "license_files"} <= {table_name(model) for model in sealed_tables()}


def test_sequence_store_counts_per_scope_and_never_goes_back(platform: Platform) -> None:
    with platform.unit_of_work(ACTOR) as uow:
        store = DatabaseSequenceStore(uow.session, "tester")
        assert [store.next_value("drug-production", "鄂|2026") for _ in range(3)] == [1, 2, 3]
        assert store.next_value("drug-production", "鄂|2027") == 1
        assert store.next_value("drug-distribution", "鄂|2026") == 1
        store.raise_to("drug-production", "鄂|2026", 7)
        store.raise_to("drug-production", "鄂|2026", 5)  # never lowers
        store.raise_to("medical-device-production", "鄂|2026", 4)  # a new scope starts there
    with platform.unit_of_work(ACTOR) as uow:
        store = DatabaseSequenceStore(uow.session, "tester")
        assert store.next_value("drug-production", "鄂|2026") == 8
        assert store.next_value("medical-device-production", "鄂|2026") == 5
        assert store.last("drug-production", "鄂|2027") == 1 and store.last("nothing", "x") == 0


@pytest.mark.postgres
def test_sequence_store_under_two_threads_on_postgres(
    postgres_url: str, make_settings: Callable[..., Settings]
) -> None:
    platform = Platform(make_settings(postgres_url))
    platform.db.migrate()
    taken: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def allocate() -> None:
        try:
            start.wait()
            for _ in range(25):
                with platform.unit_of_work(ACTOR) as uow:
                    taken.append(DatabaseSequenceStore(uow.session, "tester").next_value("drug-production", "鄂|2026"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=allocate) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        platform.close()
    assert errors == []
    assert sorted(taken) == list(range(1, 51))  # every value once, none skipped


def test_split_and_merge_nested_paths() -> None:
    license_type = builtin_registry().get("drug-production")
    values = {"a": 1, "production_sites": [{"address": "x", "scope": "y"}, {"address": "z", "scope": "w"}]}
    kept, taken = split_fields(
        license_type.fields, values, lambda path: path in ("production_sites[].scope", "contact_phone")
    )
    assert taken == {"production_sites[0].scope": "y", "production_sites[1].scope": "w"}
    assert kept == {"a": 1, "production_sites": [{"address": "x"}, {"address": "z"}]}
    assert merge_fields(kept, taken) == values
    assert not files_carry_secrets(license_type)  # neither phone nor ID number is printed on a face
    assert files_carry_secrets(builtin_registry().get("pharmacist-registration"))


def test_rotation_rewraps_license_versions_and_files(registry: Registry) -> None:
    r = registry
    drug_id = issued_drug(r).info.id
    pharmacist_id = issued_pharmacist(r).info.id
    report = SensitiveData(r.platform).rotate_master(ACTOR)
    assert report.rewrapped["license_versions"] >= 3 and report.rewrapped["license_files"] == 2
    assert r.service.get(r.province, drug_id, reveal=True).fields["contact_phone"] == PHONE
    assert r.service.file(r.person, pharmacist_id).content.startswith(b"%PDF")


# --- the storage scan ---------------------------------------------------------------------------------------------


def forms(value: str) -> list[bytes]:
    """How a value may sit in a column: UTF-8, JSON-escaped (ensure_ascii), UTF-16 (PDF text strings)."""
    escaped = json.dumps(value)[1:-1].encode("ascii")
    return sorted({value.encode("utf-8"), escaped, value.encode("utf-16-be")})


def cell_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8")


def dump_sqlite(url: str) -> list[tuple[str, str, bytes]]:
    """(table, column, cell) of every cell of every table, read with the sqlite3 module."""
    path = make_url(url).database
    assert path
    cells: list[tuple[str, str, bytes]] = []
    with sqlite3.connect(path) as connection:
        tables = [t for (t,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                cells.extend((table, column, cell_bytes(value)) for column, value in zip(columns, row, strict=True))
    return cells


def dump_postgres(url: str) -> list[tuple[str, str, bytes]]:
    """The same over PostgreSQL: tables and columns from information_schema, values as psycopg returns them."""
    parsed = make_url(url)
    cells: list[tuple[str, str, bytes]] = []
    with psycopg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database
    ) as connection:
        columns = connection.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        ).fetchall()
        for table, column in columns:
            query = sql.SQL("SELECT {} FROM {}").format(sql.Identifier(column), sql.Identifier(table))
            cells.extend((table, column, cell_bytes(value)) for (value,) in connection.execute(query))
    return cells


def scan(platform: Platform, values: dict[str, str]) -> list[str]:
    url = platform.db.url
    cells = dump_sqlite(url) if url.startswith("sqlite") else dump_postgres(url)
    assert {table for table, _, _ in cells} >= LICENSE_TABLES | {"audit_events"}
    found = []
    for what, value in values.items():
        for table, column, cell in cells:
            if any(form in cell for form in forms(value)):
                found.append(f"{what} in {table}.{column}")
    return sorted(set(found))


@pytest.mark.slow
def test_no_sensitive_value_is_stored_in_clear(registry: Registry) -> None:
    r, service = registry, registry.service
    drug_license = issued_drug(r)
    changed = {**drug(), "contact_phone": "13700001111", "supervisors": "周九"}
    service.transition(r.province, drug_license.info.id, Action.CHANGE, TransitionRequest(data=changed, today=TODAY))
    pharmacist = issued_pharmacist(r)
    service.transition(r.province, pharmacist.info.id, Action.SUSPEND, TransitionRequest(reason="核查执业单位"))
    service.get(r.province, drug_license.info.id, reveal=True)
    service.get(r.province, pharmacist.info.id, reveal=True)
    assert service.file(r.person, pharmacist.info.id).content.startswith(b"%PDF")
    assert service.public_record(drug_license.info.identifier or "").fields["contact_phone"] == "137****1111"

    assert scan(r.platform, {**SECRETS, "changed phone": "13700001111"}) == []

    # negative controls: the scan finds what is stored in clear, in text and in BLOB columns
    public = {"enterprise name": "湖北示例制药股份有限公司", "USCC": "91110108551385082Q"}
    found = scan(r.platform, public)
    assert "enterprise name in license_versions.data" in found and "USCC in licenses.holder_uscc" in found
    with r.platform.unit_of_work(ACTOR) as uow:
        uow.session.execute(
            update(LicenseEvent).where(LicenseEvent.license_id == drug_license.info.id).values(reason=f"电话 {PHONE}")
        )
        stored = uow.session.scalars(select(LicenseFile).where(LicenseFile.content.is_not(None))).first()
        assert stored is not None and stored.content is not None
        stored.content = stored.content + PHARMACIST_ID.encode("utf-16-be")
        version = uow.session.scalars(select(LicenseVersion).where(LicenseVersion.version == 0)).first()
        assert version is not None
        version.data = json.dumps({"name": PHARMACIST_NAME})
    found = scan(r.platform, SECRETS)
    assert "contact phone in license_events.reason" in found
    assert "pharmacist's ID number in license_files.content" in found
    assert "pharmacist's name in license_versions.data" in found
