"""The license QR code: a link to the live public record plus a compact signed payload a phone checks offline.

QR text: ``<base_url>/v/<identifier>#<jws>``.  The path resolves to the public record showing the *current* data
(NMPA 2025 No. 35); the JWS rides in the URL fragment, which browsers never send to the server, so access logs
stay short and free of payloads, and the public page can verify it offline in the browser (static/qr-verify.js).

The JWS is compact (RFC 7515) with ES256 (RFC 7518 §3.4: ECDSA P-256 + SHA-256, signature as raw r‖s, 64 bytes),
header ``{"alg":"ES256","kid":<key label>}``.  ES256, not SM2, because browsers verify it offline with WebCrypto and
SM2 is not in WebCrypto.  The signature comes from the Signer interface (ECDSA DER, converted to r‖s here).

The payload is a small binary record, not JSON, to keep the whole QR text inside a version-15 symbol at error
level M (412 bytes): a GB/T 36904 identifier is 70+ characters and JSON would carry it twice in base64 next to the
URL.  Layout (big-endian), version 1:

    u8 format (=1) | u8 n, identifier packed base 37 ("0-9A-Z.") in the bytes 37**n - 1 needs | u16 license version
    | u8 n, holder code (ASCII) | u16 valid_from (days since 1970-01-01) | u16 valid_until (0xFFFF: none)
    | u8 n, status at issue (ASCII) | 32 bytes public-fields digest (SHA-256) | u32 issued-at (Unix seconds)

Only the holder *code* (USCC, or a masked ID number for a person) is carried, not the holder name: a 40-character
Chinese name is 120 UTF-8 bytes (160 base64url characters) and would push the symbol past version 15; the name is
bound anyway through the public-fields digest and shown on the live page, and a person's name stays out of a code
that anyone can photograph.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import segno
from asn1crypto import algos
from asn1crypto import keys as asn1_keys
from segno import consts as segno_consts

from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.keys import PublicKey
from certseal.crypto.signer import Signer
from certseal.errors import CryptoError, InvalidSignature, ValidationError

ALG = "ES256"
FORMAT_VERSION = 1
MAX_QR_VERSION = 15
QR_ERROR_LEVEL = "m"
DIGEST_BYTES = 32
NO_END = 0xFFFF
ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ."
_EPOCH = date(1970, 1, 1)
_COORDINATE_BYTES = 32
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_ALNUM_RUN = re.compile(r"[0-9A-Z.]{16,}")  # long runs cost 5.5 bits a character in QR alphanumeric mode, not 8
_ASCII_FIELD = re.compile(r"^[\x21-\x7e]{1,64}$")


@dataclass(frozen=True)
class QrPayload:
    """What the QR code vouches for, as signed at issue; `key_id` is the JWS `kid` (set when verified)."""

    identifier: str
    version: int
    holder_code: str
    valid_from: date
    valid_until: date | None
    status: str
    public_digest: bytes
    issued_at: datetime
    key_id: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "identifier": self.identifier,
            "version": self.version,
            "holder_code": self.holder_code,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "status": self.status,
            "public_digest": self.public_digest.hex(),
            "issued_at": self.issued_at.isoformat(),
            "key_id": self.key_id,
        }


@dataclass(frozen=True)
class QrPublicKey:
    """A QR verification key with the validity of its certificate: a payload issued outside it is refused."""

    kid: str
    public_key: PublicKey
    not_before: datetime | None = None
    not_after: datetime | None = None

    def jwk(self) -> dict[str, object]:
        """RFC 7517 JWK; `nbf`/`exp` (Unix seconds, an extension) let the browser apply the same validity rule."""
        x, y = ec_point(self.public_key)
        jwk: dict[str, object] = {"kty": "EC", "crv": "P-256", "x": b64url(x), "y": b64url(y)}
        jwk.update({"kid": self.kid, "alg": ALG, "use": "sig"})
        if self.not_before is not None:
            jwk["nbf"] = int(self.not_before.timestamp())
        if self.not_after is not None:
            jwk["exp"] = int(self.not_after.timestamp())
        return jwk


# --- base64url and keys ---------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, field: str) -> bytes:
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise ValidationError(field, "is not base64url without padding (RFC 7515 §2)")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValidationError(field, "is not base64url without padding (RFC 7515 §2)") from None


def ec_point(key: PublicKey) -> tuple[bytes, bytes]:
    """The x and y coordinates (32 bytes each) of a P-256 public key."""
    _require_p256(key.algorithm, "key")
    point = asn1_keys.PublicKeyInfo.load(key.spki_der)["public_key"].native
    if len(point) != 1 + 2 * _COORDINATE_BYTES or point[0] != 4:
        raise CryptoError("the P-256 public key is not an uncompressed point")
    return point[1:33], point[33:]


def key_from_jwk(jwk: Mapping[str, object]) -> QrPublicKey:
    """A QrPublicKey from an EC P-256 JWK (as `jwks()` writes it)."""
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValidationError("jwk", "must be an EC key on P-256 (kty EC, crv P-256)")
    kid, x, y = jwk.get("kid"), jwk.get("x"), jwk.get("y")
    if not isinstance(kid, str) or not isinstance(x, str) or not isinstance(y, str):
        raise ValidationError("jwk", "needs string members kid, x and y")
    point = b"\x04" + b64url_decode(x, "jwk.x") + b64url_decode(y, "jwk.y")
    info = asn1_keys.PublicKeyInfo(
        {"algorithm": {"algorithm": "ec", "parameters": ("named", "secp256r1")}, "public_key": point}
    )
    return QrPublicKey(kid, PublicKey(info.dump()), _jwk_time(jwk, "nbf"), _jwk_time(jwk, "exp"))


def keys_from_jwks(document: Mapping[str, object]) -> dict[str, QrPublicKey]:
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise ValidationError("jwks", "must be a JSON object with a 'keys' array (RFC 7517 §5)")
    found = [key_from_jwk(k) for k in keys if isinstance(k, dict)]
    return {k.kid: k for k in found}


def _jwk_time(jwk: Mapping[str, object], name: str) -> datetime | None:
    value = jwk.get(name)
    if value is None:
        return None
    if not isinstance(value, int):
        raise ValidationError(f"jwk.{name}", "must be Unix seconds")
    return datetime.fromtimestamp(value, UTC)


def _require_p256(algorithm: KeyAlgorithm, field: str) -> None:
    if algorithm is not KeyAlgorithm.P256:
        raise CryptoError(f"{field}: QR payloads are signed with ES256 and need a p256 key, not {algorithm.value}")


# --- the binary payload -----------------------------------------------------------------------------------------


def encode_payload(payload: QrPayload) -> bytes:
    """The payload bytes (see the module docstring for the layout); ValidationError names a field out of range."""
    if len(payload.public_digest) != DIGEST_BYTES:
        raise ValidationError("public_digest", f"must be {DIGEST_BYTES} bytes (SHA-256)")
    if not 0 <= payload.version <= 0xFFFF:
        raise ValidationError("version", "must be 0..65535")
    issued = int(payload.issued_at.timestamp())
    if not 0 <= issued <= 0xFFFFFFFF:
        raise ValidationError("issued_at", "must lie between 1970 and 2106")
    return b"".join(
        [
            bytes([FORMAT_VERSION]),
            _pack_identifier(payload.identifier),
            struct.pack(">H", payload.version),
            _ascii_field(payload.holder_code, "holder_code"),
            struct.pack(">HH", _days(payload.valid_from, "valid_from"), _end_days(payload.valid_until)),
            _ascii_field(payload.status, "status"),
            payload.public_digest,
            struct.pack(">I", issued),
        ]
    )


def decode_payload(data: bytes, key_id: str = "") -> QrPayload:
    reader = _Reader(data)
    if reader.take(1)[0] != FORMAT_VERSION:
        raise ValidationError("payload", f"unknown QR payload format (this reader knows format {FORMAT_VERSION})")
    length = reader.take(1)[0]
    identifier = _unpack_identifier(reader.take(_packed_size(length)), length)
    (version,) = struct.unpack(">H", reader.take(2))
    holder_code = reader.ascii()
    valid_from, valid_until = struct.unpack(">HH", reader.take(4))
    status = reader.ascii()
    digest = reader.take(DIGEST_BYTES)
    (issued,) = struct.unpack(">I", reader.take(4))
    reader.finish()
    return QrPayload(
        identifier,
        version,
        holder_code,
        _EPOCH + timedelta(days=valid_from),
        None if valid_until == NO_END else _EPOCH + timedelta(days=valid_until),
        status,
        digest,
        datetime.fromtimestamp(issued, UTC),
        key_id,
    )


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def take(self, count: int) -> bytes:
        if self._at + count > len(self._data):
            raise ValidationError("payload", "is truncated")
        chunk = self._data[self._at : self._at + count]
        self._at += count
        return chunk

    def ascii(self) -> str:
        return self.take(self.take(1)[0]).decode("ascii", errors="replace")

    def finish(self) -> None:
        if self._at != len(self._data):
            raise ValidationError("payload", "has trailing bytes")


def _packed_size(length: int) -> int:
    """Bytes that hold any `length`-character identifier: those of the largest value, 37**length - 1."""
    largest: int = len(ID_ALPHABET) ** length - 1
    return (largest.bit_length() + 7) // 8


def _pack_identifier(identifier: str) -> bytes:
    if not 1 <= len(identifier) <= 255 or any(c not in ID_ALPHABET for c in identifier):
        raise ValidationError("identifier", "must be 1-255 characters of 0-9, A-Z and '.' (GB/T 36904)")
    value = 0
    for char in identifier:
        value = value * len(ID_ALPHABET) + ID_ALPHABET.index(char)
    return bytes([len(identifier)]) + value.to_bytes(_packed_size(len(identifier)), "big")


def _unpack_identifier(packed: bytes, length: int) -> str:
    value = int.from_bytes(packed, "big")
    chars = []
    for _ in range(length):
        value, index = divmod(value, len(ID_ALPHABET))
        chars.append(ID_ALPHABET[index])
    if value:
        raise ValidationError("payload", "the packed identifier is out of range")
    return "".join(reversed(chars))


def _ascii_field(value: str, field: str) -> bytes:
    if not _ASCII_FIELD.match(value):
        raise ValidationError(field, "must be 1-64 printable ASCII characters (a USCC or a masked ID number)")
    return bytes([len(value)]) + value.encode("ascii")


def _days(day: date, field: str) -> int:
    days = (day - _EPOCH).days
    if not 0 <= days < NO_END:
        raise ValidationError(field, "must lie between 1970 and 2149")
    return days


def _end_days(day: date | None) -> int:
    return NO_END if day is None else _days(day, "valid_until")


# --- JWS ----------------------------------------------------------------------------------------------------------


def sign_payload(signer: Signer, payload: QrPayload) -> str:
    """Compact JWS (ES256) over the payload, `kid` = the signer's key label."""
    _require_p256(signer.key_algorithm, "signer")
    header = json.dumps({"alg": ALG, "kid": signer.key_label}, separators=(",", ":")).encode()
    signing_input = f"{b64url(header)}.{b64url(encode_payload(payload))}"
    der = signer.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url(der_to_raw(der))}"


