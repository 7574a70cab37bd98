"""Building X.509 v2 CRLs (RFC 5280 section 5) with asn1crypto, signed through a Signer (RSA, ECDSA and SM2 alike).

Full and delta CRLs share one builder: a delta CRL is a full CRL's shape plus the critical delta CRL indicator
naming its base, and entries that carry removeFromCRL for certificates that left the base CRL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import crl, x509

from certseal.pki.asn1 import asn1_time, signature_algorithm
from certseal.pki.certificates import Issuer

UNSPECIFIED = "unspecified"
CERTIFICATE_HOLD = "certificate_hold"
REMOVE_FROM_CRL = "remove_from_crl"


@dataclass(frozen=True)
class RevokedEntry:
    """One revokedCertificates entry; `reason` is an RFC 5280 CRLReason name as asn1crypto spells it."""

    serial: int
    revoked_at: datetime
    reason: str = UNSPECIFIED


@dataclass(frozen=True)
class CrlContent:
    """What one CRL says: its number, its validity window, its entries and, for a delta, the base CRL number."""

    number: int
    this_update: datetime
    next_update: datetime
    entries: tuple[RevokedEntry, ...] = ()
    delta_base: int | None = None
    freshest_url: str | None = None  # where the delta CRLs are, announced in full CRLs

    @property
    def is_delta(self) -> bool:
        return self.delta_base is not None


def build(issuer: Issuer, content: CrlContent) -> bytes:
    """Build, sign and return the DER of one CertificateList."""
    if content.next_update <= content.this_update:
        raise ValueError("nextUpdate must be after thisUpdate")
    if content.delta_base is not None and content.delta_base >= content.number:
        raise ValueError("a delta CRL's base must be an earlier CRL")
    algorithm = signature_algorithm(issuer.signer.scheme)
    tbs = crl.TbsCertList(
        {
            "version": "v2",
            "signature": algorithm,
            "issuer": issuer.name,
            "this_update": asn1_time(content.this_update),
            "next_update": asn1_time(content.next_update),
            "revoked_certificates": [_entry(e) for e in sorted(content.entries, key=lambda e: e.serial)] or None,
            "crl_extensions": _extensions(issuer, content),
        }
    )
    signature = issuer.signer.sign(tbs.dump())
    certificate_list = crl.CertificateList(
        {"tbs_cert_list": tbs, "signature_algorithm": algorithm, "signature": signature}
    )
    return bytes(certificate_list.dump())


def entries_of(der: bytes) -> dict[int, str]:
    """The serials a CRL lists and each one's reason (`unspecified` where the entry carries no reason code)."""
    parsed = crl.CertificateList.load(der)
    return {
        entry["user_certificate"].native: entry.crl_reason_value.native if entry.crl_reason_value else UNSPECIFIED
        for entry in parsed["tbs_cert_list"]["revoked_certificates"]
    }


def _entry(entry: RevokedEntry) -> crl.RevokedCertificate:
    extensions = []
    if entry.reason != UNSPECIFIED:  # RFC 5280 5.3.1: omit the reason code rather than say unspecified
        extensions.append(
            crl.CRLEntryExtension({"extn_id": "crl_reason", "critical": False, "extn_value": entry.reason})
        )
    return crl.RevokedCertificate(
        {
            "user_certificate": entry.serial,
            "revocation_date": asn1_time(entry.revoked_at),
            "crl_entry_extensions": extensions or None,
        }
    )


def _extensions(issuer: Issuer, content: CrlContent) -> list[crl.TBSCertListExtension]:
    extensions = [
        _ext("authority_key_identifier", {"key_identifier": issuer.key_id}),
        _ext("crl_number", content.number),
    ]
    if content.delta_base is not None:
        extensions.append(_ext("delta_crl_indicator", content.delta_base, critical=True))
    elif content.freshest_url:
        point = {
            "distribution_point": {
                "full_name": [x509.GeneralName({"uniform_resource_identifier": content.freshest_url})]
            }
        }
        extensions.append(_ext("freshest_crl", [point]))
    return extensions


def _ext(name: str, value: object, critical: bool = False) -> crl.TBSCertListExtension:
    return crl.TBSCertListExtension({"extn_id": name, "critical": critical, "extn_value": value})
