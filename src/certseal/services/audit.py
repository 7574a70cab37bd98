"""The audit trail: every change is an event chained to the previous one by an HMAC tag.

The key comes from configuration, never from the database, so an edit, deletion or insertion made directly in the
database breaks the chain and `certseal audit verify` names the first broken event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certseal.store.models import AuditEvent, AuditHead, utcnow

GENESIS_TAG = "0" * 64
_HEAD_ID = 1


@dataclass(frozen=True)
class Actor:
    """Who made a change and from where (user name or system, address or 'cli')."""

    name: str
    source: str


@dataclass(frozen=True)
class AuditEntry:
    """One change to append with `AuditTrail.record_many`."""

    entity: str
    entity_id: str
    action: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    events_checked: int
    first_broken_seq: int | None = None
    problem: str | None = None


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot record {type(value).__name__} in the audit trail")


class AuditTrail:
    def __init__(self, key: bytes) -> None:
        self._key = hmac.new(key, b"certseal audit chain v1", hashlib.sha256).digest()

    def record(
        self,
        session: Session,
        actor: Actor,
        entity: str,
        entity_id: str,
        action: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Append one event inside the caller's transaction."""
        head = self._lock_head(session, actor)
        now = utcnow()
        event = AuditEvent(
            seq=head.last_seq + 1,
            at=now,
            actor=actor.name,
            source=actor.source,
            entity=entity,
            entity_id=entity_id,
            action=action,
            before=None if before is None else canonical_json(before),
            after=None if after is None else canonical_json(after),
            prev_tag=head.last_tag,
            created_by=actor.name,
            created_at=now,
            updated_by=actor.name,
            updated_at=now,
        )
        event.tag = self._event_tag(event)
        session.add(event)
        head.last_seq, head.last_tag = event.seq, event.tag
        head.tag = self._head_tag(head.last_seq, head.last_tag)
        head.updated_by, head.updated_at = actor.name, now
        session.flush()
        return event

    def record_many(self, session: Session, actor: Actor, entries: Sequence[AuditEntry]) -> None:
        """Append many events inside the caller's transaction: the head is locked and updated once and the events
        are inserted together; each event is chained and tagged exactly as `record` would."""
        if not entries:
            return
        head = self._lock_head(session, actor)
        seq, prev_tag = head.last_seq, head.last_tag
        rows: list[dict[str, Any]] = []
        for entry in entries:
            now = utcnow()
            seq += 1
            row: dict[str, Any] = {
                "seq": seq,
                "at": now,
                "actor": actor.name,
                "source": actor.source,
                "entity": entry.entity,
                "entity_id": entry.entity_id,
                "action": entry.action,
                "before": None if entry.before is None else canonical_json(entry.before),
                "after": None if entry.after is None else canonical_json(entry.after),
                "prev_tag": prev_tag,
                "created_by": actor.name,
                "created_at": now,
                "updated_by": actor.name,
                "updated_at": now,
            }
            row["tag"] = prev_tag = self._tag(row)
            rows.append(row)
        session.execute(insert(AuditEvent), rows)
        head.last_seq, head.last_tag = seq, prev_tag
        head.tag = self._head_tag(seq, prev_tag)
        head.updated_by, head.updated_at = actor.name, rows[-1]["at"]
        session.flush()

    def _lock_head(self, session: Session, actor: Actor) -> AuditHead:
        head = self._select_head_for_update(session)
        if head is not None:
            return head
        try:
            with session.begin_nested():  # two first writers may race to create the head
                session.add(
                    AuditHead(
                        id=_HEAD_ID,
                        last_seq=0,
                        last_tag=GENESIS_TAG,
                        tag=self._head_tag(0, GENESIS_TAG),
                        created_by=actor.name,
                        updated_by=actor.name,
                    )
                )
        except IntegrityError:
            pass
        head = self._select_head_for_update(session)
        assert head is not None
        return head

    @staticmethod
    def _select_head_for_update(session: Session) -> AuditHead | None:
        query = select(AuditHead).where(AuditHead.id == _HEAD_ID).with_for_update()
        return session.scalars(query.execution_options(populate_existing=True)).one_or_none()

    def verify(self, session: Session) -> AuditVerification:
        """Walk the chain in order; report the first event that was altered, inserted or deleted."""
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=1000))
        result = self._verify_events(events)
        if not result.ok:
            return result
        return self._verify_head(session, result.events_checked)

    def _verify_events(self, events: Iterable[AuditEvent]) -> AuditVerification:
        expected_seq, prev_tag, checked = 1, GENESIS_TAG, 0
        for event in events:
            if event.seq != expected_seq:
                return _broken(checked, expected_seq, f"event {expected_seq} is missing: deleted from the database")
            if not hmac.compare_digest(event.tag, self._event_tag(event)):
                return _broken(checked, event.seq, f"event {event.seq} was altered or inserted: its tag does not match")
            if not hmac.compare_digest(event.prev_tag, prev_tag):
                return _broken(checked, event.seq, f"event {event.seq} does not follow event {event.seq - 1}")
            expected_seq, prev_tag, checked = expected_seq + 1, event.tag, checked + 1
        return AuditVerification(ok=True, events_checked=checked)

    def _verify_head(self, session: Session, checked: int) -> AuditVerification:
        head = session.get(AuditHead, _HEAD_ID)
        if head is None:
            if checked == 0:
                return AuditVerification(ok=True, events_checked=0)
            return _broken(checked, checked, "the chain head is missing: deleted from the database")
        if not hmac.compare_digest(head.tag, self._head_tag(head.last_seq, head.last_tag)):
            return _broken(checked, head.last_seq, "the chain head was altered")
        if head.last_seq > checked:
            return _broken(checked, checked + 1, f"events {checked + 1}..{head.last_seq} are missing: deleted")
        if head.last_seq < checked:
            return _broken(checked, head.last_seq + 1, f"event {head.last_seq + 1} was appended without the key")
        return AuditVerification(ok=True, events_checked=checked)

    def _event_tag(self, event: AuditEvent) -> str:
        return self._tag({name: getattr(event, name) for name in _TAGGED})

    def _tag(self, event: dict[str, Any]) -> str:
        content = canonical_json([_iso(event[n]) if n in _TIMES else event[n] for n in _TAGGED])
        return hmac.new(self._key, content.encode(), hashlib.sha256).hexdigest()

    def _head_tag(self, last_seq: int, last_tag: str) -> str:
        return hmac.new(self._key, f"head|{last_seq}|{last_tag}".encode(), hashlib.sha256).hexdigest()


# The fields an event's tag covers, in this order (the chain format: never reorder).
_TAGGED = (
    "seq",
    "at",
    "actor",
    "source",
    "entity",
    "entity_id",
    "action",
    "before",
    "after",
    "created_by",
    "created_at",
    "updated_by",
    "updated_at",
    "prev_tag",
)
_TIMES = frozenset({"at", "created_at", "updated_at"})


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def _broken(checked: int, seq: int, problem: str) -> AuditVerification:
    return AuditVerification(ok=False, events_checked=checked, first_broken_seq=seq, problem=problem)


def count_events(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
