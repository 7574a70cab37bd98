"""Repository of crypto_keys rows; also the software token's SealedKeyStore."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.tokens.software import KIND as SOFTWARE
from certseal.crypto.tokens.software import SealedKey
from certseal.store.models import CryptoKey


class KeyRepository:
    def __init__(self, session: Session, actor: str) -> None:
        self._session = session
        self._actor = actor

    def get(self, label: str) -> CryptoKey | None:
        return self._session.scalars(select(CryptoKey).where(CryptoKey.label == label)).one_or_none()

    def all(self) -> list[CryptoKey]:
        return list(self._session.scalars(select(CryptoKey).order_by(CryptoKey.label)))

    def add(
        self,
        label: str,
        token: str,
        algorithm: KeyAlgorithm,
        public_key_der: bytes,
        sealed: bytes | None = None,
        kek_id: str | None = None,
    ) -> CryptoKey:
        row = CryptoKey(
            label=label,
            token=token,
            algorithm=algorithm.value,
            public_key_der=public_key_der,
            sealed_private_key=sealed,
            kek_id=kek_id,
            created_by=self._actor,
            updated_by=self._actor,
        )
        self._session.add(row)
        self._session.flush()
        return row

    def remove(self, label: str) -> None:
        self._session.execute(delete(CryptoKey).where(CryptoKey.label == label))

    # SealedKeyStore for the software token
    def find_sealed(self, label: str) -> SealedKey | None:
        row = self.get(label)
        if row is None or row.token != SOFTWARE:
            return None
        return _sealed(row)

    def add_sealed(self, key: SealedKey) -> None:
        self.add(key.label, SOFTWARE, key.algorithm, key.public_key_der, key.sealed_private_key, key.kek_id)

    def list_sealed(self) -> list[SealedKey]:
        return [_sealed(row) for row in self.all() if row.token == SOFTWARE]

    def remove_sealed(self, label: str) -> None:
        self.remove(label)


def _sealed(row: CryptoKey) -> SealedKey:
    assert row.sealed_private_key is not None and row.kek_id is not None
    return SealedKey(row.label, KeyAlgorithm(row.algorithm), row.public_key_der, row.sealed_private_key, row.kek_id)