def der_to_raw(der: bytes) -> bytes:
    """ECDSA-Sig-Value DER → r‖s, each left-padded to 32 bytes (RFC 7518 §3.4)."""
    try:
        value = algos.DSASignature.load(der, strict=True)
        r, s = int(value["r"].native), int(value["s"].native)
    except (ValueError, TypeError):
        raise CryptoError("the signer returned a signature that is not an ECDSA-Sig-Value") from None
    return r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big")


def raw_to_der(raw: bytes) -> bytes:
    if len(raw) != 2 * _COORDINATE_BYTES:
        raise InvalidSignature(f"an ES256 signature is 64 bytes (r‖s), this one has {len(raw)}")
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    return bytes(algos.DSASignature({"r": r, "s": s}).dump())


def jws_header(jws: str) -> dict[str, object]:
    parts = _split(jws)
    try:
        header = json.loads(b64url_decode(parts[0], "jws header"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationError("jws header", "is not a JSON object") from None
    if not isinstance(header, dict):
        raise ValidationError("jws header", "is not a JSON object")
    return header


def verify_payload(jws: str, public_keys: Mapping[str, PublicKey | QrPublicKey]) -> QrPayload:
    """The payload of a valid ES256 JWS by one of `public_keys` (by kid).

    ValidationError: not a compact JWS.  CryptoError: alg other than ES256 (none and HS256 included), unknown kid,
    bad signature, or a payload issued outside its key's certificate validity.
    """
    header_b64, payload_b64, signature_b64 = _split(jws)
    header = jws_header(jws)
    alg = header.get("alg")
    if alg != ALG:
        raise CryptoError(f"JWS alg {alg!r} is refused: license QR codes are signed with ES256 only")
    if "crit" in header:
        raise CryptoError("JWS crit header parameters are not understood (RFC 7515 §4.1.11)")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in public_keys:
        raise CryptoError(f"unknown key id {kid!r}: not among the regulator's QR keys ({', '.join(public_keys)})")
    key = public_keys[kid]
    entry = key if isinstance(key, QrPublicKey) else QrPublicKey(kid, key)
    _require_p256(entry.public_key.algorithm, f"key {kid}")
    signature = b64url_decode(signature_b64, "jws signature")
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    der = raw_to_der(signature)
    try:
        entry.public_key.verify(der, signing_input, SignatureScheme.ECDSA_SHA256)
    except InvalidSignature:
        raise InvalidSignature(
            f"the QR signature does not verify with key {kid}: the payload or signature was altered"
        ) from None
    payload = decode_payload(b64url_decode(payload_b64, "jws payload"), kid)
    _check_key_validity(entry, payload.issued_at)
    return payload


def _split(jws: str) -> tuple[str, str, str]:
    parts = jws.strip().split(".")
    if len(parts) != 3 or not all(parts):
        raise ValidationError("jws", "is not a compact JWS (three non-empty base64url parts separated by '.')")
    return parts[0], parts[1], parts[2]


def _check_key_validity(key: QrPublicKey, issued_at: datetime) -> None:
    if key.not_before is not None and issued_at < key.not_before:
        raise CryptoError(f"key {key.kid} was not yet valid when the payload says it was issued ({issued_at:%F})")
    if key.not_after is not None and issued_at > key.not_after:
        raise CryptoError(f"key {key.kid} had expired ({key.not_after:%F}) before the payload was issued")


# --- QR text and symbol -------------------------------------------------------------------------------------------


def qr_text(base_url: str, identifier: str, jws: str) -> str:
    """``<base_url>/v/<identifier>#<jws>``: the fragment is never sent to the server."""
    return f"{base_url.rstrip('/')}/v/{identifier}#{jws}"


@dataclass(frozen=True)
class ScannedQr:
    """What a scanned QR text holds: the identifier in the URL (None for a bare JWS) and the JWS."""

    url_identifier: str | None
    jws: str


def parse_qr_text(text: str) -> ScannedQr:
    """Accept the full QR text (URL with fragment) or a bare JWS."""
    text = text.strip()
    if "#" not in text:
        return ScannedQr(None, text)
    url, jws = text.split("#", 1)
    match = re.search(r"/v/([^/?#]+)$", url)
    if match is None:
        raise ValidationError("qr", "the URL does not end in /v/<identifier>")
    return ScannedQr(match.group(1), jws)


def verify_qr_text(text: str, public_keys: Mapping[str, PublicKey | QrPublicKey]) -> QrPayload:
    """verify_payload on a scanned text; the URL's identifier must be the one signed."""
    scanned = parse_qr_text(text)
    payload = verify_payload(scanned.jws, public_keys)
    if scanned.url_identifier is not None and scanned.url_identifier != payload.identifier:
        raise CryptoError(f"the URL names {scanned.url_identifier} but the signed payload names {payload.identifier}")
    return payload


def qr_segments(text: str) -> list[tuple[str, int]]:
    """Byte-mode segments, with long runs of QR-alphanumeric characters (the identifier) in alphanumeric mode."""
    segments: list[tuple[str, int]] = []
    at = 0
    for run in _ALNUM_RUN.finditer(text):
        if run.start() > at:
            segments.append((text[at : run.start()], segno_consts.MODE_BYTE))
        segments.append((run.group(0), segno_consts.MODE_ALPHANUMERIC))
        at = run.end()
    if at < len(text):
        segments.append((text[at:], segno_consts.MODE_BYTE))
    return segments


def qr_symbol(text: str, max_version: int = MAX_QR_VERSION) -> segno.QRCode:
    """The smallest QR code (level M) for `text`; ValidationError if it needs a version above `max_version`."""
    if not text:
        raise ValidationError("qr", "the text is empty")
    try:
        segments: Any = qr_segments(text)  # segno.make takes a list of (text, mode) segments; its hints say str
        symbol = segno.make(segments, error=QR_ERROR_LEVEL, micro=False, boost_error=False)
    except (segno.DataOverflowError, ValueError) as exc:
        raise ValidationError("qr", f"the text does not fit in a QR code ({exc})") from exc
    version = int(symbol.version)
    if version > max_version:
        raise ValidationError("qr", f"the text needs a version-{version} QR code; at most {max_version} is allowed")
    return symbol


def qr_png(text: str, size: int = 400) -> bytes:
    """PNG of the QR code with a 4-module quiet zone, about `size` pixels wide (whole pixels per module)."""
    symbol = qr_symbol(text)
    modules = symbol.symbol_size(scale=1, border=4)[0]
    buffer = io.BytesIO()
    symbol.save(buffer, kind="png", scale=max(1, size // modules), border=4)
    return buffer.getvalue()


def qr_svg(text: str) -> str:
    """SVG of the QR code (no XML declaration, scalable, 4-module quiet zone)."""
    buffer = io.BytesIO()
    qr_symbol(text).save(buffer, kind="svg", xmldecl=False, svgns=True, unit="mm", border=4)
    return buffer.getvalue().decode("utf-8")


def decode_qr_image(image: str | Path | bytes) -> str:
    """The text of the QR code in a PNG/JPEG image (file path or bytes), decoded by zxing-cpp."""
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        source = io.BytesIO(image) if isinstance(image, bytes) else Path(image)
        with Image.open(source) as opened:
            picture = opened.convert("L")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValidationError("image", f"is not a readable PNG or JPEG image ({exc})") from None
    found = zxingcpp.read_barcodes(picture, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    texts = [code.text for code in found if code.valid and code.text]
    if not texts:
        raise ValidationError("image", "no QR code found in the image")
    return texts[0]
