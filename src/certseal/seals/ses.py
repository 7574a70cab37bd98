"""Electronic seal structures of GB/T 38540-2020 (v4) and GM/T 0031-2014 (v1): SESeal and SES_Signature.

Builds v4 seals and v4 seal signatures through the Signer interface, parses v1, v4 and v5 (v4 plus a [0] timestamp,
GM/T 0031-2025 as ofdrw reads it), and checks what the structures themselves can prove: the maker's and the signer's
SM2 signatures, the data hash, the signer's place in the seal's certificate list and the seal's validity period at
signing time.  Certificate chains, certificate validity and revocation are NOT checked here: the verification
service does that with pki/path.py.  Non-standard structures seen in the wild are parsed where possible and their
deviations reported by name (ProblemCode.NONSTANDARD_*); input that cannot be decoded raises ValidationError.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import ClassVar, TypeVar

from asn1crypto import algos, cms, core, keys, x509

from certseal.crypto.algorithms import SM2_WITH_SM3_OID, SM3_OID, KeyAlgorithm, SignatureScheme
from certseal.crypto.hashes import digest, sm3
from certseal.crypto.keys import PublicKey
from certseal.crypto.signer import Signer
from certseal.errors import CryptoError, ValidationError
from certseal.pki.der import tlv

PICTURE_TYPES = ("PNG", "JPG", "GIF", "BMP", "SVG", "OFD")
HEADER_ID = "ES"
CERT_LIST_CERTIFICATES = 1  # certListType 1: the signers' certificates; 2: their digests
CERT_LIST_DIGESTS = 2
_CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
_DECODE_ERRORS = (ValueError, TypeError, LookupError, OverflowError, AttributeError)
_SEQUENCE = 0x30


class ProblemCode(StrEnum):
    """A fixed vocabulary for what a check found; NONSTANDARD_* are deviations from the standard's encoding."""

    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    SIGNATURE_ALGORITHM_UNSUPPORTED = "SIGNATURE_ALGORITHM_UNSUPPORTED"
    SIGNER_CERTIFICATE_UNREADABLE = "SIGNER_CERTIFICATE_UNREADABLE"
    DATA_HASH_MISMATCH = "DATA_HASH_MISMATCH"
    SIGNER_NOT_IN_SEAL_CERT_LIST = "SIGNER_NOT_IN_SEAL_CERT_LIST"
    SIGNING_TIME_UNREADABLE = "SIGNING_TIME_UNREADABLE"
    SEAL_SIGNATURE_INVALID = "SEAL_SIGNATURE_INVALID"
    SEAL_ALGORITHM_UNSUPPORTED = "SEAL_ALGORITHM_UNSUPPORTED"
    SEAL_MAKER_CERTIFICATE_UNREADABLE = "SEAL_MAKER_CERTIFICATE_UNREADABLE"
    SEAL_VALIDITY_INVERTED = "SEAL_VALIDITY_INVERTED"
    SEAL_NOT_YET_VALID_AT_SIGNING = "SEAL_NOT_YET_VALID_AT_SIGNING"
    SEAL_EXPIRED_AT_SIGNING = "SEAL_EXPIRED_AT_SIGNING"
    NONSTANDARD_NOT_DER = "NONSTANDARD_NOT_DER"
    NONSTANDARD_VERSION = "NONSTANDARD_VERSION"
    NONSTANDARD_HEADER_ID = "NONSTANDARD_HEADER_ID"
    NONSTANDARD_CERT_LIST = "NONSTANDARD_CERT_LIST"
    NONSTANDARD_CERT_LIST_TYPE = "NONSTANDARD_CERT_LIST_TYPE"
    NONSTANDARD_TIME_ENCODING = "NONSTANDARD_TIME_ENCODING"
    NONSTANDARD_TIME_INFO = "NONSTANDARD_TIME_INFO"
    NONSTANDARD_DATA_HASH_ENCODING = "NONSTANDARD_DATA_HASH_ENCODING"
    NONSTANDARD_RAW_SIGNATURE = "NONSTANDARD_RAW_SIGNATURE"
    NONSTANDARD_PICTURE_TYPE = "NONSTANDARD_PICTURE_TYPE"


@dataclass(frozen=True)
class Problem:
    code: ProblemCode
    message: str


# --- what a seal says --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealPicture:
    type: str  # "PNG" | "JPG" | "GIF" | "BMP" | "SVG" | "OFD"
    data: bytes
    width_mm: int
    height_mm: int


@dataclass(frozen=True)
class ExtData:
    oid: str
    value: bytes
    critical: bool = False


@dataclass(frozen=True)
class SealContent:
    """What a v4 seal says; the maker's certificate and signature are added by build_seal_v4."""

    es_id: str
    vid: str
    seal_type: int
    name: str
    signer_certificates: Sequence[bytes]  # DER; certListType 1
    created: datetime
    valid_start: datetime
    valid_end: datetime
    picture: SealPicture
    ext_datas: Sequence[ExtData] = ()


