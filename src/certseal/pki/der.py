"""Hand-written DER for hot paths (certificate templates, OCSP responses, timestamps), where pre-encoded parts are
joined with the few fields that change each time; asn1crypto builds everything else."""

from __future__ import annotations

import math
from datetime import UTC, datetime

_SHORT = [bytes((n,)) for n in range(0x80)]
_TIMES: dict[int, bytes] = {}  # GeneralizedTime by whole second: a hot path encodes the same second many times
_EPOCH = (datetime(1970, 1, 1, tzinfo=UTC), b"\x18\x0f19700101000000Z")
_LAST_TIMES: tuple[tuple[datetime, bytes], tuple[datetime, bytes]] = (_EPOCH, _EPOCH)  # the last two, by identity


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
    global _LAST_TIMES
    for known, der in _LAST_TIMES:  # a batch of OCSP answers shares two datetime objects
        if moment is known:
            return der
    second = math.floor(moment.timestamp())
    found = _TIMES.get(second)
    if found is None:
        if len(_TIMES) >= 256:
            _TIMES.clear()
        found = _TIMES[second] = b"\x18\x0f" + moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ").encode()
    _LAST_TIMES = ((moment, found), _LAST_TIMES[0])
    return found
