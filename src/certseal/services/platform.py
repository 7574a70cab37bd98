"""The composition root: one object that builds the database, tokens and audit trail from Settings.

The CLI and the web app each hold one Platform and call services through it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from certseal.config import Settings
from certseal.crypto.kek import KeyEncryptionKey
from certseal.crypto.tokens.software import OpenedKeyCache, SoftwareToken
from certseal.errors import ConfigError
from certseal.services.audit import Actor, AuditTrail
from certseal.store.db import Database
from certseal.store.keys import KeyRepository

if TYPE_CHECKING:
    from certseal.crypto.tokens.pkcs11 import Pkcs11Token


@dataclass(frozen=True)
class UnitOfWork:
    session: Session
    actor: Actor
    audit: AuditTrail

    def record(
        self,
        entity: str,
        entity_id: str,
        action: str,
        before: dict[str, object] | None = None,
        after: dict[str, object] | None = None,
    ) -> None:
        self.audit.record(self.session, self.actor, entity, entity_id, action, before, after)


class Platform:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.key_cache = OpenedKeyCache()
        self._pkcs11_lock = threading.Lock()
        self._pkcs11: Pkcs11Token | None = None
        self.memo: dict[tuple[str, ...], object] = {}  # derived objects keyed by what they derive from

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.resolved_database_url)

    @cached_property
    def kek(self) -> KeyEncryptionKey:
        return KeyEncryptionKey(self.settings.kek_bytes())

    @cached_property
    def audit(self) -> AuditTrail:
        return AuditTrail(self.settings.audit_key_bytes())

    @contextmanager
    def unit_of_work(self, actor: Actor) -> Iterator[UnitOfWork]:
        with self.db.transaction() as session:
            yield UnitOfWork(session, actor, self.audit)

    def software_token(self, session: Session, actor: str = "system") -> SoftwareToken:
        return SoftwareToken(self.kek, KeyRepository(session, actor), self.key_cache)

    def pkcs11_token(self) -> Pkcs11Token:
        with self._pkcs11_lock:
            if self._pkcs11 is None:
                self._pkcs11 = self._open_pkcs11()
            return self._pkcs11

    def _open_pkcs11(self) -> Pkcs11Token:
        from certseal.crypto.tokens.pkcs11 import Pkcs11Token  # python-pkcs11 loads only when needed

        pin = self.settings.pkcs11_pin
        if pin is None:
            raise ConfigError(
                "the PKCS#11 token is not configured: set CERTSEAL_PKCS11_PIN (and _MODULE, _TOKEN_LABEL)"
            )
        return Pkcs11Token(self.settings.pkcs11_module, self.settings.pkcs11_token_label, pin.get_secret_value())

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.dispose()
