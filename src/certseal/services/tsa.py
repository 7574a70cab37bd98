"""Timestamp authority use cases: set a TSA up, stamp requests (RFC 3161).

Which key and certificate a TSA named N uses is derived, not configured (the schema has no TSA table): it is the
newest certificate of the 'tsa' profile that is valid now (status valid, inside its validity period), has its key
in this deployment (key_label) and whose subject common name is "certseal TSA N".  `setup` issues exactly such a
certificate, so setting a TSA up again (another algorithm, a new key) replaces it from the next reload, and revoking
the certificate takes the TSA out of service.  A running server re-reads the choice at most RELOAD_SECONDS later.

Each token's serial is 16 bytes, the issuing millisecond followed by 10 random bytes (`token_serials`), and is
written to the timestamps table, whose primary key is the serial, before the token is signed: no two tokens can
carry the same serial (a collision is retried with fresh serials).  RFC 3161 asks serials to be unique, not
unpredictable; time-ordered ones land at the end of the table's index instead of on a random page of it, which
halves the cost of the row (≈ 9 → 4 µs of CPU on SQLite).  Requests that arrive together (`stamp_many`: one turn
of the server's event loop) share one transaction, so a commit's cost is paid once per batch rather than once per
token.  Stamping writes no audit event per token — the timestamps table is that record; `setup` is audited.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.signer import CertifiedSigner
from certseal.errors import CertsealError, NotFound, ValidationError
from certseal.logs import get_logger
from certseal.pki.tsa import (
    FailureInfo,
    RequestRejected,
    TimestampAuthority,
    TimestampRequest,
    parse_request,
    rejection,
)
from certseal.services.audit import Actor
from certseal.services.ca import CaService, CertificateStatus, serial_hex
from certseal.services.keys import KeyService
from certseal.services.platform import Platform
from certseal.store.models import CertificateAuthority, IssuedCertificate, TimestampRecord, utcnow

log = get_logger("tsa")
TSA_PROFILE = "tsa"
RELOAD_SECONDS = 1.0
_TSA_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_INSERTERS: weakref.WeakKeyDictionary[Platform, _RowInserter] = weakref.WeakKeyDictionary()


class TsaNotConfigured(NotFound):
    """No usable TSA certificate and key: the web answers 503."""


@dataclass(frozen=True)
class TsaInfo:
    name: str
    ca: str
    serial: str
    algorithm: KeyAlgorithm
    subject: str
    not_after: datetime
    certificate_der: bytes
    chain: list[bytes]


@dataclass
class _Loaded:
    at: float
    info: TsaInfo
    authority: TimestampAuthority


_CACHE: weakref.WeakKeyDictionary[Platform, dict[str, _Loaded]] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


class _RowInserter:
    """INSERTs of timestamps rows, one transaction per batch, compiled once for the database in use.

    The hot path: the statement is compiled and the column types' bind processors looked up once, then the rows go
    straight to a DBAPI connection (about a third of the cost of a Core execute).  The values stored are the ones
    SQLAlchemy would store, because its own bind processors convert them.
    """

    def __init__(self, engine: Engine) -> None:
        table = TimestampRecord.__table__
        compiled = insert(table).compile(dialect=engine.dialect)  # type: ignore[arg-type]
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._sql = str(compiled)
        self._names = list(compiled.positiontup or [])
        self._processors: dict[str, Callable[[Any], Any] | None] = {  # the dialect's, as Core uses them
            c.name: c.type.dialect_impl(engine.dialect).bind_processor(engine.dialect) for c in table.columns
        }
        self._dbapi = engine.dialect.loaded_dbapi
        self._own = _own_sqlite_connection(engine)
        self._own_lock = threading.Lock()

    def rows(self, tsa: str, gen_time: datetime, entries: Sequence[tuple[str, str]]) -> list[Any]:
        """DBAPI parameters for rows of one TSA and genTime: entries are (serial hex, message imprint)."""
        shared = {
            k: _bind(self._processors[k], v)
            for k, v in (
                ("tsa", tsa),
                ("gen_time", gen_time),
                ("created_by", "tsa"),
                ("created_at", gen_time),
                ("updated_by", "tsa"),
                ("updated_at", gen_time),
            )
        }
        serial_bind, imprint_bind = self._processors["serial"], self._processors["message_imprint"]
        if not self._names:  # named parameters (PostgreSQL)
            return [
                {**shared, "serial": _bind(serial_bind, serial), "message_imprint": _bind(imprint_bind, imprint)}
                for serial, imprint in entries
            ]
        template = [shared.get(name) for name in self._names]
        serial_at, imprint_at = self._names.index("serial"), self._names.index("message_imprint")
        rows = []
        for serial, imprint in entries:
            row = template.copy()
            row[serial_at], row[imprint_at] = _bind(serial_bind, serial), _bind(imprint_bind, imprint)
            rows.append(tuple(row))
        return rows

    def insert(self, rows: Sequence[Any]) -> bool:
        """Insert rows in one transaction through the pool, waiting for the database as long as it takes; False
        (nothing inserted) if a serial is taken."""
        connection = self._engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                if self._sqlite and len(rows) > 1:
                    cursor.execute("BEGIN IMMEDIATE")  # autocommit mode (store/db.py): one transaction for all
                cursor.executemany(self._sql, rows)
            except self._dbapi.IntegrityError:
                connection.rollback()
                return False
            except self._dbapi.Error as exc:
                connection.rollback()
                raise CertsealError(f"the timestamps table cannot be written: {exc}") from exc
            finally:
                cursor.close()
            connection.commit()
            return True
        finally:
            connection.close()

    def insert_without_waiting(self, rows: Sequence[Any]) -> bool | None:
        """Insert rows in one transaction on this process's own SQLite connection if the database is free right
        now; None (nothing inserted) if it is not: another writer holds it, another thread uses the connection,
        or the database is not SQLite."""
        own = self._own
        if own is None or not self._own_lock.acquire(blocking=False):
            return None
        try:
            if len(rows) == 1:
                own.execute(self._sql, rows[0])  # autocommit: one atomic statement
                return True
            own.execute("BEGIN IMMEDIATE")
            try:
                own.executemany(self._sql, rows)
                own.execute("COMMIT")
            except BaseException:
                own.execute("ROLLBACK")
                raise
            return True
        except sqlite3.IntegrityError:
            return False
        except sqlite3.Error:
            return None  # busy (busy timeout 0) or otherwise unavailable: the caller takes the waiting path
        finally:
            self._own_lock.release()


def _own_sqlite_connection(engine: Engine) -> sqlite3.Connection | None:
    """A file-backed SQLite database's own connection with the pool's settings, but a busy timeout of 0."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False, timeout=0)
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA synchronous=NORMAL")  # journal_mode=WAL is a property of the file, set by the pool
    return connection


