"""OCSP (RFC 6960, RFC 5019): strict request parsing, CertID matching and BasicOCSPResponse building.

The request parser is a small strict DER reader rather than asn1crypto: it runs for every request, must refuse
anything malformed (definite, minimal lengths; no trailing bytes) and only needs a handful of fields.  The request
clients actually send (one CertID, at most a nonce) is read first by `_parse_common`, a few slices and comparisons
against pre-encoded headers; anything else, or anything it does not accept, goes to the general reader, which alone
decides what is malformed.  Responses are assembled from DER pieces the Responder encodes once (responderID,
signature AlgorithmIdentifier, certs) and headers cached by length; per response only the times, the status and the
signature are new.  asn1crypto reads responses back (cache, tests).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import NamedTuple

from asn1crypto import core, x509
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp

from certseal.crypto import hashes
from certseal.crypto.algorithms import SM3_OID
from certseal.crypto.signer import Signer
from certseal.errors import CertsealError
from certseal.pki.asn1 import key_identifier, signature_algorithm
from certseal.pki.der import generalized_time, header, tlv

NONCE_OID = "1.3.6.1.5.5.7.48.1.2"
BASIC_RESPONSE_OID = "1.3.6.1.5.5.7.48.1.1"
MAX_NONCE = 128  # RFC 9654: Nonce ::= OCTET STRING (SIZE(1..128)); longer ones are refused with malformedRequest
MAX_REQUEST = 64 * 1024
MAX_CERTS_PER_REQUEST = 64


class MalformedRequest(CertsealError):
    """The bytes are not a well-formed OCSPRequest this responder can answer (RFC 6960 malformedRequest)."""


class ResponseStatus(IntEnum):
    """OCSPResponseStatus (RFC 6960 4.2.1); 4 is unused."""

    SUCCESSFUL = 0
    MALFORMED_REQUEST = 1
    INTERNAL_ERROR = 2
    TRY_LATER = 3
    SIG_REQUIRED = 5
    UNAUTHORIZED = 6


def error_response(status: ResponseStatus) -> bytes:
    """An OCSPResponse with only a status (no responseBytes), as every non-successful answer is."""
    if status is ResponseStatus.SUCCESSFUL:
        raise ValueError("a successful OCSP response needs a body")
    return _ERRORS[status]


# --- a strict DER reader, just enough for OCSPRequest --------------------------------------------------------


def _header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the TLV at `pos`; refuses BER forms DER forbids."""
    if pos + 2 > end:
        raise MalformedRequest("truncated DER")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise MalformedRequest("high tag numbers are not used in OCSP requests")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0:
            raise MalformedRequest("indefinite lengths are not DER")
        if count > 4 or pos + count > end:
            raise MalformedRequest("DER length too long")
        length = int.from_bytes(data[pos : pos + count], "big")
        if data[pos] == 0 or length < 0x80:
            raise MalformedRequest("DER length not minimally encoded")
        pos += count
    if pos + length > end:
        raise MalformedRequest("DER value runs past its container")
    return tag, pos, pos + length


def _expect(data: bytes, pos: int, end: int, tag: int, what: str) -> tuple[int, int]:
    found, start, stop = _header(data, pos, end)
    if found != tag:
        raise MalformedRequest(f"{what}: expected tag 0x{tag:02X}, found 0x{found:02X}")
    return start, stop


def _peek(data: bytes, pos: int, end: int) -> int | None:
    return data[pos] if pos < end else None


def _integer(data: bytes, start: int, stop: int, what: str) -> int:
    if start == stop:
        raise MalformedRequest(f"{what}: empty INTEGER")
    if stop - start > 1 and (
        (data[start] == 0 and data[start + 1] < 0x80) or (data[start] == 0xFF and data[start + 1] >= 0x80)
    ):
        raise MalformedRequest(f"{what}: INTEGER not minimally encoded")
    return int.from_bytes(data[start:stop], "big", signed=True)


