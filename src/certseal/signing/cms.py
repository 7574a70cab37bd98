"""CMS SignedData (RFC 5652) for RSA, ECDSA and SM2: signing, CAdES-B/T attributes, parsing and checking.

Every signature goes through a Signer, so the PDF, OFD and hash-only signing paths share one builder.

Signed attributes (CAdES-B, ETSI EN 319 122-1): content-type, message-digest, signing-certificate-v2 (ESSCertIDv2
with issuerSerial) and signing-time only when a time is given (PAdES B-B forbids it).  ``cades=False`` writes plain
RFC 5652 attributes: content-type, message-digest, signing-time.  A CAdES-T signature adds the unsigned attribute
signatureTimeStampToken, a token over H(signature value) with the signer's digest algorithm.

Algorithms: RSA PKCS#1 v1.5 and RSA-PSS, ECDSA P-256, all with SHA-256; SM2 with SM3.  The Signer hashes with its
scheme's digest only, so the CMS digest algorithm is always the scheme's (sha256, or sm3 for SM2).

SM2 (GB/T 35275 / GM/T 0010):
- ContentInfo contentType 1.2.156.10197.6.1.4.2.2 and eContentType 1.2.156.10197.6.1.4.2.1; digestAlgorithm SM3.
- signatureAlgorithm 1.2.156.10197.1.501 (SM2-with-SM3), not GB/T 35275's 1.2.156.10197.1.301.1: it is what
  certseal writes in certificates, CRLs and timestamps, what OpenSSL, BouncyCastle and GmSSL name and what most
  products write; it names hash and signature at once, so a verifier needs no side rule.  Parsing accepts both
  (and 1.2.156.10197.1.301), and also SM2 CMS that uses RFC 5652's content types.
- signingCertificateV2 hashes the certificate with SM3 (hashAlgorithm written explicitly): an SM2 signature then
  uses the SM suite only, as GM/T compliance asks; RSA/ECDSA use SHA-256 (the DER default, so omitted).
- The signature is SM2 over SM3(Z || DER(signedAttrs)) with the standard ID 1234567812345678 (Signer.sign adds Z).

Hot path (PDF sealing): the parts that depend only on the signer certificate (sid, algorithm identifiers, the
signingCertificateV2 and content-type attributes) are DER-encoded once with asn1crypto and cached per certificate;
a signature is then a few byte concatenations, one digest and one Signer call.  Parsing uses asn1crypto.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from typing import Final, Literal, Protocol, cast

from asn1crypto import algos, cms, core, tsp, x509

from certseal.crypto.algorithms import SM2_WITH_SM3_OID, SM3_OID, SignatureScheme
from certseal.crypto.hashes import digest
from certseal.crypto.keys import PublicKey
from certseal.crypto.signer import Signer
from certseal.errors import CertsealError, CryptoError, InvalidSignature, ValidationError
from certseal.pki.asn1 import signature_algorithm
from certseal.pki.der import tlv

DigestName = Literal["sha256", "sha384", "sha512", "sm3"]

ID_DATA: Final = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA: Final = "1.2.840.113549.1.7.2"
SM2_DATA: Final = "1.2.156.10197.6.1.4.2.1"
SM2_SIGNED_DATA: Final = "1.2.156.10197.6.1.4.2.2"
SM2_SIGNATURE_GBT35275: Final = "1.2.156.10197.1.301.1"
SM2_ALGORITHM: Final = "1.2.156.10197.1.301"
ID_CONTENT_TYPE: Final = "1.2.840.113549.1.9.3"
ID_MESSAGE_DIGEST: Final = "1.2.840.113549.1.9.4"
ID_SIGNING_TIME: Final = "1.2.840.113549.1.9.5"
ID_SIGNING_CERTIFICATE_V2: Final = "1.2.840.113549.1.9.16.2.47"
ID_SIGNATURE_TIME_STAMP_TOKEN: Final = "1.2.840.113549.1.9.16.2.14"
ID_TST_INFO: Final = "1.2.840.113549.1.9.16.1.4"

DIGEST_OIDS: Final[dict[DigestName, str]] = {
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
    "sm3": SM3_OID,
}
_DIGEST_BY_OID: dict[str, DigestName] = {oid: name for name, oid in DIGEST_OIDS.items()}
_DIGEST_SIZES: dict[DigestName, int] = {"sha256": 32, "sha384": 48, "sha512": 64, "sm3": 32}

# signatureAlgorithm OID -> (scheme family, hash it fixes; None: the SignerInfo's digestAlgorithm)
_SIGNATURE_ALGORITHMS: dict[str, tuple[SignatureScheme, DigestName | None]] = {
    "1.2.840.113549.1.1.1": (SignatureScheme.RSA_PKCS1_SHA256, None),  # rsaEncryption, what OpenSSL writes
    "1.2.840.113549.1.1.11": (SignatureScheme.RSA_PKCS1_SHA256, "sha256"),
    "1.2.840.113549.1.1.12": (SignatureScheme.RSA_PKCS1_SHA256, "sha384"),
    "1.2.840.113549.1.1.13": (SignatureScheme.RSA_PKCS1_SHA256, "sha512"),
    "1.2.840.113549.1.1.10": (SignatureScheme.RSA_PSS_SHA256, None),  # hash from the RSASSA-PSS parameters
    "1.2.840.10045.2.1": (SignatureScheme.ECDSA_SHA256, None),  # id-ecPublicKey, written by some producers
    "1.2.840.10045.4.3.2": (SignatureScheme.ECDSA_SHA256, "sha256"),
    "1.2.840.10045.4.3.3": (SignatureScheme.ECDSA_SHA256, "sha384"),
    "1.2.840.10045.4.3.4": (SignatureScheme.ECDSA_SHA256, "sha512"),
    SM2_WITH_SM3_OID: (SignatureScheme.SM2_SM3, "sm3"),
    SM2_SIGNATURE_GBT35275: (SignatureScheme.SM2_SM3, "sm3"),
    SM2_ALGORITHM: (SignatureScheme.SM2_SM3, "sm3"),
}


def _register_content_types() -> None:
    """Teach asn1crypto the GB/T 35275 content types, so an SM2 ContentInfo parses as SignedData."""
    cms.ContentType._map.update({SM2_DATA: "sm2_data", SM2_SIGNED_DATA: "sm2_signed_data"})
    cms.ContentType._reverse_map = {name: oid for oid, name in cms.ContentType._map.items()}
    cms.ContentInfo._oid_specs["sm2_signed_data"] = cms.SignedData


_register_content_types()


class Timestamper(Protocol):
    def __call__(self, message_imprint: bytes, digest_algorithm: DigestName) -> bytes:
        """Return a TimeStampToken (ContentInfo DER) whose messageImprint is `message_imprint` (already hashed)."""
        ...


class _Now(Enum):
    NOW = "now"


NOW: Final = _Now.NOW  # sign()'s default signing time: the moment of signing


# --- building -------------------------------------------------------------------------------------------------

_SEQUENCE, _SET, _OCTETS, _CONTEXT_0, _CONTEXT_1 = 0x30, 0x31, 0x04, 0xA0, 0xA1
_UTC_TIME_LIMIT = datetime(2050, 1, 1, tzinfo=UTC)
_MAX_TEMPLATES = 256


@lru_cache(maxsize=64)
def _oid(dotted: str) -> bytes:
    der: bytes = core.ObjectIdentifier(dotted).dump()
    return der


_SIGNING_TIME_OID = _oid(ID_SIGNING_TIME)
_TIME_STAMP_TOKEN_OID = _oid(ID_SIGNATURE_TIME_STAMP_TOKEN)
_VERSION_1 = core.Integer(1).dump()
_VERSION_3 = core.Integer(3).dump()


@lru_cache(maxsize=64)
def _content_type_oid(content_type: str) -> str:
    """A content type given as an asn1crypto name ("data", "tst_info") or a dotted OID, as a dotted OID."""
    try:
        return str(cms.ContentType(content_type).dotted)
    except (ValueError, TypeError):
        raise ValidationError(
            "content_type", f"must be a content type name or dotted OID, not {content_type!r}"
        ) from None


@lru_cache(maxsize=64)
def _content_type_attribute(content_type_oid: str) -> bytes:
    der: bytes = cms.CMSAttribute({"type": "content_type", "values": [content_type_oid]}).dump()
    return der


@lru_cache(maxsize=1024)
def _checked_certificate(der: bytes, field_name: str) -> x509.Certificate:
    try:
        certificate = x509.Certificate.load(der, strict=True)
        certificate.native  # noqa: B018  # parse every field now, not at first use
    except (ValueError, TypeError) as exc:
        raise ValidationError(field_name, f"must be a DER X.509 certificate: {exc}") from None
    return certificate


@dataclass(frozen=True, slots=True)
class _SignerTemplate:
    """The DER pieces of a SignerInfo that depend only on the signer certificate, key and scheme."""

    certificate_der: bytes
    digest_name: DigestName
    digest_size: int
    gm: bool  # GB/T 35275 content types (SM2)
    digest_algorithms: bytes  # SET OF, for SignedData
    signature_algorithm: bytes
    signer_info_head: bytes  # version, sid, digestAlgorithm
    signing_certificate: bytes  # signingCertificateV2 attribute
    message_digest_prefix: bytes  # the attribute up to the digest value


def _build_template(signer: Signer, certificate_der: bytes, digest_name: DigestName) -> _SignerTemplate:
    certificate = _checked_certificate(certificate_der, "signer.certificate")
    if certificate.public_key.dump() != signer.public_key.spki_der:
        raise ValidationError("signer.certificate", "does not hold the signer's public key")
    gm = signer.scheme is SignatureScheme.SM2_SM3
    algorithm = tlv(_SEQUENCE, _oid(DIGEST_OIDS[digest_name]))  # parameters absent (RFC 5754 2; asn1crypto adds NULL)
    issuer_serial = {"issuer": certificate.issuer, "serial_number": certificate.serial_number}
    sid = cms.SignerIdentifier(name="issuer_and_serial_number", value=issuer_serial)
    size = _DIGEST_SIZES[digest_name]
    message_digest = cms.CMSAttribute({"type": "message_digest", "values": [b"\0" * size]}).dump()
    return _SignerTemplate(
        certificate_der=certificate_der,
        digest_name=digest_name,
        digest_size=size,
        gm=gm,
        digest_algorithms=tlv(_SET, algorithm),
        signature_algorithm=signature_algorithm(signer.scheme).dump(),
        signer_info_head=_VERSION_1 + sid.dump() + algorithm,
        signing_certificate=_signing_certificate_attribute(certificate, certificate_der, digest_name if gm else None),
        message_digest_prefix=message_digest[:-size],
    )


def _signing_certificate_attribute(
    certificate: x509.Certificate, certificate_der: bytes, hash_name: DigestName | None
) -> bytes:
    """signingCertificateV2 with one ESSCertIDv2; hash_name None: SHA-256, the DEFAULT (so omitted in DER)."""
    cert_id: dict[str, object] = {
        "cert_hash": digest(hash_name or "sha256", certificate_der),
        "issuer_serial": {
            "issuer": [x509.GeneralName(name="directory_name", value=certificate.issuer)],
            "serial_number": certificate.serial_number,
        },
    }
    if hash_name is not None:
        cert_id["hash_algorithm"] = {"algorithm": DIGEST_OIDS[hash_name]}
    value = tsp.SigningCertificateV2({"certs": [tsp.ESSCertIDv2(cert_id)]})
    der: bytes = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [value]}).dump()
    return der


_TEMPLATES: dict[tuple[bytes, bytes, SignatureScheme, DigestName], _SignerTemplate] = {}


def _template(signer: Signer, digest_name: DigestName) -> _SignerTemplate:
    certificate = signer.certificate
    if certificate is None:
        raise ValidationError("signer", "has no certificate; a CMS signer needs one (see CertifiedSigner)")
    key = (certificate, signer.public_key.spki_der, signer.scheme, digest_name)
    template = _TEMPLATES.get(key)
    if template is None:
        template = _build_template(signer, certificate, digest_name)
        if len(_TEMPLATES) >= _MAX_TEMPLATES:
            _TEMPLATES.clear()
        _TEMPLATES[key] = template
    return template


def default_digest(signer: Signer) -> DigestName:
    """The digest a signer's CMS uses: sm3 for SM2, sha256 otherwise."""
    return "sm3" if signer.scheme is SignatureScheme.SM2_SM3 else "sha256"


