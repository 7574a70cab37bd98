"""Where the system libcrypto lacks SM2, certseal says so clearly instead of crashing."""

from __future__ import annotations

import pytest

from certseal.crypto import _libcrypto, sm2
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.keys import PrivateKey
from certseal.errors import UnsupportedAlgorithm


@pytest.fixture
def libcrypto_without_sm2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_libcrypto, "has_sm2", lambda: False)
    monkeypatch.setattr(sm2, "_checked", False)


def test_generation_names_the_missing_library(libcrypto_without_sm2: None) -> None:
    assert sm2.available() is False
    with pytest.raises(UnsupportedAlgorithm, match="libcrypto is built without SM2"):
        PrivateKey.generate(KeyAlgorithm.SM2)


def test_loading_a_key_names_the_missing_library(libcrypto_without_sm2: None) -> None:
    with pytest.raises(UnsupportedAlgorithm, match="libssl3"):
        sm2.SM2PublicKey.from_spki_der(b"\x30\x00")


def test_the_real_libcrypto_has_sm2() -> None:
    assert sm2.available() is True
