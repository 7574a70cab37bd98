"""TsaService.stamp_many: requests that arrive together share one transaction for their serials (group commit).
Tokens checked by `openssl ts -verify`; rows as the ORM writes them; a busy database and a serial collision."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import core, pem, tsp
from sqlalchemy import func, select, text

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.pki.tsa import build_request
from certseal.services import tsa as tsa_service
from certseal.services.ca import CaService
from certseal.services.platform import Platform
from certseal.services.tsa import TsaService
from certseal.store.models import TimestampRecord
from tests.conftest import ACTOR

DATA = b"a batch of prescriptions\n"


@pytest.fixture
def tsa(platform: Platform) -> Iterator[TsaService]:
    CaService(platform).create_ca("root", KeyAlgorithm.RSA2048, ACTOR)
    service = TsaService(platform)
    service.setup("root", KeyAlgorithm.RSA2048, ACTOR)
    yield service


def _granted(der: bytes) -> tsp.TSTInfo:
    response = tsp.TimeStampResp.load(der)
    assert response["status"]["status"].native == "granted"
    return response["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed


def _rejected(der: bytes) -> set[str]:
    status = tsp.PKIStatusInfo.load(core.Sequence.load(der)[0].dump())
    assert status["status"].native == "rejection"
    return set(status["fail_info"].native)


def _openssl_verifies(service: TsaService, tmp_path: Path, data: bytes, reply: bytes) -> bool:
    info = service.active()
    (tmp_path / "tsa.pem").write_bytes(pem.armor("CERTIFICATE", info.certificate_der))
    (tmp_path / "chain.pem").write_bytes(b"".join(pem.armor("CERTIFICATE", der) for der in info.chain))
    (tmp_path / "data.bin").write_bytes(data)
    (tmp_path / "reply.tsr").write_bytes(reply)
    result = subprocess.run(
        ["openssl", "ts", "-verify", "-data", str(tmp_path / "data.bin"), "-in", str(tmp_path / "reply.tsr"),
         "-CAfile", str(tmp_path / "chain.pem"), "-untrusted", str(tmp_path / "tsa.pem")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return result.returncode == 0 and "Verification: OK" in result.stdout


def _count(platform: Platform) -> int:
    with platform.db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(TimestampRecord)) or 0)


def test_a_mixed_batch_is_answered_in_order(platform: Platform, tsa: TsaService, tmp_path: Path) -> None:
    requests = [
        build_request(DATA, nonce=1),
        b"garbage",
        build_request(DATA, policy="1.2.3.4"),
        build_request(DATA, "sha512", cert_req=False),
        build_request(DATA, nonce=2),
    ]
    replies = tsa.stamp_many(requests)
    assert len(replies) == len(requests)
    assert _rejected(replies[1]) == {"bad_data_format"}
    assert _rejected(replies[2]) == {"unaccepted_policy"}
    granted = [_granted(replies[i]) for i in (0, 3, 4)]
    assert [t["nonce"].native for t in granted] == [1, None, 2]
    assert len({t["serial_number"].native for t in granted}) == 3
    assert len({t["gen_time"].native for t in granted}) == 1  # stamped together: one genTime
    assert _count(platform) == 3
    for index in (0, 3, 4):
        assert _openssl_verifies(tsa, tmp_path, DATA, replies[index])
    assert not _openssl_verifies(tsa, tmp_path, DATA + b"!", replies[0])
    tampered = bytearray(replies[4])
    tampered[-5] ^= 0x01  # in the signature
    assert not _openssl_verifies(tsa, tmp_path, DATA, bytes(tampered))
    assert tsa.stamp_many([]) == []
    assert tsa.stamp_many([b"", b"\x30\x00"]) and _count(platform) == 3  # rejections need no serial


def test_rows_are_what_the_orm_writes(platform: Platform, tsa: TsaService) -> None:
    gen_time = _granted(tsa.stamp(build_request(DATA)))["gen_time"].native
    with platform.unit_of_work(ACTOR) as uow:
        uow.session.add(
            TimestampRecord(
                serial="00", tsa="orm", gen_time=gen_time, message_imprint="sha256:00", created_by="tsa",
                updated_by="tsa", created_at=gen_time, updated_at=gen_time,
            )
        )  # fmt: skip
    with platform.db.reading() as session:
        rows = session.execute(select(TimestampRecord).order_by(TimestampRecord.tsa)).scalars().all()
        assert [r.tsa for r in rows] == ["default", "orm"]
        ours, orm = rows
        assert ours.gen_time == orm.gen_time == ours.created_at == ours.updated_at == gen_time
        assert ours.gen_time.tzinfo is not None and ours.created_by == ours.updated_by == "tsa"
        assert ours.message_imprint.startswith("sha256:") and int(ours.serial, 16) > 0
        if platform.db.dialect == "sqlite":  # the same text, not only the same value after parsing
            raw = session.execute(text("SELECT gen_time, created_at, updated_at FROM timestamps ORDER BY tsa")).all()
            assert raw[0] == raw[1]


@pytest.fixture
def sqlite_tsa(make_settings, tmp_path: Path) -> Iterator[tuple[Platform, TsaService]]:  # type: ignore[no-untyped-def]
    platform = Platform(make_settings(f"sqlite:///{tmp_path / 'var' / 'batch.db'}"))
    platform.db.migrate()
    CaService(platform).create_ca("root", KeyAlgorithm.P256, ACTOR)
    service = TsaService(platform)
    service.setup("root", KeyAlgorithm.P256, ACTOR)
    yield platform, service
    platform.close()


def test_a_busy_database_records_and_issues_nothing(sqlite_tsa: tuple[Platform, TsaService]) -> None:
    platform, service = sqlite_tsa
    requests = [build_request(DATA, nonce=n) for n in range(3)]
    database = platform.settings.resolved_database_url.split("///", 1)[1]
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        assert service.stamp_many_without_waiting(requests) is None
        assert service.stamp_many_without_waiting([b"garbage"]) is not None  # a rejection needs no database
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert _count(platform) == 0
    replies = service.stamp_many_without_waiting(requests)
    assert replies is not None and [_granted(r)["nonce"].native for r in replies] == [0, 1, 2]
    assert _count(platform) == 3


def test_a_serial_collision_in_a_batch_draws_each_again(
    platform: Platform, tsa: TsaService, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = _granted(tsa.stamp(build_request(DATA)))["serial_number"].native
    draws = iter([[taken, 11], [taken], [22], [33]])  # the batch collides: nothing of it is kept, then one at a time
    monkeypatch.setattr(tsa_service, "token_serials", lambda count: next(draws))
    replies = tsa.stamp_many([build_request(DATA, nonce=1), build_request(DATA, nonce=2)])
    assert [_granted(r)["serial_number"].native for r in replies] == [22, 33]
    with platform.db.reading() as session:
        stored = set(session.scalars(select(TimestampRecord.serial)))
    assert {int(s, 16) for s in stored} == {taken, 22, 33}


def test_gen_time_is_whole_seconds_now(tsa: TsaService) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    gen_time = _granted(tsa.stamp_many([build_request(DATA)])[0])["gen_time"].native
    assert before <= gen_time <= datetime.now(UTC) and gen_time.microsecond == 0


def test_serials_are_16_bytes_time_ordered_and_unique(platform: Platform, tsa: TsaService) -> None:
    """The issuing millisecond, then 10 random bytes: tokens of one batch differ, later batches sort after."""
    started_ms = datetime.now(UTC).timestamp() * 1000
    first = [_granted(r)["serial_number"].native for r in tsa.stamp_many([build_request(DATA)] * 50)]
    second = [_granted(r)["serial_number"].native for r in tsa.stamp_many([build_request(DATA)] * 50)]
    assert len(set(first + second)) == 100
    assert all(0 < s < 1 << 127 for s in first + second)  # 16 bytes, positive
    assert max(first) < min(second) or first[0] >> 80 == second[0] >> 80  # one millisecond may hold both
    for serial in first + second:
        assert started_ms - 1 <= serial >> 80 <= datetime.now(UTC).timestamp() * 1000 + 1
    assert len({s & ((1 << 80) - 1) for s in first}) == 50  # the random part differs within a millisecond
    with platform.db.reading() as session:
        stored = {int(s, 16) for s in session.scalars(select(TimestampRecord.serial))}
    assert stored == set(first + second)