def _digest_for(signer: Signer, digest_algorithm: DigestName | None) -> DigestName:
    wanted = default_digest(signer)
    if digest_algorithm is not None and digest_algorithm != wanted:
        if digest_algorithm not in DIGEST_OIDS:
            raise ValidationError("digest_algorithm", f"must be one of {', '.join(DIGEST_OIDS)}")
        raise ValidationError(
            "digest_algorithm", f"a {signer.scheme.value} signer signs {wanted} digests, not {digest_algorithm}"
        )
    return wanted


def sign(
    signer: Signer,
    content: bytes,
    *,
    detached: bool = True,
    chain: Sequence[bytes] = (),
    signing_time: datetime | _Now | None = NOW,
    cades: bool = True,
    timestamper: Timestamper | None = None,
    digest_algorithm: DigestName | None = None,
) -> bytes:
    """A ContentInfo (DER) holding a SignedData over `content`, attached or detached."""
    digest_name = _digest_for(signer, digest_algorithm)
    template = _template(signer, digest_name)
    content = bytes(content)
    moment = datetime.now(UTC) if isinstance(signing_time, _Now) else signing_time
    return _signed_data(
        signer,
        template,
        digest(digest_name, content),
        None if detached else content,
        SM2_DATA if template.gm else ID_DATA,
        chain,
        moment,
        cades,
        timestamper,
    )


