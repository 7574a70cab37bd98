"""Message digests (SM3, SHA-2) through pyca/cryptography."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes

_ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "sm3": hashes.SM3,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def digest(name: str, data: bytes) -> bytes:
    h = hashes.Hash(_ALGORITHMS[name]())
    h.update(data)
    return h.finalize()


def sm3(data: bytes) -> bytes:
    return digest("sm3", data)


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    return _ALGORITHMS[name]()
