"""Looking up certificate authorities by name."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from certseal.errors import NotFound
from certseal.store.models import CertificateAuthority


def find_ca(session: Session, name: str, for_update: bool = False) -> CertificateAuthority | None:
    query = select(CertificateAuthority).where(CertificateAuthority.name == name)
    return session.scalars(query.with_for_update() if for_update else query).one_or_none()


def ca_named(session: Session, name: str, for_update: bool = False) -> CertificateAuthority:
    """The CA called `name` (row-locked if asked); NotFound with a hint otherwise."""
    row = find_ca(session, name, for_update)
    if row is None:
        raise NotFound(f"no CA named {name!r}: see `certseal ca list`")
    return row
