"""The OCSP responder use cases (RFC 6960, RFC 5019): answer requests, pre-produce responses, delegate signing.

Who signs for a CA is derived, not stored: the newest currently valid 'ocsp-responder' certificate that the CA
issued with a key in this deployment's token (key_label set) is its delegated responder; without one, the CA key
signs.  `delegate` issues such a certificate; revoking it (or letting it expire) falls back to the next one or to
the CA key.  Each process re-reads that choice at most every RESPONDER_TTL seconds.

Requests without a nonce for one certificate are answered from pre-produced responses (ocsp_responses, and an
in-process copy).  A stored response is served only if what it says still equals what the certificates table says
now — status, revocation time and reason — and it is signed by the current responder key and not near its
nextUpdate; otherwise a new one is signed and stored.  Comparing content rather than timestamps means no clock or
transaction ordering can make a revoked certificate come back "good" from the cache.

"What the certificates table says now" is read on every request on PostgreSQL.  On SQLite a process keeps the
statuses it has read together with the database's `PRAGMA data_version` read just before them, on a connection of
its own that never writes: SQLite changes that number whenever any other connection, in any process, commits.  A
request first reads the number (~2 µs); if it moved, every kept status is dropped and read again.  So a revocation
committed anywhere is seen by the next request, as with a query, without one.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from asn1crypto import crl as asn1_crl
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.signer import Signer
from certseal.errors import CertsealError, NotFound
from certseal.logs import get_logger
from certseal.pki import ocsp
from certseal.services.audit import Actor
from certseal.services.ca import CaService, CertificateStatus, serial_hex
from certseal.services.keys import KeyService
from certseal.services.platform import Platform
from certseal.store.models import CertificateAuthority, IssuedCertificate, OcspResponse, utcnow

log = get_logger("ocsp")

RESPONSE_VALIDITY = timedelta(hours=24)  # nextUpdate - thisUpdate of every response
REFRESH_BEFORE = timedelta(hours=12)  # a stored response with less left than this is produced again
RESPONDER_TTL = 5.0  # seconds a process keeps its view of who signs for a CA
RESPONDER_PROFILE = "ocsp-responder"
SYSTEM_ACTOR = Actor("ocsp-responder", "ocsp")
_MEMORY_LIMIT = 200_000
_BATCH = 500
_REASON_CODES = {name: code for code, name in asn1_crl.CRLReason._map.items()}
_HOLD = _REASON_CODES["certificate_hold"]

_STATUS = select(
    IssuedCertificate.serial,
    IssuedCertificate.status,
    IssuedCertificate.revoked_at,
    IssuedCertificate.revocation_reason,
).where(
    IssuedCertificate.ca_id == bindparam("ca_id"), IssuedCertificate.serial.in_(bindparam("serials", expanding=True))
)
_STORED = select(OcspResponse.response_der).where(
    OcspResponse.serial == bindparam("serial"), OcspResponse.ca_id == bindparam("ca_id")
)


class OcspAnswer(NamedTuple):
    """An OCSPResponse and what HTTP needs to know about it (a NamedTuple: one is made for every request)."""

    der: bytes
    status: ocsp.ResponseStatus
    produced_at: datetime | None = None
    next_update: datetime | None = None
    cacheable: bool = False  # no nonce: the same bytes answer everyone until next_update (RFC 5019 6)


@dataclass(frozen=True)
class ResponderInfo:
    ca: str
    delegated: bool
    serial: str | None  # of the delegated responder certificate
    key_label: str
    algorithm: str
    not_after: datetime | None
    certificate_der: bytes | None


@dataclass(frozen=True)
class RefreshReport:
    ca: str
    certificates: int
    produced: int
    fresh: int


@dataclass(frozen=True)
class _CaResponder:
    ca_id: int
    name: str
    hashes: ocsp.IssuerHashes
    responder: ocsp.Responder
    info: ResponderInfo
    loaded_at: float


class _Clock(NamedTuple):
    """The time of a batch of answers: producedAt and thisUpdate, and nextUpdate (shared objects, so their DER is
    found by identity, see pki.der.generalized_time)."""

    now: datetime
    next_update: datetime


class _ToSign(NamedTuple):
    """A request read and looked up, waiting for its signature."""

    ca: _CaResponder
    answers: tuple[ocsp.SingleAnswer, ...]
    produced_at: datetime
    nonce_extension: bytes | None


@dataclass(frozen=True, slots=True)
class _Produced:
    der: bytes
    status: ocsp.CertStatus
    key_hash: bytes
    cert_id_der: bytes
    produced_at: datetime
    next_update: datetime


def expected_status(status: str, revoked_at: datetime | None, reason: str | None) -> ocsp.CertStatus:
    """What OCSP must say for a certificates row: on hold is revoked with reason certificateHold."""
    if status == CertificateStatus.VALID.value:
        return ocsp.GOOD
    assert revoked_at is not None
    if status == CertificateStatus.ON_HOLD.value:
        return ocsp.revoked(revoked_at, _HOLD)
    code = _REASON_CODES.get(reason or "unspecified", 0)
    return ocsp.revoked(revoked_at, None if code == 0 else code)  # RFC 5280 5.3.1: omit "unspecified"


def _signature(item: _ToSign, tbs: bytes | None) -> bytes | None:
    """The responder's signature of `tbs` (None: nothing to sign, or the signer failed, which is logged)."""
    if tbs is None:
        return None
    try:
        return item.ca.responder.signer.sign(tbs)
    except Exception:
        log.exception("OCSP %s: internal error", item.ca.name)
        return None