def sign_digest(
    signer: Signer,
    message_digest: bytes,
    *,
    digest_algorithm: DigestName,
    chain: Sequence[bytes] = (),
    signing_time: datetime | None = None,
    cades: bool = True,
    timestamper: Timestamper | None = None,
    content_type: str = "data",
) -> bytes:
    """A detached ContentInfo (DER) for content the caller has hashed (PDF byte ranges, hash-only clients).

    content_type "data" means id-data, or GB/T 35275's SM2 data type for an SM2 signer.
    """
    digest_name = _digest_for(signer, digest_algorithm)
    template = _template(signer, digest_name)
    if len(message_digest) != template.digest_size:
        raise ValidationError(
            "message_digest", f"a {digest_name} digest is {template.digest_size} bytes, got {len(message_digest)}"
        )
    if content_type == "data":
        econtent_type = SM2_DATA if template.gm else ID_DATA
    else:
        econtent_type = _content_type_oid(content_type)
    return _signed_data(
        signer, template, bytes(message_digest), None, econtent_type, chain, signing_time, cades, timestamper
    )


def _signed_data(
    signer: Signer,
    template: _SignerTemplate,
    message_digest: bytes,
    content: bytes | None,
    econtent_type: str,
    chain: Sequence[bytes],
    signing_time: datetime | None,
    cades: bool,
    timestamper: Timestamper | None,
) -> bytes:
    attributes = [_content_type_attribute(econtent_type), template.message_digest_prefix + message_digest]
    if cades:
        attributes.append(template.signing_certificate)
    if signing_time is not None:
        attributes.append(_signing_time_attribute(signing_time))
    attributes.sort()  # DER orders a SET OF by the encodings
    signed_attributes = b"".join(attributes)
    signature = signer.sign(tlv(_SET, signed_attributes))
    unsigned = b""
    if timestamper is not None:
        unsigned = tlv(_CONTEXT_1, _timestamp_attribute(signature, template.digest_name, timestamper))
    signer_info = tlv(
        _SEQUENCE,
        template.signer_info_head
        + tlv(_CONTEXT_0, signed_attributes)
        + template.signature_algorithm
        + tlv(_OCTETS, signature)
        + unsigned,
    )
    econtent_oid = _oid(econtent_type)
    encapsulated = econtent_oid if content is None else econtent_oid + tlv(_CONTEXT_0, tlv(_OCTETS, content))
    version = _VERSION_1 if econtent_type in (ID_DATA, SM2_DATA) else _VERSION_3
    signed_data = tlv(
        _SEQUENCE,
        version
        + template.digest_algorithms
        + tlv(_SEQUENCE, encapsulated)
        + _certificate_set(template.certificate_der, chain)
        + tlv(_SET, signer_info),
    )
    outer = _SM2_SIGNED_DATA_OID if template.gm else _SIGNED_DATA_OID
    return tlv(_SEQUENCE, outer + tlv(_CONTEXT_0, signed_data))