# the reader as other strict parsers use it (TimeStampReq); they turn MalformedRequest into their own error
der_header, der_expect, der_peek, der_integer = _header, _expect, _peek, _integer


def _oid(dotted: str) -> bytes:
    return bytes(core.ObjectIdentifier(dotted).dump())


@dataclass(frozen=True, slots=True)
class HashAlgorithm:
    name: str
    oid_der: bytes
    size: int

    def digest(self, data: bytes) -> bytes:
        if self.name == "sha1":
            return hashlib.sha1(data, usedforsecurity=False).digest()  # CertID identifies, it does not protect
        return hashes.digest(self.name, data)


CERT_ID_HASHES: dict[bytes, HashAlgorithm] = {
    h.oid_der: h
    for h in (
        HashAlgorithm("sha1", _oid("1.3.14.3.2.26"), 20),
        HashAlgorithm("sha256", _oid("2.16.840.1.101.3.4.2.1"), 32),
        HashAlgorithm("sha384", _oid("2.16.840.1.101.3.4.2.2"), 48),
        HashAlgorithm("sha512", _oid("2.16.840.1.101.3.4.2.3"), 64),
        HashAlgorithm("sm3", _oid(SM3_OID), 32),
    )
}
SHA1 = next(h for h in CERT_ID_HASHES.values() if h.name == "sha1")
_NONCE_OID_DER = _oid(NONCE_OID)
_MAX_NONCE_VALUE = len(header(0x04, MAX_NONCE)) + MAX_NONCE  # extnValue: the nonce's OCTET STRING, header included
_NULL = b"\x05\x00"


class CertRequest(NamedTuple):
    """One CertID of a request; `der` is echoed verbatim in the answer, so clients match it byte for byte."""

    der: bytes
    hash_algorithm: HashAlgorithm
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int


class OcspRequest(NamedTuple):
    """What a request asks (NamedTuples, not dataclasses: built for every request, 0.6 µs cheaper)."""

    certs: tuple[CertRequest, ...]
    nonce_extension: bytes | None  # the request's whole nonce Extension, echoed in the response


def parse_request(der: bytes) -> OcspRequest:
    """Parse an OCSPRequest strictly; raise MalformedRequest for anything this responder cannot answer."""
    if type(der) is not bytes:
        der = bytes(der)
    request = _parse_common(der)
    return request if request is not None else parse_request_general(der)


def parse_request_general(der: bytes) -> OcspRequest:
    """`parse_request` without the common-shape shortcut: reads every request shape (tests compare the two)."""
    if type(der) is not bytes:
        der = bytes(der)
    if len(der) > MAX_REQUEST:
        raise MalformedRequest(f"request larger than {MAX_REQUEST} bytes")
    start, stop = _expect(der, 0, len(der), 0x30, "OCSPRequest")
    if stop != len(der):
        raise MalformedRequest("trailing bytes after the OCSPRequest")
    tbs_start, tbs_stop = _expect(der, start, stop, 0x30, "TBSRequest")
    if tbs_stop != stop:
        _expect(der, tbs_stop, stop, 0xA0, "optionalSignature")  # accepted and ignored (RFC 6960 4.1.2)
        if _header(der, tbs_stop, stop)[2] != stop:
            raise MalformedRequest("unexpected field after optionalSignature")
    pos = tbs_start
    if _peek(der, pos, tbs_stop) == 0xA0:
        v_start, v_stop = _expect(der, pos, tbs_stop, 0xA0, "version")
        i_start, i_stop = _expect(der, v_start, v_stop, 0x02, "version")
        if i_stop != v_stop or _integer(der, i_start, i_stop, "version") != 0:
            raise MalformedRequest("only OCSP version 1 requests are understood")
        pos = v_stop
    if _peek(der, pos, tbs_stop) == 0xA1:
        pos = _header(der, pos, tbs_stop)[2]  # requestorName: not used
    list_start, list_stop = _expect(der, pos, tbs_stop, 0x30, "requestList")
    certs = _request_list(der, list_start, list_stop)
    nonce = None
    pos = list_stop
    if pos != tbs_stop:
        ext_start, ext_stop = _expect(der, pos, tbs_stop, 0xA2, "requestExtensions")
        if ext_stop != tbs_stop:
            raise MalformedRequest("unexpected field after requestExtensions")
        nonce = _request_extensions(der, ext_start, ext_stop)
    return OcspRequest(certs, nonce)