def _row_inserter(platform: Platform) -> _RowInserter:
    inserter = _INSERTERS.get(platform)
    if inserter is None:
        inserter = _INSERTERS[platform] = _RowInserter(platform.db.engine)
    return inserter


def token_serials(count: int) -> list[int]:
    """`count` fresh token serials: 6 bytes of Unix time in milliseconds, then 10 random bytes (positive, never zero;
    increasing from one millisecond to the next)."""
    millisecond = time.time_ns() // 1_000_000
    prefix = (millisecond & 0x7FFF_FFFF_FFFF) << 80
    randomness = secrets.token_bytes(10 * count)
    return [prefix | int.from_bytes(randomness[i * 10 : i * 10 + 10], "big") for i in range(count)]


def _bind(processor: Callable[[Any], Any] | None, value: Any) -> Any:
    return processor(value) if processor is not None else value


def common_name(name: str) -> str:
    return f"certseal TSA {name}"


def _check_name(name: str) -> None:
    if not _TSA_NAME.match(name):
        raise ValidationError("name", "must be 1-32 lower-case letters, digits or hyphens, starting alphanumeric")


class TsaService:
    def __init__(self, platform: Platform, name: str = "default") -> None:
        _check_name(name)
        self._platform = platform
        self.name = name

    def setup(self, ca_name: str, algorithm: KeyAlgorithm, actor: Actor, token: str = "software") -> TsaInfo:
        """Issue a 'tsa' certificate from `ca_name` for a key generated in the token; it becomes this TSA."""
        issued = CaService(self._platform).issue(
            ca_name,
            TSA_PROFILE,
            actor,
            subject=f"CN={common_name(self.name)},C=CN",
            generate=algorithm,
            token=token,
        )
        with self._platform.unit_of_work(actor) as uow:
            uow.record(
                "tsa",
                self.name,
                "setup",
                after={"ca": ca_name, "certificate": issued.serial, "algorithm": algorithm.value},
            )
        log.info(
            "TSA %s set up: certificate %s (%s) from CA %s by %s",
            self.name,
            issued.serial,
            algorithm.value,
            ca_name,
            actor.name,
        )
        self._forget()
        return self.active()

    def active(self) -> TsaInfo:
        """The TSA's current certificate (see the module docstring for how it is chosen)."""
        return self._loaded().info

    def stamp(self, request_der: bytes) -> bytes:
        """A DER TimeStampResp for a DER TimeStampReq: granted, or rejection with the failure info.

        Raises TsaNotConfigured when no TSA certificate is usable (the caller answers 503, not a rejection).
        """
        return self.stamp_many([request_der])[0]

    def stamp_without_waiting(self, request_der: bytes) -> bytes | None:
        """As `stamp`, or None (nothing recorded) if the database would make it wait: for an event loop, which
        then calls `stamp` in a thread."""
        responses = self.stamp_many_without_waiting([request_der])
        return None if responses is None else responses[0]

    def stamp_many(self, requests: Sequence[bytes]) -> list[bytes]:
        """`stamp` for each request, their serials recorded in one transaction (group commit: one commit's cost
        shared by every request that arrived together)."""
        responses = self._stamp_many(requests, wait=True)
        assert responses is not None
        return responses

    def stamp_many_without_waiting(self, requests: Sequence[bytes]) -> list[bytes] | None:
        """As `stamp_many`, or None (nothing recorded, nothing issued) if the database would make it wait."""
        return self._stamp_many(requests, wait=False)

    def _stamp_many(self, requests: Sequence[bytes], wait: bool) -> list[bytes] | None:
        policy = self._platform.settings.tsa_policy_oid
        responses: list[bytes | None] = []
        accepted: list[tuple[int, TimestampRequest]] = []
        for index, request_der in enumerate(requests):
            try:
                accepted.append((index, parse_request(request_der, policy)))
                responses.append(None)
            except RequestRejected as exc:
                responses.append(rejection(exc.failure, exc.message))
        if accepted:
            authority = self._loaded().authority
            try:
                reserved = self._record([request.imprint_text for _, request in accepted], wait)
                if reserved is None:
                    return None
                gen_time, serials = reserved
                for (index, request), serial in zip(accepted, serials, strict=True):
                    responses[index] = authority.issue(request, serial, gen_time).response_der
            except (SQLAlchemyError, CertsealError) as exc:
                log.exception("TSA %s could not issue a timestamp: %s", self.name, exc)
                failed = rejection(FailureInfo.SYSTEM_FAILURE, "the timestamp authority failed; try again later")
                for index, _ in accepted:
                    responses[index] = responses[index] or failed
        return [response for response in responses if response is not None]

    def _record(self, imprints: Sequence[str], wait: bool) -> tuple[datetime, list[int]] | None:
        """Reserve fresh serials in the timestamps table (its primary key makes them unique), all in one
        transaction; the genTime and the serials, or None if not `wait`ing and the database is busy."""
        inserter = _row_inserter(self._platform)
        now = utcnow().replace(microsecond=0)
        serials = token_serials(len(imprints))
        rows = inserter.rows(self.name, now, [(serial_hex(s), i) for s, i in zip(serials, imprints, strict=True)])
        inserted = inserter.insert(rows) if wait else inserter.insert_without_waiting(rows)
        if inserted is None:
            return None
        if not inserted:  # a serial is taken (a 2^-127 chance each): nothing was inserted, so one at a time
            serials = []
            for imprint in imprints:
                serial = self._record_one(inserter, now, imprint, wait)
                if serial is None:
                    return None
                serials.append(serial)
        return now, serials

    def _record_one(self, inserter: _RowInserter, now: datetime, imprint: str, wait: bool) -> int | None:
        for _ in range(3):
            serial = token_serials(1)[0]
            rows = inserter.rows(self.name, now, [(serial_hex(serial), imprint)])
            inserted = inserter.insert(rows) if wait else inserter.insert_without_waiting(rows)
            if inserted is None:
                return None
            if inserted:
                return serial
            log.warning("TSA %s: serial %s taken, drawing another", self.name, serial_hex(serial))
        raise CertsealError("could not reserve a unique timestamp serial")

    # --- which certificate and key ----------------------------------------------------------------------------

    def _loaded(self) -> _Loaded:
        with _CACHE_LOCK:
            loaded = _CACHE.setdefault(self._platform, {}).get(self.name)
        if loaded is not None and time.monotonic() - loaded.at < RELOAD_SECONDS:
            return loaded
        info, label = self._find()
        if loaded is not None and loaded.info.serial == info.serial:
            loaded.at = time.monotonic()
            return loaded
        signer = CertifiedSigner(KeyService(self._platform).signer(label), info.certificate_der)
        authority = TimestampAuthority(
            signer, info.certificate_der, self._platform.settings.tsa_policy_oid, ca_chain=info.chain
        )
        fresh = _Loaded(time.monotonic(), info, authority)
        with _CACHE_LOCK:
            _CACHE.setdefault(self._platform, {})[self.name] = fresh
        return fresh

    def _forget(self) -> None:
        with _CACHE_LOCK:
            _CACHE.setdefault(self._platform, {}).pop(self.name, None)

    def _find(self) -> tuple[TsaInfo, str]:
        now = utcnow()
        wanted = common_name(self.name)
        with self._platform.db.reading() as session:
            rows = session.scalars(
                select(IssuedCertificate)
                .where(
                    IssuedCertificate.profile == TSA_PROFILE,
                    IssuedCertificate.status == CertificateStatus.VALID.value,
                    IssuedCertificate.key_label.is_not(None),
                    IssuedCertificate.not_before <= now,
                    IssuedCertificate.not_after > now,
                )
                .order_by(IssuedCertificate.id.desc())
            )
            row = next((r for r in rows if json.loads(r.subject_dn).get("common_name") == wanted), None)
            if row is None:
                raise TsaNotConfigured(
                    f"no timestamp authority {self.name!r} is set up: run `certseal tsa setup --ca CA --alg "
                    "rsa2048|p256|sm2` (it needs a valid 'tsa' certificate whose key is in this deployment)"
                )
            ca = session.get(CertificateAuthority, row.ca_id)
            assert ca is not None
            assert row.key_label is not None
            label = row.key_label
            info = TsaInfo(
                self.name,
                ca.name,
                row.serial,
                KeyAlgorithm(row.algorithm),
                row.subject,
                row.not_after,
                row.certificate_der,
                [],
            )
        return replace(info, chain=CaService(self._platform).ca_chain(info.ca)), label
