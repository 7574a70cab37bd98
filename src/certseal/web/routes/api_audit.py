"""REST API for auditors: verify the HMAC-chained audit trail and read its events (/api/v1/audit)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from certseal.services.apikeys import Permission
from certseal.services.audit import Actor
from certseal.store.models import AuditEvent
from certseal.web.deps import API_ERRORS, authorised, platform_of

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=API_ERRORS)
Auditor = Annotated[Actor, Depends(authorised(Permission.AUDIT_READ))]


class Verification(BaseModel):
    ok: bool
    events_checked: int
    first_broken_seq: int | None = Field(description="First event edited, inserted or deleted outside certseal")
    problem: str | None


class EventOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    source: str
    entity: str
    entity_id: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@router.get("/verify", summary="Check the whole audit chain, as `certseal audit verify` does")
def verify(request: Request, _actor: Auditor) -> Verification:
    platform = platform_of(request)
    with platform.db.reading() as session:
        result = platform.audit.verify(session)
    return Verification(
        ok=result.ok,
        events_checked=result.events_checked,
        first_broken_seq=result.first_broken_seq,
        problem=result.problem,
    )


@router.get("/events", summary="Audit events, newest first, optionally for one entity")
def events(
    request: Request,
    _actor: Auditor,
    entity: Annotated[str | None, Query(max_length=64, examples=["certificate"])] = None,
    entity_id: Annotated[str | None, Query(max_length=128)] = None,
    before_seq: Annotated[int | None, Query(ge=1, description="Page: events older than this sequence number")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[EventOut]:
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
    if entity:
        query = query.where(AuditEvent.entity == entity)
    if entity_id:
        query = query.where(AuditEvent.entity_id == entity_id)
    if before_seq:
        query = query.where(AuditEvent.seq < before_seq)
    with platform_of(request).db.reading() as session:
        return [_event(row) for row in session.scalars(query)]


def _event(row: AuditEvent) -> EventOut:
    return EventOut(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        source=row.source,
        entity=row.entity,
        entity_id=row.entity_id,
        action=row.action,
        before=json.loads(row.before) if row.before else None,
        after=json.loads(row.after) if row.after else None,
    )
