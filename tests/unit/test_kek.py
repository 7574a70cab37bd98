from __future__ import annotations

import pytest

from certseal.crypto.kek import KeyEncryptionKey
from certseal.errors import KeyUnwrapError

KEK = KeyEncryptionKey(bytes(32))
OTHER = KeyEncryptionKey(bytes([1]) * 32)


def test_wrap_round_trip_and_randomised() -> None:
    a, b = KEK.wrap(b"pkcs8", b"label"), KEK.wrap(b"pkcs8", b"label")
    assert a != b and b"pkcs8" not in a
    assert KEK.unwrap(a, b"label", KEK.kek_id, "key x") == b"pkcs8"


def test_wrong_kek_is_named_as_such() -> None:
    sealed = KEK.wrap(b"pkcs8", b"label")
    with pytest.raises(KeyUnwrapError, match="sealed with key-encryption key"):
        OTHER.unwrap(sealed, b"label", KEK.kek_id, "key x")


def test_corrupt_blob_and_moved_label_are_detected() -> None:
    sealed = bytearray(KEK.wrap(b"pkcs8", b"label"))
    sealed[-1] ^= 1
    with pytest.raises(KeyUnwrapError, match="corrupt"):
        KEK.unwrap(bytes(sealed), b"label", KEK.kek_id, "key x")
    with pytest.raises(KeyUnwrapError, match="corrupt"):
        KEK.unwrap(KEK.wrap(b"pkcs8", b"label"), b"other label", KEK.kek_id, "key x")


def test_kek_id_does_not_reveal_the_kek() -> None:
    assert bytes(32).hex()[:16] != KEK.kek_id
    assert "kek_id" in repr(KEK) and "0000000000" not in repr(KEK)
