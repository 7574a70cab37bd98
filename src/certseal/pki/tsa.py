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

Hot path: everything that does not change between tokens (algorithm identifiers, sid, the signingCertificateV2
attribute, the TSA name, the certificate set) is DER-encoded once with asn1crypto when a TimestampAuthority is built;
a token is then a few byte concatenations, two digests and one signature.  tests/integration/test_tsa.py checks that the
result re-encodes identically through asn1crypto.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from asn1crypto import algos, cms, core, tsp, x509

from certseal.crypto.algorithms import SM3_OID, SignatureScheme
from certseal.crypto.hashes import digest
from certseal.crypto.signer import Signer
from certseal.errors import CertsealError, ValidationError
from certseal.pki.asn1 import signature_algorithm
from certseal.pki.der import header, positive_integer, tlv
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


@dataclass(frozen=True)
class TimestampRequest:
    """A checked TimeStampReq; the DER pieces that a token echoes are kept as they came."""

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
    refuses BER forms (indefinite or non-minimal lengths, non-minimal INTEGERs, trailing bytes) DER forbids.
    """
    if not data or len(data) > MAX_REQUEST_BYTES:
        raise RequestRejected(FailureInfo.BAD_DATA_FORMAT, f"request must be 1 to {MAX_REQUEST_BYTES} bytes of DER")
    if type(data) is not bytes:
        data = bytes(data)
    try:
        fields = _read_request(data)
    except MalformedRequest as exc:
        raise RequestRejected(FailureInfo.BAD_DATA_FORMAT, f"not a DER TimeStampReq: {exc.message}") from None
    return _check_request(data, fields, policy)


@dataclass(frozen=True, slots=True)
class _RequestFields:
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


def _certificate_set(certificate_der: bytes, ca_chain: Sequence[bytes]) -> bytes:
    """SignedData's [0] IMPLICIT CertificateSet: the TSA certificate and the intermediates of its chain."""
    intermediates = [der for der in ca_chain if not x509.Certificate.load(der).self_issued and der != certificate_der]
    members = sorted({certificate_der, *intermediates})  # DER orders a SET OF by the encodings
    return tlv(_CONTEXT_0, b"".join(members))


def _attribute_prefix(kind: str, value: object, tail: int) -> bytes:
    """The DER of an attribute without its last `tail` bytes (the part that changes per token)."""
    der: bytes = cms.CMSAttribute({"type": kind, "values": [value]}).dump()
    return der[:-tail]


