"""Hand-written DER for hot paths (certificate templates, OCSP responses, timestamps), where pre-encoded parts are
joined with the few fields that change each time; asn1crypto builds everything else."""

from __future__ import annotations

import math
from datetime import UTC, datetime

_SHORT = [bytes((n,)) for n in range(0x80)]
_TIMES: dict[int, bytes] = {}  # GeneralizedTime by whole second: a hot path encodes the same second many times


def length(n: int) -> bytes:
    if n < 0x80:
        return _SHORT[n]
    if n < 0x100:
        return bytes((0x81, n))
    if n < 0x10000:
        return bytes((0x82, n >> 8, n & 0xFF))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def header(tag: int, n: int) -> bytes:
    """Tag and length octets of a TLV whose contents are `n` bytes long."""
    if n < 0x80:
        return bytes((tag, n))
    if n < 0x100:
        return bytes((tag, 0x81, n))
    if n < 0x10000:
        return bytes((tag, 0x82, n >> 8, n & 0xFF))
    return bytes((tag,)) + length(n)


def tlv(tag: int, content: bytes) -> bytes:
    return header(tag, len(content)) + content


def positive_integer(value: int) -> bytes:
    return tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def generalized_time(moment: datetime) -> bytes:
    """GeneralizedTime in whole seconds, UTC (RFC 5280 4.1.2.5.2)."""
    second = math.floor(moment.timestamp())
    der = _TIMES.get(second)
    if der is None:
        if len(_TIMES) >= 256:
            _TIMES.clear()
        der = _TIMES[second] = b"\x18\x0f" + moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ").encode()
    return der