class _DataVersion:
    """SQLite's `PRAGMA data_version` on a connection of its own: it changes when any other connection commits."""

    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._lock = threading.Lock()

    @classmethod
    def of(cls, engine: Engine) -> _DataVersion | None:
        """None unless the engine is a file-backed SQLite database (PostgreSQL: statuses are queried every time)."""
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
            return None
        return cls(database)

    def read(self) -> int:
        with self._lock:
            row = self._connection.execute("PRAGMA data_version").fetchone()
        return int(row[0])


class _StatusCache:
    """Certificate statuses read at one data_version; all dropped as soon as the database changes."""

    def __init__(self, version: _DataVersion | None) -> None:
        self._version = version
        self._at: int | None = None
        self._statuses: dict[tuple[int, str], ocsp.CertStatus] = {}

    def current(self) -> int | None:
        """The database's version now (None: nothing is kept); drops what was read at an older one.  If the version
        cannot be read, everything kept is dropped: the queries that follow meet the same database and fail there."""
        if self._version is None:
            return None
        try:
            now: int | None = self._version.read()
        except sqlite3.Error:
            now = None
        if now is None or now != self._at:
            self._statuses = {}
            self._at = now
        return now

    def get(self, ca_id: int, serial: str) -> ocsp.CertStatus | None:
        return self._statuses.get((ca_id, serial))

    def keep(self, version: int | None, ca_id: int, statuses: dict[str, ocsp.CertStatus]) -> None:
        """Keep statuses queried after `version` was read, unless the database has moved on since."""
        if version is None or version != self._at:
            return
        if len(self._statuses) + len(statuses) > _MEMORY_LIMIT:
            self._statuses = {}
        kept = self._statuses
        for serial, status in statuses.items():
            kept[(ca_id, serial)] = status


class _State:
    """What one process keeps between requests: responders per CA, statuses, the in-memory response cache."""

    def __init__(self, platform: Platform) -> None:
        self.responders: dict[str, _CaResponder] = {}
        self.memory: dict[tuple[int, bytes], _Produced] = {}
        self.statuses = _StatusCache(_DataVersion.of(platform.db.engine))
        self.lock = threading.Lock()
        self._read_engine: Engine | None = None

    def read_engine(self, platform: Platform) -> Engine:
        """The platform's engine marked read-only (on SQLite: a plain BEGIN, never the write lock)."""
        if self._read_engine is None:
            self._read_engine = platform.db.engine.execution_options(certseal_read_only=True)
        return self._read_engine