@dataclass(frozen=True)
class SealHeader:
    id: str
    version: int
    vid: str


@dataclass(frozen=True)
class CertDigest:
    algorithm: str  # as written in CertDigestObj.type, e.g. "SM3"
    value: bytes


@dataclass(frozen=True)
class SealView:
    """A parsed SESeal (v1, v4 or v5); `signed_bytes` is exactly what the maker signed."""

    version: int
    header: SealHeader
    es_id: str
    seal_type: int
    name: str
    cert_list_type: int
    certificates: tuple[bytes, ...]
    cert_digests: tuple[CertDigest, ...]
    created: datetime
    valid_start: datetime
    valid_end: datetime
    picture: SealPicture
    ext_datas: tuple[ExtData, ...]
    maker_certificate: bytes
    signature_algorithm: str
    signed_bytes: bytes
    signature: bytes  # DER SEQUENCE {r, s}
    timestamp: bytes | None
    raw: bytes
    deviations: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class SignatureView:
    """A parsed SES_Signature (v1 or v4/v5); `signed_bytes` is exactly what the signer signed (DER TBS_Sign)."""

    version: int
    seal: SealView
    time: datetime | None  # None when a v1 timeInfo cannot be read
    data_hash: bytes
    property_info: str
    ext_datas: tuple[ExtData, ...]
    signer_certificate: bytes
    signature_algorithm: str
    signed_bytes: bytes
    signature: bytes  # DER SEQUENCE {r, s}
    timestamp: bytes | None  # RFC 3161 token over the signature value
    raw: bytes
    deviations: tuple[Problem, ...] = ()


class _Findings:
    """`ok` and `codes` of a check result, from its problems."""

    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def codes(self) -> frozenset[ProblemCode]:
        return frozenset(p.code for p in self.problems)


@dataclass(frozen=True)
class SealCheck(_Findings):
    signature_valid: bool
    maker_subject: str | None  # None when the maker's certificate cannot be read
    problems: tuple[Problem, ...]
    deviations: tuple[Problem, ...]


@dataclass(frozen=True)
class SignatureCheck(_Findings):
    signature_valid: bool
    data_hash_valid: bool | None  # None when the protected data was not given
    signer_in_seal: bool
    signer_subject: str | None
    seal: SealCheck
    problems: tuple[Problem, ...]  # the seal's problems included
    deviations: tuple[Problem, ...] = ()


# --- ASN.1 (asn1crypto); field names follow the standards -------------------------------------------------------
# Times and certificate lists are Any so that non-standard encodings can be read and reported, not refused.


_Spec = list[tuple[object, ...]]  # asn1crypto field specs: (name, type) or (name, type, options)


