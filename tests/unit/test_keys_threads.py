"""Keys keep per-thread libcrypto contexts: signing and verifying from many threads must stay correct."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.keys import PrivateKey
from certseal.errors import InvalidSignature


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_one_key_signs_and_verifies_from_many_threads(algorithm: KeyAlgorithm) -> None:
    key = PrivateKey.generate(algorithm)
    schemes = [None, SignatureScheme.RSA_PSS_SHA256] if algorithm.is_rsa else [None]

    def work(i: int) -> int:
        checked = 0
        for j in range(30):
            message = f"{i}:{j}".encode()
            scheme = schemes[j % len(schemes)]
            signature = key.sign(message, scheme)
            key.public_key.verify(signature, message, scheme)
            with pytest.raises(InvalidSignature):
                key.public_key.verify(signature, message + b"!", scheme)
            checked += 1
        return checked

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert sum(pool.map(work, range(6))) == 180
