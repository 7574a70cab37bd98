"""Building X.509 v3 certificates with asn1crypto, signed through a Signer (RSA, ECDSA and SM2 alike)."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from asn1crypto import keys, x509

from certseal.crypto.keys import PublicKey
from certseal.crypto.signer import Signer
from certseal.pki import der
from certseal.pki.asn1 import asn1_time, key_identifier, null, signature_algorithm
from certseal.pki.names import build_name
from certseal.pki.profiles import CertificateProfile

BACKDATE = timedelta(minutes=5)  # tolerate relying parties whose clocks run a little slow
_UTC_TIME_LIMIT = datetime(2050, 1, 1, tzinfo=UTC)  # as asn1_time(): UTCTime before, GeneralizedTime from then


def new_serial() -> int:
    """16 random bytes as a positive INTEGER (top bit cleared so DER needs no sign byte; never zero)."""
    while True:
        serial = int.from_bytes(secrets.token_bytes(16), "big") >> 1
        if serial:
            return serial


@dataclass(frozen=True)
class IssuerUrls:
    """Where relying parties fetch the issuer's CRL, OCSP answers and certificate (empty for a root)."""

    crl: str | None = None
    ocsp: str | None = None
    ca_issuers: str | None = None


@dataclass(frozen=True)
class Issuer:
    name: x509.Name
    key_id: bytes
    signer: Signer
    urls: IssuerUrls = field(default_factory=IssuerUrls)


@dataclass(frozen=True)
class Subject:
    name: x509.Name
    public_key: PublicKey
    san: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Validity:
    not_before: datetime
    not_after: datetime

    @classmethod
    def starting(cls, now: datetime, days: int) -> Validity:
        return cls(now - BACKDATE, now + timedelta(days=days))


@dataclass(frozen=True)
class NameConstraints:
    permitted: tuple[x509.Name, ...] = ()
    excluded: tuple[x509.Name, ...] = ()


def issue(
    issuer: Issuer,
    subject: Subject,
    profile: CertificateProfile,
    validity: Validity,
    serial: int,
    path_len: int | None = None,
    name_constraints: NameConstraints | None = None,
) -> bytes:
    """Build, sign and return the DER of one certificate."""
    algorithm = signature_algorithm(issuer.signer.scheme)
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": algorithm,
            "issuer": issuer.name,
            "validity": {"not_before": asn1_time(validity.not_before), "not_after": asn1_time(validity.not_after)},
            "subject": subject.name,
            "subject_public_key_info": keys.PublicKeyInfo.load(subject.public_key.spki_der),
            "extensions": _extensions(issuer, subject, profile, path_len, name_constraints),
        }
    )
    signature = issuer.signer.sign(tbs.dump())
    certificate = x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature}
    )
    return bytes(certificate.dump())


class CertificateTemplate:
    """One issuer and profile, pre-encoded: per certificate only serial, validity, subject, key, SKI and SAN are
    encoded and joined with the constant DER.  The output is byte-identical to `issue()` (tests compare both)."""

    __slots__ = (
        "_after_serial",
        "_algorithm",
        "_before_serial",
        "_head_extensions",
        "_mid_extensions",
        "_tail_extensions",
        "issuer",
        "profile",
    )

    def __init__(self, issuer: Issuer, profile: CertificateProfile) -> None:
        self.issuer = issuer
        self.profile = profile
        algorithm = signature_algorithm(issuer.signer.scheme).dump()
        self._algorithm = algorithm
        self._before_serial = der.tlv(0xA0, der.positive_integer(2))  # [0] EXPLICIT version v3
        self._after_serial = algorithm + issuer.name.dump()
        # The reference builder's extension order, split where per-certificate extensions go.
        self._head_extensions = b"".join(
            e.dump()
            for e in (
                _ext("basic_constraints", _basic_constraints(profile, None), critical=True),
                _ext("key_usage", set(profile.key_usage), critical=True),
            )
        )
        mid = [_ext("authority_key_identifier", {"key_identifier": issuer.key_id})]
        if profile.ext_key_usage:
            mid.append(_ext("extended_key_usage", list(profile.ext_key_usage), critical=profile.ext_key_usage_critical))
        self._mid_extensions = b"".join(e.dump() for e in mid)
        self._tail_extensions = b"".join(e.dump() for e in _tail_extensions(issuer, profile))

    def issue(self, subject: Subject, validity: Validity, serial: int) -> bytes:
        """Build, sign and return the DER of one certificate, as `issue(issuer, subject, profile, …)` would."""
        subject_key_id = key_identifier(subject.public_key)
        if subject_key_id == self.issuer.key_id:  # the issuer's own key: the reference decides about AKI
            return issue(self.issuer, subject, self.profile, validity, serial)
        extensions = [self._head_extensions, _ski_extension(subject_key_id), self._mid_extensions]
        if subject.san:
            extensions.append(_san_extension(subject.san))
        extensions.append(self._tail_extensions)
        tbs = der.tlv(
            0x30,
            b"".join(
                (
                    self._before_serial,
                    der.positive_integer(serial),
                    self._after_serial,
                    der.tlv(0x30, _time(validity.not_before) + _time(validity.not_after)),
                    subject.name.dump(),
                    subject.public_key.spki_der,
                    der.tlv(0xA3, der.tlv(0x30, b"".join(extensions))),
                )
            ),
        )
        signature = self.issuer.signer.sign(tbs)
        return der.tlv(0x30, tbs + self._algorithm + der.tlv(0x03, b"\x00" + signature))