_SIGNED_DATA_OID = _oid(ID_SIGNED_DATA)
_SM2_SIGNED_DATA_OID = _oid(SM2_SIGNED_DATA)


def _certificate_set(certificate_der: bytes, chain: Sequence[bytes]) -> bytes:
    """[0] IMPLICIT SET OF Certificate: the signer's and the chain's, without duplicates, in DER order."""
    certificates = {certificate_der}
    for index, der in enumerate(chain):
        _checked_certificate(bytes(der), f"chain[{index}]")
        certificates.add(bytes(der))
    return tlv(_CONTEXT_0, b"".join(sorted(certificates)))


def _signing_time_attribute(moment: datetime) -> bytes:
    """signing-time: UTCTime before 2050, GeneralizedTime from then on (RFC 5652 11.3); whole seconds."""
    if moment.tzinfo is None:
        raise ValidationError("signing_time", "must carry a time zone (use datetime.now(UTC))")
    moment = moment.astimezone(UTC)
    if moment < _UTC_TIME_LIMIT:
        value = tlv(0x17, moment.strftime("%y%m%d%H%M%SZ").encode())
    else:
        value = tlv(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode())
    return tlv(_SEQUENCE, _SIGNING_TIME_OID + tlv(_SET, value))


def _timestamp_attribute(signature: bytes, digest_name: DigestName, timestamper: Timestamper) -> bytes:
    token = timestamper(digest(digest_name, signature), digest_name)
    _token_signed_data(token)  # refuse anything that is not a token before embedding it
    return tlv(_SEQUENCE, _TIME_STAMP_TOKEN_OID + tlv(_SET, token))


def add_signature_timestamp(cms_der: bytes, timestamper: Timestamper) -> bytes:
    """CAdES-B -> CAdES-T: add a signatureTimeStampToken over each SignerInfo's signature value.

    Everything signed stays byte for byte as it was; only the SignerInfos' unsigned attributes change.
    """
    signed_cms = parse(cms_der)
    info = cms.ContentInfo.load(cms_der)
    signed = info["content"]
    signer_infos = []
    for view, signer_info in zip(signed_cms.signers, signed["signer_infos"], strict=True):
        attribute = _timestamp_attribute(view.signature, view.digest_algorithm, timestamper)
        existing = signer_info["unsigned_attrs"]
        unsigned = [] if isinstance(existing, core.Void) else [a.dump() for a in existing]
        unsigned = sorted([*unsigned, attribute])
        fields = b"".join(signer_info[name].dump() for name, _, _ in _SIGNER_INFO_FIELDS if name != "unsigned_attrs")
        signer_infos.append(tlv(_SEQUENCE, fields + tlv(_CONTEXT_1, b"".join(unsigned))))
    head = b"".join(signed[name].dump() for name, _, _ in _SIGNED_DATA_FIELDS if name != "signer_infos")
    signed_data = tlv(_SEQUENCE, head + tlv(_SET, b"".join(sorted(signer_infos))))
    return tlv(_SEQUENCE, info["content_type"].dump() + tlv(_CONTEXT_0, signed_data))


_SIGNER_INFO_FIELDS = cms.SignerInfo._fields
_SIGNED_DATA_FIELDS = cms.SignedData._fields