def _request_list(der: bytes, pos: int, end: int) -> tuple[CertRequest, ...]:
    certs = []
    while pos < end:
        req_start, req_stop = _expect(der, pos, end, 0x30, "Request")
        id_start, id_stop = _expect(der, req_start, req_stop, 0x30, "CertID")
        if id_stop != req_stop and _expect(der, id_stop, req_stop, 0xA0, "singleRequestExtensions")[1] != req_stop:
            raise MalformedRequest("unexpected field after singleRequestExtensions")
        certs.append(_cert_id(der, req_start, id_start, id_stop))
        pos = req_stop
        if len(certs) > MAX_CERTS_PER_REQUEST:
            raise MalformedRequest(f"more than {MAX_CERTS_PER_REQUEST} certificates in one request")
    if not certs:
        raise MalformedRequest("the request names no certificate")
    return tuple(certs)


def _cert_id(der: bytes, tlv_start: int, start: int, stop: int) -> CertRequest:
    alg_start, alg_stop = _expect(der, start, stop, 0x30, "hashAlgorithm")
    oid_start, oid_stop = _expect(der, alg_start, alg_stop, 0x06, "hashAlgorithm OID")
    if oid_stop != alg_stop and der[oid_stop:alg_stop] != _NULL:
        raise MalformedRequest("hashAlgorithm parameters must be absent or NULL")
    hash_algorithm = CERT_ID_HASHES.get(der[oid_start - 2 : oid_stop]) if oid_stop - oid_start < 0x80 else None
    if hash_algorithm is None:
        raise MalformedRequest("CertID hash algorithm is not SHA-1, SHA-2 or SM3")
    name_start, name_stop = _expect(der, alg_stop, stop, 0x04, "issuerNameHash")
    key_start, key_stop = _expect(der, name_stop, stop, 0x04, "issuerKeyHash")
    serial_start, serial_stop = _expect(der, key_stop, stop, 0x02, "serialNumber")
    if serial_stop != stop:
        raise MalformedRequest("unexpected field in CertID")
    if name_stop - name_start != hash_algorithm.size or key_stop - key_start != hash_algorithm.size:
        raise MalformedRequest(f"CertID hashes must be {hash_algorithm.size} bytes for {hash_algorithm.name}")
    if serial_stop - serial_start > 40:
        raise MalformedRequest("serialNumber longer than 40 bytes")
    return CertRequest(
        der[tlv_start:stop],
        hash_algorithm,
        der[name_start:name_stop],
        der[key_start:key_stop],
        _integer(der, serial_start, serial_stop, "serialNumber"),
    )


def _request_extensions(der: bytes, start: int, stop: int) -> bytes | None:
    list_start, list_stop = _expect(der, start, stop, 0x30, "Extensions")
    if list_stop != stop or list_start == list_stop:
        raise MalformedRequest("requestExtensions must hold a non-empty SEQUENCE OF Extension")
    nonce = None
    pos = list_start
    while pos < list_stop:
        ext_start, ext_stop = _expect(der, pos, list_stop, 0x30, "Extension")
        oid_start, oid_stop = _expect(der, ext_start, ext_stop, 0x06, "extnID")
        value_pos, critical = oid_stop, False
        if _peek(der, value_pos, ext_stop) == 0x01:
            b_start, b_stop = _expect(der, value_pos, ext_stop, 0x01, "critical")
            if b_stop - b_start != 1 or der[b_start] not in (0x00, 0xFF):
                raise MalformedRequest("critical must be a DER BOOLEAN")
            critical, value_pos = der[b_start] == 0xFF, b_stop
        value_start, value_stop = _expect(der, value_pos, ext_stop, 0x04, "extnValue")
        if value_stop != ext_stop:
            raise MalformedRequest("unexpected field in Extension")
        if der[oid_start - 2 : oid_stop] == _NONCE_OID_DER:
            if nonce is not None:
                raise MalformedRequest("more than one nonce")
            if not 0 < value_stop - value_start <= _MAX_NONCE_VALUE:
                raise MalformedRequest(f"the nonce must be 1 to {MAX_NONCE} bytes")
            nonce = der[pos:ext_stop]
        elif critical:
            raise MalformedRequest("a critical request extension this responder does not understand")
        pos = ext_stop
    return nonce


