"""Store and audit trail on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import json
import threading
from datetime import UTC

from sqlalchemy import delete, select, text, update

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.services.audit import Actor, count_events
from certseal.services.keys import KeyService
from certseal.services.platform import Platform
from certseal.store.models import AuditEvent, AuditHead, Base, CryptoKey
from tests.conftest import ACTOR


def _events(platform: Platform, n: int) -> None:
    with platform.unit_of_work(ACTOR) as uow:
        for i in range(n):
            uow.record("thing", str(i), "create", after={"n": i, "name": f"事项{i}"})


def _verify(platform: Platform):  # type: ignore[no-untyped-def]
    with platform.db.reading() as session:
        return platform.audit.verify(session)


def test_schema_is_migrated_and_every_table_is_tracked(platform: Platform) -> None:
    assert platform.db.schema_is_current()
    for table in Base.metadata.tables.values():
        assert {"created_by", "created_at", "updated_by", "updated_at"} <= set(table.columns.keys()), table.name
    platform.db.migrate()  # idempotent


def test_generated_key_is_stored_sealed_tracked_and_audited(platform: Platform) -> None:
    info = KeyService(platform).generate("doc-signer", KeyAlgorithm.P256, "software", ACTOR)
    with platform.db.reading() as session:
        row = session.scalars(select(CryptoKey)).one()
        assert row.created_by == ACTOR.name and row.updated_by == ACTOR.name
        assert row.created_at.tzinfo is UTC
        assert row.sealed_private_key and b"PRIVATE" not in row.sealed_private_key
        event = session.scalars(select(AuditEvent)).one()
        assert (event.entity, event.entity_id, event.action, event.actor, event.source) == (
            "crypto_key",
            "doc-signer",
            "generate",
            "tester",
            "pytest",
        )
        assert json.loads(event.after or "")["public_key_sha256"] == info.fingerprint
        assert "sealed" not in (event.after or "")
    signature = KeyService(platform).sign("doc-signer", b"data")
    KeyService(platform).verify("doc-signer", b"data", signature)


def test_failed_change_leaves_no_row_and_no_event(platform: Platform) -> None:
    KeyService(platform).generate("k", KeyAlgorithm.SM2, "software", ACTOR)
    try:
        with platform.unit_of_work(ACTOR) as uow:
            uow.record("thing", "1", "create", after={"a": 1})
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with platform.db.reading() as session:
        assert count_events(session) == 1
    assert _verify(platform).ok


def test_intact_chain_verifies(platform: Platform) -> None:
    _events(platform, 5)
    result = _verify(platform)
    assert result.ok and result.events_checked == 5


def test_edited_event_is_detected(platform: Platform) -> None:
    _events(platform, 5)
    with platform.db.transaction() as session:
        session.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(actor="mallory"))
    result = _verify(platform)
    assert not result.ok and result.first_broken_seq == 3 and "altered" in (result.problem or "")


def test_deleted_event_is_detected(platform: Platform) -> None:
    _events(platform, 5)
    with platform.db.transaction() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.seq == 2))
    result = _verify(platform)
    assert not result.ok and result.first_broken_seq == 2 and "deleted" in (result.problem or "")


def test_deleted_last_event_is_detected_by_the_head(platform: Platform) -> None:
    _events(platform, 5)
    with platform.db.transaction() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.seq == 5))
    result = _verify(platform)
    assert not result.ok and result.first_broken_seq == 5


def test_inserted_event_is_detected(platform: Platform) -> None:
    _events(platform, 3)
    with platform.db.transaction() as session:
        last = session.get(AuditEvent, 3)
        assert last is not None
        forged = AuditEvent(
            seq=4,
            at=last.at,
            actor="mallory",
            source="psql",
            entity="thing",
            entity_id="x",
            action="create",
            before=None,
            after='{"n":99}',
            prev_tag=last.tag,
            tag="f" * 64,
            created_by="mallory",
            created_at=last.at,
            updated_by="mallory",
            updated_at=last.at,
        )
        session.add(forged)
        session.execute(update(AuditHead).values(last_seq=4, last_tag="f" * 64))
    result = _verify(platform)
    assert not result.ok and result.first_broken_seq == 4 and "inserted" in (result.problem or "")


def test_swapped_contents_are_detected(platform: Platform) -> None:
    _events(platform, 3)
    with platform.db.transaction() as session:
        session.execute(text("UPDATE audit_events SET after = :v WHERE seq = 1").bindparams(v='{"n":7}'))
    assert _verify(platform).first_broken_seq == 1


def test_concurrent_appends_keep_one_chain(platform: Platform) -> None:
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for j in range(10):
                with platform.unit_of_work(Actor(f"w{i}", "thread")) as uow:
                    uow.record("thing", f"{i}-{j}", "create", after={"i": i, "j": j})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = _verify(platform)
    assert result.ok and result.events_checked == 40


def test_readers_do_not_block_a_writer(platform: Platform) -> None:
    """A long read must not hold the write lock (SQLite: deferred BEGIN for reads)."""
    _events(platform, 1)
    with platform.db.reading() as reader:
        assert count_events(reader) == 1
        _events(platform, 1)  # would time out if the reader held the write lock
    with platform.db.reading() as reader:
        assert count_events(reader) == 2