def self_signed_issuer(subject: Subject, signer: Signer) -> Issuer:
    return Issuer(subject.name, key_identifier(subject.public_key), signer)


def _extensions(
    issuer: Issuer,
    subject: Subject,
    profile: CertificateProfile,
    path_len: int | None,
    name_constraints: NameConstraints | None,
) -> list[x509.Extension]:
    subject_key_id = key_identifier(subject.public_key)
    extensions = [
        _ext("basic_constraints", _basic_constraints(profile, path_len), critical=True),
        _ext("key_usage", set(profile.key_usage), critical=True),
        _ext("key_identifier", subject_key_id),
    ]
    if issuer.key_id != subject_key_id or issuer.name != subject.name:
        extensions.append(_ext("authority_key_identifier", {"key_identifier": issuer.key_id}))
    if profile.ext_key_usage:
        extensions.append(
            _ext("extended_key_usage", list(profile.ext_key_usage), critical=profile.ext_key_usage_critical)
        )
    if subject.san:
        extensions.append(_ext("subject_alt_name", [_general_name(k, v) for k, v in subject.san]))
    extensions.extend(_tail_extensions(issuer, profile))
    if name_constraints and (name_constraints.permitted or name_constraints.excluded):
        extensions.append(_ext("name_constraints", _name_constraints(name_constraints), critical=True))
    return extensions


def _tail_extensions(issuer: Issuer, profile: CertificateProfile) -> list[x509.Extension]:
    """The extensions after subjectAltName that depend only on the issuer and profile."""
    extensions = []
    if profile.policies:
        extensions.append(_ext("certificate_policies", [{"policy_identifier": oid} for oid in profile.policies]))
    if issuer.urls.crl:
        extensions.append(
            _ext("crl_distribution_points", [{"distribution_point": {"full_name": [_uri(issuer.urls.crl)]}}])
        )
    access = [("ocsp", issuer.urls.ocsp), ("ca_issuers", issuer.urls.ca_issuers)]
    if any(url for _, url in access):
        extensions.append(
            _ext(
                "authority_information_access",
                [{"access_method": method, "access_location": _uri(url)} for method, url in access if url],
            )
        )
    if profile.ocsp_no_check:
        extensions.append(_ext("ocsp_no_check", null()))
    return extensions


_SKI_OID = der.tlv(0x06, bytes((0x55, 0x1D, 0x0E)))  # 2.5.29.14 subjectKeyIdentifier
_SAN_OID = der.tlv(0x06, bytes((0x55, 0x1D, 0x11)))  # 2.5.29.17 subjectAltName


def _ski_extension(key_id: bytes) -> bytes:
    return der.tlv(0x30, _SKI_OID + der.tlv(0x04, der.tlv(0x04, key_id)))


def _san_extension(san: tuple[tuple[str, str], ...]) -> bytes:
    names = b"".join(_general_name(kind, value).dump() for kind, value in san)
    return der.tlv(0x30, _SAN_OID + der.tlv(0x04, der.tlv(0x30, names)))


def _time(moment: datetime) -> bytes:
    """asn1_time() as DER: UTCTime before 2050 (from 1950), GeneralizedTime from then on; whole seconds."""
    moment = moment.astimezone(UTC).replace(microsecond=0)
    if moment >= _UTC_TIME_LIMIT:
        return der.generalized_time(moment)
    if moment.year < 1950:
        raise ValueError("Year of the UTCTime is not in range [1950, 2049], use GeneralizedTime instead")
    return b"\x17\x0d" + moment.strftime("%y%m%d%H%M%SZ").encode()


def _basic_constraints(profile: CertificateProfile, path_len: int | None) -> dict[str, object]:
    if not profile.ca:
        return {"ca": False}
    constraint = path_len if path_len is not None else profile.path_len
    return {"ca": True} if constraint is None else {"ca": True, "path_len_constraint": constraint}


def _name_constraints(constraints: NameConstraints) -> dict[str, object]:
    value: dict[str, object] = {}
    if constraints.permitted:
        value["permitted_subtrees"] = [{"base": {"directory_name": n}} for n in constraints.permitted]
    if constraints.excluded:
        value["excluded_subtrees"] = [{"base": {"directory_name": n}} for n in constraints.excluded]
    return value


def _ext(name: str, value: object, critical: bool = False) -> x509.Extension:
    return x509.Extension({"extn_id": name, "critical": critical, "extn_value": value})


def _uri(url: str) -> x509.GeneralName:
    return x509.GeneralName({"uniform_resource_identifier": url})


def _general_name(kind: str, value: str) -> x509.GeneralName:
    if kind == "dns":
        return x509.GeneralName({"dns_name": value})
    if kind == "email":
        return x509.GeneralName({"rfc822_name": value})
    if kind == "ip":
        return x509.GeneralName({"ip_address": str(ipaddress.ip_address(value))})
    return _uri(value)


def subject_from(
    attributes: dict[str, str], public_key: PublicKey, san: list[tuple[str, str]] | None = None
) -> Subject:
    return Subject(build_name(attributes), public_key, tuple(san or ()))
