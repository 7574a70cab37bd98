"""Hand-written DER for hot paths (certificate templates, OCSP responses, timestamps), where pre-encoded parts are
joined with the few fields that change each time; asn1crypto builds everything else."""

from __future__ import annotations

from datetime import UTC, datetime


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + length(len(content)) + content


def positive_integer(value: int) -> bytes:
    return tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def generalized_time(moment: datetime) -> bytes:
    """GeneralizedTime in whole seconds, UTC (RFC 5280 4.1.2.5.2)."""
    return b"\x18\x0f" + moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ").encode()