# --- the common request: one CertID, at most a nonce (what `openssl ocsp` and most clients send) ------------------
# _parse_common accepts only requests the general reader would accept with the same result; it returns None for
# everything else (including every malformed request), so the general reader alone words the errors.


def _outer_headers() -> dict[int, bytes]:
    """OCSPRequest and TBSRequest headers (no optionalSignature: TBSRequest ends the request) by request length."""
    headers = {}
    for tbs_length in range(60, 400):  # 60: the shortest one-CertID TBSRequest
        tbs_header = header(0x30, tbs_length)
        outer = len(tbs_header) + tbs_length
        headers[len(header(0x30, outer)) + outer] = header(0x30, outer) + tbs_header
    return headers


_OUTER_HEADERS = _outer_headers()


def _cert_id_prefixes() -> dict[bytes, tuple[HashAlgorithm, int]]:
    """The request list up to the issuerNameHash value, for one Request holding only a CertID, with every length in the
    short form: requestList, Request and CertID headers, hashAlgorithm (parameters absent or NULL) and the
    issuerNameHash header.  Value: the hash algorithm and the serialNumber length that CertID length implies."""
    prefixes = {}
    for algorithm in CERT_ID_HASHES.values():
        for params in (b"", _NULL):
            head = tlv(0x30, algorithm.oid_der + params) + bytes((0x04, algorithm.size))
            for serial_size in range(1, 41):  # _cert_id: 1 to 40 bytes
                size = len(head) + 2 * algorithm.size + 4 + serial_size
                if size + 4 < 0x80:
                    prefixes[bytes((0x30, size + 4, 0x30, size + 2, 0x30, size)) + head] = (algorithm, serial_size)
    return prefixes


_CERT_ID_PREFIXES = _cert_id_prefixes()


def _nonce_headers() -> dict[int, tuple[bytes, int]]:
    """requestExtensions holding only a non-critical nonce, by its length: the bytes up to the nonce value and where
    the Extension (what the response echoes) starts in them."""
    headers = {}
    for value_length in range(1, _MAX_NONCE_VALUE + 1):  # the extnValue lengths _request_extensions accepts
        value_header = header(0x04, value_length)
        extension_length = len(_NONCE_OID_DER) + len(value_header) + value_length
        extension_header = header(0x30, extension_length)
        list_length = len(extension_header) + extension_length
        list_header = header(0x30, list_length)
        outer_header = header(0xA2, len(list_header) + list_length)
        prefix = outer_header + list_header + extension_header + _NONCE_OID_DER + value_header
        headers[len(outer_header) + len(list_header) + list_length] = (prefix, len(outer_header) + len(list_header))
    return headers


_NONCE_HEADERS = _nonce_headers()
_new_tuple: Callable[..., object] = tuple.__new__  # the NamedTuples below without their Python-level __new__