_STATES: weakref.WeakKeyDictionary[Platform, _State] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def _state_of(platform: Platform) -> _State:
    with _STATES_LOCK:
        state = _STATES.get(platform)
        if state is None:
            state = _STATES[platform] = _State(platform)
        return state


class OcspService:
    def __init__(
        self,
        platform: Platform,
        validity: timedelta = RESPONSE_VALIDITY,
        refresh_before: timedelta = REFRESH_BEFORE,
    ) -> None:
        self._platform = platform
        self._validity = validity
        self._refresh_before = refresh_before
        self._state = _state_of(platform)

    # --- answering -------------------------------------------------------------------------------------------

    def respond(self, ca_name: str, request_der: bytes) -> bytes:
        """The DER OCSPResponse for a DER OCSPRequest sent to `ca_name`'s responder (NotFound: no such CA)."""
        return self.answer(ca_name, request_der).der

    def answer(self, ca_name: str, request_der: bytes) -> OcspAnswer:
        """The OCSPResponse for a DER OCSPRequest sent to `ca_name`'s responder (NotFound: no such CA)."""
        return self._finish(self._read(ca_name, request_der, self._state.statuses.current(), self._clock()))

    def answer_many(self, requests: Sequence[tuple[str, bytes]]) -> list[OcspAnswer | None]:
        """`answer` for each (CA name, DER OCSPRequest); None where no CA has the name.

        Every request is read and looked up and its ResponseData built first, then the signatures are made one
        after another with nothing in between (the signing code and key stay in the CPU caches), then the responses
        are wrapped.  The database's version is read once for all: the statuses are those when the batch began,
        after every request in it had arrived (on SQLite the read costs ≈ 15 µs, as much as the rest of the lookup).
        """
        version = self._state.statuses.current()
        clock = self._clock()
        read: list[OcspAnswer | _ToSign | None] = []
        for ca_name, request_der in requests:
            try:
                read.append(self._read(ca_name, request_der, version, clock))
            except NotFound:
                read.append(None)
        to_sign = [(index, item) for index, item in enumerate(read) if isinstance(item, _ToSign)]
        tbs = [self._to_be_signed(item) for _, item in to_sign]
        signatures = [_signature(item, data) for (_, item), data in zip(to_sign, tbs, strict=True)]
        answers: list[OcspAnswer | None] = [item if not isinstance(item, _ToSign) else None for item in read]
        for (index, item), data, signature in zip(to_sign, tbs, signatures, strict=True):
            answers[index] = self._signed(item, data, signature)
        return answers

    def _clock(self) -> _Clock:
        now = utcnow()
        return _Clock(now, now + self._validity)

    def _read(self, ca_name: str, request_der: bytes, version: int | None, clock: _Clock) -> OcspAnswer | _ToSign:
        """Everything but the signature: the answer itself if it needs none, else what to sign; statuses as of the
        database `version` (`_StatusCache.current`, read before any query)."""
        try:
            ca = self._responder(ca_name)
        except NotFound:
            raise  # the URL names no CA: not an OCSP answer at all
        except OperationalError:
            log.warning("OCSP %s: database unavailable, answering tryLater", ca_name, exc_info=True)
            return _error(ocsp.ResponseStatus.TRY_LATER)
        except CertsealError as exc:
            log.warning("OCSP %s: cannot sign: %s", ca_name, exc.message)
            return _error(ocsp.ResponseStatus.UNAUTHORIZED)
        try:
            request = ocsp.parse_request(request_der)
        except ocsp.MalformedRequest as exc:
            log.info("OCSP %s: malformed request: %s", ca_name, exc.message)
            return _error(ocsp.ResponseStatus.MALFORMED_REQUEST)
        try:
            return self._look_up(ca, request, version, clock)
        except OperationalError:
            log.warning("OCSP %s: database unavailable, answering tryLater", ca_name, exc_info=True)
            return _error(ocsp.ResponseStatus.TRY_LATER)
        except Exception:
            log.exception("OCSP %s: internal error", ca_name)
            return _error(ocsp.ResponseStatus.INTERNAL_ERROR)

    def _finish(self, item: OcspAnswer | _ToSign) -> OcspAnswer:
        if isinstance(item, OcspAnswer):
            return item
        tbs = self._to_be_signed(item)
        return self._signed(item, tbs, _signature(item, tbs))

    @staticmethod
    def _to_be_signed(item: _ToSign) -> bytes | None:
        try:
            return item.ca.responder.to_be_signed(item.answers, item.produced_at, item.nonce_extension)
        except Exception:
            log.exception("OCSP %s: internal error", item.ca.name)
            return None

    @staticmethod
    def _signed(item: _ToSign, tbs: bytes | None, signature: bytes | None) -> OcspAnswer:
        if tbs is None or signature is None:
            return _error(ocsp.ResponseStatus.INTERNAL_ERROR)
        try:
            der = item.ca.responder.signed(tbs, signature)
        except Exception:
            log.exception("OCSP %s: internal error", item.ca.name)
            return _error(ocsp.ResponseStatus.INTERNAL_ERROR)
        next_update = item.answers[0].next_update
        return OcspAnswer(
            der, ocsp.ResponseStatus.SUCCESSFUL, item.produced_at, next_update, item.nonce_extension is None
        )

    def _look_up(
        self, ca: _CaResponder, request: ocsp.OcspRequest, version: int | None, clock: _Clock
    ) -> OcspAnswer | _ToSign:
        if len(request.certs) == 1:
            return self._look_up_one(ca, request.certs[0], request.nonce_extension, version, clock)
        if not all(ca.hashes.matches(c) for c in request.certs):
            return _error(ocsp.ResponseStatus.UNAUTHORIZED)
        statuses = self._statuses(ca, [_serial_key(c.serial) for c in request.certs], version)
        now, next_update = clock
        answers = tuple(
            ocsp.SingleAnswer(
                c.der, statuses.get(_serial_key(c.serial)) or self._other_status(ca, c.serial), now, next_update
            )
            for c in request.certs
        )
        return _ToSign(ca, answers, now, request.nonce_extension)

    def _look_up_one(
        self,
        ca: _CaResponder,
        cert: ocsp.CertRequest,
        nonce_extension: bytes | None,
        version: int | None,
        clock: _Clock,
    ) -> OcspAnswer | _ToSign:
        """The common request, one certificate: the pre-produced response, or what to sign now (nonce)."""
        if not ca.hashes.matches(cert):
            return _error(ocsp.ResponseStatus.UNAUTHORIZED)
        status = self._status(ca, _serial_key(cert.serial), version)
        now = clock.now
        if status is None:
            status = self._other_status(ca, cert.serial)
        elif nonce_extension is None:
            produced = self._cached(ca, cert, status, now)
            return OcspAnswer(
                produced.der, ocsp.ResponseStatus.SUCCESSFUL, produced.produced_at, produced.next_update, True
            )
        return _ToSign(ca, (ocsp.SingleAnswer(cert.der, status, now, clock.next_update),), now, nonce_extension)

    def _status(self, ca: _CaResponder, serial: str, version: int | None) -> ocsp.CertStatus | None:
        """What the certificates table says about one of the CA's serials (None: not there), as of `version`."""
        cache = self._state.statuses
        status = cache.get(ca.ca_id, serial)
        if status is None:
            queried = self._query_statuses(ca, [serial])
            cache.keep(version, ca.ca_id, queried)
            status = queried.get(serial)
        return status

    def _statuses(self, ca: _CaResponder, serials: list[str], version: int | None) -> dict[str, ocsp.CertStatus]:
        cache = self._state.statuses
        found: dict[str, ocsp.CertStatus] = {}
        missing: list[str] = []
        for serial in serials:
            status = cache.get(ca.ca_id, serial)
            if status is None:
                missing.append(serial)
            else:
                found[serial] = status
        if missing:
            queried = self._query_statuses(ca, missing)
            cache.keep(version, ca.ca_id, queried)
            found.update(queried)
        return found

    def _query_statuses(self, ca: _CaResponder, serials: list[str]) -> dict[str, ocsp.CertStatus]:
        # a Core connection, not an ORM session: the session costs ~4x the query
        with self._state.read_engine(self._platform).connect() as connection:
            rows = connection.execute(_STATUS, {"ca_id": ca.ca_id, "serials": serials}).all()
        return {serial: expected_status(status, at, reason) for serial, status, at, reason in rows}

    def _other_status(self, ca: _CaResponder, serial: int) -> ocsp.CertStatus:
        """Serials not in the certificates table: this CA's subordinate CAs, else unknown."""
        if serial <= 0:
            return ocsp.UNKNOWN
        with self._platform.db.reading() as session:
            row = session.scalars(
                select(CertificateAuthority).where(
                    CertificateAuthority.parent_id == ca.ca_id, CertificateAuthority.serial == serial_hex(serial)
                )
            ).one_or_none()
            if row is None:
                return ocsp.UNKNOWN
            if row.status == "active":
                return ocsp.GOOD
            return ocsp.revoked(row.updated_at, None) if row.status == "revoked" else ocsp.UNKNOWN

    def _cached(self, ca: _CaResponder, cert: ocsp.CertRequest, status: ocsp.CertStatus, now: datetime) -> _Produced:
        key = (ca.ca_id, cert.der)
        memory = self._state.memory
        entry = memory.get(key)
        if entry is not None and self._usable(entry, ca, status, now):
            return entry
        canonical = cert.der == ca.hashes.cert_id(cert.serial)
        if canonical:
            stored = self._stored(ca, cert)
            if stored is not None and self._usable(stored, ca, status, now):
                self._remember(key, stored)
                return stored
        produced = self._produce(ca, cert.der, status, now)
        if canonical:
            with self._platform.db.transaction() as session:
                self._store(session, ca, [(serial_hex(cert.serial), produced)])
        self._remember(key, produced)
        return produced

    def _usable(self, entry: _Produced, ca: _CaResponder, status: ocsp.CertStatus, now: datetime) -> bool:
        return (
            entry.status == status
            and entry.key_hash == ca.responder.key_hash
            and entry.next_update - now > self._refresh_before
        )

    def _remember(self, key: tuple[int, bytes], entry: _Produced) -> None:
        memory = self._state.memory
        if len(memory) >= _MEMORY_LIMIT:
            memory.clear()
        memory[key] = entry

    def _stored(self, ca: _CaResponder, cert: ocsp.CertRequest) -> _Produced | None:
        with self._platform.db.reading() as session:
            der = session.scalar(_STORED, {"serial": serial_hex(cert.serial), "ca_id": ca.ca_id})
        return None if der is None else _read_produced(der)

    def _produce(self, ca: _CaResponder, cert_id_der: bytes, status: ocsp.CertStatus, now: datetime) -> _Produced:
        next_update = now + self._validity
        der = ca.responder.sign([ocsp.SingleAnswer(cert_id_der, status, now, next_update)], now, None)
        return _Produced(der, status, ca.responder.key_hash, cert_id_der, now, next_update)

    def _store(self, session: Session, ca: _CaResponder, produced: Iterable[tuple[str, _Produced]]) -> None:
        rows = [
            {
                "serial": serial,
                "ca_id": ca.ca_id,
                "produced_at": p.produced_at,
                "next_update": p.next_update,
                "response_der": p.der,
                "created_by": SYSTEM_ACTOR.name,
                "updated_by": SYSTEM_ACTOR.name,
                "created_at": p.produced_at,
                "updated_at": p.produced_at,
            }
            for serial, p in produced
        ]
        if not rows:
            return
        dialect = postgresql if self._platform.db.dialect == "postgresql" else sqlite
        insert = dialect.insert(OcspResponse)
        statement = insert.on_conflict_do_update(
            index_elements=[OcspResponse.serial],
            set_={
                "ca_id": insert.excluded.ca_id,
                "produced_at": insert.excluded.produced_at,
                "next_update": insert.excluded.next_update,
                "response_der": insert.excluded.response_der,
                "updated_by": insert.excluded.updated_by,
                "updated_at": insert.excluded.updated_at,
            },
        )
        session.execute(statement, rows)

    # --- responders ------------------------------------------------------------------------------------------

    def _responder(self, ca_name: str) -> _CaResponder:
        current = self._state.responders.get(ca_name)
        if current is not None and time.monotonic() - current.loaded_at < RESPONDER_TTL:
            return current
        loaded = self._load_responder(ca_name, current)
        self._state.responders[ca_name] = loaded
        return loaded

    def _load_responder(self, ca_name: str, current: _CaResponder | None) -> _CaResponder:
        now = utcnow()
        with self._platform.db.reading() as session:
            ca_row = session.scalars(
                select(CertificateAuthority).where(CertificateAuthority.name == ca_name)
            ).one_or_none()
            if ca_row is None:
                raise NotFound(f"no CA named {ca_name!r}")
            delegate = session.scalars(
                select(IssuedCertificate)
                .where(
                    IssuedCertificate.ca_id == ca_row.id,
                    IssuedCertificate.profile == RESPONDER_PROFILE,
                    IssuedCertificate.status == CertificateStatus.VALID.value,
                    IssuedCertificate.key_label.is_not(None),
                    IssuedCertificate.not_before <= now,
                    IssuedCertificate.not_after > now,
                )
                .order_by(IssuedCertificate.not_before.desc(), IssuedCertificate.id.desc())
                .limit(1)
            ).one_or_none()
            ca_id, ca_der, ca_label, ca_algorithm = (
                ca_row.id,
                ca_row.certificate_der,
                ca_row.key_label,
                ca_row.algorithm,
            )
            if delegate is not None:
                assert delegate.key_label is not None
                info = ResponderInfo(
                    ca_name,
                    True,
                    delegate.serial,
                    delegate.key_label,
                    delegate.algorithm,
                    delegate.not_after,
                    delegate.certificate_der,
                )
            else:
                if ca_label is None:
                    raise CertsealError(f"CA {ca_name!r} has no key here and no delegated OCSP responder")
                info = ResponderInfo(ca_name, False, None, ca_label, ca_algorithm, None, None)
        if current is not None and current.info == info and current.ca_id == ca_id:
            return _CaResponder(ca_id, ca_name, current.hashes, current.responder, info, time.monotonic())
        signer: Signer = KeyService(self._platform).signer(info.key_label)
        responder = ocsp.Responder(signer, info.certificate_der)
        return _CaResponder(ca_id, ca_name, ocsp.IssuerHashes.of(ca_der), responder, info, time.monotonic())

    def responder_info(self, ca_name: str) -> ResponderInfo:
        self._state.responders.pop(ca_name, None)
        return self._responder(ca_name).info

    def delegate(self, ca_name: str, actor: Actor, algorithm: KeyAlgorithm | None = None) -> ResponderInfo:
        """Issue an 'ocsp-responder' certificate (key generated in the token) that signs for the CA from now on."""
        cas = CaService(self._platform)
        ca = cas.get_ca(ca_name)
        chosen = algorithm or ca.algorithm
        issued = cas.issue(ca_name, RESPONDER_PROFILE, actor, subject=f"CN={ca_name} OCSP responder", generate=chosen)
        with self._platform.unit_of_work(actor) as uow:
            uow.record(
                "ocsp_responder",
                ca_name,
                "delegate",
                after={"serial": issued.serial, "key_label": issued.key_label, "algorithm": chosen.value},
            )
        log.info("OCSP responder for %s delegated to certificate %s by %s", ca_name, issued.serial, actor.name)
        return self.responder_info(ca_name)

    # --- pre-production --------------------------------------------------------------------------------------

    def refresh_all(
        self,
        ca_name: str,
        force: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> RefreshReport:
        """Pre-produce a response for every certificate of the CA whose stored one is missing, stale or wrong.

        Idempotent: running it again produces nothing until responses near their nextUpdate.
        """
        ca = self._responder(ca_name)
        with self._platform.db.reading() as session:
            rows = session.execute(
                select(
                    IssuedCertificate.serial,
                    IssuedCertificate.status,
                    IssuedCertificate.revoked_at,
                    IssuedCertificate.revocation_reason,
                )
                .where(IssuedCertificate.ca_id == ca.ca_id)
                .order_by(IssuedCertificate.id)
            ).all()
            stored = dict(
                session.execute(
                    select(OcspResponse.serial, OcspResponse.response_der).where(OcspResponse.ca_id == ca.ca_id)
                ).all()
            )
        total, produced_count = len(rows), 0
        pending: list[tuple[str, _Produced]] = []
        for done, (serial, status, revoked_at, reason) in enumerate(rows, start=1):
            expected = expected_status(status, revoked_at, reason)
            now = utcnow()
            cert_id = ca.hashes.cert_id(int(serial, 16))
            old = _read_produced(stored[serial]) if serial in stored and not force else None
            if old is None or old.cert_id_der != cert_id or not self._usable(old, ca, expected, now):
                pending.append((serial, self._produce(ca, cert_id, expected, now)))
            if len(pending) >= _BATCH or (done == total and pending):
                self._write_checked(ca, pending)
                produced_count += len(pending)
                pending = []
            if progress:
                progress(done, total)
        log.info("OCSP %s: %d response(s) pre-produced, %d fresh", ca_name, produced_count, total - produced_count)
        return RefreshReport(ca_name, total, produced_count, total - produced_count)

    def _write_checked(self, ca: _CaResponder, pending: list[tuple[str, _Produced]]) -> None:
        """Store a batch, re-signing any certificate whose status changed while the batch was being signed."""
        with self._platform.db.transaction() as session:
            current = {
                serial: expected_status(status, at, reason)
                for serial, status, at, reason in session.execute(
                    _STATUS, {"ca_id": ca.ca_id, "serials": [s for s, _ in pending]}
                ).all()
            }
            now = utcnow()
            batch = [
                (
                    serial,
                    p if current.get(serial) == p.status else self._produce(ca, p.cert_id_der, current[serial], now),
                )
                for serial, p in pending
                if serial in current
            ]
            self._store(session, ca, batch)

    def ca_names(self) -> list[str]:
        with self._platform.db.reading() as session:
            return list(
                session.scalars(
                    select(CertificateAuthority.name)
                    .where(CertificateAuthority.key_label.is_not(None))
                    .order_by(CertificateAuthority.id)
                )
            )


def _serial_key(serial: int) -> str:
    """The certificates table's serial text for a requested serial ("" for none it could hold)."""
    return serial_hex(serial) if serial > 0 else ""


def _read_produced(der: bytes) -> _Produced | None:
    """A stored response as the cache compares it; None if it is not a one-certificate response of ours."""
    try:
        parsed = ocsp.read_response(der)
    except (ValueError, TypeError, KeyError):
        return None
    if (
        parsed.status is not ocsp.ResponseStatus.SUCCESSFUL
        or len(parsed.singles) != 1
        or parsed.responder_key_hash is None
        or parsed.produced_at is None
        or parsed.singles[0].next_update is None
        or parsed.nonce_extension is not None
    ):
        return None
    single = parsed.singles[0]
    assert single.next_update is not None
    return _Produced(
        bytes(der), single.status, parsed.responder_key_hash, single.cert_id_der, parsed.produced_at, single.next_update
    )


def _error(status: ocsp.ResponseStatus) -> OcspAnswer:
    return OcspAnswer(ocsp.error_response(status), status)