def rfc3161_timestamper(send: Callable[[bytes], bytes], *, policy: str | None = None) -> Timestamper:
    """A Timestamper that sends an RFC 3161 TimeStampReq (with a nonce, asking for the TSA certificate) through
    `send` (TsaService.stamp in-process, or an HTTP POST) and returns the token, after checking that it answers
    this request: status granted, the same messageImprint and nonce."""

    def stamp(message_imprint: bytes, digest_algorithm: DigestName) -> bytes:
        nonce = secrets.randbits(63) | 1
        fields: dict[str, object] = {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": {"algorithm": DIGEST_OIDS[digest_algorithm]},
                "hashed_message": message_imprint,
            },
            "nonce": nonce,
            "cert_req": True,
        }
        if policy is not None:
            fields["req_policy"] = policy
        token = _granted_token(send(tsp.TimeStampReq(fields).dump()))
        tst_info = _tst_info(token)
        if tst_info["message_imprint"]["hashed_message"].native != message_imprint or (
            tst_info["nonce"].native != nonce
        ):
            raise CryptoError("the timestamp authority answered another request (messageImprint or nonce differ)")
        return token

    return stamp


def _granted_token(response_der: bytes) -> bytes:
    try:
        response = core.Sequence.load(response_der)  # asn1crypto's TimeStampResp requires a token
        status = tsp.PKIStatusInfo.load(response[0].dump())
        granted = status["status"].native in ("granted", "granted_with_mods")
        text = "; ".join(status["status_string"].native or []) if not granted else ""
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise CryptoError(f"the timestamp authority's answer is not a TimeStampResp: {exc}") from None
    if not granted:
        raise CryptoError(f"the timestamp authority refused: {status['status'].native} {text}".strip())
    if len(response) < 2:
        raise CryptoError("the timestamp authority granted no token")
    token: bytes = response[1].dump()
    return token


# --- parsing --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignerView:
    """One SignerInfo as read, with what a verifier needs; nothing here has been checked yet (see check_signer)."""

    index: int
    signer_certificate: bytes | None  # from the CMS certificates, found by sid
    sid_issuer: bytes | None  # DER Name of issuerAndSerialNumber
    sid_serial: int | None
    sid_key_identifier: bytes | None  # subjectKeyIdentifier sid
    digest_algorithm: DigestName
    scheme: SignatureScheme
    signature_algorithm: str  # dotted OID as written
    signature_hash: DigestName  # the hash the signature algorithm signs with
    message_digest: bytes | None
    signing_time: datetime | None
    content_type_attribute: str | None  # dotted OID
    signing_certificate_v2_hash: bytes | None
    signing_certificate_v2_hash_algorithm: DigestName | None
    signing_certificate_v2_issuer_serial: tuple[bytes, int] | None  # (DER GeneralNames, serial)
    signed_attributes_der: bytes | None  # the DER SET OF that was signed; None: the signature is over the content
    signature: bytes
    timestamp_tokens: list[bytes]
    content_type: str  # eContentType of the SignedData, dotted
    content: bytes | None  # the encapsulated content, None when detached
    problems: tuple[str, ...] = ()  # what parsing found wrong without being unreadable


@dataclass(frozen=True)
class SignedCms:
    content_info_type: str  # 1.2.840.113549.1.7.2, or 1.2.156.10197.6.1.4.2.2 (GB/T 35275)
    content_type: str  # eContentType, dotted
    content: bytes | None  # None when detached
    certificates: list[bytes]
    crls: list[bytes]
    signers: list[SignerView]


_DAMAGED_DER = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError)


def parse(cms_der: bytes) -> SignedCms:
    """Read a ContentInfo holding a SignedData; ValidationError names the field that is unreadable or unsupported."""
    try:
        return _parse(cms_der)
    except _DAMAGED_DER as exc:  # asn1crypto parses lazily: damage deep inside surfaces as any of these
        raise ValidationError("cms", f"unreadable SignedData: {exc}") from None


def _parse(cms_der: bytes) -> SignedCms:
    if type(cms_der) is not bytes:
        cms_der = bytes(cms_der)
    try:
        info = cms.ContentInfo.load(cms_der, strict=True)
        content_info_type = info["content_type"].dotted
    except (ValueError, TypeError) as exc:
        raise ValidationError("cms", f"not a DER ContentInfo: {exc}") from None
    if content_info_type not in (ID_SIGNED_DATA, SM2_SIGNED_DATA):
        raise ValidationError(
            "contentType",
            f"must be signedData ({ID_SIGNED_DATA} or GB/T 35275 {SM2_SIGNED_DATA}), not {content_info_type}",
        )
    try:
        signed = info["content"]
        if not isinstance(signed, cms.SignedData):
            raise ValueError("content is missing")
        encapsulated = signed["encap_content_info"]
        content_type = encapsulated["content_type"].dotted
        content = _octets(encapsulated["content"])
        certificates = [c.chosen.dump() for c in signed["certificates"] if c.name == "certificate"]
        crls = [c.chosen.dump() for c in signed["crls"] if c.name == "crl"]
        signer_infos = list(signed["signer_infos"])
    except (ValueError, TypeError, KeyError) as exc:
        raise ValidationError("signedData", f"unreadable: {exc}") from None
    if not signer_infos:
        raise ValidationError("signedData.signerInfos", "holds no SignerInfo")
    loaded = [_checked_certificate(der, "signedData.certificates") for der in certificates]
    signers = [_signer_view(i, si, loaded, content_type, content) for i, si in enumerate(signer_infos)]
    return SignedCms(content_info_type, content_type, content, certificates, [bytes(c) for c in crls], signers)