def _parse_common(der: bytes) -> OcspRequest | None:
    """The common request read by slicing, or None: then the general reader decides (and words any error)."""
    end = len(der)
    outer = _OUTER_HEADERS.get(end)
    if outer is None or not der.startswith(outer):
        return None
    list_start = len(outer)  # at least 60 bytes follow (the shortest TBSRequest in _OUTER_HEADERS)
    hashes_start = list_start + 10 + der[list_start + 7]  # after the hashAlgorithm TLV and the issuerNameHash header
    found = _CERT_ID_PREFIXES.get(der[list_start:hashes_start])
    if found is None:
        return None
    algorithm, serial_size = found
    hash_size = algorithm.size
    key_start = hashes_start + hash_size + 2
    serial_start = key_start + hash_size + 2
    id_stop = serial_start + serial_size
    if (
        id_stop > end
        or der[key_start - 2] != 0x04
        or der[key_start - 1] != hash_size
        or der[serial_start - 2] != 0x02
        or der[serial_start - 1] != serial_size
    ):
        return None
    if serial_size > 1 and der[serial_start] in (0x00, 0xFF) and (der[serial_start] ^ der[serial_start + 1]) < 0x80:
        return None  # not minimally encoded: leading 00 before a clear top bit, or FF before a set one
    nonce = None
    if id_stop != end:
        expected = _NONCE_HEADERS.get(end - id_stop)
        if expected is None or not der.startswith(expected[0], id_stop):
            return None
        nonce = der[id_stop + expected[1] :]
    cert = _new_tuple(
        CertRequest,
        (
            der[list_start + 4 : id_stop],
            algorithm,
            der[hashes_start : key_start - 2],
            der[key_start : serial_start - 2],
            int.from_bytes(der[serial_start:id_stop], "big", signed=True),
        ),
    )
    return _new_tuple(OcspRequest, ((cert,), nonce))  # type: ignore[return-value]


# --- DER writing ---------------------------------------------------------------------------------------------


_ERRORS = {s: tlv(0x30, b"\x0a\x01" + bytes((s.value,))) for s in ResponseStatus if s is not ResponseStatus.SUCCESSFUL}
_GOOD = b"\x80\x00"
_UNKNOWN = b"\x82\x00"
_BASIC_TYPE = _oid(BASIC_RESPONSE_OID)


class _ByLength(dict[int, bytes]):
    """DER that depends only on a length, encoded once per length: a responder meets the same few lengths again and
    again.  Bounded by the number of distinct lengths, and emptied past 4096 of them."""

    def __init__(self, build: Callable[[int], bytes]) -> None:
        super().__init__()
        self._build = build

    def __missing__(self, length: int) -> bytes:
        if len(self) >= 4096:
            self.clear()
        encoded = self[length] = self._build(length)
        return encoded


def _nonce_echo(length: int) -> bytes:
    """responseExtensions [1] and its SEQUENCE OF Extension, around one Extension of `length` bytes."""
    inner = header(0x30, length)
    return header(0xA1, len(inner) + length) + inner


def _envelope(basic_length: int) -> bytes:
    """A successful OCSPResponse up to the BasicOCSPResponse's contents (`basic_length` bytes)."""
    basic_header = header(0x30, basic_length)
    octets_header = header(0x04, len(basic_header) + basic_length)
    response_bytes_length = len(_BASIC_TYPE) + len(octets_header) + len(basic_header) + basic_length
    response_bytes_header = header(0x30, response_bytes_length)
    explicit_header = header(0xA0, len(response_bytes_header) + response_bytes_length)
    content_length = 3 + len(explicit_header) + len(response_bytes_header) + response_bytes_length
    return b"".join(
        (
            header(0x30, content_length),
            b"\x0a\x01\x00",  # responseStatus successful
            explicit_header,
            response_bytes_header,
            _BASIC_TYPE,
            octets_header,
            basic_header,
        )
    )


_SEQUENCE = _ByLength(lambda length: header(0x30, length))
_EXPLICIT_0 = _ByLength(lambda length: header(0xA0, length))
_NONCE_ECHO = _ByLength(_nonce_echo)
_SIGNATURE = _ByLength(lambda length: header(0x03, length + 1) + b"\x00")  # BIT STRING, no unused bits
_ENVELOPE = _ByLength(_envelope)