class _Anys(core.SequenceOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = core.Any


class _Header(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("id", core.IA5String),
        ("version", core.Integer),
        ("vid", core.IA5String),
    ]


class _Picture(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class _ExtData(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class _ExtensionDatas(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _ExtData


class _CertInfoList(core.SequenceOf):  # type: ignore[misc]
    _child_spec = core.OctetString


class _CertDigestObj(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("type", core.PrintableString),
        ("value", core.OctetString),
    ]


class _PropertyV4(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list_type", core.Integer),
        ("cert_list", core.Any),  # CHOICE of two SEQUENCE OFs: told apart by cert_list_type only
        ("create_date", core.Any),
        ("valid_start", core.Any),
        ("valid_end", core.Any),
    ]


def _seal_info_fields(property_type: type[core.Sequence]) -> _Spec:
    """SES_SealInfo, the same in GM/T 0031 and GB/T 38540 but for the property's layout."""
    return [
        ("header", _Header),
        ("es_id", core.IA5String),
        ("property", property_type),
        ("picture", _Picture),
        ("ext_datas", _ExtensionDatas, {"optional": True}),
    ]


def _signed_v4_fields(body: tuple[str, type[core.Sequence]], value_name: str) -> _Spec:
    """GB/T 38540's signed layout (SESeal, SES_Signature): body, signer's certificate, algorithm, value, [0] token."""
    return [
        body,
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
        (value_name, core.OctetBitString),
        ("timestamp", core.OctetBitString, {"explicit": 0, "optional": True}),  # in a seal: v5
    ]


class _SealInfoV4(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = _seal_info_fields(_PropertyV4)


class _SealV4(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = _signed_v4_fields(("seal_info", _SealInfoV4), "signed_value")


class _TbsSignV4(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("version", core.Integer),
        ("eseal", _SealV4),
        ("time_info", core.Any),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", _ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class _SignatureV4(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = _signed_v4_fields(("to_sign", _TbsSignV4), "signature")


class _PropertyV1(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list", core.Any),
        ("create_date", core.Any),
        ("valid_start", core.Any),
        ("valid_end", core.Any),
    ]


class _SealInfoV1(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = _seal_info_fields(_PropertyV1)


class _SignInfoV1(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
        ("sign_data", core.OctetBitString),
    ]


class _SealV1(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("seal_info", _SealInfoV1),
        ("sign_info", _SignInfoV1),
    ]


class _TbsSignV1(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("version", core.Integer),
        ("eseal", _SealV1),
        ("time_info", core.Any),  # BIT STRING; OCTET STRING in some non-standard files
        ("data_hash", core.Any),
        ("property_info", core.IA5String),
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
    ]


class _SignatureV1(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[_Spec] = [
        ("to_sign", _TbsSignV1),
        ("signature", core.OctetBitString),
    ]


# --- building (v4) -----------------------------------------------------------------------------------------------


def build_seal_v4(maker: Signer, content: SealContent) -> bytes:
    """DER SESeal (GB/T 38540-2020): SES_SealInfo signed by `maker`, whose certificate goes in the seal."""
    maker_certificate = _certificate_of(maker, "maker")
    _check_content(content)
    info = _SealInfoV4(
        {
            "header": {"id": HEADER_ID, "version": 4, "vid": content.vid},
            "es_id": content.es_id,
            "property": {
                "type": content.seal_type,
                "name": content.name,
                "cert_list_type": CERT_LIST_CERTIFICATES,
                "cert_list": _CertInfoList(list(content.signer_certificates)),
                "create_date": _generalized_time(content.created),
                "valid_start": _generalized_time(content.valid_start),
                "valid_end": _generalized_time(content.valid_end),
            },
            "picture": {
                "type": content.picture.type,
                "data": content.picture.data,
                "width": content.picture.width_mm,
                "height": content.picture.height_mm,
            },
        }
    )
    if content.ext_datas:
        info["ext_datas"] = _ext_datas(content.ext_datas)
    seal = _SealV4(
        {
            "seal_info": info,
            "cert": maker_certificate,
            "signature_algorithm": SM2_WITH_SM3_OID,
            "signed_value": maker.sign(info.dump()),
        }
    )
    der: bytes = seal.dump()
    return der


def build_signature_v4(
    signer: Signer,
    seal_der: bytes,
    protected: bytes,
    property_info: str,
    time: datetime | None = None,
    timestamper: Callable[[bytes], bytes] | None = None,
    ext_datas: Sequence[ExtData] = (),
) -> bytes:
    """DER SES_Signature (GB/T 38540-2020) over `protected` (in OFD: the bytes of Signature.xml).

    TBS_Sign{4, seal, time, SM3(protected), property_info, extDatas} is signed by `signer`, whose certificate must be
    in the seal's certificate list; `time` must lie in the seal's validity period.  With a `timestamper`, its RFC 3161
    token over the signature value goes in timeStamp [0].
    """
    signer_certificate = _certificate_of(signer, "signer")
    seal = parse_seal(seal_der)
    _check_seal_usable(seal, signer_certificate)
    moment = _whole_seconds(time or datetime.now(UTC), "time")
    if not seal.valid_start <= moment <= seal.valid_end:
        raise ValidationError(
            "time", f"{moment.isoformat()} is outside the seal's validity {seal.valid_start} to {seal.valid_end}"
        )
    _check_ia5(property_info, "property_info")
    tbs = _TbsSignV4(
        {
            "version": 4,
            "eseal": _SealV4.load(seal.raw),
            "time_info": _generalized_time(moment),
            "data_hash": sm3(bytes(protected)),
            "property_info": property_info,
        }
    )
    if ext_datas:
        tbs["ext_datas"] = _ext_datas(ext_datas)
    signature = signer.sign(tbs.dump())
    fields: dict[str, object] = {
        "to_sign": tbs,
        "cert": signer_certificate,
        "signature_algorithm": SM2_WITH_SM3_OID,
        "signature": signature,
    }
    if timestamper is not None:
        fields["timestamp"] = _checked_token(timestamper(signature))
    der: bytes = _SignatureV4(fields).dump()
    return der


def _certificate_of(signer: Signer, what: str) -> bytes:
    """The signer's DER certificate, checked to be SM2 and to hold the signer's key."""
    if signer.scheme is not SignatureScheme.SM2_SM3:
        raise ValidationError(what, f"GB/T 38540 signatures are SM2 with SM3, this key signs {signer.scheme.value}")
    if signer.certificate is None:
        raise ValidationError(what, "needs a certificate: GB/T 38540 carries it in the structure")
    try:
        spki = x509.Certificate.load(signer.certificate, strict=True)["tbs_certificate"]["subject_public_key_info"]
        certified_point = spki["public_key"].native
    except _DECODE_ERRORS as exc:
        raise ValidationError(what, f"certificate is not a DER X.509 certificate: {exc}") from None
    own = keys.PublicKeyInfo.load(signer.public_key.spki_der)["public_key"].native
    if certified_point != own:
        raise ValidationError(what, "certificate does not hold the signer's public key")
    return bytes(signer.certificate)


def _check_content(content: SealContent) -> None:
    _check_ia5(content.es_id, "es_id")
    _check_ia5(content.vid, "vid")
    if isinstance(content.seal_type, bool) or not isinstance(content.seal_type, int) or content.seal_type < 0:
        raise ValidationError("seal_type", "must be a non-negative integer")
    if not content.name.strip():
        raise ValidationError("name", "must not be empty")
    if not content.signer_certificates:
        raise ValidationError("signer_certificates", "must list at least one certificate")
    for index, certificate in enumerate(content.signer_certificates):
        try:
            _ = x509.Certificate.load(bytes(certificate), strict=True)["tbs_certificate"]["subject"].native
        except _DECODE_ERRORS as exc:
            raise ValidationError(f"signer_certificates[{index}]", f"is not a DER X.509 certificate: {exc}") from None
    _whole_seconds(content.created, "created")
    start = _whole_seconds(content.valid_start, "valid_start")
    end = _whole_seconds(content.valid_end, "valid_end")
    if start >= end:
        raise ValidationError("valid_end", "must be after valid_start")
    _check_picture(content.picture)
    for extension in content.ext_datas:
        _check_oid(extension.oid, "ext_datas")


def _check_picture(picture: SealPicture) -> None:
    if picture.type not in PICTURE_TYPES:
        raise ValidationError("picture.type", f"must be one of {', '.join(PICTURE_TYPES)}, not {picture.type!r}")
    if not picture.data:
        raise ValidationError("picture.data", "must not be empty")
    for name, value in (("picture.width_mm", picture.width_mm), ("picture.height_mm", picture.height_mm)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValidationError(name, "must be a positive whole number of millimetres")


def _check_ia5(value: str, name: str) -> None:
    if not value or not value.isascii() or not value.isprintable():
        raise ValidationError(name, "must be 1 or more printable ASCII characters (IA5String)")


def _check_oid(value: str, name: str) -> None:
    try:
        core.ObjectIdentifier(value).dump()
    except _DECODE_ERRORS:
        raise ValidationError(name, f"{value!r} is not a dotted object identifier") from None


def _whole_seconds(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError(name, "must carry a time zone")
    return moment.astimezone(UTC).replace(microsecond=0)


def _generalized_time(moment: datetime) -> core.GeneralizedTime:
    """GeneralizedTime in whole seconds, UTC ("YYYYMMDDHHMMSSZ")."""
    return core.GeneralizedTime(moment.astimezone(UTC).replace(microsecond=0))


def _ext_datas(extensions: Sequence[ExtData]) -> _ExtensionDatas:
    items = []
    for extension in extensions:
        _check_oid(extension.oid, "ext_datas")
        item: dict[str, object] = {"extn_id": extension.oid, "extn_value": bytes(extension.value)}
        if extension.critical:  # DER leaves out a DEFAULT value
            item["critical"] = True
        items.append(item)
    return _ExtensionDatas(items)


def _check_seal_usable(seal: SealView, signer_certificate: bytes) -> None:
    if seal.version != 4:
        raise ValidationError("seal", f"a v4 signature needs a v4 (GB/T 38540) seal, this one is v{seal.version}")
    check = verify_seal(seal)
    if not check.ok:
        raise ValidationError("seal", "; ".join(p.message for p in check.problems))
    in_list, why = _signer_in_list(signer_certificate, seal)
    if not in_list:
        raise ValidationError("signer", why)


def _checked_token(token: bytes) -> bytes:
    try:
        info = cms.ContentInfo.load(bytes(token), strict=True)
        content_type = info["content_type"].native
    except _DECODE_ERRORS as exc:
        raise ValidationError("timestamp", f"the timestamper's answer is not a DER ContentInfo: {exc}") from None
    if content_type != "signed_data":
        raise ValidationError("timestamp", f"a timestamp token is SignedData, not {content_type}")
    return bytes(token)


# --- parsing -----------------------------------------------------------------------------------------------------


def parse_seal(der: bytes) -> SealView:
    """A v1 (2 elements), v4 (4) or v5 (5, or header version 5) SESeal; ValidationError if it cannot be decoded."""
    return _parse(der, "seal", "SESeal", (_SealV1, _seal_v1), (_SealV4, _seal_v4))


def parse_signature(der: bytes) -> SignatureView:
    """A v1 (2 elements) or v4/v5 (4-5 elements) SES_Signature; ValidationError if it cannot be decoded."""
    return _parse(der, "signature", "SES_Signature", (_SignatureV1, _signature_v1), (_SignatureV4, _signature_v4))


_View = TypeVar("_View", SealView, SignatureView)
_Reader = tuple[type[core.Sequence], Callable[[core.Sequence, bytes], _View]]


def _parse(der: bytes, field: str, label: str, v1: _Reader[_View], v4: _Reader[_View]) -> _View:
    """Reads `der` with the GM/T 0031 layout (2 elements) or the GB/T 38540 one (4-5 elements)."""
    der = bytes(der)
    try:
        count = _element_count(der)
        layout = {2: v1, 4: v4, 5: v4}.get(count)
        if layout is not None:
            schema, read = layout
            return read(schema.load(der, strict=True), der)
    except _DECODE_ERRORS as exc:
        raise ValidationError(field, f"not a decodable {label} (GB/T 38540 or GM/T 0031): {exc}") from None
    raise ValidationError(field, f"an {label} has 2 (GM/T 0031) or 4-5 (GB/T 38540) elements, this one has {count}")


def _element_count(der: bytes) -> int:
    return len(_Anys.load(der, strict=True))


class _Deviations:
    """Collects deviations from the standard while a structure is read."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def add(self, code: ProblemCode, message: str) -> None:
        problem = Problem(code, message)
        if problem not in self.found:
            self.found.append(problem)


@dataclass(frozen=True)
class _MakerSigning:
    """Where a seal's maker signature is: `holder` is the SEQUENCE with `cert` and `signature_algorithm`."""

    holder: core.Sequence
    signed_bytes: bytes
    value: core.OctetBitString
    value_name: str  # as the standard names it, for deviation messages
    timestamp: core.OctetBitString | None = None  # GB/T 38540 v5 [0] timeStamp; GM/T 0031 has none


def _seal_v4(seal: core.Sequence, raw: bytes) -> SealView:
    notes = _Deviations()
    info = seal["seal_info"]
    header = _header(info["header"])
    if header.version not in (4, 5):
        notes.add(ProblemCode.NONSTANDARD_VERSION, f"a GB/T 38540 seal layout with header version {header.version}")
    version = 5 if header.version == 5 or seal["timestamp"].native is not None else 4
    return _seal_view(
        seal,
        header,
        version=version,
        list_type=int(info["property"]["cert_list_type"].native),
        time_type=core.GeneralizedTime,
        maker=_MakerSigning(seal, info.dump(), seal["signed_value"], "signedValue", seal["timestamp"]),
        raw=raw,
        notes=notes,
    )


def _seal_v1(seal: core.Sequence, raw: bytes) -> SealView:
    notes = _Deviations()
    info = seal["seal_info"]
    sign_info = seal["sign_info"]
    header = _header(info["header"])
    if header.version != 1:
        notes.add(ProblemCode.NONSTANDARD_VERSION, f"a GM/T 0031 seal layout with header version {header.version}")
    # GM/T 0031 signs SEQUENCE {esealInfo, cert, signatureAlgorithm}, not esealInfo alone
    signed = tlv(_SEQUENCE, info.dump() + sign_info["cert"].dump() + sign_info["signature_algorithm"].dump())
    return _seal_view(
        seal,
        header,
        version=1,
        list_type=CERT_LIST_CERTIFICATES,
        time_type=core.UTCTime,
        maker=_MakerSigning(sign_info, signed, sign_info["sign_data"], "signData"),
        raw=raw,
        notes=notes,
    )


def _seal_view(
    seal: core.Sequence,
    header: SealHeader,
    *,
    version: int,
    list_type: int,
    time_type: type[core.Asn1Value],
    maker: _MakerSigning,
    raw: bytes,
    notes: _Deviations,
) -> SealView:
    """The SealView of a v1 or v4 SESeal: SES_SealInfo is read alike, the layout-specific parts are given."""
    info = seal["seal_info"]
    prop = info["property"]
    certificates, digests = _cert_list(prop["cert_list"], list_type, notes)
    return SealView(
        version=version,
        header=header,
        es_id=info["es_id"].native,
        seal_type=int(prop["type"].native),
        name=prop["name"].native,
        cert_list_type=list_type,
        certificates=certificates,
        cert_digests=digests,
        created=_time(prop["create_date"], time_type, "createDate", notes),
        valid_start=_time(prop["valid_start"], time_type, "validStart", notes),
        valid_end=_time(prop["valid_end"], time_type, "validEnd", notes),
        picture=_picture(info["picture"], notes),
        ext_datas=_read_ext_datas(info["ext_datas"]),
        maker_certificate=maker.holder["cert"].native,
        signature_algorithm=maker.holder["signature_algorithm"].dotted,
        signed_bytes=maker.signed_bytes,
        signature=_signature_value(maker.value, maker.value_name, notes),
        timestamp=_optional_octets(maker.timestamp),
        raw=raw,
        deviations=_with_der_check(type(seal), raw, notes),
    )


def _signature_v4(signature: core.Sequence, raw: bytes) -> SignatureView:
    notes = _Deviations()
    tbs = signature["to_sign"]
    seal = _seal_v4(tbs["eseal"], tbs["eseal"].dump())
    version = int(tbs["version"].native)
    if version not in (4, 5) or version != seal.header.version:
        notes.add(ProblemCode.NONSTANDARD_VERSION, f"TBS_Sign version {version}, seal version {seal.header.version}")
    return SignatureView(
        version=version,
        seal=seal,
        time=_time(tbs["time_info"], core.GeneralizedTime, "timeInfo", notes),
        data_hash=_bit_octets(tbs["data_hash"]),
        property_info=tbs["property_info"].native,
        ext_datas=_read_ext_datas(tbs["ext_datas"]),
        signer_certificate=signature["cert"].native,
        signature_algorithm=signature["signature_algorithm"].dotted,
        signed_bytes=tbs.dump(),
        signature=_signature_value(signature["signature"], "signature", notes),
        timestamp=_optional_octets(signature["timestamp"]),
        raw=raw,
        deviations=_with_der_check(_SignatureV4, raw, notes),
    )


def _signature_v1(signature: core.Sequence, raw: bytes) -> SignatureView:
    notes = _Deviations()
    tbs = signature["to_sign"]
    seal = _seal_v1(tbs["eseal"], tbs["eseal"].dump())
    version = int(tbs["version"].native)
    if version != 1:
        notes.add(ProblemCode.NONSTANDARD_VERSION, f"a GM/T 0031 signature layout with TBS_Sign version {version}")
    return SignatureView(
        version=version,
        seal=seal,
        time=_v1_time_info(tbs["time_info"], notes),
        data_hash=_v1_data_hash(tbs["data_hash"], notes),
        property_info=tbs["property_info"].native,
        ext_datas=(),
        signer_certificate=tbs["cert"].native,
        signature_algorithm=tbs["signature_algorithm"].dotted,
        signed_bytes=tbs.dump(),
        signature=_signature_value(signature["signature"], "signature", notes),
        timestamp=None,
        raw=raw,
        deviations=_with_der_check(_SignatureV1, raw, notes),
    )


def _header(header: core.Sequence) -> SealHeader:
    return SealHeader(header["id"].native, int(header["version"].native), header["vid"].native)


def _picture(picture: core.Sequence, notes: _Deviations) -> SealPicture:
    kind = picture["type"].native
    if kind.upper() not in PICTURE_TYPES:
        notes.add(ProblemCode.NONSTANDARD_PICTURE_TYPE, f"picture type {kind!r} is none of {', '.join(PICTURE_TYPES)}")
    return SealPicture(kind, picture["data"].native, int(picture["width"].native), int(picture["height"].native))


def _read_ext_datas(extensions: core.SequenceOf) -> tuple[ExtData, ...]:
    if extensions.native is None:
        return ()
    return tuple(ExtData(e["extn_id"].dotted, e["extn_value"].native, bool(e["critical"].native)) for e in extensions)


def _cert_list(value: core.Any, list_type: int, notes: _Deviations) -> tuple[tuple[bytes, ...], tuple[CertDigest, ...]]:
    """The certificates (type 1) or certificate digests (type 2); entries of another type are reported, skipped."""
    entries = [core.load(entry.dump()) for entry in _Anys.load(value.dump(), strict=True)]
    if list_type not in (CERT_LIST_CERTIFICATES, CERT_LIST_DIGESTS):
        notes.add(ProblemCode.NONSTANDARD_CERT_LIST_TYPE, f"certListType {list_type} is neither 1 nor 2")
    certificates: list[bytes] = []
    digests: list[CertDigest] = []
    for entry in entries:
        if isinstance(entry, core.OctetString) and list_type != CERT_LIST_DIGESTS:
            certificates.append(entry.native)
        elif isinstance(entry, core.Sequence) and list_type != CERT_LIST_CERTIFICATES:
            item = _CertDigestObj.load(entry.dump(), strict=True)
            digests.append(CertDigest(item["type"].native, item["value"].native))
        else:
            expected = "CertDigestObj" if list_type == CERT_LIST_DIGESTS else "OCTET STRING (a certificate)"
            notes.add(
                ProblemCode.NONSTANDARD_CERT_LIST,
                f"certList holds {type(entry).__name__} entries where {expected} is required; they are ignored",
            )
    return tuple(certificates), tuple(digests)


def _time(value: core.Any, expected: type[core.Asn1Value], name: str, notes: _Deviations) -> datetime:
    parsed = core.load(value.dump())
    if not isinstance(parsed, core.UTCTime | core.GeneralizedTime):
        raise ValueError(f"{name} is a {type(parsed).__name__}, not a time")
    if not isinstance(parsed, expected):
        notes.add(ProblemCode.NONSTANDARD_TIME_ENCODING, f"{name} is a {type(parsed).__name__}")
    moment = parsed.native
    if not isinstance(moment, datetime):
        raise ValueError(f"{name} is not a calendar time")
    if moment.tzinfo is None:
        notes.add(ProblemCode.NONSTANDARD_TIME_ENCODING, f"{name} has no time zone; read as UTC")
        moment = moment.replace(tzinfo=UTC)
    return moment


def _v1_time_info(value: core.Any, notes: _Deviations) -> datetime | None:
    """GM/T 0031 timeInfo: a BIT STRING holding UTCTime text; other spellings are read and reported."""
    parsed = core.load(value.dump())
    if isinstance(parsed, core.UTCTime | core.GeneralizedTime):
        notes.add(ProblemCode.NONSTANDARD_TIME_INFO, f"timeInfo is a {type(parsed).__name__}, not a BIT STRING")
        return _time(value, type(parsed), "timeInfo", notes)
    if isinstance(parsed, core.OctetString):
        notes.add(ProblemCode.NONSTANDARD_TIME_INFO, "timeInfo is an OCTET STRING, not a BIT STRING")
        text = parsed.native
    elif isinstance(parsed, core.BitString):
        text = _bit_octets(core.OctetBitString.load(parsed.dump()))
    else:
        raise ValueError(f"timeInfo is a {type(parsed).__name__}")
    try:
        return _utc_time_text(text)
    except ValueError:
        pass
    moment = _other_time_text(text)
    shown = text.decode("ascii", "replace")
    if moment is None:
        notes.add(ProblemCode.NONSTANDARD_TIME_INFO, f"timeInfo {shown!r} is not a time this reader knows")
    else:
        notes.add(ProblemCode.NONSTANDARD_TIME_INFO, f"timeInfo {shown!r} is not UTCTime text (YYMMDDHHMMSSZ)")
    return moment


def _utc_time_text(text: bytes) -> datetime:
    if len(text) != 13 or not text.endswith(b"Z") or not text[:12].isdigit():
        raise ValueError("not UTCTime text")
    moment = core.UTCTime.load(tlv(0x17, text)).native
    if not isinstance(moment, datetime):
        raise ValueError("not UTCTime text")
    return moment


def _other_time_text(text: bytes) -> datetime | None:
    """GeneralizedTime text, a DER time inside the string, or ISO 8601 (no zone: China Standard Time, as ofdrw)."""
    try:
        if text[:1] in (b"\x17", b"\x18"):
            inner = core.load(text, strict=True).native
            if not isinstance(inner, datetime):
                return None
            return inner if inner.tzinfo is not None else inner.replace(tzinfo=UTC)
        decoded = text.decode("ascii").strip()
        if len(decoded) == 15 and decoded.endswith("Z") and decoded[:14].isdigit():
            return datetime.strptime(decoded, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
        moment = datetime.fromisoformat(decoded)
    except _DECODE_ERRORS:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=_CHINA_STANDARD_TIME)


def _v1_data_hash(value: core.Any, notes: _Deviations) -> bytes:
    parsed = core.load(value.dump())
    if isinstance(parsed, core.BitString):
        return _bit_octets(core.OctetBitString.load(parsed.dump()))
    if isinstance(parsed, core.OctetString):
        notes.add(ProblemCode.NONSTANDARD_DATA_HASH_ENCODING, "dataHash is an OCTET STRING, not a BIT STRING")
        octets: bytes = parsed.native
        return octets
    raise ValueError(f"dataHash is a {type(parsed).__name__}")


def _optional_octets(value: core.OctetBitString | None) -> bytes | None:
    """The octets of an OPTIONAL BIT STRING ([0] timeStamp), None when it is absent."""
    return None if value is None or value.native is None else _bit_octets(value)


def _bit_octets(value: core.OctetBitString) -> bytes:
    contents: bytes = value.contents
    if not contents or contents[0] != 0:
        raise ValueError("a BIT STRING holding bytes must have 0 unused bits")
    return contents[1:]


def _signature_value(value: core.OctetBitString, name: str, notes: _Deviations) -> bytes:
    """DER SEQUENCE {r, s}; a bare 64-byte r || s (some vendors) is converted and reported."""
    octets = _bit_octets(value)
    try:
        _ = algos.DSASignature.load(octets, strict=True).native
        return octets
    except _DECODE_ERRORS:
        pass
    if len(octets) == 64:
        notes.add(ProblemCode.NONSTANDARD_RAW_SIGNATURE, f"{name} is a bare r || s, not DER SEQUENCE {{r, s}}")
        r, s = int.from_bytes(octets[:32], "big"), int.from_bytes(octets[32:], "big")
        der: bytes = algos.DSASignature({"r": r, "s": s}).dump()
        return der
    return octets  # left as it is: the signature check reports it


def _with_der_check(schema: type[core.Sequence], raw: bytes, notes: _Deviations) -> tuple[Problem, ...]:
    """The deviations, plus NONSTANDARD_NOT_DER when re-encoding with the standard's schema changes the bytes."""
    if schema.load(raw).dump(force=True) != raw:
        label = "SESeal" if schema in (_SealV1, _SealV4) else "SES_Signature"
        notes.add(
            ProblemCode.NONSTANDARD_NOT_DER,
            f"the {label} is not DER: re-encoding changes it (for example a DEFAULT value written out)",
        )
    return tuple(notes.found)


# --- verifying ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Codes:
    unsupported: ProblemCode
    unreadable: ProblemCode
    invalid: ProblemCode
    who: str


_MAKER = _Codes(
    ProblemCode.SEAL_ALGORITHM_UNSUPPORTED,
    ProblemCode.SEAL_MAKER_CERTIFICATE_UNREADABLE,
    ProblemCode.SEAL_SIGNATURE_INVALID,
    "seal maker",
)
_SIGNER = _Codes(
    ProblemCode.SIGNATURE_ALGORITHM_UNSUPPORTED,
    ProblemCode.SIGNER_CERTIFICATE_UNREADABLE,
    ProblemCode.SIGNATURE_INVALID,
    "signer",
)


def verify_seal(view: SealView) -> SealCheck:
    """The maker's signature over the seal and the seal's own consistency (not the maker's certificate chain)."""
    valid, subject, problems = _verify_sm2(
        view.maker_certificate, view.signature_algorithm, view.signed_bytes, view.signature, _MAKER
    )
    if view.valid_start > view.valid_end:
        problems.append(
            Problem(ProblemCode.SEAL_VALIDITY_INVERTED, f"seal validStart {view.valid_start} is after validEnd")
        )
    return SealCheck(valid, subject, tuple(problems), view.deviations)


def verify_signature(view: SignatureView, protected: bytes | None = None) -> SignatureCheck:
    """GB/T 38540 7.3 steps 2-4 and 6: signature, certificate list, seal, seal validity at signing, data hash.

    Not checked here: the signer's and maker's certificate chains, validity and revocation (step 5, the
    verification service) and the timestamp token (step 7).
    """
    seal_check = verify_seal(view.seal)
    valid, subject, problems = _verify_sm2(
        view.signer_certificate, view.signature_algorithm, view.signed_bytes, view.signature, _SIGNER
    )
    hash_valid = None
    if protected is not None:
        hash_valid = view.data_hash == sm3(bytes(protected))
        if not hash_valid:
            problems.append(Problem(ProblemCode.DATA_HASH_MISMATCH, "dataHash is not the SM3 of the protected data"))
    in_list, why = _signer_in_list(view.signer_certificate, view.seal)
    if not in_list:
        problems.append(Problem(ProblemCode.SIGNER_NOT_IN_SEAL_CERT_LIST, why))
    problems.extend(_seal_period_problems(view))
    deviations = list(view.seal.deviations) + [d for d in view.deviations if d not in view.seal.deviations]
    return SignatureCheck(
        valid, hash_valid, in_list, subject, seal_check, seal_check.problems + tuple(problems), tuple(deviations)
    )


def _seal_period_problems(view: SignatureView) -> list[Problem]:
    seal = view.seal
    if view.time is None:
        return [Problem(ProblemCode.SIGNING_TIME_UNREADABLE, "the signing time cannot be read")]
    if view.time < seal.valid_start:
        return [
            Problem(
                ProblemCode.SEAL_NOT_YET_VALID_AT_SIGNING, f"signed {view.time}, seal valid from {seal.valid_start}"
            )
        ]
    if view.time > seal.valid_end:
        return [Problem(ProblemCode.SEAL_EXPIRED_AT_SIGNING, f"signed {view.time}, seal valid until {seal.valid_end}")]
    return []


def _verify_sm2(
    certificate: bytes, algorithm: str, signed: bytes, signature: bytes, codes: _Codes
) -> tuple[bool, str | None, list[Problem]]:
    """(signature valid, certificate subject, problems) for an SM2-with-SM3 signature by the certificate's key."""
    try:
        tbs = x509.Certificate.load(certificate, strict=True)["tbs_certificate"]
        subject = tbs["subject"].human_friendly
        key = PublicKey(tbs["subject_public_key_info"].dump())
    except (*_DECODE_ERRORS, CryptoError) as exc:
        return False, None, [Problem(codes.unreadable, f"the {codes.who}'s certificate cannot be read: {exc}")]
    if algorithm != SM2_WITH_SM3_OID or key.algorithm is not KeyAlgorithm.SM2:
        return (
            False,
            subject,
            [Problem(codes.unsupported, f"the {codes.who} signed with {algorithm} and a {key.algorithm.value} key")],
        )
    try:
        key.verify(signature, signed)
    except CryptoError:
        return False, subject, [Problem(codes.invalid, f"the {codes.who}'s signature ({subject}) does not verify")]
    return True, subject, []


def _signer_in_list(certificate: bytes, seal: SealView) -> tuple[bool, str]:
    """Whether the seal lists the signer: the same DER (certListType 1) or a matching digest (type 2)."""
    if any(listed == certificate for listed in seal.certificates):
        return True, ""
    for entry in seal.cert_digests:
        name = _digest_name(entry.algorithm)
        if name is not None and digest(name, certificate) == entry.value:
            return True, ""
    if not seal.certificates and not seal.cert_digests:
        return False, "the seal's certificate list has no readable entry"
    unknown = sorted({d.algorithm for d in seal.cert_digests if _digest_name(d.algorithm) is None})
    detail = f" (unknown digest algorithms: {', '.join(unknown)})" if unknown else ""
    return False, f"the signer's certificate is not in the seal's certificate list{detail}"


_DIGEST_NAMES = {
    "sm3": "sm3",
    SM3_OID: "sm3",
    "sha256": "sha256",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "sha384": "sha384",
    "sha512": "sha512",
}


def _digest_name(label: str) -> str | None:
    return _DIGEST_NAMES.get(label.strip().lower().replace("-", ""))