def _octets(value: core.Asn1Value) -> bytes | None:
    if isinstance(value, core.Void):
        return None
    if isinstance(value, core.Any):  # a content type asn1crypto has no spec for (GB/T 35275 data)
        value = value.parse(core.ParsableOctetString)
    if isinstance(value, core.OctetString | core.ParsableOctetString):
        return bytes(value)
    raise ValueError("eContent is not an OCTET STRING")


def _signer_view(
    index: int, si: cms.SignerInfo, certificates: list[x509.Certificate], content_type: str, content: bytes | None
) -> SignerView:
    where = f"signerInfos[{index}]"
    try:
        digest_oid = si["digest_algorithm"]["algorithm"].dotted
        signature_oid = si["signature_algorithm"]["algorithm"].dotted
        signature = bytes(si["signature"])
        sid = si["sid"]
        signed_attrs = si["signed_attrs"]
        signed_der = None if isinstance(signed_attrs, core.Void) else b"\x31" + signed_attrs.dump()[1:]
        signed_values = _attribute_values(signed_attrs)
        unsigned_values = _attribute_values(si["unsigned_attrs"])
    except (ValueError, TypeError, KeyError) as exc:
        raise ValidationError(where, f"unreadable: {exc}") from None
    if digest_oid not in _DIGEST_BY_OID:
        raise ValidationError(f"{where}.digestAlgorithm", f"{digest_oid} is not supported ({', '.join(DIGEST_OIDS)})")
    if signature_oid not in _SIGNATURE_ALGORITHMS:
        raise ValidationError(f"{where}.signatureAlgorithm", f"{signature_oid} is not supported")
    digest_name = _DIGEST_BY_OID[digest_oid]
    scheme, signature_hash = _SIGNATURE_ALGORITHMS[signature_oid]
    problems: list[str] = []
    if scheme is SignatureScheme.RSA_PSS_SHA256:
        signature_hash = _pss_hash(si["signature_algorithm"], where, problems)
    sid_issuer = sid_serial = sid_key_id = None
    if sid.name == "issuer_and_serial_number":
        sid_issuer, sid_serial = sid.chosen["issuer"].dump(), sid.chosen["serial_number"].native
    else:
        sid_key_id = bytes(sid.chosen)
    attributes = _SignedAttributes.read(signed_values, where, problems)
    return SignerView(
        index=index,
        signer_certificate=_find_certificate(certificates, sid),
        sid_issuer=sid_issuer,
        sid_serial=sid_serial,
        sid_key_identifier=sid_key_id,
        digest_algorithm=digest_name,
        scheme=scheme,
        signature_algorithm=signature_oid,
        signature_hash=signature_hash or digest_name,
        message_digest=attributes.message_digest,
        signing_time=attributes.signing_time,
        content_type_attribute=attributes.content_type,
        signing_certificate_v2_hash=attributes.certificate_hash,
        signing_certificate_v2_hash_algorithm=attributes.certificate_hash_algorithm,
        signing_certificate_v2_issuer_serial=attributes.issuer_serial,
        signed_attributes_der=signed_der,
        signature=signature,
        timestamp_tokens=[v.dump() for v in unsigned_values.get(ID_SIGNATURE_TIME_STAMP_TOKEN, [])],
        content_type=content_type,
        content=content,
        problems=tuple(problems),
    )


def _attribute_values(attributes: core.Asn1Value) -> dict[str, list[core.Asn1Value]]:
    """Attribute values by type OID, all values of all attributes of a type together."""
    values: dict[str, list[core.Asn1Value]] = {}
    if isinstance(attributes, core.Void):
        return values
    for attribute in attributes:
        values.setdefault(attribute["type"].dotted, []).extend(attribute["values"])
    return values


def _pss_hash(algorithm: algos.SignedDigestAlgorithm, where: str, problems: list[str]) -> DigestName | None:
    params = algorithm["parameters"]
    hash_oid = params["hash_algorithm"]["algorithm"].dotted
    mgf_oid = params["mask_gen_algorithm"]["parameters"]["algorithm"].dotted
    if hash_oid not in _DIGEST_BY_OID or hash_oid != mgf_oid:
        problems.append(
            f"{where}.signatureAlgorithm: RSASSA-PSS with hash {hash_oid} and MGF1 {mgf_oid} is not supported"
        )
        return None
    return _DIGEST_BY_OID[hash_oid]