@dataclass(frozen=True, slots=True)
class CertStatus:
    """good, revoked (time, CRLReason code or None) or unknown; `encoded` is its DER, made once."""

    kind: str
    revoked_at: datetime | None = None
    reason: int | None = None
    encoded: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoded", self._encode())

    def _encode(self) -> bytes:
        if self.kind == "good":
            return _GOOD
        if self.kind == "unknown":
            return _UNKNOWN
        assert self.revoked_at is not None
        reason = b"" if self.reason is None else tlv(0xA0, b"\x0a\x01" + bytes((self.reason,)))
        return tlv(0xA1, generalized_time(self.revoked_at) + reason)

    def der(self) -> bytes:
        return self.encoded


GOOD = CertStatus("good")
UNKNOWN = CertStatus("unknown")


def revoked(at: datetime, reason: int | None) -> CertStatus:
    return CertStatus("revoked", at.astimezone(UTC).replace(microsecond=0), reason)


class SingleAnswer(NamedTuple):
    """What one SingleResponse says (a NamedTuple: one is made for every answer)."""

    cert_id_der: bytes
    status: CertStatus
    this_update: datetime
    next_update: datetime


@dataclass(frozen=True)
class IssuerHashes:
    """issuerNameHash and issuerKeyHash of one CA for every CertID hash algorithm we accept."""

    by_algorithm: dict[str, tuple[bytes, bytes]]

    @classmethod
    def of(cls, ca_certificate_der: bytes) -> IssuerHashes:
        tbs = x509.Certificate.load(ca_certificate_der)["tbs_certificate"]
        name = tbs["subject"].dump()
        key = tbs["subject_public_key_info"]["public_key"].contents[1:]
        return cls({h.name: (h.digest(name), h.digest(key)) for h in CERT_ID_HASHES.values()})

    def matches(self, request: CertRequest) -> bool:
        expected = self.by_algorithm[request.hash_algorithm.name]
        return expected[0] == request.issuer_name_hash and expected[1] == request.issuer_key_hash

    def cert_id(self, serial: int, algorithm: HashAlgorithm = SHA1) -> bytes:
        """The CertID a client would send for `serial` (NULL hash parameters, as OpenSSL writes them)."""
        name_hash, key_hash = self.by_algorithm[algorithm.name]
        algorithm_id = tlv(0x30, algorithm.oid_der + _NULL)
        serial_der = bytes(core.Integer(serial).dump())
        return tlv(0x30, algorithm_id + tlv(0x04, name_hash) + tlv(0x04, key_hash) + serial_der)


class Responder:
    """Signs BasicOCSPResponses for one CA: with the CA key, or a delegated responder key and certificate."""

    def __init__(self, signer: Signer, delegated_certificate: bytes | None = None) -> None:
        self.signer = signer
        self.delegated_certificate = delegated_certificate
        self.key_hash = key_identifier(signer.public_key)  # ResponderID byKey: SHA-1 of the subjectPublicKey bits
        self._responder_id = tlv(0xA2, tlv(0x04, self.key_hash))
        self._algorithm = bytes(signature_algorithm(signer.scheme).dump())
        self._certs = b"" if delegated_certificate is None else tlv(0xA0, tlv(0x30, delegated_certificate))
        self._responder_id_length = len(self._responder_id)
        self._fixed_length = len(self._algorithm) + len(self._certs)  # the parts of BasicOCSPResponse after the tbs

    def sign(self, answers: Sequence[SingleAnswer], produced_at: datetime, nonce_extension: bytes | None) -> bytes:
        """A signed successful OCSPResponse: headers come from the length caches, so the common answer (one
        SingleResponse) is a handful of joins around the signature."""
        tbs = self.to_be_signed(answers, produced_at, nonce_extension)
        return self.signed(tbs, self.signer.sign(tbs))

    def to_be_signed(
        self, answers: Sequence[SingleAnswer], produced_at: datetime, nonce_extension: bytes | None
    ) -> bytes:
        """The DER ResponseData of a response (what `signed` wraps with its signature)."""
        produced = generalized_time(produced_at)
        if len(answers) == 1:
            responses = _single_response(answers[0], produced_at, produced)
        else:
            responses = b"".join([_single_response(a, produced_at, produced) for a in answers])
        responses_header = _SEQUENCE[len(responses)]
        extensions = b"" if nonce_extension is None else _NONCE_ECHO[len(nonce_extension)] + nonce_extension
        tbs_length = self._responder_id_length + len(produced) + len(responses_header) + len(responses)
        tbs_length += len(extensions)
        return b"".join((_SEQUENCE[tbs_length], self._responder_id, produced, responses_header, responses, extensions))

    def signed(self, tbs: bytes, signature: bytes) -> bytes:
        """The OCSPResponse around ResponseData `tbs` and this responder's `signature` of it."""
        signature_header = _SIGNATURE[len(signature)]
        basic_length = len(tbs) + len(signature_header) + len(signature) + self._fixed_length
        return b"".join((_ENVELOPE[basic_length], tbs, self._algorithm, signature_header, signature, self._certs))