@dataclass(frozen=True)
class IssuedToken:
    response_der: bytes
    serial: int
    gen_time: datetime


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
        self._digest_name = scheme.digest_name
        digest_length = len(digest(self._digest_name, b""))
        digest_algorithm = algos.DigestAlgorithm(
            {"algorithm": "sm3" if scheme is SignatureScheme.SM2_SM3 else "sha256"}
        )
        self._signature_algorithm = signature_algorithm(scheme).dump()

        self._tst_head = core.Integer(1).dump() + core.ObjectIdentifier(policy).dump()
        accuracy = tsp.Accuracy({"seconds": ACCURACY_SECONDS}).dump()
        tsa_name = tlv(_CONTEXT_0, x509.GeneralName(name="directory_name", value=certificate.subject).dump())
        self._accuracy = accuracy
        self._tst_tail = tsa_name if include_tsa_name else b""

        self._content_type_attr = cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}).dump()
        self._message_digest_prefix = _attribute_prefix("message_digest", b"\0" * digest_length, digest_length)
        self._signing_time_prefix = _attribute_prefix(
            "signing_time", cms.Time({"utc_time": datetime(2000, 1, 1, tzinfo=UTC)}), 13
        )
        cert_id = tsp.ESSCertIDv2(
            {
                "cert_hash": digest("sha256", certificate_der),
                "issuer_serial": {
                    "issuer": [x509.GeneralName(name="directory_name", value=certificate.issuer)],
                    "serial_number": certificate.serial_number,
                },
            }
        )
        self._signing_certificate_attr = cms.CMSAttribute(
            {"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2({"certs": [cert_id]})]}
        ).dump()

        sid = cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": certificate.issuer, "serial_number": certificate.serial_number},
        )
        self._signer_info_head = core.Integer(1).dump() + sid.dump() + digest_algorithm.dump()
        self._signed_data_head = core.Integer(3).dump() + tlv(_SET, digest_algorithm.dump())
        self._certificates = _certificate_set(certificate_der, ca_chain)
        self._signer_info_fixed = len(self._signer_info_head) + len(self._signature_algorithm)

    def issue(self, request: TimestampRequest, serial: int, gen_time: datetime) -> IssuedToken:
        """The DER TimeStampResp (status granted) for a checked request.

        Every length is worked out from the pieces and the response joined once: no piece is copied into each of
        the ten structures around it."""
        gen_time = gen_time.astimezone(UTC).replace(microsecond=0)
        generalized, signing_time = _token_times(gen_time)
        tst_body = b"".join(
            (
                self._tst_head,
                request.imprint_der,
                positive_integer(serial),
                generalized,
                self._accuracy,
                request.nonce_der or b"",
                self._tst_tail,
            )
        )
        tst_info = header(_SEQUENCE, len(tst_body)) + tst_body
        attributes = sorted(
            (
                self._content_type_attr,
                self._message_digest_prefix + digest(self._digest_name, tst_info),
                self._signing_time_prefix + signing_time,
                self._signing_certificate_attr,
            )
        )  # DER orders a SET OF by the encodings
        signed_attributes = b"".join(attributes)
        signature = self.signer.sign(header(_SET, len(signed_attributes)) + signed_attributes)

        attributes_header = header(_CONTEXT_0, len(signed_attributes))
        signature_header = header(_OCTETS, len(signature))
        signer_info_length = (
            self._signer_info_fixed
            + len(attributes_header)
            + len(signed_attributes)
            + len(signature_header)
            + len(signature)
        )
        signer_info_header = header(_SEQUENCE, signer_info_length)
        signer_infos_header = header(_SET, len(signer_info_header) + signer_info_length)
        tst_octets_header = header(_OCTETS, len(tst_info))
        tst_explicit_header = header(_CONTEXT_0, len(tst_octets_header) + len(tst_info))
        encapsulated_length = len(_TST_INFO_OID) + len(tst_explicit_header) + len(tst_octets_header) + len(tst_info)
        encapsulated_header = header(_SEQUENCE, encapsulated_length)
        certificates = self._certificates if request.cert_req else b""
        signed_data_length = (
            len(self._signed_data_head)
            + len(encapsulated_header)
            + encapsulated_length
            + len(certificates)
            + len(signer_infos_header)
            + len(signer_info_header)
            + signer_info_length
        )
        signed_data_header = header(_SEQUENCE, signed_data_length)
        content_header = header(_CONTEXT_0, len(signed_data_header) + signed_data_length)
        token_length = len(_SIGNED_DATA_OID) + len(content_header) + len(signed_data_header) + signed_data_length
        token_header = header(_SEQUENCE, token_length)
        response = b"".join(
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
                tst_info,
                certificates,
                signer_infos_header,
                signer_info_header,
                self._signer_info_head,
                attributes_header,
                signed_attributes,
                self._signature_algorithm,
                signature_header,
                signature,
            )
        )
        return IssuedToken(response, serial, gen_time)


_TIMES: dict[datetime, tuple[bytes, bytes]] = {}  # a busy TSA stamps many tokens in the same second


def _token_times(moment: datetime) -> tuple[bytes, bytes]:
    """genTime (GeneralizedTime TLV) and the signingTime UTCTime text of a whole-second UTC moment."""
    times = _TIMES.get(moment)
    if times is None:
        if moment >= _UTC_TIME_LIMIT:
            raise CertsealError("signingTime after 2049 needs GeneralizedTime; this TSA encodes UTCTime only")
        if len(_TIMES) >= 64:
            _TIMES.clear()
        generalized = tlv(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode())
        times = _TIMES[moment] = (generalized, moment.strftime("%y%m%d%H%M%SZ").encode())
    return times