@dataclass
class _SignedAttributes:
    content_type: str | None = None
    message_digest: bytes | None = None
    signing_time: datetime | None = None
    certificate_hash: bytes | None = None
    certificate_hash_algorithm: DigestName | None = None
    issuer_serial: tuple[bytes, int] | None = None

    @classmethod
    def read(cls, values: dict[str, list[core.Asn1Value]], where: str, problems: list[str]) -> _SignedAttributes:
        found = cls()
        try:
            if (value := _single(values, ID_CONTENT_TYPE, "content-type", where, problems)) is not None:
                found.content_type = value.dotted
            if (value := _single(values, ID_MESSAGE_DIGEST, "message-digest", where, problems)) is not None:
                found.message_digest = bytes(value)
            if (value := _single(values, ID_SIGNING_TIME, "signing-time", where, problems)) is not None:
                found.signing_time = value.native
            value = _single(values, ID_SIGNING_CERTIFICATE_V2, "signing-certificate-v2", where, problems)
            if value is not None:
                found._read_signing_certificate(value, where, problems)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValidationError(f"{where}.signedAttrs", f"unreadable: {exc}") from None
        return found

    def _read_signing_certificate(self, value: core.Asn1Value, where: str, problems: list[str]) -> None:
        cert_id = value["certs"][0]
        hash_oid = cert_id["hash_algorithm"]["algorithm"].dotted
        if hash_oid not in _DIGEST_BY_OID:
            problems.append(f"{where}: signing-certificate-v2 hash {hash_oid} is not supported")
            return
        self.certificate_hash_algorithm = _DIGEST_BY_OID[hash_oid]
        self.certificate_hash = bytes(cert_id["cert_hash"])
        issuer_serial = cert_id["issuer_serial"]
        if not isinstance(issuer_serial, core.Void):
            self.issuer_serial = (issuer_serial["issuer"].dump(), issuer_serial["serial_number"].native)


def _single(
    values: dict[str, list[core.Asn1Value]], oid: str, name: str, where: str, problems: list[str]
) -> core.Asn1Value | None:
    found = values.get(oid, [])
    if len(found) > 1:
        problems.append(f"{where}: the {name} attribute must have exactly one value, found {len(found)}")
    return found[0] if found else None


def _find_certificate(certificates: list[x509.Certificate], sid: cms.SignerIdentifier) -> bytes | None:
    for certificate in certificates:
        if _matches_sid(certificate, sid):
            der: bytes = certificate.dump()
            return der
    return None


def _matches_sid(certificate: x509.Certificate, sid: cms.SignerIdentifier) -> bool:
    if sid.name == "issuer_and_serial_number":
        wanted = sid.chosen
        return bool(
            certificate.serial_number == wanted["serial_number"].native and certificate.issuer == wanted["issuer"]
        )
    return bool(certificate.key_identifier == bytes(sid.chosen))


# --- checking -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignerCheck:
    digest_matches: bool
    signature_valid: bool
    signing_certificate_matches: bool | None  # None: no signing-certificate-v2 attribute
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """Digest and signature check out, the signing certificate attribute (if any) matches, no problem found."""
        return (
            self.digest_matches
            and self.signature_valid
            and self.signing_certificate_matches is not False
            and not self.problems
        )


def check_signer(
    view: SignerView,
    *,
    content: bytes | None = None,
    content_digest: bytes | None = None,
    certificate: bytes | None = None,
) -> SignerCheck:
    """Check one SignerInfo: the message digest against the content (or a digest of it, or the encapsulated
    content), the signature with the certificate's public key (given, or the one the sid names), and the
    signing-certificate-v2 attribute.  SM2 signatures are checked with the standard ID 1234567812345678.
    Does not validate the certificate path: that is the verifier's job."""
    try:
        return _check_signer(view, content, content_digest, certificate)
    except _DAMAGED_DER as exc:
        raise ValidationError("cms", f"unreadable SignerInfo or certificate: {exc}") from None


def _check_signer(
    view: SignerView, content: bytes | None, content_digest: bytes | None, certificate: bytes | None
) -> SignerCheck:
    problems = list(view.problems)
    certificate = certificate if certificate is not None else view.signer_certificate
    if certificate is None:
        problems.append("no signer certificate: none in the CMS matches the sid, and none was given")
    elif not _certificate_matches_sid(view, certificate):
        problems.append("the certificate is not the one the signer identifier (sid) names")
    if content is None and content_digest is None:
        content = view.content
    signature_valid = _signature_valid(view, certificate, content, problems)
    if view.signed_attributes_der is None:
        digest_matches = signature_valid and content is not None  # the signature itself covers the content
    else:
        digest_matches = _digest_matches(view, content, content_digest, problems)
        if view.content_type_attribute is None:
            problems.append("the signed attributes lack content-type (RFC 5652 11.1)")
        elif view.content_type_attribute != view.content_type:
            problems.append(
                f"the content-type attribute {view.content_type_attribute} is not the eContentType {view.content_type}"
            )
    return SignerCheck(digest_matches, signature_valid, _signing_certificate_matches(view, certificate), problems)