def _single_response(answer: SingleAnswer, produced_at: datetime, produced: bytes) -> bytes:
    """One SingleResponse; thisUpdate is usually producedAt itself, whose DER the caller already has."""
    cert_id, status, this_update, next_update = answer
    this = produced if this_update is produced_at else generalized_time(this_update)
    status_der = status.encoded
    next_ = generalized_time(next_update)
    next_header = _EXPLICIT_0[len(next_)]
    length = len(cert_id) + len(status_der) + len(this) + len(next_header) + len(next_)
    return b"".join((_SEQUENCE[length], cert_id, status_der, this, next_header, next_))


# --- reading responses back (the cache checks what a stored response says) -----------------------------------


@dataclass(frozen=True)
class ParsedSingle:
    cert_id_der: bytes
    status: CertStatus
    this_update: datetime
    next_update: datetime | None


@dataclass(frozen=True)
class ParsedResponse:
    status: ResponseStatus
    responder_key_hash: bytes | None = None
    produced_at: datetime | None = None
    singles: tuple[ParsedSingle, ...] = ()
    nonce_extension: bytes | None = None


_STATUS_BY_NAME = {name: ResponseStatus(code) for code, name in asn1_ocsp.OCSPResponseStatus._map.items()}
_REASON_BY_NAME = {name: code for code, name in asn1_crl.CRLReason._map.items()}


def read_response(der: bytes) -> ParsedResponse:
    """Read an OCSPResponse (ours or anyone's) into plain values; ValueError if it is not one."""
    response = asn1_ocsp.OCSPResponse.load(der, strict=True)
    status = _STATUS_BY_NAME[response["response_status"].native]
    if status is not ResponseStatus.SUCCESSFUL:
        return ParsedResponse(status)
    data = response.basic_ocsp_response["tbs_response_data"]
    responder = data["responder_id"]
    key_hash = bytes(responder.chosen.native) if responder.name == "by_key" else None
    singles = []
    for single in data["responses"]:
        cert_status = single["cert_status"]
        if cert_status.name == "revoked":
            info = cert_status.chosen
            reason = info["revocation_reason"]
            code = None if reason.native is None else _REASON_BY_NAME[reason.native]
            parsed_status = CertStatus("revoked", info["revocation_time"].native, code)
        else:
            parsed_status = GOOD if cert_status.name == "good" else UNKNOWN
        singles.append(
            ParsedSingle(
                single["cert_id"].dump(), parsed_status, single["this_update"].native, single["next_update"].native
            )
        )
    nonce = None
    for extension in data["response_extensions"]:
        if extension["extn_id"].dotted == NONCE_OID:
            nonce = extension.dump()
    return ParsedResponse(status, key_hash, data["produced_at"].native, tuple(singles), nonce)
