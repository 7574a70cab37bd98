"""RFC 3161 timestamps: parse a TimeStampReq strictly, answer with a TimeStampResp whose token is a CMS SignedData.

The token is signed through a Signer, so RSA, ECDSA and SM2 share one code path:

- RSA / ECDSA: SHA-256 message digest, sha256WithRSAEncryption / ecdsa-with-SHA256.
- SM2 (GB/T 35275 style): SM3 message digest (1.2.156.10197.1.401) and SM2-with-SM3 (1.2.156.10197.1.501) as the
  SignerInfo's digest and signature algorithms.  The ContentInfo keeps RFC 5652's id-signedData
  (1.2.840.113549.1.7.2), not GB/T 35275's 1.2.156.10197.6.1.4.2.2, because RFC 3161 clients (OpenSSL, BouncyCastle,
  pyHanko) only recognise a timeStampToken whose contentType is id-signedData; the algorithms inside carry the SM2
  choice.

Every token carries TSTInfo version 1, the policy, the request's messageImprint (byte for byte), a fresh serial, a
genTime in whole seconds with an accuracy of one second, ordering false (DER: absent), the nonce echoed byte for
byte, and the TSA's name; the SignerInfo has signed attributes contentType, signingTime, messageDigest and
signingCertificateV2 (ESSCertIDv2, SHA-256 of the TSA certificate, with issuerSerial).  When the request has
certReq, the token's certificates are the TSA certificate and the CA certificates between it and its root (not the
self-signed root, which a relying party must already trust): a token from a TSA under an intermediate CA then
verifies with the root alone (`openssl ts -verify -CAfile root.pem`, no -untrusted).

Hot path (a few µs of Python around each signature):

- requests of the shapes `openssl ts -query` makes (a supported imprint, optional reqPolicy, nonce and certReq TRUE)
  are recognised by comparing bytes with pre-encoded prefixes (`_parse_common_shape`); anything else goes through
  the strict reader (`_parse_any`), which gives the same result for those shapes (tests/unit/test_tsa_fast.py);
- everything that does not change between tokens (algorithm identifiers, sid, the signingCertificateV2 attribute,
  the TSA name, the certificate set) is DER-encoded once with asn1crypto when a TimestampAuthority is built.  The
  signed attributes are a template with two holes (messageDigest and signingTime: their lengths are fixed, and their
  order in the DER SET OF is decided by the bytes before the holes), and every header around the TSTInfo and the
  signature depends only on their lengths: one cached `_Layout` per (TSTInfo length, signature length, certReq).  A
  token is then one digest, one signature and three joins.  tests/integration/test_tsa.py checks that the result
  re-encodes identically through asn1crypto, tests/unit/test_tsa_fast.py that it is byte for byte what the
  straightforward construction gives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import NamedTuple

from asn1crypto import algos, cms, core, tsp, x509

from certseal.crypto.algorithms import SM3_OID, SignatureScheme
from certseal.crypto.hashes import digest
from certseal.crypto.signer import Signer
from certseal.errors import CertsealError, ValidationError
from certseal.pki.asn1 import signature_algorithm
from certseal.pki.der import header, tlv
from certseal.pki.ocsp import MalformedRequest, der_expect, der_header, der_integer, der_peek

# Placeholder policy under a private-enterprise arc reserved for certseal deployments; a production TSA publishes its
# own policy OID (ETSI EN 319 421 / its practice statement) and would configure it instead.
TSA_POLICY_OID = "1.3.6.1.4.1.60350.1.1"
ACCURACY_SECONDS = 1
MAX_REQUEST_BYTES = 16 * 1024
MAX_NONCE_BYTES = 64

# messageImprint hash algorithms accepted: OID -> (name, digest length)
IMPRINT_ALGORITHMS: dict[str, tuple[str, int]] = {
    "2.16.840.1.101.3.4.2.1": ("sha256", 32),
    "2.16.840.1.101.3.4.2.2": ("sha384", 48),
    "2.16.840.1.101.3.4.2.3": ("sha512", 64),
    SM3_OID: ("sm3", 32),
}
_IMPRINT_OIDS = {name: oid for oid, (name, _) in IMPRINT_ALGORITHMS.items()}
_IMPRINT_BY_DER = {bytes(core.ObjectIdentifier(oid).dump()): known for oid, known in IMPRINT_ALGORITHMS.items()}


class FailureInfo(StrEnum):
    """PKIFailureInfo bits a TSA answers with (RFC 3161 2.4.2), by their asn1crypto names."""

    BAD_ALG = "bad_alg"
    BAD_REQUEST = "bad_request"
    BAD_DATA_FORMAT = "bad_data_format"
    UNACCEPTED_POLICY = "unaccepted_policy"
    UNACCEPTED_EXTENSION = "unaccepted_extensions"
    SYSTEM_FAILURE = "system_failure"


class RequestRejected(CertsealError):
    """A TimeStampReq the TSA refuses; answered with status rejection and this failure info."""

    def __init__(self, failure: FailureInfo, message: str) -> None:
        super().__init__(message)
        self.failure = failure


class TimestampRequest(NamedTuple):
    """A checked TimeStampReq; the DER pieces that a token echoes are kept as they came.

    A NamedTuple rather than a frozen dataclass: as immutable, and built in a third of the time (one per token)."""

    hash_name: str
    hashed_message: bytes
    imprint_der: bytes
    nonce: int | None
    nonce_der: bytes | None
    cert_req: bool
    policy: str | None

    @property
    def imprint_text(self) -> str:
        return f"{self.hash_name}:{self.hashed_message.hex()}"


def parse_request(data: bytes, policy: str = TSA_POLICY_OID) -> TimestampRequest:
    """Check a DER TimeStampReq; raise RequestRejected with the failure info RFC 3161 (and OpenSSL's TSA) use.

    A small strict DER reader (the one OCSP requests go through), not asn1crypto: it runs for every token, and
    refuses BER forms (indefinite or non-minimal lengths, non-minimal INTEGERs, trailing bytes) DER forbids.  The
    shapes `openssl ts -query` makes are recognised first by a byte comparison that accepts only what the reader
    would accept, with the same result.
    """
    if not data or len(data) > MAX_REQUEST_BYTES:
        raise RequestRejected(FailureInfo.BAD_DATA_FORMAT, f"request must be 1 to {MAX_REQUEST_BYTES} bytes of DER")
    if type(data) is not bytes:
        data = bytes(data)
    return _parse_common_shape(data, policy) or _parse_any(data, policy)


# --- the common shapes: byte comparisons with pre-encoded prefixes ---------------------------------------------------


def _imprint_prefixes() -> dict[bytes, tuple[str, int]]:
    """version 1, then the messageImprint up to its hashedMessage's contents, for every supported algorithm with
    parameters absent or NULL -> (name, digest length).  A prefix fixes every length inside it, so a match is the
    whole structure up to the digest."""
    prefixes = {}
    for oid_der, (name, size) in _IMPRINT_BY_DER.items():
        for parameters in (b"", b"\x05\x00"):
            algorithm = tlv(0x30, oid_der + parameters)
            imprint_length = len(algorithm) + 2 + size
            prefixes[b"\x02\x01\x01" + header(0x30, imprint_length) + algorithm + header(0x04, size)] = (name, size)
    return prefixes


_IMPRINT_PREFIXES = _imprint_prefixes()
_CERT_REQ_TRUE = b"\x01\x01\xff"
_POLICY_DER: dict[str, bytes | None] = {}  # by configured policy: its DER, None if the text is not canonical


def _policy_der(policy: str) -> bytes | None:
    """The configured policy's DER, if a reqPolicy with exactly these bytes is accepted by `_parse_any` (it compares
    the request's OID, decoded, with the configured text: a non-canonical text such as 1.3.06 matches no DER)."""
    if policy not in _POLICY_DER:
        try:
            der = bytes(core.ObjectIdentifier(policy).dump())
            _POLICY_DER[policy] = der if _dotted(der) == policy else None
        except (ValueError, TypeError, RequestRejected):
            _POLICY_DER[policy] = None
    return _POLICY_DER[policy]


def _parse_common_shape(der: bytes, policy: str) -> TimestampRequest | None:
    """The request if it has a common shape (see parse_request); None for anything else, including what is bad."""
    end = len(der)
    if end < 2 or der[0] != 0x30:
        return None
    if der[1] == end - 2 and der[1] < 0x80:
        start = 2
    elif der[1] == 0x81 and end > 3 and der[2] == end - 3 and der[2] >= 0x80:
        start = 3
    else:
        return None
    if end < start + 7:
        return None
    prefix_end = start + 9 + der[start + 6]  # version, imprint header, algorithm header and contents, octets header
    known = _IMPRINT_PREFIXES.get(der[start:prefix_end])
    if known is None:
        return None
    name, size = known
    pos = imprint_end = prefix_end + size
    if imprint_end > end:
        return None
    req_policy = nonce = nonce_der = None
    if pos < end and der[pos] == 0x06:
        policy_der = _policy_der(policy)
        if policy_der is None or not der.startswith(policy_der, pos):
            return None  # another policy, or a bad OID: the reader words the rejection
        req_policy, pos = policy, pos + len(policy_der)
    if pos + 2 < end and der[pos] == 0x02:
        length = der[pos + 1]
        nonce_end = pos + 2 + length
        if not 0 < length <= MAX_NONCE_BYTES or nonce_end > end:
            return None
        if length > 1:
            first, second = der[pos + 2], der[pos + 3]
            if (first == 0 and second < 0x80) or (first == 0xFF and second >= 0x80):
                return None  # not minimal
        nonce_der = der[pos:nonce_end]
        nonce, pos = int.from_bytes(nonce_der[2:], "big", signed=True), nonce_end
    if pos == end:
        cert_req = False
    elif pos + 3 == end and der.startswith(_CERT_REQ_TRUE, pos):
        cert_req = True
    else:
        return None
    return TimestampRequest(
        name, der[prefix_end:imprint_end], der[start + 3 : imprint_end], nonce, nonce_der, cert_req, req_policy
    )


# --- any request: the strict reader ----------------------------------------------------------------------------------


def _parse_any(der: bytes, policy: str) -> TimestampRequest:
    try:
        fields = _read_request(der)
    except MalformedRequest as exc:
        raise RequestRejected(FailureInfo.BAD_DATA_FORMAT, f"not a DER TimeStampReq: {exc.message}") from None
    return _check_request(der, fields, policy)


class _RequestFields(NamedTuple):
    """Offsets and values of a TimeStampReq read for its structure only; `_check_request` judges them."""

    version: int
    imprint: tuple[int, int]  # MessageImprint TLV
    oid: tuple[int, int]  # hashAlgorithm OID TLV (starts where hashAlgorithm's contents do)
    parameters: bytes
    hashed: tuple[int, int]  # hashedMessage contents
    policy: tuple[int, int] | None  # reqPolicy OID TLV
    nonce: tuple[int, int, int] | None  # TLV start, contents start, end
    cert_req: bool
    extensions: bool  # a non-empty [0] extensions


def _read_request(der: bytes) -> _RequestFields:
    start, stop = der_expect(der, 0, len(der), 0x30, "TimeStampReq")
    if stop != len(der):
        raise MalformedRequest("trailing bytes after the TimeStampReq")
    v_start, v_stop = der_expect(der, start, stop, 0x02, "version")
    version = der_integer(der, v_start, v_stop, "version")
    m_start, m_stop = der_expect(der, v_stop, stop, 0x30, "messageImprint")
    a_start, a_stop = der_expect(der, m_start, m_stop, 0x30, "hashAlgorithm")
    o_stop = der_expect(der, a_start, a_stop, 0x06, "hashAlgorithm OID")[1]
    if o_stop != a_stop and der_header(der, o_stop, a_stop)[2] != a_stop:
        raise MalformedRequest("unexpected field after the hashAlgorithm parameters")
    h_start, h_stop = der_expect(der, a_stop, m_stop, 0x04, "hashedMessage")
    if h_stop != m_stop:
        raise MalformedRequest("unexpected field in messageImprint")
    pos = m_stop
    policy = nonce = None
    cert_req = extensions = False
    if der_peek(der, pos, stop) == 0x06:
        policy = (pos, der_expect(der, pos, stop, 0x06, "reqPolicy")[1])
        pos = policy[1]
    if der_peek(der, pos, stop) == 0x02:
        n_start, n_stop = der_expect(der, pos, stop, 0x02, "nonce")
        der_integer(der, n_start, n_stop, "nonce")
        nonce, pos = (pos, n_start, n_stop), n_stop
    if der_peek(der, pos, stop) == 0x01:
        b_start, b_stop = der_expect(der, pos, stop, 0x01, "certReq")
        if b_stop - b_start != 1 or der[b_start] not in (0x00, 0xFF):
            raise MalformedRequest("certReq must be a DER BOOLEAN")
        cert_req, pos = der[b_start] == 0xFF, b_stop
    if der_peek(der, pos, stop) == 0xA0:
        e_start, e_stop = der_expect(der, pos, stop, 0xA0, "extensions")
        _read_extensions(der, e_start, e_stop)
        extensions, pos = e_start != e_stop, e_stop
    if pos != stop:
        raise MalformedRequest("unexpected field in TimeStampReq")
    return _RequestFields(
        version, (v_stop, m_stop), (a_start, o_stop), der[o_stop:a_stop],
        (h_start, h_stop), policy, nonce, cert_req, extensions,
    )  # fmt: skip


def _read_extensions(der: bytes, pos: int, end: int) -> None:
    while pos < end:
        pos = der_expect(der, pos, end, 0x30, "Extension")[1]


def _check_request(der: bytes, fields: _RequestFields, policy: str) -> TimestampRequest:
    if fields.version != 1:
        raise RequestRejected(FailureInfo.BAD_DATA_FORMAT, f"request version must be 1, not {fields.version}")
    known = _IMPRINT_BY_DER.get(der[fields.oid[0] : fields.oid[1]])
    if known is None:
        oid = _dotted(der[fields.oid[0] : fields.oid[1]])
        supported = ", ".join(name for name, _ in IMPRINT_ALGORITHMS.values())
        raise RequestRejected(FailureInfo.BAD_ALG, f"message digest algorithm {oid} is not supported ({supported})")
    if fields.parameters not in (b"", b"\x05\x00"):  # absent or NULL
        raise RequestRejected(FailureInfo.BAD_ALG, "message digest algorithm parameters must be absent or NULL")
    name, length = known
    hashed = der[fields.hashed[0] : fields.hashed[1]]
    if len(hashed) != length:
        raise RequestRejected(FailureInfo.BAD_DATA_FORMAT, f"a {name} message imprint must be {length} bytes")
    req_policy = None
    if fields.policy is not None:
        policy_der = der[fields.policy[0] : fields.policy[1]]
        req_policy = _dotted(policy_der)
        if req_policy != policy:
            raise RequestRejected(FailureInfo.UNACCEPTED_POLICY, f"policy {req_policy} is not supported; use {policy}")
    if fields.extensions:
        raise RequestRejected(FailureInfo.UNACCEPTED_EXTENSION, "request extensions are not supported")
    nonce = nonce_der = None
    if fields.nonce is not None:
        tlv_start, contents, end = fields.nonce
        if end - contents > MAX_NONCE_BYTES:
            raise RequestRejected(FailureInfo.BAD_REQUEST, f"nonce is longer than {MAX_NONCE_BYTES} bytes")
        nonce, nonce_der = int.from_bytes(der[contents:end], "big", signed=True), der[tlv_start:end]
    imprint_der = der[fields.imprint[0] : fields.imprint[1]]
    return TimestampRequest(name, hashed, imprint_der, nonce, nonce_der, fields.cert_req, req_policy)


def _dotted(oid_der: bytes) -> str:
    try:
        return str(core.ObjectIdentifier.load(oid_der, strict=True).dotted)
    except (ValueError, TypeError) as exc:
        raise RequestRejected(FailureInfo.BAD_DATA_FORMAT, f"not a DER TimeStampReq: bad OID: {exc}") from None


def build_request(
    data: bytes, hash_name: str = "sha256", nonce: int | None = None, cert_req: bool = True, policy: str | None = None
) -> bytes:
    """A DER TimeStampReq for `data` (what `openssl ts -query` makes), for the CLI and tests."""
    if hash_name not in _IMPRINT_OIDS:
        raise ValidationError("hash", f"must be one of {', '.join(_IMPRINT_OIDS)}, not {hash_name!r}")
    fields: dict[str, object] = {
        "version": 1,
        "message_imprint": {
            "hash_algorithm": {"algorithm": _IMPRINT_OIDS[hash_name]},
            "hashed_message": digest(hash_name, data),
        },
        "cert_req": cert_req,
    }
    if nonce is not None:
        fields["nonce"] = nonce
    if policy is not None:
        fields["req_policy"] = policy
    der: bytes = tsp.TimeStampReq(fields).dump()
    return der


def rejection(failure: FailureInfo, text: str) -> bytes:
    """A TimeStampResp with status rejection, the failure bit and a status string (and no token)."""
    status = tsp.PKIStatusInfo({"status": "rejection", "status_string": [text], "fail_info": {failure.value}})
    return tlv(_SEQUENCE, status.dump())  # asn1crypto's TimeStampResp wrongly requires timeStampToken


# --- DER pieces ---------------------------------------------------------------------------------------------------


_SEQUENCE, _SET, _OCTETS, _CONTEXT_0 = 0x30, 0x31, 0x04, 0xA0
_GRANTED = tsp.PKIStatusInfo({"status": "granted"}).dump()
_TST_INFO_OID = core.ObjectIdentifier("1.2.840.113549.1.9.16.1.4").dump()
_SIGNED_DATA_OID = core.ObjectIdentifier("1.2.840.113549.1.7.2").dump()
_UTC_TIME_LIMIT = datetime(2050, 1, 1, tzinfo=UTC)
_INTEGER_HEADERS = [bytes((0x02, n)) for n in range(0x80)]
_MAX_LAYOUTS = 512


def _certificate_set(certificate_der: bytes, ca_chain: Sequence[bytes]) -> bytes:
    """SignedData's [0] IMPLICIT CertificateSet: the TSA certificate and the intermediates of its chain."""
    intermediates = [der for der in ca_chain if not x509.Certificate.load(der).self_issued and der != certificate_der]
    members = sorted({certificate_der, *intermediates})  # DER orders a SET OF by the encodings
    return tlv(_CONTEXT_0, b"".join(members))


def _attribute_prefix(kind: str, value: object, tail: int) -> bytes:
    """The DER of an attribute without its last `tail` bytes (the part that changes per token)."""
    der: bytes = cms.CMSAttribute({"type": kind, "values": [value]}).dump()
    return der[:-tail]


def _hash_function(name: str) -> Callable[[bytes], bytes]:
    """`digest(name, ·)`, through hashlib where it gives the same digest for a third of the call's cost."""
    if name == "sha256":
        return _sha256
    if name in hashlib.algorithms_available:
        prototype = hashlib.new(name)
        if _copy_digest(prototype, b"abc") == digest(name, b"abc"):
            return partial(_copy_digest, prototype)
    return partial(digest, name)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _copy_digest(prototype: hashlib._Hash, data: bytes) -> bytes:
    h = prototype.copy()  # cheaper than hashlib.new(name), which looks the algorithm up each time
    h.update(data)
    return h.digest()


class IssuedToken(NamedTuple):
    response_der: bytes
    serial: int
    gen_time: datetime


class _Times(NamedTuple):
    """A genTime as given, the whole-second UTC moment, its GeneralizedTime TLV followed by the accuracy, and the
    signingTime UTCTime text."""

    given: object
    moment: datetime
    generalized_and_accuracy: bytes
    signing_time: bytes


class _Layout(NamedTuple):
    """The bytes of a response around the TSTInfo, the signed attributes and the signature, for given lengths."""

    lead: bytes  # response, token, SignedData ... through the eContent OCTET STRING's header
    middle: bytes  # certificates (if certReq), signerInfos ... through the signed attributes' [0] header
    before_signature: bytes  # signatureAlgorithm and the signature OCTET STRING's header


class TimestampAuthority:
    """One TSA key and certificate, with the token's fixed parts encoded once.

    `ca_chain`: the certificates of the CAs above the TSA certificate, issuer first (CaService.ca_chain); the
    intermediates among them go into tokens with the TSA certificate, self-signed roots do not."""

    def __init__(
        self,
        signer: Signer,
        certificate_der: bytes,
        policy: str = TSA_POLICY_OID,
        include_tsa_name: bool = True,
        ca_chain: Sequence[bytes] = (),
    ) -> None:
        certificate = x509.Certificate.load(certificate_der)
        self.signer = signer
        self.certificate_der = certificate_der
        self.policy = policy
        scheme = signer.scheme
        self._hash = _hash_function(scheme.digest_name)
        digest_algorithm = algos.DigestAlgorithm(
            {"algorithm": "sm3" if scheme is SignatureScheme.SM2_SM3 else "sha256"}
        ).dump()
        self._signature_algorithm = signature_algorithm(scheme).dump()

        self._tst_head = core.Integer(1).dump() + core.ObjectIdentifier(policy).dump()
        self._accuracy = tsp.Accuracy({"seconds": ACCURACY_SECONDS}).dump()
        tsa_name = tlv(_CONTEXT_0, x509.GeneralName(name="directory_name", value=certificate.subject).dump())
        self._tst_tail = tsa_name if include_tsa_name else b""
        # every TSTInfo piece but the imprint, serial and nonce: version, policy, genTime, accuracy, tsa
        self._tst_fixed = len(self._tst_head) + 17 + len(self._accuracy) + len(self._tst_tail)
        self._times = _Times(object(), datetime.min, b"", b"")  # the last genTime seen (one per batch)

        self._set_attributes_template(certificate, certificate_der, len(self._hash(b"")))
        sid = cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": certificate.issuer, "serial_number": certificate.serial_number},
        )
        self._signer_info_head = core.Integer(1).dump() + sid.dump() + digest_algorithm
        self._signed_data_head = core.Integer(3).dump() + tlv(_SET, digest_algorithm)
        self._certificates = _certificate_set(certificate_der, ca_chain)
        self._layouts: dict[tuple[int, int, bool], _Layout] = {}

    def _set_attributes_template(
        self, certificate: x509.Certificate, certificate_der: bytes, digest_length: int
    ) -> None:
        """The signed attributes in DER order as bytes around two holes, signingTime's and messageDigest's values.

        Each attribute is SEQUENCE { OID, SET { value } } and the holes are at the ends, so two attributes' encodings
        differ at the latest in their (distinct) OIDs: their order does not depend on what fills the holes."""
        content_type = cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}).dump()
        message_digest = _attribute_prefix("message_digest", b"\0" * digest_length, digest_length)
        signing_time = _attribute_prefix("signing_time", cms.Time({"utc_time": datetime(2000, 1, 1, tzinfo=UTC)}), 13)
        cert_id = tsp.ESSCertIDv2(
            {
                "cert_hash": digest("sha256", certificate_der),
                "issuer_serial": {
                    "issuer": [x509.GeneralName(name="directory_name", value=certificate.issuer)],
                    "serial_number": certificate.serial_number,
                },
            }
        )
        signing_certificate = cms.CMSAttribute(
            {"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2({"certs": [cert_id]})]}
        ).dump()
        digest_attribute, time_attribute = message_digest + b"\0" * digest_length, signing_time + b"\0" * 13
        ordered = sorted((content_type, digest_attribute, time_attribute, signing_certificate))
        time_at, digest_at = ordered.index(time_attribute), ordered.index(digest_attribute)
        if time_at > digest_at:  # signingTime's attribute is 28 bytes, messageDigest's 15 + the digest's length
            raise CertsealError(f"a {digest_length}-byte message digest is too short for this TSA's template")
        before = b"".join(ordered[:time_at]) + signing_time
        between = b"".join(ordered[time_at + 1 : digest_at]) + message_digest
        after = b"".join(ordered[digest_at + 1 :])
        self._attributes_length = sum(len(a) for a in ordered)
        set_header = header(_SET, self._attributes_length)
        self._to_sign_head = set_header + before  # the DER SET OF is what is signed
        self._set_header_length = len(set_header)
        self._attributes_between, self._attributes_after = between, after

    def issue(self, request: TimestampRequest, serial: int, gen_time: datetime) -> IssuedToken:
        """The DER TimeStampResp (status granted) for a checked request."""
        times = self._times
        if times.given is not gen_time:  # a batch passes one datetime for all its tokens
            times = self._times = _token_times(gen_time, self._accuracy)
        serial_bytes = serial.to_bytes(serial.bit_length() // 8 + 1, "big")
        serial_length = len(serial_bytes)
        nonce = request.nonce_der or b""
        imprint = request.imprint_der
        tst_length = self._tst_fixed + len(imprint) + serial_length + 2 + len(nonce)
        if serial_length >= 0x80:
            serial_header = header(0x02, serial_length)
            tst_length += len(serial_header) - 2
        else:
            serial_header = _INTEGER_HEADERS[serial_length]
        tst_info = b"".join(
            (
                header(_SEQUENCE, tst_length),
                self._tst_head,
                imprint,
                serial_header,
                serial_bytes,
                times.generalized_and_accuracy,
                nonce,
                self._tst_tail,
            )
        )
        signed = b"".join(
            (
                self._to_sign_head,
                times.signing_time,
                self._attributes_between,
                self._hash(tst_info),
                self._attributes_after,
            )
        )
        signature = self.signer.sign(signed)
        key = (len(tst_info), len(signature), request.cert_req)
        layout = self._layouts.get(key) or self._layout(*key)
        response = b"".join(
            (
                layout.lead,
                tst_info,
                layout.middle,
                signed[self._set_header_length :],
                layout.before_signature,
                signature,
            )
        )
        return IssuedToken(response, serial, times.moment)

    def _layout(self, tst_info_length: int, signature_length: int, cert_req: bool) -> _Layout:
        """Every header of a response whose TSTInfo and signature have these lengths (cached: they repeat)."""
        attributes_header = header(_CONTEXT_0, self._attributes_length)
        signature_header = header(_OCTETS, signature_length)
        before_signature = self._signature_algorithm + signature_header
        signer_info_body = self._signer_info_head + attributes_header
        signer_info_length = len(signer_info_body) + self._attributes_length + len(before_signature) + signature_length
        signer_info_header = header(_SEQUENCE, signer_info_length)
        signer_infos_header = header(_SET, len(signer_info_header) + signer_info_length)
        certificates = self._certificates if cert_req else b""
        middle = certificates + signer_infos_header + signer_info_header + signer_info_body

        tst_octets_header = header(_OCTETS, tst_info_length)
        tst_explicit_header = header(_CONTEXT_0, len(tst_octets_header) + tst_info_length)
        encapsulated_length = len(_TST_INFO_OID) + len(tst_explicit_header) + len(tst_octets_header) + tst_info_length
        encapsulated_header = header(_SEQUENCE, encapsulated_length)
        signed_data_length = (
            len(self._signed_data_head)
            + len(encapsulated_header)
            + encapsulated_length
            + len(middle)
            - len(signer_info_body)
            + signer_info_length
        )
        signed_data_header = header(_SEQUENCE, signed_data_length)
        content_header = header(_CONTEXT_0, len(signed_data_header) + signed_data_length)
        token_length = len(_SIGNED_DATA_OID) + len(content_header) + len(signed_data_header) + signed_data_length
        token_header = header(_SEQUENCE, token_length)
        lead = b"".join(
            (
                header(_SEQUENCE, len(_GRANTED) + len(token_header) + token_length),
                _GRANTED,
                token_header,
                _SIGNED_DATA_OID,
                content_header,
                signed_data_header,
                self._signed_data_head,
                encapsulated_header,
                _TST_INFO_OID,
                tst_explicit_header,
                tst_octets_header,
            )
        )
        layout = _Layout(lead, middle, before_signature)
        if len(self._layouts) >= _MAX_LAYOUTS:
            self._layouts.clear()
        self._layouts[(tst_info_length, signature_length, cert_req)] = layout
        return layout


_TIMES: dict[datetime, tuple[bytes, bytes]] = {}  # a busy TSA stamps many tokens in the same second


def _token_times(gen_time: datetime, accuracy: bytes) -> _Times:
    """genTime (GeneralizedTime TLV) and the signingTime UTCTime text of `gen_time` in whole seconds, UTC."""
    moment = gen_time.astimezone(UTC).replace(microsecond=0)
    times = _TIMES.get(moment)
    if times is None:
        if moment >= _UTC_TIME_LIMIT:
            raise CertsealError("signingTime after 2049 needs GeneralizedTime; this TSA encodes UTCTime only")
        if len(_TIMES) >= 64:
            _TIMES.clear()
        generalized = tlv(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode())
        times = _TIMES[moment] = (generalized, moment.strftime("%y%m%d%H%M%SZ").encode())
    return _Times(gen_time, moment, times[0] + accuracy, times[1])