def _certificate_matches_sid(view: SignerView, certificate_der: bytes) -> bool:
    certificate = _checked_certificate(certificate_der, "certificate")
    if view.sid_key_identifier is not None:
        return bool(certificate.key_identifier == view.sid_key_identifier)
    assert view.sid_issuer is not None
    return bool(certificate.serial_number == view.sid_serial and certificate.issuer == x509.Name.load(view.sid_issuer))


def _digest_matches(view: SignerView, content: bytes | None, content_digest: bytes | None, problems: list[str]) -> bool:
    if view.message_digest is None:
        problems.append("the signed attributes lack message-digest (RFC 5652 11.2)")
        return False
    if content_digest is None:
        if content is None:
            problems.append("detached signature: pass the content or its digest to check the message digest")
            return False
        content_digest = digest(view.digest_algorithm, content)
    return bytes(content_digest) == view.message_digest


def _signature_valid(view: SignerView, certificate: bytes | None, content: bytes | None, problems: list[str]) -> bool:
    if certificate is None:
        return False
    expected_hash = "sm3" if view.scheme is SignatureScheme.SM2_SM3 else "sha256"
    if view.signature_hash != view.digest_algorithm:
        problems.append(
            f"signatureAlgorithm hashes with {view.signature_hash} but digestAlgorithm is {view.digest_algorithm}"
        )
        return False
    if view.signature_hash != expected_hash:
        problems.append(f"{view.signature_hash} signatures cannot be checked: certseal verifies {expected_hash} only")
        return False
    signed = view.signed_attributes_der if view.signed_attributes_der is not None else content
    if signed is None:
        problems.append("detached signature without signed attributes: pass the content to check the signature")
        return False
    try:
        _public_key(certificate).verify(view.signature, signed, view.scheme)
    except InvalidSignature:
        return False
    except CertsealError as exc:
        problems.append(f"the signature cannot be checked: {exc.message}")
        return False
    return True


@lru_cache(maxsize=256)
def _public_key(certificate_der: bytes) -> PublicKey:
    """The certificate's key, decoded once (PublicKey keeps its libcrypto key)."""
    return PublicKey(_checked_certificate(certificate_der, "certificate").public_key.dump())


def _signing_certificate_matches(view: SignerView, certificate: bytes | None) -> bool | None:
    if view.signing_certificate_v2_hash is None or view.signing_certificate_v2_hash_algorithm is None:
        return None
    if certificate is None:
        return False
    if digest(view.signing_certificate_v2_hash_algorithm, certificate) != view.signing_certificate_v2_hash:
        return False
    if view.signing_certificate_v2_issuer_serial is None:
        return True
    names_der, serial = view.signing_certificate_v2_issuer_serial
    loaded = _checked_certificate(certificate, "certificate")
    names = x509.GeneralNames.load(names_der)
    issuer_named = any(n.name == "directory_name" and n.chosen == loaded.issuer for n in names)
    return issuer_named and serial == loaded.serial_number


def timestamp_imprint_matches(view: SignerView, token_der: bytes) -> bool:
    """True if the token's messageImprint is H(signature value) with the imprint's hash algorithm (CAdES-T).
    Checks the imprint only; the token's own signature is the timestamp verifier's job."""
    imprint = _tst_info(token_der)["message_imprint"]
    oid = imprint["hash_algorithm"]["algorithm"].dotted
    if oid not in _DIGEST_BY_OID:
        raise ValidationError("timeStampToken.messageImprint.hashAlgorithm", f"{oid} is not supported")
    return bool(digest(_DIGEST_BY_OID[oid], view.signature) == imprint["hashed_message"].native)


def _token_signed_data(token_der: bytes) -> cms.SignedData:
    try:
        info = cms.ContentInfo.load(token_der, strict=True)
        if info["content_type"].dotted not in (ID_SIGNED_DATA, SM2_SIGNED_DATA):
            raise ValueError(f"contentType is {info['content_type'].dotted}, not signedData")
        signed = info["content"]
        if signed["encap_content_info"]["content_type"].dotted != ID_TST_INFO:
            raise ValueError("the eContentType is not id-ct-TSTInfo")
    except (ValueError, TypeError, KeyError) as exc:
        raise ValidationError("timeStampToken", f"not an RFC 3161 token: {exc}") from None
    return cast(cms.SignedData, signed)


def _tst_info(token_der: bytes) -> tsp.TSTInfo:
    econtent = _token_signed_data(token_der)["encap_content_info"]["content"]
    try:
        tst_info = tsp.TSTInfo.load(bytes(econtent))
        tst_info.native  # noqa: B018  # parse it all here, inside the try
    except (ValueError, TypeError) as exc:
        raise ValidationError("timeStampToken.eContent", f"not a TSTInfo: {exc}") from None
    return tst_info


__all__ = [
    "DIGEST_OIDS",
    "NOW",
    "DigestName",
    "SignedCms",
    "SignerCheck",
    "SignerView",
    "Timestamper",
    "add_signature_timestamp",
    "check_signer",
    "default_digest",
    "parse",
    "rfc3161_timestamper",
    "sign",
    "sign_digest",
    "timestamp_imprint_matches",
]
